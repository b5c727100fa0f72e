"""FletStorage with its default backend against the real Flutter web client.

Every ``fn(page)`` below runs on the server inside that page's Flet context, as an event
handler would, so ``FletStorage(app_name=...)`` reaches the page's real SharedPreferences.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import flet as ft
import pytest

from flet_storage import FletStorage, StorageError, StorageFullError, StorageTimeoutError

from .harness import Browser, CallCounter, Client, FletServer, Profile
from .values import assert_clear_empties

# -- the FletStorage API end to end ---------------------------------------------------------


async def test_round_trip(client: Client, app_name: str) -> None:
    value = {"name": "Ada", "tags": ["x", "y"], "n": 3, "f": 1.5, "ok": True, "none": None}

    async def fn(page: ft.Page) -> dict[str, Any]:
        storage = FletStorage(app_name)
        out: dict[str, Any] = {}
        out["set"] = await storage.set("user", value)
        await storage.set("count", 42)
        out["get"] = await storage.get("user")
        out["count"] = await storage.get("count")
        out["default"] = await storage.get_or_default("missing", "fallback")
        out["contains"] = (await storage.contains_key("user"), await storage.contains_key("nope"))
        out["keys"] = sorted(await storage.get_keys())
        out["remove"] = await storage.remove("count")
        out["keys_after_remove"] = await storage.get_keys()
        out["get_removed"] = await storage.get_or_default("count", "gone")
        return out

    out = await client.run(fn)
    assert out == {
        "set": True,
        "get": value,
        "count": 42,
        "default": "fallback",
        "contains": (True, False),
        "keys": ["count", "user"],
        "remove": True,
        "keys_after_remove": ["user"],
        "get_removed": "gone",
    }
    assert [k for k in await client.local_storage_keys() if app_name in k] == [
        f"flutter.{app_name}.user"
    ]

    await assert_clear_empties(client, app_name)


async def test_namespace_isolation(client: Client, app_name: str) -> None:
    names = (app_name, f"{app_name}2", f"{app_name}_b")

    async def fill(page: ft.Page) -> None:
        for name in names:
            storage = FletStorage(name)
            await storage.set("k", name)
            await storage.set("other", 1)
        # a plain SharedPreferences key, outside any namespace but sharing the prefix text
        await ft.SharedPreferences().set(f"{app_name}raw", "raw")

    await client.run(fill)

    async def keys_then_clear(page: ft.Page) -> tuple[list[str], list[str], dict[str, Any]]:
        storage = FletStorage(app_name)
        keys = sorted(await storage.get_keys())
        await storage.clear()
        after = await storage.get_keys()
        others = {name: await FletStorage(name).get("k") for name in names[1:]}
        others["raw"] = await ft.SharedPreferences().get(f"{app_name}raw")
        return keys, after, others

    keys, after, others = await client.run(keys_then_clear)
    assert keys == ["k", "other"]
    assert after == []
    assert others == {names[1]: names[1], names[2]: names[2], "raw": "raw"}
    assert sorted(k for k in await client.local_storage_keys() if app_name in k) == sorted(
        [f"flutter.{app_name}raw"]
        + [f"flutter.{name}.{key}" for name in names[1:] for key in ("k", "other")]
    )


async def test_persists_across_browser_restart(
    profile: Profile, server: FletServer, app_name: str
) -> None:
    client = await profile.open(server)
    port = server.port

    async def write(page: ft.Page) -> None:
        await FletStorage(app_name).set("saved", {"list": [1, 2.5, "three"]})

    await client.run(write)
    await profile.restart()  # graceful close: Chromium flushes localStorage to the profile
    client = await profile.open(server)
    assert server.port == port  # localStorage is per origin: same host and port

    async def read(page: ft.Page) -> Any:
        return await FletStorage(app_name).get("saved")

    assert await client.run(read) == {"list": [1, 2.5, "three"]}
    assert f"flutter.{app_name}.saved" in await client.local_storage_keys()


async def test_storage_per_event_handler_adds_no_services_and_no_round_trips(
    client: Client, app_name: str
) -> None:
    """Apps create a FletStorage in every event handler: that must register no service
    with the page and send nothing but the call itself (one invoke_method per get without
    sync; with sync, the tab's reads come from the browser's mirror: one load, then none)."""
    counter = CallCounter()

    async def count_services(page: ft.Page) -> int:
        return len(page._services._services)

    async def warm_up(page: ft.Page) -> None:
        await FletStorage(app_name).set("k", 1)  # the page's one shared service

    async def start(page: ft.Page) -> None:
        counter.install(page)

    async def stop(page: ft.Page) -> None:
        counter.uninstall(page)

    async def handler(page: ft.Page) -> Any:
        return await FletStorage(app_name, sync=False).get("k")

    async def synced_handler(page: ft.Page) -> Any:
        return await FletStorage(app_name).get("k")

    async def raw_handler(page: ft.Page) -> Any:
        return await ft.SharedPreferences().get(f"{app_name}.k")

    await client.run(warm_up)
    before = await client.run(count_services)
    await client.run(start, as_event=False)
    for _ in range(50):  # like real handlers: unreferenced services are dropped after each
        assert await client.run(handler) == 1
    assert counter.invocations == ["get"] * 50
    assert counter.messages == 50  # no service registration patches, no other traffic
    assert await client.run(count_services, as_event=False) == before == 1
    counter.reset()
    for _ in range(10):  # and where nothing would drop a service
        assert await client.run(handler, as_event=False) == 1
    assert (counter.invocations, counter.messages) == (["get"] * 10, 10)
    counter.reset()
    for _ in range(20):
        assert await client.run(synced_handler) == 1
    await client.run(stop, as_event=False)
    # The mirror's load (one listing, then the values), and nothing more.
    assert (counter.invocations, counter.messages) == (["get_keys", "get"], 2)
    assert await client.run(count_services) == before

    # The control, proving the count sees registrations: a plain ft.SharedPreferences per
    # handler registers a service each (kept at least while the page's diff snapshot
    # references them, so even as_event runs do not drop them at once).
    for _ in range(5):
        assert await client.run(raw_handler, as_event=False) == "1"
    assert await client.run(count_services) == before + 5
    assert await client.run(handler) == 1  # the shared service was kept


async def test_two_profiles_never_share_data(
    browser: Browser, profile: Profile, server: FletServer, app_name: str
) -> None:
    alice = await profile.open(server)
    other = await browser.open_profile()
    try:
        bob = await other.open(server)

        def writer(who: str) -> Any:
            async def write(page: ft.Page) -> list[str]:
                storage = FletStorage(app_name)
                await storage.set("who", who)
                await storage.set(f"only_{who}", True)
                return sorted(await storage.get_keys())

            return write

        async def read(page: ft.Page) -> tuple[Any, list[str]]:
            storage = FletStorage(app_name)
            return await storage.get("who"), sorted(await storage.get_keys())

        assert await alice.run(writer("alice")) == ["only_alice", "who"]
        assert await bob.run(writer("bob")) == ["only_bob", "who"]
        assert await alice.run(read) == ("alice", ["only_alice", "who"])
        assert await bob.run(read) == ("bob", ["only_bob", "who"])
        assert f"flutter.{app_name}.only_bob" not in await alice.local_storage_keys()
        assert f"flutter.{app_name}.only_alice" not in await bob.local_storage_keys()
    finally:
        await other.close()


# -- facts about the real client that the library's design relies on -------------------------


async def test_fact_remove_of_a_missing_key_returns_true(client: Client, app_name: str) -> None:
    async def fn(page: ft.Page) -> tuple[bool, bool, bool]:
        prefs = ft.SharedPreferences()
        missing = await prefs.remove(f"{app_name}.never_set")
        await prefs.set(f"{app_name}.k", "v")
        return missing, await prefs.remove(f"{app_name}.k"), await prefs.remove(f"{app_name}.k")

    assert await client.run(fn) == (True, True, True)


RAW_VALUES: list[Any] = [
    1.0,
    1.5,
    2**60,
    2**63 - 1,
    -(2**53) - 1,
    True,
    ["a", "1", ""],
    [],
    "1",
    "1.0",
    "true",
    "null",
    "",
]


async def test_fact_raw_value_types_survive_in_session_and_after_reload(
    client: Client, app_name: str
) -> None:
    async def write(page: ft.Page) -> list[Any]:
        prefs = ft.SharedPreferences()
        for i, value in enumerate(RAW_VALUES):
            assert await prefs.set(f"{app_name}.{i}", value) is True
        return [await prefs.get(f"{app_name}.{i}") for i in range(len(RAW_VALUES))]

    async def read(page: ft.Page) -> list[Any]:
        prefs = ft.SharedPreferences()
        return [await prefs.get(f"{app_name}.{i}") for i in range(len(RAW_VALUES))]

    def typed(values: list[Any]) -> list[tuple[type, Any]]:
        return [(type(v), v) for v in values]

    assert typed(await client.run(write)) == typed(RAW_VALUES)
    await client.reload()  # a fresh client reads everything back from localStorage
    assert typed(await client.run(read)) == typed(RAW_VALUES)


async def test_fact_values_the_client_cannot_take(client: Client, app_name: str) -> None:
    async def fn(page: ft.Page) -> list[str]:
        prefs = ft.SharedPreferences()
        errors = []
        for value in (2**64, float("nan"), float("inf")):
            try:
                await prefs.set(f"{app_name}.bad", value)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        return errors

    assert await client.run(fn) == [
        "OverflowError: Integer value out of range",  # msgpack, before anything is sent
        "RuntimeError: Converting object to an encodable object failed: NaN",
        "RuntimeError: Converting object to an encodable object failed: Infinity",
    ]


BIG = "x" * 6_000_000
"""More than localStorage takes (5 M characters per origin in Chromium; JSON doubles it)."""


def _stored(text: str) -> str:
    """How localStorage holds a value FletStorage wrote: the codec's JSON text, as a JSON
    string (SharedPreferences' own encoding)."""
    return json.dumps(text)


async def test_quota_exceeded_leaves_the_previous_value(client: Client, app_name: str) -> None:
    def view(storage: FletStorage) -> Any:
        async def get() -> dict[str, Any]:
            return {
                "big": await storage.get_or_default("big"),
                "fresh": await storage.get_or_default("fresh", "absent"),
                "small": await storage.get_or_default("small"),
                "contains": [await storage.contains_key(key) for key in ("big", "fresh", "fresh2")],
                "keys": sorted(await storage.get_keys()),
            }

        return get

    async def fn(page: ft.Page) -> dict[str, Any]:
        storage = FletStorage(app_name)
        await storage.set_many({"big": "old", "small": "old small"})
        out: dict[str, Any] = {}
        with pytest.raises(StorageFullError) as info:
            await storage.set("big", BIG)
        out["errors"] = [info.value]
        out["cause"] = info.value.__cause__
        with pytest.raises(StorageFullError) as info:
            await storage.set("fresh", BIG)  # no previous value
        out["errors"].append(info.value)
        out["after_set"] = await view(storage)()
        with pytest.raises(StorageFullError) as info:
            await storage.set_many({"small": "new small", "big": BIG, "fresh2": BIG})
        out["errors"].append(info.value)
        out["after_set_many"] = await view(storage)()
        out["get_many"] = await storage.get_many(["big", "small", "fresh", "fresh2"])
        return out

    expected = {
        "big": "old",
        "fresh": "absent",
        "small": "new small",  # small enough: written
        "contains": [True, False, False],
        "keys": ["big", "small"],
    }
    out = await client.run(fn, timeout=90)
    assert all(isinstance(e, StorageFullError) for e in out["errors"])
    assert all(isinstance(e, StorageError) for e in out["errors"])
    assert type(out["cause"]) is RuntimeError
    assert str(out["cause"]).startswith(
        "QuotaExceededError: Failed to execute 'setItem' on 'Storage'"
    )
    assert out["after_set"] == {**expected, "small": "old small"}
    assert out["after_set_many"] == expected
    assert out["get_many"] == {"big": "old", "small": "new small"}
    raw = {k: v for k, v in (await client.local_storage()).items() if app_name in k}
    assert raw == {
        f"flutter.{app_name}.big": _stored(json.dumps("old")),
        f"flutter.{app_name}.small": _stored(json.dumps("new small")),
    }

    # a fresh Flutter client reads localStorage again: the same view
    await client.reload()

    async def after(page: ft.Page) -> dict[str, Any]:
        result: dict[str, Any] = await view(FletStorage(app_name))()
        return result

    assert await client.run(after) == expected


async def test_fact_quota_exceeded_poisons_the_clients_copy(client: Client, app_name: str) -> None:
    """Why the library writes the previous value back: after a refused setItem, the Flutter
    client's in-memory copy holds the new value although localStorage kept the old one."""

    async def fn(page: ft.Page) -> dict[str, Any]:
        prefs = ft.SharedPreferences()
        key = f"{app_name}.raw"
        await prefs.set(key, "old")
        out: dict[str, Any] = {}
        with pytest.raises(RuntimeError) as info:
            await prefs.set(key, BIG)
        out["error"] = str(info.value)
        value = await prefs.get(key)
        out["get_len"] = len(value) if isinstance(value, str) else value
        out["keys"] = await prefs.get_keys(f"{app_name}.")
        return out

    out = await client.run(fn, timeout=60)
    assert out["error"].startswith("QuotaExceededError: Failed to execute 'setItem'")
    assert (out["get_len"], out["keys"]) == (6_000_000, [f"{app_name}.raw"])
    assert (await client.local_storage())[f"flutter.{app_name}.raw"] == '"old"'
    await client.reload()

    async def after(page: ft.Page) -> Any:
        return await ft.SharedPreferences().get(f"{app_name}.raw")

    assert await client.run(after) == "old"


async def test_client_gone_times_out_then_a_reopened_tab_works(
    client: Client, server: FletServer, app_name: str
) -> None:
    async def warm_up(page: ft.Page) -> None:
        await FletStorage(app_name, timeout=2).set("k", 1)

    async def get(page: ft.Page) -> Any:
        return await FletStorage(app_name, timeout=2).get("k")

    await client.run(warm_up)
    tasks_before = await server.pending_tasks(settle=0)

    # a call in flight when the tab closes
    await client.hold_messages(True)  # the client ignores the server from now on
    started = time.monotonic()
    in_flight = client.submit(get)
    await asyncio.sleep(0.2)  # let the call reach the (now deaf) client
    await client.close()
    with pytest.raises(StorageTimeoutError):
        await in_flight
    assert 1.9 < time.monotonic() - started < 3

    # a call after the tab closed: nothing answers
    started = time.monotonic()
    with pytest.raises(StorageTimeoutError):
        await client.run(get)
    assert 1.9 < time.monotonic() - started < 3

    leftover = await server.pending_tasks()
    assert {k: v for k, v in leftover.items() if k not in tasks_before} == {}

    # the page opened again (a new session of the same browser): storage works again
    reopened = await client.profile.open(server)
    assert await reopened.run(get) == 1


async def test_reconnect_storage_works_immediately(client: Client, app_name: str) -> None:
    """flet-dev/flet#6412: after the websocket drops and the client reconnects to the same
    session, a SharedPreferences service registered before never answers again. FletStorage
    keys its service by connection, so its first call after the reconnect already works."""
    kept = FletStorage(app_name, timeout=2)
    raw: list[ft.SharedPreferences] = []

    async def before(page: ft.Page) -> Any:
        await FletStorage(app_name, timeout=2).set("k", "v")
        raw.append(ft.SharedPreferences())  # referenced from here: it stays registered
        return await kept.get("k"), await raw[0].get(f"{app_name}.k")

    assert await client.run(before) == ("v", '"v"')
    session = await client.session_id()
    await client.reconnect()
    assert await client.session_id() == session  # same session, reconnected

    async def after(page: ft.Page) -> tuple[Any, Any, Any]:
        first = await FletStorage(app_name, timeout=2).get("k")  # no StorageTimeoutError
        return first, await kept.get("k"), await FletStorage(app_name).get_keys()

    started = time.monotonic()
    assert await client.run(after) == ("v", "v", ["k"])
    assert time.monotonic() - started < 1.5

    async def stale(page: ft.Page) -> Any:
        # Fact: the raw service registered before the reconnect never answers.
        # asyncio.TimeoutError: what wait_for raises before Python 3.11 (an alias of
        # TimeoutError from 3.11 on).
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(raw[0].get(f"{app_name}.k"), 1.5)
        return await ft.SharedPreferences().get(f"{app_name}.k")  # a new one does

    assert await client.run(stale) == '"v"'

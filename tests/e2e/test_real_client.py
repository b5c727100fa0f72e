"""FletStorage with its default backend against the real Flutter web client.

Every ``fn(page)`` below runs on the server inside that page's Flet context, as an event
handler would, so ``FletStorage(app_name=...)`` reaches the page's real SharedPreferences.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import flet as ft
import pytest

from flet_storage import FletStorage, StorageFullError, StorageTimeoutError

from .harness import Browser, Client, FletServer, Profile

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

    async def clear(page: ft.Page) -> list[str]:
        storage = FletStorage(app_name)
        await storage.clear()
        return await storage.get_keys()

    assert await client.run(clear) == []
    assert not [k for k in await client.local_storage_keys() if app_name in k]


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


async def test_storage_per_event_handler_adds_no_services(client: Client, app_name: str) -> None:
    async def count_services(page: ft.Page) -> int:
        return len(page._services._services)

    async def handler(page: ft.Page) -> Any:
        return await FletStorage(app_name).get_or_default("k")

    async def warm_up(page: ft.Page) -> None:
        await FletStorage(app_name).set("k", 1)

    await client.run(warm_up)  # the page's one shared service is registered here
    before = await client.run(count_services)
    for _ in range(200):  # a FletStorage per "event handler", as apps commonly do
        assert await client.run(handler) == 1
    assert await client.run(count_services) == before <= 1


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


async def test_fact_quota_exceeded(client: Client, app_name: str) -> None:
    async def fn(page: ft.Page) -> dict[str, Any]:
        storage = FletStorage(app_name)
        await storage.set("big", "old")
        out: dict[str, Any] = {}
        with pytest.raises(StorageFullError) as info:
            await storage.set("big", "x" * 6_000_000)
        out["error"] = str(info.value.__cause__)
        out["cause"] = type(info.value.__cause__)
        out["contains"] = await storage.contains_key("big")
        out["get_len"] = len(await storage.get("big"))
        out["keys"] = await storage.get_keys()
        return out

    out = await client.run(fn, timeout=60)
    assert out["cause"] is RuntimeError
    assert out["error"].startswith("QuotaExceededError: Failed to execute 'setItem' on 'Storage'")
    # The client's in-memory cache took the value although localStorage refused it ...
    assert (out["contains"], out["get_len"], out["keys"]) == (True, 6_000_000, ["big"])
    assert (await client.local_storage())[f"flutter.{app_name}.big"] == '"\\"old\\""'
    # ... so a fresh client (reload) sees the previous value again.
    await client.reload()

    async def after(page: ft.Page) -> Any:
        return await FletStorage(app_name).get("big")

    assert await client.run(after) == "old"


async def test_fact_client_gone_times_out(
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
    in_flight = client.submit(get)
    await asyncio.sleep(0.2)  # let the call reach the (now deaf) client
    await client.close()
    started = time.monotonic()
    with pytest.raises(StorageTimeoutError):
        await in_flight
    assert time.monotonic() - started < 2.5

    # a call after the tab closed: nothing answers
    started = time.monotonic()
    with pytest.raises(StorageTimeoutError):
        await client.run(get)
    assert 1.9 < time.monotonic() - started < 3

    leftover = await server.pending_tasks()
    assert {k: v for k, v in leftover.items() if k not in tasks_before} == {}


async def test_fact_reconnect_kills_the_old_service(client: Client, app_name: str) -> None:
    """flet-dev/flet#6412: after the websocket drops and the client reconnects to the same
    session, a SharedPreferences service registered before never answers again; a new one
    does, and FletStorage recovers after one StorageTimeoutError."""

    async def before(page: ft.Page) -> Any:
        await FletStorage(app_name, timeout=2).set("k", "v")
        return await FletStorage(app_name, timeout=2).get("k")

    assert await client.run(before) == "v"
    session = await client.session_id()
    await client.reconnect()
    assert await client.session_id() == session  # same session, reconnected

    async def after(page: ft.Page) -> tuple[Any, Any, Any]:
        try:
            first: Any = await FletStorage(app_name, timeout=2).get("k")
        except StorageTimeoutError as exc:
            first = type(exc)
        fresh = await asyncio.wait_for(ft.SharedPreferences().get(f"{app_name}.k"), 2)
        return first, fresh, await FletStorage(app_name, timeout=2).get("k")

    first, fresh, second = await client.run(after)
    assert fresh == '"v"'  # a service registered after the reconnect works (raw text)
    assert second == "v"  # FletStorage recovered
    assert first in ("v", StorageTimeoutError)  # StorageTimeoutError with flet 1.0.5

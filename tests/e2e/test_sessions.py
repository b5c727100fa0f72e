"""Requirements 3 and 9: many sessions of one server process, each with its own storage
(one module-level FletStorage shared by all), and the read cache across two tabs with sync
off (`sync=False`), which shows what Flet's client does on its own: each tab keeps its own
copy of localStorage. tests/e2e/test_sync.py shows the same tabs with sync on."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import flet as ft

from flet_storage import FletStorage

from .harness import Browser, CallCounter, Client, FletServer, Profile

SHARED_APP = f"e2e_shared_{secrets.token_hex(3)}"
SHARED = FletStorage(SHARED_APP)
"""One FletStorage for the whole module, as an app would define it at import time."""


async def test_one_module_level_storage_serves_concurrent_sessions(
    browser: Browser, profile: Profile, server: FletServer
) -> None:
    others = list(await asyncio.gather(browser.open_profile(), browser.open_profile()))
    try:
        clients = list(await asyncio.gather(*(p.open(server) for p in [profile, *others])))
        assert len({await c.session_id() for c in clients}) == 3

        def session(who: int) -> Any:
            async def fn(page: ft.Page) -> dict[str, Any]:
                seen: list[Any] = []
                for i in range(15):  # interleaved with the other sessions' rounds
                    await SHARED.set("who", (who, i))
                    await SHARED.set(f"only_{who}", {who, i})
                    await asyncio.sleep(0.01)
                    seen.append(await SHARED.get("who"))
                await SHARED.set_many({"many": who, f"many_{who}": [who]})
                hits = [await SHARED.increment("hits") for _ in range(5)]
                return {
                    "seen": seen,
                    "keys": sorted(await SHARED.get_keys()),
                    "many": await SHARED.get_many(["many", f"many_{who}", "who"]),
                    "hits": hits,
                }

            return fn

        results = await asyncio.gather(*(c.run(session(n)) for n, c in enumerate(clients)))
        for who, out in enumerate(results):
            assert out["seen"] == [(who, i) for i in range(15)]
            assert out["keys"] == sorted(["who", f"only_{who}", "many", f"many_{who}", "hits"])
            assert out["many"] == {"many": who, f"many_{who}": [who], "who": (who, 14)}
            assert out["hits"] == [1, 2, 3, 4, 5]

        async def read(page: ft.Page) -> tuple[Any, Any]:
            return await SHARED.get("who"), sorted(await SHARED.get_keys())

        reads = await asyncio.gather(*(c.run(read) for c in clients))
        for who, (value, keys) in enumerate(reads):
            assert value == (who, 14)
            assert f"only_{who}" in keys
            assert not any(f"only_{other}" in keys for other in range(3) if other != who)
        for who, c in enumerate(clients):
            raw = {k: v for k, v in (await c.local_storage()).items() if SHARED_APP in k}
            assert sorted(raw) == sorted(
                f"flutter.{SHARED_APP}.{key}"
                for key in ("who", f"only_{who}", "many", f"many_{who}", "hits")
            )
    finally:
        await asyncio.gather(*(p.close() for p in others))


# -- the read cache (cache=True) with sync off: what Flet's client does on its own -------


async def _two_tabs(profile: Profile, server: FletServer) -> tuple[Client, Client]:
    """Two tabs of one browser: one localStorage, two Flet sessions."""
    a, b = await asyncio.gather(profile.open(server), profile.open(server))
    assert await a.session_id() != await b.session_id()
    return a, b


def _writer(app_name: str, **items: Any) -> Any:
    async def write(page: ft.Page) -> None:
        await FletStorage(app_name, sync=False).set_many(items)

    return write


async def test_cache_answers_reads_locally_and_goes_stale_across_tabs(
    profile: Profile, server: FletServer, app_name: str
) -> None:
    a, b = await _two_tabs(profile, server)
    counter = CallCounter()
    cached = FletStorage(
        app_name, cache=True, sync=False
    )  # tab A's storage, kept across its handlers

    async def load(page: ft.Page) -> list[Any]:
        seen = [await cached.get_or_default("k")]  # loads the (empty) namespace
        writer = FletStorage(app_name, sync=False)  # uncached: its writes reach the shared cache
        await writer.set("k", 0)
        seen.append(await cached.get("k"))
        await writer.update("k", lambda v: v + 1)
        seen.append(await cached.get("k"))
        await writer.remove("k")
        seen.append(await cached.contains_key("k"))
        await cached.set("k", "old")
        seen.append(await cached.get("k"))
        counter.install(page)
        return seen

    async def cached_reads(page: ft.Page) -> dict[str, Any]:
        return {
            "get": [await cached.get("k") for _ in range(20)],
            "default": await cached.get_or_default("k2", "absent"),
            "contains": (await cached.contains_key("k"), await cached.contains_key("k2")),
            "keys": await cached.get_keys(),
            "many": await cached.get_many(["k", "k2"]),
            # another FletStorage(cache=True) of the namespace on this page shares the cache
            "other": await FletStorage(app_name, cache=True, sync=False).get("k"),
        }

    async def uncached_reads(page: ft.Page) -> dict[str, Any]:
        return {
            "get": await FletStorage(app_name, sync=False).get_or_default("k"),
            "keys": sorted(await FletStorage(app_name, sync=False).get_keys()),
            "raw_get": await ft.SharedPreferences().get(f"{app_name}.k"),
            "raw_keys": sorted(await ft.SharedPreferences().get_keys(f"{app_name}.")),
        }

    async def stop_counting(page: ft.Page) -> None:
        counter.uninstall(page)

    assert await a.run(load) == [None, 0, 1, False, "old"]
    fresh = await a.run(cached_reads)
    calls, messages = list(counter.invocations), counter.messages
    expected = {
        "get": ["old"] * 20,
        "default": "absent",
        "contains": (True, False),
        "keys": ["k"],
        "many": {"k": "old"},
        "other": "old",
    }
    assert fresh == expected
    assert (calls, messages) == ([], 0)  # 25 reads, not one call to the client

    await b.run(_writer(app_name, k="new", k2="from B"))  # tab B: another session
    assert json.loads((await b.local_storage())[f"flutter.{app_name}.k"]) == '"new"'
    counter.reset()
    assert await a.run(cached_reads) == expected  # stale, as documented
    assert (counter.invocations, counter.messages) == ([], 0)

    # Fact (README): tab A's uncached reads, even plain ft.SharedPreferences, do not see
    # tab B's write either: Flutter's shared_preferences keeps its own copy per tab.
    assert await a.run(uncached_reads) == {
        "get": "old",
        "keys": ["k"],
        "raw_get": '"old"',
        "raw_keys": [f"{app_name}.k"],
    }
    await a.run(stop_counting)
    await asyncio.sleep(1.0)  # no "storage" event catches the tab up either
    assert (await a.run(uncached_reads))["get"] == "old"

    # a reload (a fresh Flutter client) reads localStorage again
    assert await a.reload() is False  # Flet reconnects the reloaded tab to its session
    assert await a.run(uncached_reads) == {
        "get": "new",
        "keys": ["k", "k2"],
        "raw_get": '"new"',
        "raw_keys": [f"{app_name}.k", f"{app_name}.k2"],
    }


async def test_another_tabs_write_shows_after_a_reload_not_before(
    profile: Profile, server: FletServer, app_name: str
) -> None:
    """Flutter's shared_preferences on web keeps a per-tab copy of localStorage, so no read
    in tab A (plain SharedPreferences, FletStorage, refresh()) sees tab B's write until tab
    A reloads; after the reload a cached FletStorage sees it too (its cache is dropped)."""
    a, b = await _two_tabs(profile, server)
    cached = FletStorage(app_name, cache=True, sync=False)

    async def load(page: ft.Page) -> Any:
        await cached.set("k", "old")
        return await cached.get("k")

    async def refresh_and_read(page: ft.Page) -> tuple[Any, list[str], Any]:
        await cached.refresh()
        raw = await ft.SharedPreferences().get(f"{app_name}.k")
        return await cached.get("k"), sorted(await cached.get_keys()), raw

    async def read(page: ft.Page) -> tuple[Any, list[str]]:
        return await cached.get("k"), sorted(await cached.get_keys())

    assert await a.run(load) == "old"
    await b.run(_writer(app_name, k="new", k2="from B"))
    assert await a.run(refresh_and_read) == ("old", ["k"], '"old"')  # the platform's view
    assert await a.reload() is False  # same session, fresh Flutter client
    assert await a.run(read) == ("new", ["k", "k2"])


async def test_cache_does_not_outlive_a_reload(client: Client, app_name: str) -> None:
    """A reload reconnects the tab to the same session (same ft.Page) with a fresh Flutter
    client that reads localStorage again; a read cache loaded before must not survive it."""

    async def load_then_write_behind_its_back(page: ft.Page) -> tuple[Any, Any]:
        cached = FletStorage(app_name, cache=True, sync=False)
        before = await cached.get_or_default("k")  # loads the namespace: no "k"
        await ft.SharedPreferences().set(f"{app_name}.k", '"raw"')  # not through FletStorage
        return before, await cached.get_or_default("k")

    async def read(page: ft.Page) -> tuple[Any, Any]:
        return (
            await FletStorage(app_name, sync=False).get_or_default("k"),
            await FletStorage(app_name, cache=True, sync=False).get_or_default("k"),
        )

    assert await client.run(load_then_write_behind_its_back) == (None, None)  # documented
    assert await client.reload() is False  # same session, same page
    assert await client.run(read) == ("raw", "raw")

"""Batch operations and the opt-in read cache, counted in backend round trips."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from flet_storage import (
    BackendError,
    FletStorage,
    MemoryBackend,
    StorageTimeoutError,
    UnsupportedValueError,
)
from flet_storage.testing import Call, ScriptedBackend


async def test_get_many_returns_stored_keys_only(backend: MemoryBackend) -> None:
    storage = FletStorage("app", backend=backend)
    await storage.set("a", {1, 2})
    await storage.set("b", None)
    backend.calls.clear()
    assert await storage.get_many(["a", "b", "missing"]) == {"a": {1, 2}, "b": None}
    assert backend.calls == {"get": 3}


async def test_set_many_encodes_everything_before_writing(backend: MemoryBackend) -> None:
    storage = FletStorage("app", backend=backend)
    await storage.set("a", "old")
    with pytest.raises(UnsupportedValueError, match="'b'"):
        await storage.set_many({"a": "new", "b": object()})
    assert await storage.get("a") == "old"
    await storage.set_many({"a": "new", "b": (1, 2)})
    assert await storage.get_many(["a", "b"]) == {"a": "new", "b": (1, 2)}


async def test_set_many_validates_keys_before_writing(backend: MemoryBackend) -> None:
    storage = FletStorage("app", backend=backend)
    with pytest.raises(TypeError, match="key must be a str"):
        await storage.set_many({"a": 1, 2: 3})  # type: ignore[dict-item]
    assert backend.data == {}


async def _stuck_set(call: Call) -> object:
    """`set` of one key never answers; the others land."""
    if call.method == "set" and call.key.endswith(".stuck"):
        await asyncio.Event().wait()
    return await call.proceed()


async def test_set_many_partial_failure_raises_after_all_writes_finish() -> None:
    backend = ScriptedBackend(_stuck_set)
    storage = FletStorage("app", backend=backend, timeout=0.05)
    tasks_before = asyncio.all_tasks()
    with pytest.raises(StorageTimeoutError, match=r"set\('stuck'\)"):
        await storage.set_many({"a": 1, "stuck": 2, "c": 3})
    assert sorted(backend.data) == ["app.a", "app.c"]
    assert asyncio.all_tasks() == tasks_before  # the stuck call was cancelled, not leaked


async def test_remove_many_counts_removed_keys(backend: MemoryBackend) -> None:
    storage = FletStorage("app", backend=backend)
    await storage.set_many({"a": 1, "b": 2})
    assert await storage.remove_many(["a", "b", "c"]) == 2
    assert backend.data == {}


async def test_cache_loads_namespace_once_and_reads_locally(backend: MemoryBackend) -> None:
    backend.data.update({"app.a": "1", "app.b": '"x"', "other.c": "2"})
    storage = FletStorage("app", backend=backend, cache=True)
    assert await storage.get("a") == 1
    # The load: one listing (keys and expiry marks), then the values.
    assert backend.calls == {"get_keys": 1, "get": 2}
    backend.calls.clear()
    assert await storage.get("b") == "x"
    assert await storage.get_or_default("missing", 0) == 0
    assert await storage.contains_key("a")
    assert sorted(await storage.get_keys()) == ["a", "b"]
    assert await storage.get_many(["a", "b"]) == {"a": 1, "b": "x"}
    assert backend.calls == {}


async def test_cached_writes_go_through_and_stay_visible(backend: MemoryBackend) -> None:
    storage = FletStorage("app", backend=backend, cache=True)
    await storage.set("a", [1])
    assert backend.data["app.a"] == "[1]"
    assert await storage.get("a") == [1]
    assert await storage.remove("a") is True
    assert not await storage.contains_key("a")
    await storage.set_many({"x": 1, "y": 2})
    await storage.clear()
    assert backend.data == {}
    assert await storage.get_keys() == []


async def test_cached_values_are_not_shared_mutable_objects(backend: MemoryBackend) -> None:
    storage = FletStorage("app", backend=backend, cache=True)
    await storage.set("tags", {"a"})
    (await storage.get("tags")).add("b")
    assert await storage.get("tags") == {"a"}


async def test_cache_is_shared_by_every_storage_of_the_namespace(backend: MemoryBackend) -> None:
    cached = FletStorage("app", backend=backend, cache=True)
    await cached.set("k", 1)
    writer = FletStorage("app", backend=backend)  # no cache of its own, same namespace
    await writer.set("k", 2)
    await writer.remove("gone")
    assert await cached.get("k") == 2
    other = FletStorage("app", backend=MemoryBackend(), cache=True)  # another scope
    assert await other.get_or_default("k") is None


async def test_cache_is_stale_for_writes_made_elsewhere_until_refresh(
    backend: MemoryBackend,
) -> None:
    storage = FletStorage("app", backend=backend, cache=True)
    await storage.set("k", 1)
    assert await storage.get("k") == 1  # loads the cache
    backend.data["app.k"] = "2"  # another tab, or plain ft.SharedPreferences code
    assert await storage.get("k") == 1
    await storage.refresh()
    assert await storage.get("k") == 2


async def test_failed_write_drops_the_cache() -> None:
    flaky = ScriptedBackend(_stuck_set)
    storage = FletStorage("app", backend=flaky, cache=True, timeout=0.05)
    await storage.set("k", 1)
    assert await storage.get("k") == 1  # loads the cache
    with pytest.raises(StorageTimeoutError):
        await storage.set("stuck", 2)
    flaky.data["app.k"] = "3"
    assert await storage.get("k") == 3  # reloaded: the failure left the cache unknown


class _HeldLoad:
    """A backend whose read of `slow` is held until :meth:`mid_load` has run its call, so a
    cache load stays open while other calls land; writing `*.bad` fails at once."""

    def __init__(self) -> None:
        self.read_k, self.release = asyncio.Event(), asyncio.Event()
        self.backend = ScriptedBackend(self.handle, data={"app.k": '"old"', "app.slow": "1"})

    async def handle(self, call: Call) -> object:
        if call.method == "set" and call.key.endswith(".bad"):
            raise RuntimeError("boom")
        if call.key == "app.slow":
            await self.release.wait()
        result = await call.proceed()
        if call.key == "app.k":
            self.read_k.set()
        return result

    async def mid_load(self, call: Awaitable[object]) -> object:
        await self.read_k.wait()  # the load has read "k" and waits for "slow"
        try:
            return await call
        finally:
            self.release.set()


async def test_a_write_during_the_cache_load_is_not_hidden_by_it() -> None:
    held = _HeldLoad()
    backend = held.backend
    cached = FletStorage("app", backend=backend, cache=True)
    writer = FletStorage("app", backend=backend)
    await asyncio.gather(cached.get("slow"), held.mid_load(writer.set("k", "new")))
    assert await cached.get("k") == "new"
    # The load that raced the write is dropped (get("slow") then read the backend), and
    # the next read loads again: 2 loads of one listing each.
    assert backend.calls["get_keys"] == 2


async def test_a_failed_write_during_the_cache_load_spoils_it() -> None:
    held = _HeldLoad()
    backend = held.backend
    cached = FletStorage("app", backend=backend, cache=True)
    writer = FletStorage("app", backend=backend)  # e.g. another handler, same page
    _, failed = await asyncio.gather(
        cached.get("slow"), held.mid_load(writer.set("bad", 1)), return_exceptions=True
    )
    assert isinstance(failed, BackendError)
    backend.data["app.k"] = '"changed elsewhere"'
    assert await cached.get("k") == "changed elsewhere"  # the spoiled load was not kept

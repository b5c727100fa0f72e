"""Regressions found in review: foreign errors, cancellation, races, leaks."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref

import pytest

from flet_storage import BackendError, Codec, FletStorage, MemoryBackend, StorageEvent
from flet_storage._state import NamespaceState
from flet_storage.backends import RawValue


class _Flaky(MemoryBackend):
    """`set` of keys ending in `.bad` raises something that is not a RuntimeError."""

    async def set(self, key: str, value: RawValue) -> bool:
        if key.endswith(".bad"):
            raise ConnectionResetError("peer said: hunter2")
        return await super().set(key, value)


async def test_foreign_backend_errors_are_translated_and_the_rest_of_the_batch_counts() -> None:
    backend = _Flaky()
    storage = FletStorage("app", backend=backend, cache=True)
    await storage.set("a", "old")
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    with pytest.raises(BackendError, match=r"set\('bad'\).*ConnectionResetError") as info:
        await storage.set_many({"a": "new", "bad": 1})
    assert "hunter2" not in str(info.value)  # foreign text may hold data: type name only
    assert isinstance(info.value.__cause__, ConnectionResetError)
    assert await storage.get("a") == "new"  # the cache learned of the write that worked
    assert [(e.key, e.kind) for e in events] == [("a", "set")]


class _AppliesThenHangs(MemoryBackend):
    """Applies a write at once, then never answers: the caller gives up."""

    async def set(self, key: str, value: RawValue) -> bool:
        await super().set(key, value)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_cancelled_write_leaves_no_stale_cache() -> None:
    backend = _AppliesThenHangs()
    storage = FletStorage("app", backend=backend, cache=True, timeout=None)
    backend.data["app.k"] = '"old"'
    assert await storage.get("k") == "old"  # cache loaded
    task = asyncio.ensure_future(storage.set("k", "new"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await storage.get("k") == "new"  # reloaded: the client had applied it


async def test_concurrent_refused_and_accepted_writes_keep_the_accepted_one() -> None:
    backend = MemoryBackend(quota=300, latency=0.002)
    storage = FletStorage("app", backend=backend)
    await storage.set("k", "old")
    results = await asyncio.gather(
        storage.set("k", "x" * 1000), storage.set("k", "mine"), return_exceptions=True
    )
    assert type(results[0]).__name__ == "StorageFullError"
    assert results[1] is True
    assert await storage.get("k") == "mine"  # the restore did not undo the accepted write
    backend.reload()
    assert await storage.get("k") == "mine"


async def test_a_failing_custom_decoder_never_fails_the_write(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Token:
        pass

    def broken(payload: object) -> Token:
        raise ZeroDivisionError

    codec = Codec()
    codec.register(Token, tag="token", encode=lambda t: 1, decode=broken)
    storage = FletStorage("app", backend=MemoryBackend(), codec=codec)
    storage.subscribe(lambda event: None)
    with caplog.at_level(logging.ERROR, logger="flet_storage"):
        assert await storage.set("t", Token()) is True
    assert "no change event for 't'" in caplog.text


async def test_duplicate_keys_in_batches_count_once() -> None:
    backend = MemoryBackend()
    storage = FletStorage("app", backend=backend)
    await storage.set("a", 1)
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    backend.calls.clear()
    assert await storage.get_many(["a", "a"]) == {"a": 1}
    assert await storage.remove_many(["a", "a"]) == 1
    assert len(events) == 1
    assert backend.calls == {"get": 2, "remove": 1}


class _Scope:
    """A stand-in for a Flet page: what the backend names as one storage."""


class _ScopedBackend(MemoryBackend):
    def __init__(self, scope: _Scope) -> None:
        super().__init__()
        self._scope = weakref.ref(scope)

    def scope(self) -> object:
        return self._scope()


async def test_a_listener_referring_to_its_page_does_not_keep_the_page_alive() -> None:
    async def session() -> weakref.ref[_Scope]:
        page = _Scope()
        storage = FletStorage("app", backend=_ScopedBackend(page))
        storage.subscribe(lambda event: print(page))  # e.g. lambda e: page.update()
        await storage.set("k", 1)
        return weakref.ref(page)

    page = await session()
    gc.collect()
    assert page() is None


async def test_a_waiter_cancelled_after_being_handed_the_lock_passes_it_on() -> None:
    state = NamespaceState()
    release = asyncio.Event()
    got: list[str] = []

    async def take(name: str) -> None:
        async with state.exclusive(["k"]):
            got.append(name)

    async def hold() -> None:
        async with state.exclusive(["k"]):
            await release.wait()
        first.cancel()  # handed the turn a moment ago, cancelled before it could use it

    holder = asyncio.ensure_future(hold())
    await asyncio.sleep(0)
    first = asyncio.ensure_future(take("first"))
    second = asyncio.ensure_future(take("second"))
    await asyncio.sleep(0)  # both queued behind the holder
    release.set()
    await holder
    await asyncio.wait_for(second, timeout=1)  # hangs if the turn died with `first`
    assert first.cancelled()
    assert got == ["second"]
    assert not state.owners
    assert not state.waiters

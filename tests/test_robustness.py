"""Regressions found in review: foreign errors, cancellation, races, leaks."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Awaitable, Callable

import pytest

from flet_storage import (
    BackendError,
    Codec,
    FletStorage,
    MemoryBackend,
    StorageEvent,
    StorageFullError,
    StorageTimeoutError,
)
from flet_storage._locks import KeyLocks
from flet_storage.backends import RawValue
from flet_storage.testing import settle


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
    locks = KeyLocks()
    release = asyncio.Event()
    got: list[str] = []

    async def take(name: str) -> None:
        async with locks.hold(["k"], None):
            got.append(name)

    async def hold() -> None:
        async with locks.hold(["k"], None):
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
    assert not locks._entries  # nothing left behind


async def test_updates_writing_each_others_keys_time_out_instead_of_hanging() -> None:
    storage = FletStorage("app", backend=MemoryBackend(latency=0.005), timeout=0.2)
    await storage.set_many({"a": 1, "b": 1})

    def writes(other: str) -> Callable[[int], Awaitable[int]]:
        async def fn(value: int) -> int:
            await asyncio.sleep(0.01)  # both now hold their own key
            await storage.set(other, value)
            return value

        return fn

    results = await asyncio.wait_for(
        asyncio.gather(
            storage.update("a", writes("b")),
            storage.update("b", writes("a")),
            return_exceptions=True,
        ),
        timeout=5,
    )
    assert any(isinstance(r, StorageTimeoutError) for r in results)
    assert "which another task holds" in str(next(r for r in results if isinstance(r, Exception)))


async def test_a_freed_key_goes_to_the_task_that_waited_not_a_busy_writer() -> None:
    storage = FletStorage("app", backend=MemoryBackend(latency=0.001))
    order: list[str] = []

    async def busy() -> None:
        for _ in range(50):
            await storage.set("k", "busy")
        order.append("busy done")

    async def once() -> None:
        await asyncio.sleep(0.005)  # arrives while busy is writing
        await storage.set("k", "once")
        order.append("once done")

    await asyncio.gather(busy(), once())
    assert order == ["once done", "busy done"]


class _RestoreFails(MemoryBackend):
    """Over quota for big values; and the connection dies when `a` is written back."""

    def __init__(self) -> None:
        super().__init__(quota=250)
        self.armed = False

    async def set(self, key: str, value: RawValue) -> bool:
        if self.armed and key == "app.a" and value == '"old-a"':
            raise RuntimeError("connection lost")
        return await super().set(key, value)


async def test_a_failed_restore_does_not_stop_the_rest_of_the_batch() -> None:
    backend = _RestoreFails()
    storage = FletStorage("app", backend=backend)
    await storage.set_many({"a": "old-a", "c": "old-c"})
    backend.armed = True
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    with pytest.raises(StorageFullError):
        await storage.set_many({"a": "x" * 300, "b": "fits", "c": "y" * 300})
    assert ("b", "set") in [(e.key, e.kind) for e in events]
    assert await storage.get("c") == "old-c"  # c was restored although a's restore failed


class _RemoveFails(MemoryBackend):
    async def remove(self, key: str) -> bool:
        raise RuntimeError("connection lost")


async def test_an_expired_key_reads_as_missing_even_if_its_removal_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    storage = FletStorage("app", backend=_RemoveFails(), clock=lambda: now[0])
    await storage.set("tok", "v", ttl=1)
    now[0] += 2
    with caplog.at_level(logging.WARNING, logger="flet_storage"):
        assert await storage.get_or_default("tok", "default") == "default"
        assert await storage.contains_key("tok") is False
        await settle(storage)
    assert "clean-up in namespace 'app' must wait" in caplog.text


async def test_refresh_of_an_uncached_storage_spoils_a_load_under_way() -> None:
    class SlowLoad(MemoryBackend):
        async def get(self, key: str) -> RawValue | None:
            if key.endswith(".slow"):
                await asyncio.sleep(0.05)  # keeps the load open after it has read "k"
            return await super().get(key)

    backend = SlowLoad({"app.k": '"v1"', "app.slow": "1"})
    cached = FletStorage("app", backend=backend, cache=True)
    plain = FletStorage("app", backend=backend)

    async def write_behind_and_refresh() -> None:
        await asyncio.sleep(0.01)
        backend.data["app.k"] = '"v2"'  # plain SharedPreferences code
        await plain.refresh()

    await asyncio.gather(cached.get("slow"), write_behind_and_refresh())
    assert await cached.get("k") == "v2"


async def test_remove_many_never_removes_a_value_written_after_its_existence_read() -> None:
    class SlowExistence(MemoryBackend):
        async def get(self, key: str) -> RawValue | None:
            value = await super().get(key)
            await asyncio.sleep(0.02)  # the existence read answers late
            return value

    backend = SlowExistence({"app.a": '"old"', "app.b": '"old"'})
    storage = FletStorage("app", backend=backend)

    async def write_meanwhile() -> None:
        await asyncio.sleep(0.005)  # remove_many has read "a" and waits for the answer
        await storage.set("a", "new")

    removed, _ = await asyncio.gather(storage.remove_many(["a", "b"]), write_meanwhile())
    assert removed == 2
    assert await storage.get("a") == "new"  # the set waited for the removal, then landed

"""Regressions found in review: foreign errors, cancellation, races, leaks."""

from __future__ import annotations

import asyncio
import gc
import logging
import traceback
import weakref

import pytest
from conftest import FakeClock

from flet_storage import (
    BackendError,
    Codec,
    FletStorage,
    MemoryBackend,
    StorageEvent,
    StorageFullError,
)
from flet_storage.testing import Call, ScriptedBackend, settle


def _flaky(call: Call) -> object:
    """`set` of keys ending in `.bad` raises something that is not a RuntimeError."""
    if call.method == "set" and call.key.endswith(".bad"):
        raise ConnectionResetError("peer said: hunter2")
    return call.proceed()


async def test_foreign_backend_errors_are_translated_and_the_rest_of_the_batch_counts() -> None:
    backend = ScriptedBackend(_flaky)
    storage = FletStorage("app", backend=backend, cache=True)
    await storage.set("a", "old")
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    with pytest.raises(BackendError, match=r"set\('bad'\).*ConnectionResetError") as info:
        await storage.set_many({"a": "new", "bad": 1})
    assert "hunter2" not in str(info.value)  # foreign text may hold data: type name only
    assert info.value.__cause__ is None  # nor would a logged traceback print it
    assert "hunter2" not in "".join(traceback.format_exception(info.value))
    assert await storage.get("a") == "new"  # the cache learned of the write that worked
    assert [(e.key, e.kind) for e in events] == [("a", "set")]


async def test_a_cancelled_write_leaves_no_stale_cache() -> None:
    applied = asyncio.Event()

    async def applies_then_hangs(call: Call) -> object:
        """Applies a write at once, then never answers: the caller gives up."""
        result = await call.proceed()
        if call.method == "set":
            applied.set()
            await asyncio.Event().wait()
        return result

    backend = ScriptedBackend(applies_then_hangs)
    storage = FletStorage("app", backend=backend, cache=True, timeout=None)
    backend.data["app.k"] = '"old"'
    assert await storage.get("k") == "old"  # cache loaded
    task = asyncio.ensure_future(storage.set("k", "new"))
    await applied.wait()
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


async def test_a_listener_referring_to_its_page_does_not_keep_the_page_alive() -> None:
    async def session() -> weakref.ref[_Scope]:
        page = _Scope()
        storage = FletStorage("app", backend=ScriptedBackend(scope=weakref.ref(page)))
        storage.subscribe(lambda event: print(page))  # e.g. lambda e: page.update()
        await storage.set("k", 1)
        return weakref.ref(page)

    page = await session()
    gc.collect()
    assert page() is None


async def test_a_freed_key_goes_to_the_task_that_waited_not_a_busy_writer() -> None:
    writing = asyncio.Event()

    def signal_writes(call: Call) -> object:
        if call.method == "set":
            writing.set()
        return call.proceed()

    storage = FletStorage("app", backend=ScriptedBackend(signal_writes, latency=0.001))
    order: list[str] = []

    async def busy() -> None:
        for _ in range(50):
            await storage.set("k", "busy")
        order.append("busy done")

    async def once() -> None:
        await writing.wait()  # arrives while busy is writing
        await storage.set("k", "once")
        order.append("once done")

    await asyncio.gather(busy(), once())
    assert order == ["once done", "busy done"]


def _restore_fails(call: Call) -> object:
    """The connection dies when `a` is written back."""
    if call.method == "set" and call.key == "app.a" and call.value == '"old-a"':
        raise RuntimeError("connection lost")
    return call.proceed()


async def test_a_failed_restore_does_not_stop_the_rest_of_the_batch() -> None:
    backend = ScriptedBackend(quota=250)  # over quota for big values
    storage = FletStorage("app", backend=backend)
    await storage.set_many({"a": "old-a", "c": "old-c"})
    backend.handler = _restore_fails
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    with pytest.raises(StorageFullError):
        await storage.set_many({"a": "x" * 300, "b": "fits", "c": "y" * 300})
    assert ("b", "set") in [(e.key, e.kind) for e in events]
    assert await storage.get("c") == "old-c"  # c was restored although a's restore failed


def _remove_fails(call: Call) -> object:
    if call.method == "remove":
        raise RuntimeError("connection lost")
    return call.proceed()


async def test_an_expired_key_reads_as_missing_even_if_its_removal_fails(
    caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    storage = FletStorage("app", backend=ScriptedBackend(_remove_fails), clock=clock)
    await storage.set("tok", "v", ttl=1)
    clock.advance(2)
    with caplog.at_level(logging.WARNING, logger="flet_storage"):
        assert await storage.get_or_default("tok", "default") == "default"
        assert await storage.contains_key("tok") is False
        await settle(storage)
    assert "clean-up in namespace 'app' must wait" in caplog.text


async def test_refresh_of_an_uncached_storage_spoils_a_load_under_way() -> None:
    read_k, release = asyncio.Event(), asyncio.Event()

    async def slow_load(call: Call) -> object:
        if call.key == "app.slow":
            await release.wait()  # keeps the load open after it has read "k"
        result = await call.proceed()
        if call.key == "app.k":
            read_k.set()
        return result

    backend = ScriptedBackend(slow_load, data={"app.k": '"v1"', "app.slow": "1"})
    cached = FletStorage("app", backend=backend, cache=True)
    plain = FletStorage("app", backend=backend)

    async def write_behind_and_refresh() -> None:
        await read_k.wait()
        try:
            backend.data["app.k"] = '"v2"'  # plain SharedPreferences code
            await plain.refresh()
        finally:
            release.set()

    await asyncio.gather(cached.get("slow"), write_behind_and_refresh())
    assert await cached.get("k") == "v2"


async def test_remove_many_never_removes_a_value_written_after_its_existence_read() -> None:
    read_a, answer = asyncio.Event(), asyncio.Event()

    async def slow_existence(call: Call) -> object:
        result = await call.proceed()
        if call.method == "get" and call.key == "app.a" and not answer.is_set():
            read_a.set()
            await answer.wait()  # the existence read answers late
        return result

    backend = ScriptedBackend(slow_existence, data={"app.a": '"old"', "app.b": '"old"'})
    storage = FletStorage("app", backend=backend)

    async def write_meanwhile() -> None:
        await read_a.wait()  # remove_many has read "a" and waits for the answer
        setting = asyncio.ensure_future(storage.set("a", "new"))
        # Runs right after the set's first step: by then the set has reached the backend,
        # or waits for the key's lock.
        asyncio.get_running_loop().call_soon(answer.set)
        await setting

    removed, _ = await asyncio.gather(storage.remove_many(["a", "b"]), write_meanwhile())
    assert removed == 2
    assert await storage.get("a") == "new"  # the set waited for the removal, then landed

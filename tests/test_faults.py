"""Faults: a backend that fails, refuses, is cancelled or is slow to answer leaves every key
with its old or its new value, and every error names the key."""

from __future__ import annotations

import asyncio
import logging
import traceback

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


def _restore_fails(call: Call) -> object:
    """The connection dies when `a` is written back."""
    if call.method == "set" and call.key == "app.a" and call.value == '"old-a"':
        raise RuntimeError("connection lost")
    return call.proceed()


def _remove_fails(call: Call) -> object:
    if call.method == "remove":
        raise RuntimeError("connection lost")
    return call.proceed()


async def test_a_refused_expiry_mark_puts_the_previous_value_back() -> None:
    backend = MemoryBackend(quota=60)
    storage = FletStorage("app", backend=backend, clock=lambda: 1000.0)
    await storage.set("k", "old")
    events: list[str] = []
    storage.subscribe(lambda event: events.append(event.kind))
    with pytest.raises(StorageFullError, match=r"set mark\('k'\)"):
        await storage.set("k", "x" * 20, ttl=10)
    assert await storage.get("k") == "old"
    backend.reload()  # what a reloaded page sees
    assert await FletStorage("app", backend=backend).get("k") == "old"
    assert events == []


async def test_remove_many_announces_what_it_removed_before_raising() -> None:
    backend = ScriptedBackend()
    storage = FletStorage("app", backend=backend)
    await storage.set_many({"a": 1, "b": 2})
    events: list[tuple[str, str]] = []
    storage.subscribe(lambda event: events.append((event.key, event.kind)))

    def handler(call: Call) -> object:
        if call.method == "remove" and call.key == "app.b":
            raise RuntimeError("boom")
        return call.proceed()

    backend.handler = handler
    with pytest.raises(BackendError, match=r"remove\('b'\)"):
        await storage.remove_many(["a", "b"])
    backend.handler = None
    assert await storage.contains_key("a") is False
    assert events == [("a", "remove")]


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

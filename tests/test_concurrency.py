"""Concurrent writes, reads, clean-ups and cache loads: what each sees and keeps, and that none
waits for another forever."""

from __future__ import annotations

import asyncio

import pytest

from flet_storage import (
    FletStorage,
    MemoryBackend,
    StorageFullError,
)
from flet_storage.testing import Call, ScriptedBackend, settle


@pytest.mark.parametrize("timeout", [1.0, None])
async def test_update_and_a_ttl_set_of_one_key_never_wait_for_each_other(
    timeout: float | None,
) -> None:
    # "myapp." sorts after "flet_storage:ttl:": a TTL set locks the mark first, update()
    # locked the value first, and each waited for the other's lock.
    storage = FletStorage("myapp", backend=MemoryBackend(), timeout=timeout)
    await storage.set("token", 1, ttl=3600)
    running, go = asyncio.Event(), asyncio.Event()

    async def fn(value: int) -> int:
        running.set()
        await go.wait()
        return value + 1

    async def setter() -> None:
        await running.wait()
        pending = asyncio.ensure_future(storage.set("token", 100, ttl=3600))
        await asyncio.sleep(0)  # the set now waits for the key
        go.set()
        await pending

    # A hang guard, not a speed bound: a deadlock would otherwise hang the suite.
    both = asyncio.gather(storage.update("token", fn), setter())
    results = list(await asyncio.wait_for(both, 30))
    assert results == [2, None]
    assert await storage.get("token") == 100


async def test_purge_and_a_ttl_set_never_wait_for_each_other() -> None:
    now = [1000.0]
    reread, go = asyncio.Event(), asyncio.Event()
    gets = 0

    async def handler(call: Call) -> object:
        nonlocal gets
        if call.method == "get" and call.key == "myapp.k":
            gets += 1
            if gets == 2:  # purge's read under the locks
                reread.set()
                await go.wait()
        return await call.proceed()

    backend = ScriptedBackend()
    storage = FletStorage("myapp", backend=backend, timeout=None, clock=lambda: now[0])
    await storage.set("k", 1, ttl=5)
    now[0] = 2000.0
    backend.handler = handler

    async def setter() -> None:
        await reread.wait()
        pending = asyncio.ensure_future(storage.set("k", 2, ttl=60))
        await asyncio.sleep(0)
        go.set()
        await pending

    both = asyncio.gather(storage.purge_expired(), setter())
    assert list(await asyncio.wait_for(both, 30)) == [1, None]  # a hang guard
    assert await storage.get("k") == 2


async def test_refresh_drops_the_old_cache_when_a_write_lands_during_its_load() -> None:
    backend = MemoryBackend(latency=0.01)
    storage = FletStorage("app", backend=backend, cache=True)
    await storage.set("x", "v1")
    assert await storage.get("x") == "v1"  # loaded
    backend.data["app.x"] = '"v2"'  # plain ft.SharedPreferences code
    await asyncio.gather(storage.refresh(), storage.set("other", 1))
    assert await storage.get("x") == "v2"


async def test_a_clean_up_never_removes_what_a_batch_wrote_while_it_restored() -> None:
    now = [1000.0]
    backend = ScriptedBackend()
    storage = FletStorage("app", backend=backend, cache=True, clock=lambda: now[0])
    await storage.set("a", "small")
    await storage.set("b", "old", ttl=5)
    await storage.get_keys()  # loads the cache
    now[0] = 2000.0  # "b" has expired
    in_restore, go = asyncio.Event(), asyncio.Event()
    sets_of_a = 0

    async def handler(call: Call) -> object:
        nonlocal sets_of_a
        if call.method == "set" and call.key == "app.a":
            sets_of_a += 1
            if sets_of_a == 1:
                raise RuntimeError("QuotaExceededError: exceeded the quota")
            in_restore.set()
            await go.wait()  # the restore, held
        return await call.proceed()

    backend.handler = handler

    async def reader() -> object:
        await in_restore.wait()
        value = await storage.get_or_default("b", "missing")
        go.set()
        return value

    results = await asyncio.gather(
        storage.set_many({"a": "big", "b": "new"}, ttl=100), reader(), return_exceptions=True
    )
    assert isinstance(results[0], StorageFullError)
    assert results[1] == "new"
    await settle(storage)
    assert await FletStorage("app", backend=backend, clock=lambda: now[0]).get("b") == "new"


async def test_a_cached_write_never_waits_for_nor_fails_with_a_load() -> None:
    def handler(call: Call) -> object:
        if call.method == "get" and call.key == "app.other":
            raise RuntimeError("boom")
        return call.proceed()

    backend = ScriptedBackend(handler, data={"app.other": '"x"'})
    storage = FletStorage("app", backend=backend, cache=True)
    await storage.set("theme", "dark")
    assert backend.data["app.theme"] == '"dark"'
    assert backend.calls == {"get": 1, "set": 1}


async def test_a_write_queued_behind_a_long_batch_waits_for_it() -> None:
    # Lock waits that cannot be part of a deadlock are not cut short by the timeout: the
    # batch ahead holds the key while a live client answers it, for 1.6 s (80 calls).
    turn = asyncio.Lock()
    started = asyncio.Event()

    async def one_at_a_time(call: Call) -> object:
        started.set()
        async with turn:
            await asyncio.sleep(0.02)  # answers far less than the timeout apart
            return await call.proceed()

    storage = FletStorage("app", backend=ScriptedBackend(one_at_a_time), timeout=0.3)

    async def later_set() -> None:
        await started.wait()
        await storage.set("k0", "mine")

    await asyncio.gather(storage.set_many({f"k{i}": i for i in range(40)}), later_set())
    assert await storage.get("k0") == "mine"


async def test_a_cancelled_write_waiting_for_its_key_is_cancelled() -> None:
    storage = FletStorage("app", backend=MemoryBackend(), timeout=5)
    await storage.set("k", 0)
    started, go = asyncio.Event(), asyncio.Event()

    async def slow(value: int) -> int:
        started.set()
        await go.wait()
        return value + 1

    holder = asyncio.ensure_future(storage.update("k", slow))
    await started.wait()
    waiting = asyncio.ensure_future(storage.set("k", "cancelled"))
    await asyncio.sleep(0)  # waiting for the key
    go.set()
    await holder
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_parent_namespace_clean_up_never_removes_a_child_write() -> None:
    now = [1000.0]
    backend = MemoryBackend()
    parent = FletStorage("a", backend=backend, clock=lambda: now[0])
    child = FletStorage("a.b", backend=backend, clock=lambda: now[0])
    await child.set("x", "old", ttl=5)
    now[0] = 2000.0
    assert await parent.get_or_default("b.x") is None  # expired: clean-up scheduled
    await child.set("x", "fresh")  # lands before that clean-up runs
    await settle(parent)
    assert await child.get("x") == "fresh"


async def test_a_nested_namespace_write_keeps_the_parent_cache_current() -> None:
    backend = MemoryBackend()
    parent = FletStorage("a", backend=backend, cache=True)
    child = FletStorage("a.b", backend=backend)
    assert await parent.get_keys() == []  # loaded
    await child.set("x", 1)
    assert await parent.get("b.x") == 1


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

"""The key locks (`_locks.KeyLocks`): one plain asyncio.Lock per key, sorted within a hold,
re-entrant for the task that holds a key, and a wait that would close a cycle refused."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sync_helpers import no_spin

from flet_storage import FletStorage, MemoryBackend
from flet_storage._locks import KeyLocks


async def test_a_waiter_cancelled_after_being_handed_the_lock_passes_it_on() -> None:
    locks = KeyLocks()
    holding, release = asyncio.Event(), asyncio.Event()
    got: list[str] = []

    async def take(name: str, queued: asyncio.Event) -> None:
        queued.set()  # runs on, without yielding, until it waits in the lock's queue
        async with locks.hold(["k"]):
            got.append(name)

    async def hold() -> None:
        async with locks.hold(["k"]):
            holding.set()
            await release.wait()
        first.cancel()  # handed the turn a moment ago, cancelled before it could use it

    holder = asyncio.ensure_future(hold())
    await holding.wait()
    queued = [asyncio.Event(), asyncio.Event()]
    first = asyncio.ensure_future(take("first", queued[0]))
    second = asyncio.ensure_future(take("second", queued[1]))
    for event in queued:  # both queued behind the holder
        await event.wait()
    release.set()
    await holder
    await asyncio.wait_for(second, timeout=5)  # a hang guard: hangs if the turn died
    assert first.cancelled()
    assert got == ["second"]
    assert (locks._locks, locks._users, locks._owners) == ({}, {}, {})  # nothing left


async def test_a_task_takes_a_key_it_holds_again_without_waiting() -> None:
    locks = KeyLocks()
    async with locks.hold(["a", "b"]), locks.hold(["b"]), locks.hold(["a", "b"]):
        assert set(locks._owners) == {"a", "b"}
    assert not locks._locks


async def test_a_key_held_in_one_scope_is_not_held_in_another() -> None:
    """A tab yet to join its browser holds its page's lock of a key, then takes the
    browser's lock of the same name: that one must be taken, not skipped as held."""
    page, browser = KeyLocks(), KeyLocks()
    async with page.hold(["k"]), browser.hold(["k"]):
        assert "k" in page._owners
        assert "k" in browser._owners
        async with page.hold(["k"]), browser.hold(["k"]):  # both held: taken again at once
            pass
    assert not page._locks
    assert not browser._locks


async def test_the_cycle_check_follows_a_wait_into_another_lock_set() -> None:
    """T2 holds the page's `k` and waits for the browser's `k` (T1 holds it); T3 waiting
    for the page's `k` must simply wait (the check went round T2 forever); T1 then asking
    for the page's `k` closes a real cycle across both sets, and is refused."""
    page, browser = KeyLocks(), KeyLocks()
    t1_holds, go_on = asyncio.Event(), asyncio.Event()

    async def t1() -> None:
        async with browser.hold(["k"]):
            t1_holds.set()
            await go_on.wait()
            async with page.hold(["k"]):
                pass

    async def t2() -> None:
        async with page.hold(["k"]), browser.hold(["k"]):
            pass

    first = asyncio.ensure_future(t1())
    await t1_holds.wait()
    second = asyncio.ensure_future(t2())
    third = asyncio.ensure_future(_take(page, "k"))
    with no_spin():  # the check has no await: only a signal stops it going round
        for _ in range(10):
            await asyncio.sleep(0)
    assert not second.done()
    assert not third.done()
    go_on.set()
    with pytest.raises(RuntimeError, match="wait for each other"):
        await asyncio.wait_for(first, 5)  # a hang guard
    await asyncio.wait_for(asyncio.gather(second, third), 5)
    assert not page._locks
    assert not browser._locks


async def test_tasks_started_inside_a_hold_hold_its_keys() -> None:
    locks = KeyLocks()
    async with locks.hold(["a"]):
        # gather wraps each in a task that inherits the hold: it must not wait for it
        await asyncio.wait_for(asyncio.gather(_take(locks, "a"), _take(locks, "a")), 5)


async def _take(locks: KeyLocks, key: str, queued: asyncio.Event | None = None) -> None:
    if queued is not None:
        queued.set()  # runs on, without yielding, until it waits in the lock's queue
    async with locks.hold([key]):
        pass


async def test_batches_take_keys_in_sorted_order_so_two_never_deadlock() -> None:
    locks = KeyLocks()
    order: list[str] = []
    inside = asyncio.Event()
    go = asyncio.Event()

    async def batch(name: str, keys: list[str]) -> None:
        async with locks.hold(keys):
            order.append(name)
            inside.set()
            await go.wait()

    one = asyncio.ensure_future(batch("one", ["b", "a"]))
    await inside.wait()
    two = asyncio.ensure_future(batch("two", ["a", "b"]))
    go.set()
    await asyncio.wait_for(asyncio.gather(one, two), 5)
    assert order == ["one", "two"]


async def test_update_functions_writing_each_others_keys_fail_at_once() -> None:
    storage = FletStorage("app", backend=MemoryBackend(), timeout=None)  # no timeout to save it
    await storage.set_many({"a": 1, "b": 1})
    holding = {"a": asyncio.Event(), "b": asyncio.Event()}

    def writes(mine: str, other: str) -> Callable[[int], Awaitable[int]]:
        async def fn(value: int) -> int:
            holding[mine].set()
            await holding[other].wait()  # both now hold their own key
            await storage.set(other, value + 10)
            return value

        return fn

    results = await asyncio.wait_for(  # a hang guard, not a speed check: a hang fails
        asyncio.gather(
            storage.update("a", writes("a", "b")),
            storage.update("b", writes("b", "a")),
            return_exceptions=True,
        ),
        timeout=5,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)
    assert "wait for each other's keys forever" in str(errors[0])
    # The other update went through, its function's write included.
    assert sorted((await storage.get_many(["a", "b"])).values()) == [1, 11]


async def test_an_update_function_may_write_its_own_key() -> None:
    storage = FletStorage("app", backend=MemoryBackend())

    async def fn(value: int) -> int:
        await storage.set("n", 100)  # the key update() holds
        return value + 1

    assert await asyncio.wait_for(storage.update("n", fn, default=0), 5) == 1
    assert await storage.get("n") == 1


@pytest.mark.parametrize("keys", [["k"], ["a", "b", "c"]])
async def test_a_cancelled_hold_leaves_nothing_behind(keys: list[str]) -> None:
    locks = KeyLocks()
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with locks.hold(keys):
            holding.set()
            await release.wait()

    holder = asyncio.ensure_future(hold())
    await holding.wait()
    queued = asyncio.Event()
    waiter = asyncio.ensure_future(_take(locks, keys[-1], queued))
    await queued.wait()
    assert locks._users[keys[-1]] == 2
    waiter.cancel()
    release.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (locks._locks, locks._users, locks._owners) == ({}, {}, {})

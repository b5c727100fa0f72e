"""Live sync between the tabs of one browser (`flet_storage.sync`, the store's browser scope),
on `testing.FakeBrowser`: tabs whose clients each keep their own copy of localStorage."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest
from sync_helpers import landed_then_slow, no_spin, take_then_close, until

from flet_storage import (
    FletStorage,
    MemoryBackend,
    StorageError,
    StorageEvent,
    StorageTimeoutError,
)
from flet_storage.sync import BROWSER_KEY, browser_tag
from flet_storage.testing import FakeBrowser, FakeTab


def _storage(browser: FakeBrowser, sync: bool = True, **kwargs: Any) -> FletStorage:
    return FletStorage("app", backend=browser.backend, sync=sync, **kwargs)


async def _forwarded(browser: FakeBrowser, *tabs: FakeTab) -> None:
    """Wait until the writes forwarded to `tabs` have reached their clients."""
    storage = _storage(browser)
    for tab in tabs:
        for _ in range(1000):
            if tab.copy == browser.local_storage:
                break
            await tab.run(storage.settle)
            await asyncio.sleep(0)
        assert tab.copy == browser.local_storage


async def test_without_sync_a_tab_reads_its_stale_copy_and_loses_increments() -> None:
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser, sync=False)
    await a.run(storage.set, "n", 0)
    b_late = browser.open_tab()
    assert await b_late.run(storage.get, "n") == 0  # its client loads its copy now
    await a.run(storage.increment, "n")
    assert await b_late.run(storage.get, "n") == 0  # stale
    assert await b_late.run(storage.increment, "n") == 1  # A's increment is lost
    assert await b.run(storage.get, "n") == 1  # B's first call: its copy loads now


async def test_with_sync_every_tab_reads_every_write() -> None:
    browser = FakeBrowser()
    a = browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "n", 0)
    b = browser.open_tab()
    steps = [await b.run(storage.get, "n"), await a.run(storage.increment, "n")]
    steps += [await b.run(storage.get, "n"), await b.run(storage.increment, "n")]
    c = browser.open_tab()
    steps.append(await c.run(storage.get, "n"))
    assert steps == [0, 1, 1, 2, 2]
    await b.run(storage.set, "from_b", 1)
    assert await a.run(storage.get_or_default, "from_b") == 1
    assert sorted(await a.run(storage.get_keys)) == ["from_b", "n"]
    await c.run(storage.remove, "from_b")
    assert await a.run(storage.contains_key, "from_b") is False
    await _forwarded(browser, a, b, c)


@pytest.mark.parametrize("seed", range(20))
async def test_increments_from_many_tabs_at_once_all_count(seed: int) -> None:
    browser = FakeBrowser()
    tabs = [browser.open_tab() for _ in range(4)]
    storages = [_storage(browser, cache=random.Random(seed).random() < 0.5) for _ in tabs]
    for tab, storage in zip(tabs, storages, strict=True):  # each tab's first visit, in turn
        await tab.run(storage.get_or_default, "m")

    async def ten(storage: FletStorage) -> list[Any]:
        return list(await asyncio.gather(*(storage.increment("m") for _ in range(10))))

    results = await asyncio.gather(*(t.run(ten, s) for t, s in zip(tabs, storages, strict=True)))
    assert sorted(n for r in results for n in r) == list(range(1, 41))
    await _forwarded(browser, *tabs)
    assert browser.local_storage["app.m"] == "40"


@pytest.mark.parametrize("seed", range(150))
async def test_fresh_tabs_whose_first_operations_are_writes_race_and_converge(seed: int) -> None:
    """Fresh tabs whose first operations (one to three at once: writes with and without a
    TTL, batches, removals, increments, a nested namespace) go out before they joined race
    each other and a joined tab: nothing spins, no increment is lost, and once quiet every
    client equals localStorage and every tab reads it. It also catches a tab's own write
    overtaking a forward of the same key already on its way to its client (a batch's calls
    go out from tasks of their own): 14 of seeds 0-399 of a simpler version failed so."""
    rng = random.Random(seed)
    browser = FakeBrowser()
    a = browser.open_tab()
    app = _storage(browser, cache=rng.random() < 0.5)
    sub = FletStorage("app.sub", backend=browser.backend, cache=rng.random() < 0.5)
    await a.run(app.set, "n", 0)
    tabs = [browser.open_tab() for _ in range(3)]
    increments = 0
    releases: list[asyncio.Future[None]] = []

    async def release(tab: FakeTab, turns: int) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)
        tab.answering.set()

    async def op(tab: FakeTab, i: int) -> None:
        nonlocal increments
        choice = rng.choice(["set", "ttl", "remove", "set_many", "remove_many", "inc", "sub"])
        if choice == "set":
            await tab.run(app.set, "k", i)
        elif choice == "ttl":
            await tab.run(app.set, "k", i, 3600)
        elif choice == "remove":
            await tab.run(app.remove, "k")
        elif choice == "set_many":
            await tab.run(app.set_many, {"k": i, "sub.j": i}, rng.choice([None, 3600]))
        elif choice == "remove_many":
            await tab.run(app.remove_many, ["k", "sub.j"])
        elif choice == "sub":
            await tab.run(sub.set, "j", i)
        else:
            increments += 1
            await tab.run(app.increment, "n")

    async def first(tab: FakeTab, i: int) -> None:
        for _ in range(rng.randrange(3)):
            await asyncio.sleep(0)
        if rng.random() < 0.7:  # its client holds the first round's answers a while
            tab.answering.clear()
            releases.append(asyncio.ensure_future(release(tab, rng.randrange(40))))
        await asyncio.gather(*(op(tab, 10 * i + j) for j in range(rng.randrange(1, 4))))

    async def hammer() -> None:
        nonlocal increments
        for i in range(4):
            increments += 1
            await a.run(app.increment, "n")
            await a.run(app.set, "k", 100 + i)
            await a.run(sub.set, "j", 100 + i)

    with no_spin():
        await asyncio.gather(hammer(), *(first(tab, i) for i, tab in enumerate(tabs, 1)))
        await asyncio.gather(*releases)
        await _forwarded(browser, a, *tabs)
    stored = browser.local_storage
    assert stored["app.n"] == str(increments)
    for tab in (a, *tabs):
        assert tab.copy == stored
        assert await tab.run(app.get, "n") == increments
        assert await tab.run(app.get_or_default, "k") == await a.run(app.get_or_default, "k")
        assert await tab.run(sub.get_or_default, "j") == await tab.run(app.get_or_default, "sub.j")
    k = await a.run(app.get_or_default, "k")
    assert ("app.k" in stored) == (k is not None)


async def test_a_tabs_concurrent_first_writes_of_one_key_wait_without_spinning() -> None:
    """B's first operations are writes at once, one a batch; A holds the browser's lock of
    `x`. B's write of `x` holds B's page lock of `x` while it waits for the browser's lock
    of the same name; B's batch then waits for the page's lock. The check for a wait cycle
    must follow each wait into the lock set it is in (it went round forever, no await)."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "x", 0)
    a.answering.clear()
    a_write = asyncio.ensure_future(a.run(storage.set, "x", "a"))  # holds the lock of x
    for _ in range(5):
        await asyncio.sleep(0)
    with no_spin():
        b_w = asyncio.ensure_future(b.run(storage.set, "w", 1))  # all three before B joined
        b_x = asyncio.ensure_future(b.run(storage.set, "x", "b"))
        b_batch = asyncio.ensure_future(b.run(storage.set_many, {"w": 2, "x": "c"}))
        await b_w
        for _ in range(50):
            await asyncio.sleep(0)
        a.answering.set()
        await asyncio.gather(a_write, b_x, b_batch)
        await _forwarded(browser, a, b)
    assert await a.run(storage.get, "x") == await b.run(storage.get, "x")


async def test_a_sync_false_write_on_a_joining_tab_waits_without_spinning() -> None:
    """The same wait with a `sync=False` storage (the page's locks) writing the key a first
    synced write of the tab holds on the page while it waits for the browser's lock."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    synced, local = _storage(browser), _storage(browser, sync=False)
    await a.run(synced.set, "k", 0)
    a.answering.clear()
    a_write = asyncio.ensure_future(a.run(synced.set, "k", "a"))
    for _ in range(5):
        await asyncio.sleep(0)
    with no_spin():
        first = asyncio.ensure_future(b.run(synced.set, "k", "b"))
        await until(lambda: browser.local_storage.get("app.k") == '"b"', "B's round landed")
        other = asyncio.ensure_future(b.run(local.set, "k", "c"))
        for _ in range(20):
            await asyncio.sleep(0)
        a.answering.set()
        await asyncio.gather(a_write, first, other)


async def _everywhere(browser: FakeBrowser, storage: FletStorage, *tabs: FakeTab) -> set[Any]:
    """Once quiet: what localStorage, each client and each tab's read hold for `k`."""
    await _forwarded(browser, *tabs)
    seen: set[Any] = {browser.local_storage.get("app.k")}
    for tab in tabs:
        assert tab.copy is not None
        seen.add(tab.copy.get("app.k"))
        seen.add(json.dumps(await tab.run(storage.get_or_default, "k")))
    return seen


async def test_a_first_write_cancelled_while_waiting_for_the_browsers_lock_still_reaches_all() -> (
    None
):
    """B's first batch landed in B's client, then waits for the browser's lock of `j` (A's
    write of `j` is slow) and its caller gives up. What landed is handed over to the browser
    in the background: every tab and localStorage end with B's `k`."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set_many, {"j": "a0", "k": "a0"})
    assert await a.run(storage.get, "k") == "a0"  # the mirror is loaded
    a.answering.clear()
    a_write = asyncio.ensure_future(a.run(storage.set, "j", "a1"))  # holds the lock of j
    for _ in range(5):
        await asyncio.sleep(0)
    first = asyncio.ensure_future(b.run(storage.set_many, {"j": "b", "k": "b"}))
    await until(lambda: browser.local_storage.get("app.k") == '"b"', "B's round landed")
    for _ in range(20):
        await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    a.answering.set()
    await a_write
    assert await _everywhere(browser, storage, a, b) == {'"b"'}


async def test_a_first_write_cancelled_while_its_tab_joins_still_reaches_all() -> None:
    """B's first `set` landed; joining then sends B's client a write A made meanwhile, and
    B's client is slow: the caller gives up there. A still gets B's value, and reads agree."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "k", "a0")
    assert await a.run(storage.get, "k") == "a0"
    b.answering.clear()
    first = asyncio.ensure_future(b.run(storage.set, "k", "b"))
    await until(lambda: b.copy is not None, "B's client loaded")
    await a.run(storage.set, "other", 1)  # lands while B's round is under way
    b.answering.set()
    await landed_then_slow(browser, b, "app.k", '"b"')
    for _ in range(20):
        await asyncio.sleep(0)
    assert not first.done()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    b.answering.set()
    assert await _everywhere(browser, storage, a, b) == {'"b"'}


async def test_a_first_write_whose_expiry_mark_fails_keeps_another_tabs_newer_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """B's client loaded before A's write of `k` landed; B's first write is `set(k, ttl=)`,
    whose mark is refused (quota). The undo puts back what B's stale copy held, but joining
    then sends B's client A's newer value: A's write is kept everywhere."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "k", "old")
    backend: Any = browser.backend
    real_set = type(backend).set

    async def refuse_marks(self: Any, key: str, value: Any) -> bool:
        if key.startswith("flet_storage:ttl:") and self._tab() is b:
            await self._tab()._answer()
            raise RuntimeError("QuotaExceededError: quota exceeded")
        return bool(await real_set(self, key, value))

    monkeypatch.setattr(type(backend), "set", refuse_marks)
    b.answering.clear()
    first = asyncio.ensure_future(b.run(storage.set, "k", "b", 60))
    await until(lambda: b.copy is not None, "B's client loaded")
    await a.run(storage.set, "k", "a")  # lands after B's copy loaded, before B joined
    b.answering.set()
    with pytest.raises(StorageError):
        await first
    assert await _everywhere(browser, storage, a, b) == {'"a"'}


async def test_a_tabs_own_write_supersedes_a_forward_not_yet_sent() -> None:
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.get_or_default, "k")  # both tabs join
    await b.run(storage.get_or_default, "k")
    b.answering.clear()  # B's client holds its answers: A's forward to it waits
    await a.run(storage.set, "k", "from a")
    b.answering.set()
    await b.run(storage.set, "k", "from b")
    await _forwarded(browser, a, b)
    assert browser.local_storage["app.k"] == '"from b"'  # the last write, everywhere
    assert await a.run(storage.get, "k") == "from b"


async def test_a_tab_that_closes_mid_write_leaves_the_previous_value_everywhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A's client takes A's write (localStorage has it), then goes silent before answering
    (its tab closed). A's `set` fails on its timeout, so the previous value must stand: it
    is put back through every tab, and localStorage, every client and every read agree."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser, timeout=0.5)  # how long a silent client is waited for
    await a.run(storage.set, "k", "old")
    assert await b.run(storage.get, "k") == "old"  # both joined, the mirror loaded
    closed = take_then_close(monkeypatch, browser, a, "app.k")
    with pytest.raises(StorageTimeoutError):
        await a.run(storage.set, "k", "new")
    assert closed.is_set()
    await _forwarded(browser, b)
    assert browser.local_storage["app.k"] == '"old"'
    assert b.copy is not None
    assert b.copy["app.k"] == '"old"'
    assert await b.run(storage.get, "k") == "old"
    assert await a.run(storage.get, "k") == "old"


async def test_a_tab_that_stops_answering_never_holds_up_the_others() -> None:
    browser = FakeBrowser()
    a, b, closed = browser.open_tab(), browser.open_tab(), browser.open_tab()
    storage = _storage(browser, timeout=1.0)
    for tab in (a, b, closed):
        await tab.run(storage.get_or_default, "k")
    closed.answering.clear()  # its forwarded writes are never answered
    for i in range(5):  # a hang guard only: a write waiting for the closed tab hangs here
        await asyncio.wait_for(a.run(storage.increment, "k"), 30)
        assert await asyncio.wait_for(b.run(storage.get, "k"), 30) == i + 1


async def test_listeners_hear_other_tabs_writes_in_their_own_tab() -> None:
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    heard: list[tuple[StorageEvent, Any]] = []

    async def subscribe() -> None:
        storage.subscribe(lambda event: heard.append((event, b.browser.backend.scope())))
        await storage.get_or_default("k")

    await b.run(subscribe)
    await a.run(storage.get_or_default, "k")
    await a.run(storage.set, "k", 1)
    await b.run(storage.remove, "k")
    assert heard == [
        (StorageEvent("app", "k", "set", 1, remote=True), b),
        (StorageEvent("app", "k", "remove"), b),
    ]


async def test_a_listener_subscribed_before_its_tab_joined_hears_writes_made_meanwhile() -> None:
    """`use_storage` subscribes, then reads: a write another tab lands while that first read
    (which joins the browser) is under way must still reach the listener, or the component
    shows the old value until the next write."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "k", 0)
    heard: list[StorageEvent] = []

    async def subscribe_then_read() -> Any:
        storage.subscribe(heard.append, "k")
        return await storage.get("k")

    b.answering.clear()  # B's first read is under way: its client copy loads, answers held
    first = asyncio.ensure_future(b.run(subscribe_then_read))
    try:
        await until(lambda: b.copy is not None, "B's client loads its copy")
        await a.run(storage.set, "k", 1)
    finally:
        b.answering.set()
    assert await first == 0  # it raced the write and its client had loaded before it
    assert heard == [StorageEvent("app", "k", "set", 1, remote=True)]
    assert await b.run(storage.get, "k") == 1


async def test_the_browser_id_is_made_once_and_known_by_its_hash_only() -> None:
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "k", 1)
    browser_id = browser.local_storage[BROWSER_KEY]
    assert isinstance(browser_id, str)
    assert len(browser_id) == 32
    assert browser_tag(browser_id) not in (None, browser_id)
    assert await b.run(storage.get, "k") == 1  # B's copy, loaded now, holds the id
    assert browser.local_storage[BROWSER_KEY] == browser_id
    assert browser_id not in repr(storage) + repr(browser.backend)


async def test_tabs_whose_first_visits_race_each_make_an_id() -> None:
    """The limit the guide states: two tabs whose clients both load before either stored
    an id form two groups until one reloads."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await asyncio.gather(a.run(storage.set, "k", "a"), b.run(storage.set, "j", "b"))
    assert a.copy is not None
    assert b.copy is not None
    assert a.copy[BROWSER_KEY] != b.copy[BROWSER_KEY]


@pytest.mark.parametrize("tampered", ["", "x" * 32, "0" * 31, 5, "A" * 32])
async def test_a_tampered_browser_id_counts_as_absent(tampered: Any) -> None:
    browser = FakeBrowser({BROWSER_KEY: tampered})
    tab = browser.open_tab()
    await tab.run(_storage(browser).set, "k", 1)
    assert browser_tag(browser.local_storage[BROWSER_KEY]) is not None


async def test_two_browsers_share_nothing() -> None:
    one, two = FakeBrowser(), FakeBrowser()
    storage_one, storage_two = _storage(one), _storage(two)
    a, b = one.open_tab(), two.open_tab()
    await a.run(storage_one.set, "k", "one")
    await b.run(storage_two.set, "k", "two")
    assert await a.run(storage_one.get, "k") == "one"
    assert await b.run(storage_two.get, "k") == "two"


async def test_other_backends_have_nothing_to_sync() -> None:
    backend = MemoryBackend()
    await FletStorage("app", backend=backend).set("k", 1)
    assert BROWSER_KEY not in backend.data
    assert backend.calls == {"get": 1, "set": 1}


def _count_calls(browser: FakeBrowser, tab: FakeTab) -> list[tuple[str, str]]:
    """Record `(method, storage key)` of each call that reaches `tab`'s client."""
    seen: list[tuple[str, str]] = []
    backend: Any = browser.backend
    for method in ("get", "set", "remove", "get_keys"):
        call = getattr(backend, method)

        async def counted(key: str, *args: Any, _call: Any = call, _method: str = method) -> Any:
            if backend.scope() is tab:
                seen.append((_method, key))
            return await _call(key, *args)

        setattr(backend, method, counted)
    return seen


async def _first_round(
    browser: FakeBrowser, tab: FakeTab, calls: int, fn: Any, *args: Any
) -> tuple[Any, list[tuple[str, str]], list[tuple[str, str]]]:
    """Run `fn(*args)` as `tab`'s first operation with its client holding its answers until
    `calls` calls arrived (and nothing more for a while): `(fn's result, the calls of that
    first round, every call it sent)`."""
    seen = _count_calls(browser, tab)
    tab.answering.clear()  # what arrives before any answer is one round
    running = asyncio.ensure_future(tab.run(fn, *args))
    try:
        await until(lambda: len(seen) == calls, f"the {calls} calls of the first round")
        for _ in range(20):
            await asyncio.sleep(0)
        in_round = list(seen)
    finally:
        tab.answering.set()
    return await running, in_round, seen


@pytest.mark.parametrize("first", ["get", "get_keys"])
async def test_a_tabs_first_read_reads_the_browser_id_in_its_own_round(first: str) -> None:
    """No extra round trip to learn which browser a tab belongs to: the id is read with
    the first read's own calls, all sent before any answers, and nothing else is sent."""
    browser = FakeBrowser()
    a = browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "k", "v")
    b = browser.open_tab()
    args = ["k"] if first == "get" else []
    read, in_round, seen = await _first_round(browser, b, 2, getattr(storage, first), *args)
    assert read == ("v" if first == "get" else ["k"])
    expected = ("get", "app.k") if first == "get" else ("get_keys", "")
    assert in_round == [("get", BROWSER_KEY), expected]
    assert seen == in_round  # and nothing more
    # B joined in that round: A's next write reaches it
    await a.run(storage.set, "k", "w")
    assert await b.run(storage.get, "k") == "w"


@pytest.mark.parametrize("first", ["set", "remove"])
async def test_a_tabs_first_write_reads_the_browser_id_in_its_own_round(first: str) -> None:
    """A first write takes no extra round trip either: the id is read with the write's own
    calls, all sent before any answers, and nothing else is sent; the other tabs get it."""
    browser = FakeBrowser()
    a = browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "k", "v")
    assert await a.run(storage.get, "k") == "v"
    b = browser.open_tab()
    args = ("k", "w") if first == "set" else ("k",)
    written, in_round, seen = await _first_round(browser, b, 3, getattr(storage, first), *args)
    assert written in (None, True)
    assert in_round == [("get", BROWSER_KEY), ("get", "app.k"), (first, "app.k")]
    assert seen == in_round  # and nothing more
    expected = "w" if first == "set" else None
    assert await a.run(storage.get_or_default, "k") == expected  # at once: the mirror
    await _forwarded(browser, a)  # and A's client, once the forward reached it


async def test_a_tabs_first_increment_reads_the_browser_id_in_its_read_round() -> None:
    """An update as a tab's first operation takes its usual two rounds: the id is read with
    its read; the write follows once the tab joined and holds the browser's lock."""
    browser = FakeBrowser()
    a = browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "n", 1)
    b = browser.open_tab()
    incremented, first_round, seen = await _first_round(browser, b, 2, storage.increment, "n")
    assert incremented == 2
    assert first_round == [("get", BROWSER_KEY), ("get", "app.n")]
    assert seen[2:] == [("get", "app.n"), ("set", "app.n")]  # the write's round, and no more
    assert await a.run(storage.get, "n") == 2


async def test_a_tabs_first_increment_counts_one_that_landed_during_its_read() -> None:
    """B's client answers B's first read with the value it loaded; A's increment lands
    before that answer. B's increment must build on A's, not on its client's answer."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "n", 0)
    b.answering.clear()
    increment = asyncio.ensure_future(b.run(storage.increment, "n"))
    await until(lambda: b.copy is not None, "B's client loaded")
    assert await a.run(storage.increment, "n") == 1
    b.answering.set()
    assert await increment == 2
    await _forwarded(browser, a, b)
    assert browser.local_storage["app.n"] == "2"


async def test_a_browsers_first_write_takes_one_more_round_to_store_its_new_id() -> None:
    browser = FakeBrowser()
    a = browser.open_tab()
    seen = _count_calls(browser, a)
    await a.run(_storage(browser).set, "k", 1)
    assert seen[:3] == [("get", BROWSER_KEY), ("get", "app.k"), ("set", "app.k")]
    assert seen[3:] == [("set", BROWSER_KEY)]
    assert browser_tag(browser.local_storage[BROWSER_KEY]) is not None


async def test_a_tabs_first_write_racing_another_tabs_write_of_its_key_comes_last() -> None:
    """B's first write goes out before B has joined (so before the browser's lock of the
    key); A's write of the key lands meanwhile. B's write is then ordered after A's: every
    client and localStorage end with it, and B's listener-visible previous value is A's."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "other", 0)
    heard: list[StorageEvent] = []

    async def subscribe() -> None:
        storage.subscribe(heard.append)

    await a.run(subscribe)
    b.answering.clear()  # B's first round is under way: its copy loaded, answers held
    first = asyncio.ensure_future(b.run(storage.set, "k", "b"))
    await until(lambda: b.copy is not None, "B's client loaded")
    await a.run(storage.set, "k", "a")
    b.answering.set()
    await first
    assert await a.run(storage.get, "k") == "b"  # at once: from the mirror
    assert await b.run(storage.get, "k") == "b"
    await _forwarded(browser, a, b)  # the clients: forwards run in the background
    assert b.copy is not None
    assert a.copy is not None
    assert (a.copy["app.k"], b.copy["app.k"], browser.local_storage["app.k"]) == ('"b"',) * 3
    assert [(e.key, e.value, e.remote) for e in heard] == [("k", "a", False), ("k", "b", True)]


async def test_a_tabs_first_removal_of_a_key_set_meanwhile_counts_it() -> None:
    """B's client loaded before A stored `k`: B's first `remove("k")` removes A's value, so
    it was stored (B's own copy alone would say it was not)."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "other", 0)
    b.answering.clear()
    removal = asyncio.ensure_future(b.run(storage.remove, "k"))
    await until(lambda: b.copy is not None, "B's client loaded")
    await a.run(storage.set, "k", "a")
    b.answering.set()
    assert await removal is True
    assert "app.k" not in browser.local_storage
    assert await a.run(storage.contains_key, "k") is False
    assert await b.run(storage.contains_key, "k") is False


async def test_a_write_landing_while_a_tab_joins_is_not_undone_by_its_stale_copy() -> None:
    """B's client loads storage at B's first call; A's write lands after that, before B has
    joined (so it is not forwarded to B). The mirror must not be reloaded from B's copy:
    every tab, and localStorage, keep A's write."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "k", "old")
    await a.run(storage.get, "k")  # the mirror is loaded
    b.answering.clear()  # B's first call is under way: its copy is loaded, the answer held
    first = asyncio.ensure_future(b.run(storage.get, "k"))
    for _ in range(100):
        if b.copy is not None:
            break
        await asyncio.sleep(0)
    assert b.copy is not None
    await a.run(storage.set, "k", "new")
    b.answering.set()
    assert await first in ("old", "new")  # it raced the write: either is right
    assert await b.run(storage.get, "k") == "new"
    assert await a.run(storage.get, "k") == "new"
    assert browser.local_storage["app.k"] == '"new"'

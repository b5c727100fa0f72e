"""Races and faults of live sync, found by a fresh reader attacking it as built (issue 16):
each test states a guarantee of the guide
"Several tabs and processes" and a schedule that breaks it. In-process tests use
`testing.FakeBrowser`; cross-process ones two `RedisSync` objects on a real redis-server,
as tests/test_sync_redis.py does. Waits poll with a hang guard; nothing is timed."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio
from redis_server import RedisServer
from sync_helpers import HANG, landed_then_slow, take_then_close
from sync_helpers import reads as _reads
from sync_helpers import storage as _storage
from sync_helpers import until as _until

from flet_storage import FletStorage, StorageError, StorageEvent, StorageTimeoutError
from flet_storage.sync import BROWSER_KEY, RedisSync, browser_tag
from flet_storage.testing import FakeBrowser, FakeTab


async def _quiet(browser: FakeBrowser, *tabs: FakeTab) -> None:
    """Wait until every forward has reached the tabs' clients."""
    await _until(lambda: all(t.copy == browser.local_storage for t in tabs), "clients agree")


# -- one process ------------------------------------------------------------------------------


async def test_a_mirror_loaded_from_a_tab_with_forwards_in_flight_holds_them() -> None:
    """Guide: "Every read sees every write that returned, in any tab" and "once quiet,
    every tab reads the same value ... and so does localStorage". The browser's mirror is
    (re)loaded from whichever tab reads next; if that tab's client still has a forward
    queued, the mirror misses that write for good."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "seed_a", 0)  # both tabs join; nobody has loaded the mirror
    await b.run(storage.set, "seed_b", 0)
    b.answering.clear()  # B's client is slow (a background tab): forwards queue up
    await a.run(storage.set, "x", 1)  # forwarded to B: in flight
    await a.run(storage.set, "y", 1)  # forwarded to B: waits for the one in flight
    read = asyncio.ensure_future(b.run(storage.get_or_default, "y"))  # B loads the mirror
    await asyncio.sleep(0)
    b.answering.set()
    await read
    await _quiet(browser, a, b)  # every client holds y=1 now, and localStorage too
    assert browser.local_storage["app.y"] == "1"
    assert await a.run(storage.get_or_default, "y") == 1  # A wrote it and reads None
    assert await b.run(storage.get_or_default, "y") == 1


async def test_an_increment_in_a_tab_with_forwards_in_flight_counts() -> None:
    """The same root cause, as a lost increment: a third tab opening drops the mirror, and
    B's increment reloads it from B's client, which A's last increment has not reached."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "n", 0)
    assert await b.run(storage.get, "n") == 0
    b.answering.clear()  # B's client is slow: forwards queue up
    assert await a.run(storage.increment, "n") == 1  # forwarded to B: in flight
    assert await a.run(storage.increment, "n") == 2  # forwarded to B: waits
    c = browser.open_tab()
    await c.run(storage.set, "other", 1)  # C joins: the mirror is dropped
    increment = asyncio.ensure_future(b.run(storage.increment, "n"))
    await asyncio.sleep(0)
    b.answering.set()
    assert await increment == 3


async def test_a_tab_that_reconnects_after_missing_forwards_gets_them_and_the_mirror_too() -> None:
    """A dropped WebSocket (flet-dev/flet#6412): forwards to B time out and are dropped; B
    reconnects with its old client copy. Another tab opening (its join drops the mirror)
    then lets the mirror reload from B's stale copy: every tab reads the old value, while
    localStorage holds the new one."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser, timeout=0.2)
    await a.run(storage.set, "n", 0)
    assert await b.run(storage.get, "n") == 0
    b.answering.clear()  # B's connection drops
    await a.run(storage.set, "n", 1)  # its forward to B times out in the background
    await _until(lambda: all(t.copy is not None for t in (a, b)), "loaded")
    member_task = _member_task(b)
    await _until(lambda: member_task() is None or member_task().done(), "forward gave up")
    b.answering.set()  # B reconnects: the same client, its old copy (F8)
    c = browser.open_tab()  # a new tab joins: the mirror is dropped
    await c.run(storage.set, "other", 1)
    assert await b.run(storage.get, "n") == 1  # B reloads the mirror from its stale copy
    assert await a.run(storage.get, "n") == 1
    assert await c.run(storage.get, "n") == 1


def _member_task(tab: FakeTab) -> Callable[[], Any]:
    def task() -> Any:
        state = tab.__dict__.get("_flet_storage_scope")
        return None if state is None or state.member is None else state.member.task

    return task


async def test_a_closed_tab_that_loaded_the_mirror_is_collectable() -> None:
    """Pages must be collectable once closed. The browser's mirror keeps
    `generation = backend.generation()` of the tab that loaded it: on Flet, that tab's
    connection (which holds its session and page); here, the tab. It lives as long as any
    other tab of the browser does."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await a.run(storage.set, "k", 1)
    assert await b.run(storage.get, "k") == 1  # B loads the browser's mirror
    await a.run(storage.set, "k", 2)
    await _quiet(browser, a, b)
    closed = weakref.ref(b)
    del b  # B closes; A stays open
    gc.collect()
    assert closed() is None


async def test_sync_true_and_a_redis_sync_on_one_page_share_one_browser(
    redis_server: RedisServer,
) -> None:
    """An app with two storages, one `sync=True` (e.g. a library's) and one
    `sync=RedisSync(...)`. A page joins through whichever storage it uses first, and every
    storage of the page then uses that sync object's `Browser`: two tabs of one browser in
    ONE process that first used different storages get two browser scopes (two locks, two
    mirrors, no forwards between them), and the RedisSync namespace is never published."""
    sync = RedisSync(redis_server.url, timeout=0.5)
    try:
        browser = FakeBrowser()
        a, b = browser.open_tab(), browser.open_tab()
        prefs = FletStorage("prefs", backend=browser.backend)  # sync=True
        app = FletStorage("app", backend=browser.backend, sync=sync)
        await a.run(prefs.set, "theme", "dark")  # A's first storage: the in-process bus
        await b.run(app.set, "n", 0)  # B's first storage: the RedisSync
        assert await a.run(app.increment, "n") == 1
        assert await b.run(app.increment, "n") == 2  # B reads A's increment
    finally:
        await sync.aclose()


async def test_a_write_through_a_sync_false_storage_shows_to_a_synced_one_in_its_tab() -> None:
    """Two storages of one namespace in ONE tab, one with `sync=False` (the guide's
    "Turning it off" use). Before sync, a read saw every write that returned, whichever
    object of the namespace made it; now the synced object reads the browser's mirror,
    which a `sync=False` write never updates (design §4: mixing should raise)."""
    browser = FakeBrowser()
    tab = browser.open_tab()
    synced, unsynced = _storage(browser), _storage(browser, sync=False)
    assert await tab.run(synced.get_or_default, "k") is None  # loads the mirror
    await tab.run(unsynced.set, "k", 1)
    assert await tab.run(unsynced.get, "k") == 1
    assert await tab.run(synced.get_or_default, "k") == 1


# -- across processes: Redis ------------------------------------------------------------------


def _channel(browser: FakeBrowser) -> str:
    tag = browser_tag(browser.local_storage[BROWSER_KEY])
    assert tag is not None
    return f"flet_storage:sync:{tag}"


async def _caught_up(server: RedisServer, browser: FakeBrowser, *syncs: RedisSync) -> None:
    """Wait until every process has applied its browser's stream to its newest entry."""
    peer = redis.asyncio.Redis.from_url(server.url)
    try:

        async def check() -> bool:
            entries: Any = await peer.xrevrange(_channel(browser), count=1)
            if not entries:
                return False
            ((head, _),) = entries
            newest = tuple(int(part) for part in head.decode().split("-"))
            return all(not sync._tasks for sync in syncs) and all(  # resends are over
                br.link is not None and br.link.last == newest and not br.link.unsent
                for sync in syncs
                for br in sync._browsers.values()
            )

        await _until(check, "every process applied the whole stream")
    finally:
        await peer.aclose()


async def test_a_malformed_history_entry_neither_stops_the_applier_nor_hangs_update(
    processes: Callable[[], RedisSync], redis_server: RedisServer
) -> None:
    """A buggy or older peer appends an entry the applier cannot parse. The catch-up an
    update runs before it may proceed (`_exclusive` -> applier) lets the exception escape
    `_apply_all`: the applier task dies, the update's future is never resolved."""
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a, b = browser.open_tab(), browser.open_tab()
    await a.run(s1.set, "n", 0)
    await _reads(b, s2, "n", 0)
    peer = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        await peer.xadd(_channel(browser), {"p": "", "m": "not json"})
    finally:
        await peer.aclose()
    assert await asyncio.wait_for(b.run(s2.increment, "n"), HANG) == 1
    await a.run(s1.set, "later", 1)  # and the applier still applies what comes next
    await _reads(b, s2, "later", 1)


async def test_a_malformed_message_with_a_far_future_id_is_not_taken_as_the_last(
    processes: Callable[[], RedisSync], redis_server: RedisServer
) -> None:
    """A message whose id is far ahead (a hostile or buggy peer; its body need not even
    parse) becomes the applier's `last` before its body is parsed: every later genuine
    message counts as "applied already"."""
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a, b = browser.open_tab(), browser.open_tab()
    await a.run(s1.set, "k", 0)
    await _reads(b, s2, "k", 0)
    peer = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        newest: Any = await peer.xrevrange(_channel(browser), count=1)
        ((last_id, _),) = newest
        await peer.publish(_channel(browser), b"99999999999999-0\n" + last_id + b"\ngarbage")
    finally:
        await peer.aclose()
    await a.run(s1.set, "k", 1)
    await _reads(b, s2, "k", 1)


async def test_the_same_key_written_in_two_processes_during_an_outage_converges(
    processes: Callable[[], RedisSync], redis_server: RedisServer
) -> None:
    """Guide/issue: "on reconnect the sessions resynchronise so nothing stays stale". Both
    processes write `k` while Redis is down. The process that resends second first applies
    the other's resent value (its catch-up), then publishes its own older one: the others
    adopt it, it keeps the other's. Once quiet the two processes read different values."""
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a, b = browser.open_tab(), browser.open_tab()
    await a.run(s1.set, "k", "before")
    await _reads(b, s2, "k", "before")
    redis_server.stop()
    await a.run(s1.set, "k", "from one")
    await b.run(s2.set, "k", "from two")
    await _until(lambda: not one.bus.connected and not two.bus.connected, "both down")

    # Process two resends after it has applied process one's resent write (as when two
    # reconnects second: its catch-up reads one's entry first).
    execute = two.bus.execute

    peer = redis.asyncio.Redis.from_url(redis_server.url)

    async def one_resent() -> bool:
        entries: Any = await peer.xrevrange(_channel(browser), count=1)
        return bool(entries) and b"from one" in entries[0][1][b"m"]

    async def two_execute(*args: Any) -> Any:
        if args[0] == "EVAL":  # two resends only once one's resent write is in Redis
            await _until(one_resent, "one resent")
        return await execute(*args)

    two.bus.execute = two_execute  # type: ignore[method-assign]
    redis_server.start()
    await _until(lambda: one.bus.connected and two.bus.connected, "both reconnect")
    await _caught_up(redis_server, browser, one, two)
    await peer.aclose()
    # Every message is applied everywhere: the two processes must now read one value.
    assert await a.run(s1.get, "k") == await b.run(s2.get, "k")
    await _until(lambda: a.copy == b.copy == browser.local_storage, "clients agree")


async def test_removing_a_missing_key_is_heard_nowhere(
    processes: Callable[[], RedisSync],
) -> None:
    """StorageEvent: one event per key a write *changed*. In one process, removing a key
    that was never stored is announced nowhere; across processes the removal is published
    and announced as a remote "remove"."""
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a, b, local = browser.open_tab(), browser.open_tab(), browser.open_tab()
    heard_remote: list[StorageEvent] = []
    heard_local: list[StorageEvent] = []

    async def subscribe(storage: FletStorage, heard: list[StorageEvent]) -> None:
        storage.subscribe(heard.append)
        await storage.get_or_default("k")

    await b.run(subscribe, s2, heard_remote)  # a tab of process two
    await local.run(subscribe, s1, heard_local)  # another tab of process one
    await a.run(s1.remove, "never_stored")
    await a.run(s1.set, "k", 1)  # a marker: once heard, the removal was too
    await _until(lambda: len(heard_remote) >= 1 and len(heard_local) >= 1, "marker heard")
    assert heard_local == [StorageEvent("app", "k", "set", 1, remote=True)]
    assert heard_remote == heard_local


async def test_a_key_expiring_in_two_processes_is_announced_once(
    processes: Callable[[], RedisSync], redis_server: RedisServer
) -> None:
    """One expiry, one "expire" event per tab, though both processes clean it up. (Held
    up: the later clean-up is deferred behind, or skipped after, the other's removal.)"""
    now = [1_700_000_000.0]
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1 = _storage(browser, one, clock=lambda: now[0])
    s2 = _storage(browser, two, clock=lambda: now[0])
    a, b, c = browser.open_tab(), browser.open_tab(), browser.open_tab()
    heard: list[StorageEvent] = []

    async def subscribe() -> None:
        s2.subscribe(heard.append, key="t")
        await s2.get_or_default("t")

    await c.run(subscribe)  # a tab of process two
    await a.run(s1.set, "t", 1, 10)
    await _reads(b, s2, "t", 1)
    heard.clear()
    now[0] += 20
    assert await a.run(s1.get_or_default, "t") is None  # removed in the background
    assert await b.run(s2.get_or_default, "t") is None  # here too
    await a.run(s1.settle)
    await b.run(s2.settle)
    await _caught_up(redis_server, browser, one, two)
    assert heard == [StorageEvent("app", "t", "expire", remote=True)]


async def test_an_update_slower_than_the_lock_lease_keeps_the_lock(
    redis_server: RedisServer,
) -> None:
    """The Redis lock's lease is renewed while an update's function runs: another
    process's increment waits. (Held up.)"""
    one = RedisSync(redis_server.url, timeout=0.5, lock_ttl=0.2)
    two = RedisSync(redis_server.url, timeout=0.5, lock_ttl=0.2)
    try:
        browser = FakeBrowser()
        s1, s2 = _storage(browser, one), _storage(browser, two)
        a, b = browser.open_tab(), browser.open_tab()
        await a.run(s1.set, "n", 0)
        await _reads(b, s2, "n", 0)
        inside = asyncio.Event()

        async def slow(n: int) -> int:
            inside.set()
            await asyncio.sleep(1.0)  # five leases: a slow function, not a time bound
            return n + 10

        update = asyncio.ensure_future(a.run(s1.update, "n", slow))
        await inside.wait()
        assert await b.run(s2.increment, "n") == 11
        assert await update == 10
    finally:
        await one.aclose()
        await two.aclose()


async def test_what_a_process_remembers_per_key_stays_bounded(
    processes: Callable[[], RedisSync], redis_server: RedisServer
) -> None:
    """Nothing unbounded: a long-lived browser whose app writes and removes ever new keys
    (drafts, per-item keys). `_Link.seen` keeps an id for every key ever written, removed or
    not, though an id at or below the last applied one can never matter again."""
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a, b = browser.open_tab(), browser.open_tab()
    await b.run(s2.get_or_default, "k")
    for i in range(400):
        await a.run(s1.set, f"draft{i}", i)
        await a.run(s1.remove, f"draft{i}")
    await _caught_up(redis_server, browser, one, two)
    assert await a.run(s1.get_keys) == []
    sizes = [len(br.link.seen) for sync in (one, two) for br in sync._browsers.values() if br.link]
    assert max(sizes) <= 256, sizes  # bounded: pruned at 256 keys, whatever was written


async def test_encryption_with_different_keys_in_two_processes_keeps_the_applier_alive(
    processes: Callable[[], RedisSync],
) -> None:
    """Process two cannot decrypt process one's values: its listener hears nothing of
    them, and what comes next still arrives. (Held up.)"""
    from flet_storage import Encryption

    browser = FakeBrowser()
    one, two = processes(), processes()
    s1 = _storage(browser, one, encryption=Encryption(Encryption.generate_key()))
    s2 = _storage(browser, two, encryption=Encryption(Encryption.generate_key()))
    plain1 = FletStorage("plain", backend=browser.backend, sync=one)
    plain2 = FletStorage("plain", backend=browser.backend, sync=two)
    a, b = browser.open_tab(), browser.open_tab()
    heard: list[StorageEvent] = []

    async def subscribe() -> None:
        s2.subscribe(heard.append)
        await s2.get_or_default("card")

    await b.run(subscribe)
    assert await b.run(plain2.get_or_default, "after") is None  # its mirror is loaded
    await a.run(s1.set, "card", "4111")
    await a.run(plain1.set, "after", 1)
    await _reads(b, plain2, "after", 1)
    assert heard == []


async def test_a_namespace_first_read_while_another_processes_write_arrives_gets_it(
    processes: Callable[[], RedisSync],
) -> None:
    """The same root cause as the in-process stale mirror, across processes: a write of
    process one reaches process two, which forwards it to tab B in the background; B's
    first read of the namespace loads the mirror from B's client before the forward is
    there. Once quiet, B's client and localStorage hold 1, process two reads None for good."""
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    other1 = FletStorage("other", backend=browser.backend, sync=one)
    other2 = FletStorage("other", backend=browser.backend, sync=two)
    a, b = browser.open_tab(), browser.open_tab()
    await a.run(s1.get_or_default, "k")
    await b.run(s2.get_or_default, "k")  # B joins; it has not read namespace "other"
    await a.run(other1.set, "after", 1)
    await b.run(other2.get_or_default, "after")  # B reads at once: None is fine now
    await _until(lambda: browser.local_storage == a.copy == b.copy, "quiet")
    assert b.copy is not None
    assert b.copy["other.after"] == "1"
    assert await b.run(other2.get_or_default, "after") == 1


async def test_redis_restarted_with_its_history_lost_processes_go_on_in_step(
    processes: Callable[[], RedisSync], redis_server: RedisServer
) -> None:
    """Redis restarts empty (no persistence) between writes: new stream ids start afresh
    and the processes go on applying each other's writes. (Held up.)"""
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a, b = browser.open_tab(), browser.open_tab()
    await a.run(s1.set, "k", 1)
    await _reads(b, s2, "k", 1)
    redis_server.restart()
    await a.run(s1.set, "k", 2)
    await _until(lambda: one.bus.connected and two.bus.connected, "both reconnect")
    await _reads(b, s2, "k", 2)
    await b.run(s2.set, "k", 3)
    await _reads(a, s1, "k", 3)
    await _until(lambda: a.copy == b.copy == browser.local_storage, "copies agree")


# -- a second reader's attack on the first-write join, the hand-over and the rollback --------


async def _settled(browser: FakeBrowser, storage: FletStorage, *tabs: FakeTab) -> None:
    """Wait until the forwards to the tabs that still answer have reached their clients."""

    async def agree() -> bool:
        for tab in tabs:
            await tab.run(storage.settle)
        return all(t.copy == browser.local_storage for t in tabs)

    await _until(agree, "the live clients agree with localStorage")


async def test_a_rollback_never_undoes_a_newer_write(monkeypatch: Any) -> None:
    """A's set of k times out (A's client closed after taking it). Meanwhile B wrote k
    through a sync=False storage, which takes no browser lock: it landed and returned. The
    previous value A's write would put back is no longer the one to restore."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    synced = _storage(browser, timeout=0.5)
    plain = _storage(browser, sync=False)
    await a.run(synced.set, "k", "old")
    assert await b.run(synced.get, "k") == "old"  # both joined, the mirror loaded
    closed = take_then_close(monkeypatch, browser, a, "app.k")
    a_write = asyncio.ensure_future(a.run(synced.set, "k", "new"))
    await _until(closed.is_set, "A's client took the write")
    await b.run(plain.set, "k", "fresh")  # lands and returns: the newest write
    assert await b.run(synced.get, "k") == "fresh"
    with pytest.raises(StorageTimeoutError):
        await a_write
    await _settled(browser, synced, b)
    assert await b.run(synced.get, "k") == "fresh"
    assert browser.local_storage["app.k"] == '"fresh"'


async def test_a_ttl_write_whose_client_closes_before_the_mark_is_rolled_back(
    monkeypatch: Any,
) -> None:
    """A's client answers the value of `set(k, ttl=)`, then closes before answering its
    expiry mark: the write failed, so the previous value goes back through the other tabs
    (not through the silent client alone, which would wait out a second timeout)."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser, timeout=0.5)
    await a.run(storage.set, "k", "old")
    assert await b.run(storage.get, "k") == "old"
    backend: Any = browser.backend
    real_set = type(backend).set
    closed = asyncio.Event()

    async def close_at_mark(self: Any, k: str, value: Any) -> bool:
        if self._tab() is a and (closed.is_set() or k.startswith("flet_storage:ttl:")):
            closed.set()
            await asyncio.Event().wait()
        return bool(await real_set(self, k, value))

    monkeypatch.setattr(type(backend), "set", close_at_mark)
    with pytest.raises(StorageError):
        await a.run(storage.set, "k", "new", 60)
    await _settled(browser, storage, b)
    assert await b.run(storage.get, "k") == "old"
    assert browser.local_storage["app.k"] == '"old"'


async def test_a_first_write_is_superseded_by_its_own_tabs_later_write() -> None:
    """A's first `set(n, 5)` landed; joining then sends A's client a write B made meanwhile
    (A's client is slow to take it). A's own `increment(n)`, started once A joined, reads 5
    and writes 6 before the set holds the browser's lock of n. The set must not take the
    increment for another tab's write and send 5 again: that would lose the increment."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = _storage(browser)
    await b.run(storage.set, "x", 0)
    a.answering.clear()
    first = asyncio.ensure_future(a.run(storage.set, "n", 5))
    await _until(lambda: a.copy is not None, "A's client loaded")
    await b.run(storage.set, "other", 1)  # lands while A's round is under way
    a.answering.set()
    await landed_then_slow(browser, a, "app.n", "5")
    for _ in range(20):
        await asyncio.sleep(0)
    assert not first.done()
    increment = asyncio.ensure_future(a.run(storage.increment, "n"))
    for _ in range(20):
        await asyncio.sleep(0)
    a.answering.set()
    await first
    assert await increment == 6
    await _settled(browser, storage, a, b)
    assert await a.run(storage.get, "n") == 6
    assert await b.run(storage.get, "n") == 6
    assert browser.local_storage["app.n"] == "6"


async def test_a_sync_false_write_supersedes_a_forward_still_pending_to_its_tab() -> None:
    """B's client is slow: A's forward of j is on its way to it, A's forward of k waits
    behind. B then writes k through a sync=False storage: B's pending forward of A's older
    value must not land after it (B's client, and B's sync=False reads, would say A's)."""
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    synced = _storage(browser)
    plain = _storage(browser, sync=False)
    await a.run(synced.get_or_default, "k")
    await b.run(synced.get_or_default, "k")
    b.answering.clear()
    await a.run(synced.set, "j", "from a")  # its forward to B is on its way, unanswered
    await a.run(synced.set, "k", "from a")  # its forward to B waits behind it
    for _ in range(20):
        await asyncio.sleep(0)
    b_write = asyncio.ensure_future(b.run(plain.set, "k", "from b"))
    for _ in range(20):
        await asyncio.sleep(0)
    b.answering.set()
    await b_write
    await _settled(browser, synced, a, b)
    assert await a.run(synced.get, "k") == "from b"  # the mirror: the last write
    assert browser.local_storage["app.k"] == '"from b"'
    assert await b.run(plain.get, "k") == "from b"


async def test_a_write_cancelled_while_publishing_still_reaches_the_other_process(
    processes: Callable[[], RedisSync],
) -> None:
    """A's set landed in A's client, was forwarded and mirrored in process one; its caller
    is cancelled while the publish to Redis is under way. The publish is seen through:
    process two still gets the write."""
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a, b = browser.open_tab(), browser.open_tab()
    await a.run(s1.set, "k", "old")
    await _reads(b, s2, "k", "old")
    real = one.bus.execute
    publishing, go_on = asyncio.Event(), asyncio.Event()

    async def held_eval(*args: Any) -> Any:
        if args and args[0] == "EVAL":
            publishing.set()
            await go_on.wait()
        return await real(*args)

    one.bus.execute = held_eval  # type: ignore[method-assign]
    write = asyncio.ensure_future(a.run(s1.set, "k", "new"))
    await _until(publishing.is_set, "the publish is under way")
    write.cancel()
    for _ in range(20):
        await asyncio.sleep(0)
    go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await write
    one.bus.execute = real  # type: ignore[method-assign]
    assert browser.local_storage["app.k"] == '"new"'
    await _reads(b, s2, "k", "new")


async def test_a_rollback_reaches_localstorage_through_another_process(
    monkeypatch: Any, processes: Callable[[], RedisSync]
) -> None:
    """A (the only tab of the browser in process one) closes mid-write; B is served by
    process two. The previous value goes back through process two's tab, so localStorage
    agrees with every read; B's listener hears nothing (nothing changed for it)."""
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1 = _storage(browser, one, timeout=0.5)
    s2 = _storage(browser, two, timeout=0.5)
    a, b = browser.open_tab(), browser.open_tab()
    await a.run(s1.set, "k", "old")
    await _reads(b, s2, "k", "old")
    heard: list[StorageEvent] = []

    async def listen() -> None:
        s2.subscribe(heard.append)

    await b.run(listen)
    closed = take_then_close(monkeypatch, browser, a, "app.k")
    with pytest.raises(StorageTimeoutError):
        await a.run(s1.set, "k", "new")
    assert closed.is_set()
    assert browser.local_storage["app.k"] == '"new"'  # A's client wrote it before closing
    await _until(lambda: browser.local_storage["app.k"] == '"old"', "the previous value back")
    assert await b.run(s2.get, "k") == "old"
    assert b.copy is not None
    assert b.copy["app.k"] == '"old"'
    assert heard == []

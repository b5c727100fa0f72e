"""Live sync across server processes (`flet_storage.sync.RedisSync`) against a real
redis-server (tests/redis_server.py). Each `RedisSync` plays one server process: the tabs of
one `testing.FakeBrowser` are served by two of them. Waits for what another process sends
poll with a hang guard; nothing is timed."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio
from redis_server import RedisServer
from sync_helpers import reads as _reads
from sync_helpers import storage as _storage
from sync_helpers import until as _until

from flet_storage import Encryption, FletStorage, StorageEvent
from flet_storage.sync import RedisSync
from flet_storage.testing import FakeBrowser, FakeTab


async def test_the_issues_table_across_processes(processes: Callable[[], RedisSync]) -> None:
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a = browser.open_tab()
    await a.run(s1.set, "n", 0)
    b = browser.open_tab()
    steps = [await b.run(s2.get, "n"), await a.run(s1.increment, "n")]
    await _reads(b, s2, "n", 1)  # was 0: B's process never heard of A's write
    steps.append(await b.run(s2.get, "n"))
    steps.append(await b.run(s2.increment, "n"))  # was 1: A's increment lost
    c = browser.open_tab()
    steps.append(await c.run(s1.get, "n"))
    assert steps == [0, 1, 1, 2, 2]
    await b.run(s2.set, "from_b", 1)
    await _reads(a, s1, "from_b", 1)
    assert sorted(await a.run(s1.get_keys)) == ["from_b", "n"]
    await a.run(s1.clear)
    await _until(lambda: b.copy is not None and "app.n" not in b.copy, "B's client cleared")
    assert await b.run(s2.get_keys) == []
    await _until(lambda: a.copy == b.copy == c.copy == browser.local_storage, "copies agree")


async def test_increments_from_tabs_of_two_processes_all_count(
    processes: Callable[[], RedisSync],
) -> None:
    browser = FakeBrowser()
    syncs = [processes(), processes()]
    tabs = [browser.open_tab() for _ in range(4)]
    storages = [_storage(browser, syncs[i % 2]) for i in range(4)]
    for tab, storage in zip(tabs, storages, strict=True):
        await tab.run(storage.get_or_default, "m")

    async def ten(storage: FletStorage) -> list[Any]:
        return list(await asyncio.gather(*(storage.increment("m") for _ in range(10))))

    runs = await asyncio.gather(*(t.run(ten, s) for t, s in zip(tabs, storages, strict=True)))
    assert sorted(n for run in runs for n in run) == list(range(1, 41))
    for tab, storage in zip(tabs, storages, strict=True):
        await _reads(tab, storage, "m", 40)
    await _until(lambda: all(t.copy == browser.local_storage for t in tabs), "copies agree")
    assert browser.local_storage["app.m"] == "40"


async def test_concurrent_writes_from_two_processes_converge_on_the_last(
    processes: Callable[[], RedisSync],
) -> None:
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a, b = browser.open_tab(), browser.open_tab()
    await a.run(s1.get_or_default, "k")
    await b.run(s2.get_or_default, "k")

    async def writes(tab: FakeTab, storage: FletStorage, name: str) -> None:
        for i in range(30):
            await tab.run(storage.set, "k", f"{name}{i}")

    await asyncio.gather(writes(a, s1, "a"), writes(b, s2, "b"))

    async def agree() -> bool:
        values = {await a.run(s1.get, "k"), await b.run(s2.get, "k")}
        stored = json.loads(str(browser.local_storage["app.k"]))
        return len(values) == 1 and values == {stored} and a.copy == b.copy

    await _until(agree, "both processes, both clients and localStorage agree")


async def test_a_listener_hears_another_processes_writes(
    processes: Callable[[], RedisSync],
) -> None:
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a, b = browser.open_tab(), browser.open_tab()
    heard: list[tuple[StorageEvent, Any]] = []

    async def subscribe() -> None:
        s2.subscribe(lambda event: heard.append((event, browser.backend.scope())))
        await s2.get_or_default("k")

    await b.run(subscribe)
    await a.run(s1.set, "k", {"x": [1, 2]})
    await a.run(s1.set, "t", 5, 3600)
    await a.run(s1.remove, "k")
    await a.run(s1.clear)
    await _until(lambda: len(heard) == 4, "four events")
    assert heard == [
        (StorageEvent("app", "k", "set", {"x": [1, 2]}, remote=True), b),
        (StorageEvent("app", "t", "set", 5, remote=True), b),
        (StorageEvent("app", "k", "remove", remote=True), b),
        (StorageEvent("app", "t", "clear", remote=True), b),
    ]


async def test_an_encrypted_namespace_sends_only_ciphertext(
    processes: Callable[[], RedisSync], redis_server: RedisServer
) -> None:
    browser = FakeBrowser()
    one, two = processes(), processes()
    key = Encryption.generate_key()
    s1 = _storage(browser, one, encryption=Encryption(key))
    s2 = _storage(browser, two, encryption=Encryption(key))
    a, b = browser.open_tab(), browser.open_tab()
    heard: list[StorageEvent] = []

    async def subscribe() -> None:
        s2.subscribe(heard.append)
        await s2.get_or_default("card")

    await b.run(subscribe)
    spy = redis.asyncio.Redis.from_url(redis_server.url)
    pubsub = spy.pubsub()
    await pubsub.psubscribe("flet_storage:sync:*")
    try:
        await a.run(s1.set, "card", "4111 1111 1111 1111")
        await _until(lambda: len(heard) == 1, "B hears it")
        assert heard == [StorageEvent("app", "card", "set", "4111 1111 1111 1111", True)]
        sent = b""
        while (message := await pubsub.get_message(timeout=1.0)) is not None:
            if message["type"] == "pmessage":
                sent += message["data"]
        assert b"app.card" in sent
        assert b"4111" not in sent
    finally:
        await pubsub.aclose()
        await spy.aclose()


async def test_two_browsers_share_nothing_across_processes(
    processes: Callable[[], RedisSync],
) -> None:
    one, two = processes(), processes()
    first, second = FakeBrowser(), FakeBrowser()
    a, b = first.open_tab(), second.open_tab()
    await a.run(_storage(first, one).set, "k", "first")
    await b.run(_storage(second, two).set, "k", "second")
    a2 = first.open_tab()
    await a2.run(_storage(first, two).get, "k")
    await a.run(_storage(first, one).set, "k", "first again")
    await _reads(a2, _storage(first, two), "k", "first again")
    assert await b.run(_storage(second, two).get, "k") == "second"
    assert second.local_storage["app.k"] == '"second"'


async def test_redis_down_then_back_storage_works_and_processes_resync(
    processes: Callable[[], RedisSync],
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a, b = browser.open_tab(), browser.open_tab()
    await a.run(s1.set, "n", 0)
    await _reads(b, s2, "n", 0)

    caplog.set_level(logging.INFO, logger="flet_storage")
    redis_server.stop()
    # Writes land and reads answer in both processes, during the outage; update is then
    # atomic per process only.
    await a.run(s1.set, "from_a", "while down")
    await b.run(s2.set, "from_b", "while down")
    assert await a.run(s1.increment, "n") == 1
    assert await b.run(s2.get, "n") in (0, 1)  # process two may not have heard
    assert await a.run(s1.get, "from_a") == "while down"
    assert not one.bus.connected
    assert not two.bus.connected

    redis_server.start()
    await _until(lambda: one.bus.connected and two.bus.connected, "both reconnect")
    await _reads(b, s2, "from_a", "while down")
    await _reads(a, s1, "from_b", "while down")
    await _reads(b, s2, "n", 1)
    assert await b.run(s2.increment, "n") == 2  # atomic across processes again
    await _reads(a, s1, "n", 2)
    await _until(lambda: a.copy == b.copy == browser.local_storage, "copies agree")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage()[:17] for r in warnings] == ["Redis unreachable"] * 2  # one each


async def test_a_process_that_missed_messages_catches_up_from_the_history(
    processes: Callable[[], RedisSync],
) -> None:
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a, b = browser.open_tab(), browser.open_tab()
    await a.run(s1.set, "k", 0)
    await _reads(b, s2, "k", 0)
    # Process two's subscription misses the next writes (as during a reconnection).
    (link,) = [browser.link for browser in two._browsers.values()]
    assert link is not None
    link.unsubscribe()
    for i in range(1, 4):
        await a.run(s1.set, "k", i)
    link.unsubscribe = two.bus.subscribe(link.channel, link.inbox.put_nowait)
    await two.bus.ready()
    await a.run(s1.set, "other", "x")  # its predecessor is one two never got: a gap
    await _reads(b, s2, "other", "x")
    assert await b.run(s2.get, "k") == 3
    await _until(lambda: b.copy == browser.local_storage, "B's client caught up")


async def test_one_redis_sync_serves_many_storages_and_is_made_without_a_loop(
    redis_server: RedisServer,
) -> None:
    sync = RedisSync(redis_server.url)  # no running loop needed to make it
    try:
        assert repr(sync).startswith(f"RedisSync(RedisBus('{redis_server.url}'")
        browser = FakeBrowser()
        a = browser.open_tab()
        await a.run(FletStorage("one", backend=browser.backend, sync=sync).set, "k", 1)
        await a.run(FletStorage("two", backend=browser.backend, sync=sync).set, "k", 2)
        assert len(sync._browsers) == 1  # one browser, one subscription
    finally:
        await sync.aclose()


def test_a_password_in_the_url_is_never_shown() -> None:
    sync = RedisSync("redis://user:s3cret@localhost:6379/0")
    assert "s3cret" not in repr(sync)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"o": "x", "n": "app", "k": null, "c": [["app.k", {"a": 1}]]}',
        b'{"o": "x", "n": "app", "k": "set", "c": []}',
        b'{"o": "x", "n": 5, "k": null, "c": []}',
        b'{"o": "x", "n": "app", "k": null, "c": [[1, "v"]]}',
        b'{"o": "x", "n": "app", "k": null, "c": [["flet_storage:browser", "00"]]}',
        b'{"o": "x", "n": "app", "k": null, "c": [["other.k", "1"]]}',
    ],
)
async def test_a_malformed_message_is_skipped_and_sync_goes_on(
    processes: Callable[[], RedisSync],
    redis_server: RedisServer,
    body: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Anyone who can write to Redis can publish: what is not a message of ours is skipped
    with a warning (no content logged), and the next message still applies."""
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a, b = browser.open_tab(), browser.open_tab()
    await a.run(s1.set, "k", "before")
    await _reads(b, s2, "k", "before")
    (link,) = [browser.link for browser in one._browsers.values()]
    assert link is not None
    hostile = redis.asyncio.Redis.from_url(redis_server.url)
    try:  # appended to the history and published, as our script does
        await hostile.eval(
            "local id = redis.call('XADD', KEYS[1], '*', 'p', '', 'm', ARGV[1])\n"
            "local last = redis.call('XREVRANGE', KEYS[1], id, '-', 'COUNT', 2)\n"
            "redis.call('PUBLISH', KEYS[1], id .. '\\n' .. last[2][1] .. '\\n' .. ARGV[1])",
            1,
            link.channel,
            body,
        )
    finally:
        await hostile.aclose()
    await a.run(s1.set, "k", "after")
    await _reads(b, s2, "k", "after")
    assert await b.run(s2.get, "k") == "after"
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped
    assert all(body.decode() not in message for message in skipped)


async def test_a_write_landing_while_a_tab_joins_in_another_process_reaches_it(
    processes: Callable[[], RedisSync],
) -> None:
    """B's client loads storage at B's first call; A's write lands (and is published) after
    that, before B's process subscribed to the browser: B's process reads it from the
    browser's history, and it reaches B's client before B's first operation returns."""
    browser = FakeBrowser()
    one, two = processes(), processes()
    s1, s2 = _storage(browser, one), _storage(browser, two)
    a, b = browser.open_tab(), browser.open_tab()
    await a.run(s1.set, "k", "old")
    b.answering.clear()  # B's first call is under way: its copy is loaded, the answer held
    first = asyncio.ensure_future(b.run(s2.get, "k"))
    await _until(lambda: b.copy is not None, "B's client loaded")
    await a.run(s1.set, "k", "new")
    b.answering.set()
    assert await first in ("old", "new")  # it raced the write: either is right
    assert await b.run(s2.get, "k") == "new"
    assert b.copy is not None
    assert b.copy["app.k"] == '"new"'

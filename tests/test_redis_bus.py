"""RedisBus against a real redis-server (tests/redis_server.py): pub/sub, leased locks,
an outage and a restart. Waits are gated on events; timeouts only guard against hangs."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio
from redis_server import RedisServer

from flet_storage._redis import RedisBus

HANG = 20.0
"""Seconds after which a wait counts as hung (never reached when things work)."""
FAST = (0.05, 0.2)
"""Reconnection delays for the tests: the first and the longest."""


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def buses(redis_server: RedisServer) -> AsyncIterator[Callable[[], RedisBus]]:
    """Makes RedisBus objects on the test's server (as separate processes would have)."""
    made: list[RedisBus] = []

    def make() -> RedisBus:
        bus = RedisBus(redis_server.url, reconnect_delay=FAST)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.aclose()


class Inbox:
    """Collects payloads; :meth:`wait_for` waits until ``n`` arrived."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self._arrived = asyncio.Event()

    def __call__(self, payload: bytes) -> None:
        self.payloads.append(payload)
        self._arrived.set()

    async def wait_for(self, n: int) -> list[bytes]:
        while len(self.payloads) < n:
            self._arrived.clear()
            await asyncio.wait_for(self._arrived.wait(), HANG)
        return self.payloads


async def test_messages_arrive_in_the_order_published(buses: Callable[[], RedisBus]) -> None:
    bus = buses()
    inbox = Inbox()
    bus.subscribe("c", inbox)
    assert await bus.ready()
    sent = [str(i).encode() for i in range(200)]
    for payload in sent:
        assert await bus.publish("c", payload)
    assert await inbox.wait_for(len(sent)) == sent


async def test_two_buses_see_each_others_messages(buses: Callable[[], RedisBus]) -> None:
    first, second = buses(), buses()
    inbox1, inbox2 = Inbox(), Inbox()
    first.subscribe("c", inbox1)
    second.subscribe("c", inbox2)
    assert await first.ready()
    assert await second.ready()
    assert await first.publish("c", b"from 1")
    assert await second.publish("c", b"from 2")
    assert await inbox1.wait_for(2) == [b"from 1", b"from 2"]
    assert await inbox2.wait_for(2) == [b"from 1", b"from 2"]


async def test_channels_are_separate_and_unsubscribe_ends_delivery(
    buses: Callable[[], RedisBus],
) -> None:
    bus = buses()
    a, b = Inbox(), Inbox()
    stop_a = bus.subscribe("a", a)
    bus.subscribe("b", b)
    assert await bus.ready()
    assert await bus.publish("a", b"1")
    assert await bus.publish("b", b"2")
    assert await a.wait_for(1) == [b"1"]
    stop_a()
    stop_a()  # idempotent
    assert await bus.publish("a", b"3")  # a is no longer listening
    assert await bus.publish("b", b"4")
    assert await b.wait_for(2) == [b"2", b"4"]  # after "3", in Redis's order
    assert a.payloads == [b"1"]


async def test_lock_excludes_across_buses(
    buses: Callable[[], RedisBus], raw: redis.asyncio.Redis
) -> None:
    first, second = buses(), buses()

    async def increment(bus: RedisBus) -> None:
        async with bus.lock("lock:n", ttl=5) as held:
            assert held
            value = int(await raw.get("n") or 0)
            await asyncio.sleep(0)  # let the others try meanwhile
            await raw.set("n", value + 1)

    await asyncio.gather(*(increment(bus) for bus in (first, second) for _ in range(20)))
    assert await raw.get("n") == b"40"
    assert await raw.exists("lock:n") == 0  # released


async def test_lock_is_renewed_while_held(
    buses: Callable[[], RedisBus], raw: redis.asyncio.Redis
) -> None:
    holder, waiter = buses(), buses()
    ttl = 1.5
    async with holder.lock("lock:k", ttl=ttl) as held:
        assert held
        token = await raw.get("lock:k")
        other = asyncio.ensure_future(waiter.lock("lock:k", ttl=ttl).__aenter__())
        await asyncio.sleep(ttl * 2.5)  # the lease would have run out twice unrenewed
        assert await raw.get("lock:k") == token
        assert not other.done()
    assert await asyncio.wait_for(other, HANG) is True


async def test_a_dead_holder_frees_the_lock_when_its_lease_ends(
    buses: Callable[[], RedisBus], raw: redis.asyncio.Redis
) -> None:
    dead, alive = buses(), buses()
    held_forever = dead.lock("lock:k", ttl=2)  # referenced: never finalized (released)
    assert await held_forever.__aenter__() is True
    await dead.aclose()  # the process "dies": no release, no renewal
    assert await raw.exists("lock:k") == 1
    async with alive.lock("lock:k", ttl=2) as held:
        assert held


async def test_outage_degrades_with_one_warning_and_recovers(
    buses: Callable[[], RedisBus],
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="flet_storage")
    bus = buses()
    inbox = Inbox()
    bus.subscribe("c", inbox)
    back = asyncio.Event()
    bus.on_reconnect(back.set)
    assert await bus.ready()
    assert await bus.publish("c", b"before")
    await inbox.wait_for(1)

    redis_server.stop()
    assert await bus.publish("c", b"lost") is False
    assert await bus.publish("c", b"lost") is False
    async with bus.lock("lock:k", ttl=1) as held:
        assert held is False
    assert await bus.ready() is False
    assert not bus.connected

    redis_server.start()  # same port, empty data
    await asyncio.wait_for(back.wait(), HANG)
    assert bus.connected
    other = buses()  # another process, started after the restart
    assert await other.publish("c", b"after")
    assert await bus.publish("c", b"again")
    assert await inbox.wait_for(3) == [b"before", b"after", b"again"]
    async with bus.lock("lock:k", ttl=1) as held:
        assert held is True

    records = [r for r in caplog.records if r.name == "flet_storage"]
    assert [r.levelname for r in records] == ["WARNING", "INFO"]
    assert "Redis unreachable" in records[0].getMessage()


async def test_redis_down_at_start(caplog: pytest.LogCaptureFixture) -> None:
    redis_server = RedisServer()  # never started: nothing listens on its port
    bus = RedisBus(redis_server.url, reconnect_delay=FAST)
    try:
        assert await bus.publish("c", b"x") is False
        async with bus.lock("lock:k", ttl=1) as held:
            assert held is False
        redis_server.start()
        back = asyncio.Event()
        bus.on_reconnect(back.set)
        await asyncio.wait_for(back.wait(), HANG)
        assert await bus.publish("c", b"x") is True
    finally:
        await bus.aclose()
        redis_server.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1


def test_made_without_a_loop_used_on_one(redis_server: RedisServer) -> None:
    bus = RedisBus(redis_server.url)  # as at module level: no loop running

    async def use() -> bool:
        try:
            return await bus.publish("c", b"x")
        finally:
            await bus.aclose()

    assert asyncio.run(use()) is True


async def test_another_loop_is_refused(redis_server: RedisServer) -> None:
    bus = RedisBus(redis_server.url)
    assert await bus.publish("c", b"x")
    try:
        with pytest.raises(RuntimeError, match="one event loop"):
            await asyncio.to_thread(asyncio.run, bus.publish("c", b"y"))
    finally:
        await bus.aclose()


def test_repr_hides_the_password() -> None:
    bus = RedisBus("redis://user:s3cret@example.org:6380/1")
    assert "s3cret" not in repr(bus)
    assert (
        repr(bus)
        == "RedisBus('redis://user:***@example.org:6380/1', channel_prefix='flet_storage:')"
    )
    assert "s3cret" not in repr(RedisBus("redis://:s3cret@[::1]/0"))


def test_without_redis_py(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ImportError, match=r"pip install flet-storage\[redis\]"):
        RedisBus("redis://127.0.0.1/0")


def test_flet_storage_does_not_import_redis() -> None:
    code = "import sys, flet_storage; assert 'redis' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from redis_server import RedisServer, find_redis_server

from flet_storage import FletStorage, MemoryBackend

if TYPE_CHECKING:
    from flet_storage.sync import RedisSync


class FakeClock:
    """A clock for ``FletStorage(clock=...)``: time stands still until :meth:`advance`."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()


@pytest.fixture
def storage(backend: MemoryBackend) -> FletStorage:
    return FletStorage("app", backend=backend)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free loopback port, for one test (``.stop()``,
    ``.start()`` and ``.restart()`` keep the port). Skipped when Debian's redis-server
    is not installed, except on CI (``CI=true``), where that is a failure."""
    if find_redis_server() is None:
        reason = "no redis-server on PATH (Debian: apt install redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
async def processes(redis_server: RedisServer) -> AsyncIterator[Callable[[], RedisSync]]:
    """Makes RedisSync objects on the test's server, one per simulated server process."""
    from flet_storage.sync import RedisSync

    made: list[RedisSync] = []

    def make() -> RedisSync:
        sync = RedisSync(redis_server.url, timeout=0.5)
        sync.bus._delay_min, sync.bus._delay_max = 0.05, 0.2  # reconnect fast in tests
        made.append(sync)
        return sync

    yield make
    for sync in made:
        await sync.aclose()

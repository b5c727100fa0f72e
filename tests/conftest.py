"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from flet_storage import FletStorage, MemoryBackend


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

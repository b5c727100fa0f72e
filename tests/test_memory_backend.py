"""MemoryBackend passes the same contract the real SharedPreferences client passes (e2e)."""

from __future__ import annotations

import pytest

from flet_storage import MemoryBackend
from flet_storage.testing import BackendContract


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    def backend(self) -> MemoryBackend:
        return MemoryBackend()


def test_rejects_unsupported_initial_data() -> None:
    with pytest.raises(ValueError, match="Unsupported value type"):
        MemoryBackend({"k": {"nested": "dict"}})  # type: ignore[dict-item]


async def test_counts_calls_and_simulates_latency() -> None:
    backend = MemoryBackend({"a": "1"}, latency=0.001)
    assert await backend.get("a") == "1"
    await backend.contains_key("a")
    await backend.get("b")
    assert backend.calls == {"get": 2, "contains_key": 1}

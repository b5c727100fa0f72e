"""An in-process backend that behaves like ``ft.SharedPreferences``, for tests and benchmarks."""

from __future__ import annotations

import asyncio
from collections import Counter

from ._base import RawValue

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """A dictionary with the semantics of Flet's SharedPreferences service.

    * ``set`` accepts only ``str``, ``int``, ``float``, ``bool`` and ``list[str]`` and raises
      ``ValueError`` otherwise, exactly like ``ft.SharedPreferences.set``;
    * ``get`` of a missing key returns ``None``; ``get_keys(prefix)`` filters with ``startswith``;
    * lists are copied in and out, so callers never share state with the store.

    ``latency`` (seconds) is awaited on every call to stand in for a client round trip, and
    ``calls`` counts the calls per method, so tests and benchmarks can count round trips.
    """

    def __init__(self, data: dict[str, RawValue] | None = None, *, latency: float = 0.0) -> None:
        self.data: dict[str, RawValue] = {}
        self.latency = latency
        self.calls: Counter[str] = Counter()
        for key, value in (data or {}).items():
            self.data[key] = _checked(value)

    async def _round_trip(self, method: str) -> None:
        self.calls[method] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        else:
            await asyncio.sleep(0)  # a real call always yields to the event loop

    async def set(self, key: str, value: RawValue) -> bool:
        value = _checked(value)
        await self._round_trip("set")
        self.data[key] = value
        return True

    async def get(self, key: str) -> RawValue | None:
        await self._round_trip("get")
        value = self.data.get(key)
        return list(value) if isinstance(value, list) else value

    async def contains_key(self, key: str) -> bool:
        await self._round_trip("contains_key")
        return key in self.data

    async def remove(self, key: str) -> bool:
        await self._round_trip("remove")
        return self.data.pop(key, None) is not None

    async def get_keys(self, key_prefix: str) -> list[str]:
        await self._round_trip("get_keys")
        return [key for key in self.data if key.startswith(key_prefix)]

    async def clear(self) -> bool:
        await self._round_trip("clear")
        self.data.clear()
        return True


def _checked(value: object) -> RawValue:
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ValueError(
        f"Unsupported value type: {type(value)}. "
        "Supported types are: str, int, float, bool, list[str]."
    )

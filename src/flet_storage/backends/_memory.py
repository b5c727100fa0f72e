"""An in-process backend that behaves like `ft.SharedPreferences`, for tests and benchmarks."""

from __future__ import annotations

import asyncio
from collections import Counter

from ._base import BaseBackend, RawValue, check_raw

__all__ = ["MemoryBackend"]

_GONE = object()


class MemoryBackend(BaseBackend):
    """A dictionary with the semantics of Flet's SharedPreferences service.

    As measured on the real Flutter client:

    * `set` accepts only `str`, `int`, `float`, `bool` and `list[str]` and raises
      `ValueError` otherwise, exactly like `ft.SharedPreferences.set`;
    * `get` of a missing key returns `None`; `get_keys(prefix)` filters with
      `startswith`; `remove` returns `True` whether or not the key existed;
    * with `quota` (characters of keys and values, like a browser's localStorage limit), a write
      that does not fit raises `RuntimeError("QuotaExceededError: ...")` — and, like the Flutter web
      client, the session still sees the new value (it sits in the client's in-memory cache) while
      storage kept the old one; [`reload`][flet_storage.MemoryBackend.reload] shows what a reloaded
      page would see.

    Lists are copied in and out, so callers never share state with the store.

    Args:
        data: What the store holds at first, by full storage key
            (`{"my_app.theme": "dark"}`); values must be raw values.
        latency: Seconds awaited on every call, to stand in for a client round trip.
        quota: The most characters of keys and values the store holds; `None`: no limit.

    Attributes:
        data: The stored raw values by full storage key, to read or change in tests.
        latency: As given; may be changed at any time.
        quota: As given; may be changed at any time.
        calls: How many calls each method received (a `collections.Counter`), so tests and
            benchmarks can count round trips.

    Raises:
        ValueError: A value of `data` is not a raw value.
    """

    def __init__(
        self,
        data: dict[str, RawValue] | None = None,
        *,
        latency: float = 0.0,
        quota: int | None = None,
    ) -> None:
        self.data: dict[str, RawValue] = {}
        self.latency = latency
        self.quota = quota
        self.calls: Counter[str] = Counter()
        self._unpersisted: dict[str, object] = {}  # key -> value storage really holds
        for key, value in (data or {}).items():
            self.data[key] = check_raw(value)

    async def _round_trip(self, method: str) -> None:
        self.calls[method] += 1
        # Always yield to the event loop, as a real call does.
        await asyncio.sleep(self.latency)

    async def set(self, key: str, value: RawValue) -> bool:
        value = check_raw(value)
        await self._round_trip("set")
        previous = self._unpersisted.get(key, self.data.get(key, _GONE))
        self.data[key] = value
        if self.quota is not None and self._persisted_size() > self.quota:
            self._unpersisted.setdefault(key, previous)
            raise RuntimeError(
                "QuotaExceededError: Failed to execute 'setItem' on 'Storage': "
                f"Setting the value of 'flutter.{key}' exceeded the quota."
            )
        self._unpersisted.pop(key, None)
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
        self.data.pop(key, None)
        self._unpersisted.pop(key, None)
        return True

    async def get_keys(self, key_prefix: str) -> list[str]:
        await self._round_trip("get_keys")
        return [key for key in self.data if key.startswith(key_prefix)]

    async def clear(self) -> bool:
        await self._round_trip("clear")
        self.data.clear()
        self._unpersisted.clear()
        return True

    def _persisted_size(self) -> int:
        """What storage would hold with the last write, refused writes left out."""
        size = 0
        for key, value in self.data.items():
            before = self._unpersisted.get(key, value)
            size += 0 if before is _GONE else _size(key, before)
        return size

    def reload(self) -> None:
        """Forget writes storage refused, as reloading the page forgets them."""
        for key, value in self._unpersisted.items():
            if value is _GONE:
                self.data.pop(key, None)
            else:
                self.data[key] = value  # type: ignore[assignment]
        self._unpersisted.clear()


def _size(key: str, value: object) -> int:
    return len(key) + len(str(value))

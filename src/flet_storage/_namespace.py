"""The I/O engine under FletStorage: one namespace on one backend.

Every read and write of :class:`~flet_storage.FletStorage` goes through here, which is the one
place that bounds backend calls by the timeout, translates the backend's errors, keeps the
shared read cache current and fires change events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._codec import Codec, DecodeError, EncodeError
from ._errors import (
    BackendError,
    CorruptDataError,
    StorageError,
    StorageFullError,
    StorageTimeoutError,
    UnsupportedValueError,
)
from ._events import ChangeKind, StorageEvent
from ._state import NamespaceState, namespace_state
from .backends import Backend, RawValue

__all__ = ["TTL_PREFIX", "Namespace"]

T = TypeVar("T")

TTL_PREFIX = "fst:"
"""Starts a value stored with a TTL: ``fst:{expires_at}:{codec text}``, expires_at in Unix
seconds. Neither JSON nor the codec's tagged text starts so, and a value stored without a
TTL is exactly the codec's text, as flet-storage 1.1.x reads it."""


class Namespace:
    def __init__(
        self,
        app_name: str,
        backend: Backend,
        codec: Codec,
        timeout: float | None,
        cached: bool,
        clock: Callable[[], float],
    ) -> None:
        self.app_name = app_name
        self.prefix = f"{app_name}."
        self.backend = backend
        self.codec = codec
        self.timeout = timeout
        self.cached = cached
        self.clock = clock

    def state(self) -> NamespaceState:
        return namespace_state(self.backend, self.app_name)

    def storage_key(self, key: str) -> str:
        if not isinstance(key, str):
            raise TypeError(f"key must be a str, not {type(key).__name__}")
        if not key:
            raise ValueError("key must be a non-empty string")
        return self.prefix + key

    def encode(self, key: str, value: object, expires_at: float | None = None) -> str:
        try:
            text = self.codec.encode(value)
        except EncodeError as exc:
            raise UnsupportedValueError(
                f"cannot store key {key!r} in namespace {self.app_name!r}: "
                f"value{exc.path} {exc.reason}"
            ) from None
        return text if expires_at is None else f"{TTL_PREFIX}{expires_at!r}:{text}"

    def decode(self, key: str, raw: RawValue) -> Any:
        if not isinstance(raw, str):
            # Written by plain ft.SharedPreferences code: int, float, bool or list[str].
            return list(raw) if isinstance(raw, list) else raw
        try:
            return self.codec.decode(raw)
        except DecodeError as exc:
            raise CorruptDataError(
                f"key {key!r} in namespace {self.app_name!r} holds data that cannot be "
                f"decoded: {exc}"
            ) from None

    async def call(self, operation: str, key: str | None, call: Awaitable[T]) -> T:
        """Await one backend call, bounded by the timeout, translating its errors."""
        what = operation if key is None else f"{operation}({key!r})"
        try:
            return await asyncio.wait_for(call, self.timeout)
        except StorageError:
            raise
        except asyncio.TimeoutError:
            reset = getattr(self.backend, "reset", None)
            if callable(reset):
                reset()  # a reconnected client may need a freshly registered service
            raise StorageTimeoutError(
                f"{what} in namespace {self.app_name!r} got no answer within "
                f"{self.timeout} s: is the Flet client still connected?"
            ) from None
        except RuntimeError as exc:
            error = StorageFullError if "quota" in str(exc).lower() else BackendError
            raise error(f"{what} in namespace {self.app_name!r} failed: {exc}") from exc

    async def cache(self) -> dict[str, RawValue] | None:
        """The namespace's read cache, loaded on first use; None when not cached."""
        if not self.cached:
            return None
        state = self.state()
        if state.cache is None:
            async with state.load_lock:
                if state.cache is None:
                    keys = await self.backend_keys()
                    raws = await asyncio.gather(
                        *(self.call("get", key, self.backend.get(key)) for key in keys)
                    )
                    state.cache = {k: v for k, v in zip(keys, raws, strict=True) if v is not None}
        return state.cache

    async def read(self, key: str, storage_key: str) -> RawValue | None:
        """The stored raw value without its TTL, or None if missing or expired."""
        entry = await self.read_entry(key, storage_key)
        return None if entry is None else entry[0]

    async def read_entry(self, key: str, storage_key: str) -> tuple[RawValue, float | None] | None:
        """``(raw value, expires_at or None)``; None if missing or expired. An expired key
        is removed on the spot."""
        cache = await self.cache()
        if cache is not None:
            raw = cache.get(storage_key)
        else:
            raw = await self.call("get", key, self.backend.get(storage_key))
        if raw is None:
            return None
        value, expires_at = self.split_ttl(key, raw)
        if expires_at is not None and expires_at <= self.clock():
            await self.remove(key, storage_key, "expire")
            return None
        return value, expires_at

    def split_ttl(self, key: str, raw: RawValue) -> tuple[RawValue, float | None]:
        if not (isinstance(raw, str) and raw.startswith(TTL_PREFIX)):
            return raw, None
        stamp, sep, text = raw[len(TTL_PREFIX) :].partition(":")
        try:
            expires_at = float(stamp)
        except ValueError:
            expires_at = None
        if not sep or expires_at is None or expires_at != expires_at:  # nan
            raise CorruptDataError(
                f"key {key!r} in namespace {self.app_name!r} holds a malformed expiry time"
            )
        return text, expires_at

    async def contains(self, key: str, storage_key: str) -> bool:
        # A get, not contains_key: only the value tells whether the key has expired.
        return await self.read_entry(key, storage_key) is not None

    async def sweep(self) -> tuple[list[str], int]:
        """The storage keys that have not expired, and how many had (now removed)."""
        keys = await self.storage_keys()
        entries = await asyncio.gather(*(self.read_entry(k[len(self.prefix) :], k) for k in keys))
        live = [k for k, entry in zip(keys, entries, strict=True) if entry is not None]
        return live, len(keys) - len(live)

    async def write(self, key: str, storage_key: str, text: str) -> None:
        state = self.state()
        try:
            stored = await self.call("set", key, self.backend.set(storage_key, text))
        except StorageError:
            state.cache = None  # what the client holds now is unknown: reload on next use
            raise
        if not stored:
            state.cache = None
            raise BackendError(f"the backend did not store key {key!r} of {self.app_name!r}")
        if state.cache is not None:
            state.cache[storage_key] = text
        if state.listeners.wants(key):
            value = self.decode(key, self.split_ttl(key, text)[0])
            state.listeners.fire(StorageEvent(self.app_name, key, "set", value))

    async def remove(self, key: str, storage_key: str, kind: ChangeKind = "remove") -> bool:
        state = self.state()
        try:
            existed = await self.call("remove", key, self.backend.remove(storage_key))
        except StorageError:
            state.cache = None
            raise
        if state.cache is not None:
            state.cache.pop(storage_key, None)
        if existed and state.listeners.wants(key):
            state.listeners.fire(StorageEvent(self.app_name, key, kind))
        return existed

    async def storage_keys(self) -> list[str]:
        cache = await self.cache()
        return list(cache) if cache is not None else await self.backend_keys()

    async def backend_keys(self) -> list[str]:
        keys = await self.call("get_keys", None, self.backend.get_keys(self.prefix))
        # The backend filters by prefix already; filter again so a backend that returns more
        # can never leak another namespace's keys.
        return [key for key in keys if key.startswith(self.prefix)]

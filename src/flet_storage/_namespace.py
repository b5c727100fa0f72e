"""The I/O engine under FletStorage: one namespace on one backend.

Every read and write of :class:`~flet_storage.FletStorage` goes through here, which is the one
place that bounds backend calls by the timeout, translates the backend's errors, keeps the
shared read cache current and fires change events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
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

__all__ = ["Namespace"]

T = TypeVar("T")


class Namespace:
    def __init__(
        self,
        app_name: str,
        backend: Backend,
        codec: Codec,
        timeout: float | None,
        cached: bool,
    ) -> None:
        self.app_name = app_name
        self.prefix = f"{app_name}."
        self.backend = backend
        self.codec = codec
        self.timeout = timeout
        self.cached = cached

    def state(self) -> NamespaceState:
        return namespace_state(self.backend, self.app_name)

    def storage_key(self, key: str) -> str:
        if not isinstance(key, str):
            raise TypeError(f"key must be a str, not {type(key).__name__}")
        if not key:
            raise ValueError("key must be a non-empty string")
        return self.prefix + key

    def encode(self, key: str, value: object) -> str:
        try:
            return self.codec.encode(value)
        except EncodeError as exc:
            raise UnsupportedValueError(
                f"cannot store key {key!r} in namespace {self.app_name!r}: "
                f"value{exc.path} {exc.reason}"
            ) from None

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
        cache = await self.cache()
        if cache is not None:
            return cache.get(storage_key)
        return await self.call("get", key, self.backend.get(storage_key))

    async def contains(self, key: str, storage_key: str) -> bool:
        cache = await self.cache()
        if cache is not None:
            return storage_key in cache
        return await self.call("contains_key", key, self.backend.contains_key(storage_key))

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
            state.listeners.fire(StorageEvent(self.app_name, key, "set", self.decode(key, text)))

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

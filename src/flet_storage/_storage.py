"""FletStorage: the front that owns namespacing, validation, encoding and timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, TypeVar

from ._codec import Codec, DecodeError, EncodeError
from ._errors import (
    BackendError,
    CorruptDataError,
    KeyNotFoundError,
    StorageError,
    StorageFullError,
    StorageTimeoutError,
    UnsupportedValueError,
)
from ._state import NamespaceState, namespace_state
from .backends import Backend, RawValue, SharedPreferencesBackend

__all__ = ["DEFAULT_TIMEOUT", "FletStorage"]

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
"""Seconds a single backend call may take before :class:`StorageTimeoutError`."""


class FletStorage:
    """Namespaced, type-faithful async storage on top of Flet's SharedPreferences.

    Every key is stored as ``"{app_name}.{key}"``, the scheme of flet-storage 1.1.x, so data
    written by it stays readable and apps sharing one browser origin keep apart.

    Args:
        app_name: The namespace; a non-empty string, e.g. ``"my_app"``.
        backend: Where values go. Defaults to Flet's SharedPreferences of the current page,
            shared by every FletStorage on that page. Use ``MemoryBackend()`` in tests.
        codec: Turns values into stored text and back. Defaults to :class:`Codec`.
        timeout: Seconds each backend call may take (``None``: wait forever). A client that
            is gone raises :class:`StorageTimeoutError` instead of hanging.
        cache: Load the namespace once and answer reads locally, with no round trip. Writes
            still reach the client before they return. See :meth:`refresh`.
    """

    def __init__(
        self,
        app_name: str,
        *,
        backend: Backend | None = None,
        codec: Codec | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        cache: bool = False,
    ) -> None:
        if not isinstance(app_name, str):
            raise TypeError(f"app_name must be a str, not {type(app_name).__name__}")
        if not app_name:
            raise ValueError("app_name must be a non-empty string")
        if timeout is not None and not timeout > 0:
            raise ValueError(
                f"timeout must be a positive number of seconds or None, not {timeout!r}"
            )
        self._app_name = app_name
        self._prefix = f"{app_name}."
        self._backend: Backend = backend if backend is not None else SharedPreferencesBackend()
        self._codec = codec if codec is not None else Codec()
        self._timeout = timeout
        self._cached = cache

    def __repr__(self) -> str:
        return f"FletStorage(app_name={self._app_name!r}, backend={self._backend!r})"

    @property
    def app_name(self) -> str:
        """The namespace every key of this storage lives in."""
        return self._app_name

    @property
    def backend(self) -> Backend:
        """The backend holding the encoded values."""
        return self._backend

    async def set(self, key: str, value: Any) -> bool:
        """Store ``value`` under ``key``, replacing any previous value.

        Returns ``True``, as ``ft.SharedPreferences.set`` does.

        Raises:
            UnsupportedValueError: ``value`` (or an element inside it) cannot be stored;
                nothing is written and the previous value stays.
        """
        storage_key = self._storage_key(key)
        await self._write(key, storage_key, self._encode(key, value))
        return True

    async def get(self, key: str) -> Any:
        """Return the value stored under ``key``.

        Raises:
            KeyNotFoundError: (a ``KeyError``) the key is not stored.
            CorruptDataError: (a ``ValueError``) the stored text cannot be decoded.
        """
        storage_key = self._storage_key(key)
        raw = await self._read(key, storage_key)
        if raw is None:
            raise KeyNotFoundError(f"key {key!r} not found in namespace {self._app_name!r}")
        return self._decode(key, raw)

    async def get_or_default(self, key: str, default: Any = None) -> Any:
        """Return the value stored under ``key``, or ``default`` if there is none.

        Corrupt data still raises :class:`CorruptDataError`: it is not silently replaced.
        """
        storage_key = self._storage_key(key)
        raw = await self._read(key, storage_key)
        return default if raw is None else self._decode(key, raw)

    async def contains_key(self, key: str) -> bool:
        """Whether ``key`` is stored in this namespace."""
        storage_key = self._storage_key(key)
        cache = await self._cache()
        if cache is not None:
            return storage_key in cache
        return await self._call("contains_key", key, self._backend.contains_key(storage_key))

    async def remove(self, key: str) -> bool:
        """Remove ``key``; return whether it was stored."""
        return await self._remove(key, self._storage_key(key))

    async def get_keys(self) -> list[str]:
        """The keys of this namespace, without the ``"{app_name}."`` prefix."""
        return [key[len(self._prefix) :] for key in await self._storage_keys()]

    async def clear(self) -> None:
        """Remove every key of this namespace, concurrently; other namespaces stay.

        Never calls SharedPreferences' own ``clear()``, which wipes every app's data.
        """
        storage_keys = await self._storage_keys()
        prefix = len(self._prefix)
        await asyncio.gather(*(self._remove(key[prefix:], key) for key in storage_keys))

    # -- batches: one pipelined round of calls instead of one round trip per key ------------

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The stored values of ``keys``, as a dict; keys that are not stored are left out.

        Raises :class:`CorruptDataError` if any of them holds undecodable text.
        """
        pairs = [(key, self._storage_key(key)) for key in keys]
        raws = await asyncio.gather(*(self._read(key, skey) for key, skey in pairs))
        return {
            key: self._decode(key, raw)
            for (key, _), raw in zip(pairs, raws, strict=True)
            if raw is not None
        }

    async def set_many(self, items: Mapping[str, Any]) -> None:
        """Store every item of ``items``.

        Every key is validated and every value encoded before anything is written, so an
        unsupported value writes nothing. The writes then go out together: if one of them
        fails (timeout, quota), the first error is raised once all have finished; each key
        then holds either its previous or its new value.
        """
        texts = [
            (key, self._storage_key(key), self._encode(key, value)) for key, value in items.items()
        ]
        await _gather_all(self._write(key, skey, text) for key, skey, text in texts)

    async def remove_many(self, keys: Iterable[str]) -> int:
        """Remove ``keys``; return how many of them were stored."""
        pairs = [(key, self._storage_key(key)) for key in keys]
        return sum(await _gather_all(self._remove(key, skey) for key, skey in pairs))

    async def refresh(self) -> None:
        """Reload the read cache from the backend (with ``cache=True``).

        The cache sees every write made through any FletStorage of this namespace on the
        same page, but not writes made elsewhere: another browser tab, another session, or
        plain ``ft.SharedPreferences`` code. Call ``refresh()`` after those.
        """
        state = self._state()
        state.cache = None
        if self._cached:
            await self._cache()

    # -- the primitives every method goes through -------------------------------------------

    def _state(self) -> NamespaceState:
        return namespace_state(self._backend, self._app_name)

    async def _cache(self) -> dict[str, RawValue] | None:
        """The namespace's read cache, loaded on first use; None without ``cache=True``."""
        if not self._cached:
            return None
        state = self._state()
        if state.cache is None:
            async with state.load_lock:
                if state.cache is None:
                    keys = await self._backend_keys()
                    raws = await asyncio.gather(
                        *(self._call("get", key, self._backend.get(key)) for key in keys)
                    )
                    state.cache = {k: v for k, v in zip(keys, raws, strict=True) if v is not None}
        return state.cache

    async def _read(self, key: str, storage_key: str) -> RawValue | None:
        cache = await self._cache()
        if cache is not None:
            return cache.get(storage_key)
        return await self._call("get", key, self._backend.get(storage_key))

    async def _write(self, key: str, storage_key: str, text: str) -> None:
        state = self._state()
        try:
            stored = await self._call("set", key, self._backend.set(storage_key, text))
        except StorageError:
            state.cache = None  # what the client holds now is unknown: reload on next use
            raise
        if not stored:
            state.cache = None
            raise BackendError(f"the backend did not store key {key!r} of {self._app_name!r}")
        if state.cache is not None:
            state.cache[storage_key] = text

    async def _remove(self, key: str, storage_key: str) -> bool:
        state = self._state()
        try:
            existed = await self._call("remove", key, self._backend.remove(storage_key))
        except StorageError:
            state.cache = None
            raise
        if state.cache is not None:
            state.cache.pop(storage_key, None)
        return existed

    async def _storage_keys(self) -> list[str]:
        cache = await self._cache()
        return list(cache) if cache is not None else await self._backend_keys()

    async def _backend_keys(self) -> list[str]:
        keys = await self._call("get_keys", None, self._backend.get_keys(self._prefix))
        # The backend filters by prefix already; filter again so a backend that returns more
        # can never leak another namespace's keys.
        return [key for key in keys if key.startswith(self._prefix)]

    def _decode(self, key: str, raw: RawValue) -> Any:
        if not isinstance(raw, str):
            # Written by plain ft.SharedPreferences code: int, float, bool or list[str].
            return list(raw) if isinstance(raw, list) else raw
        try:
            return self._codec.decode(raw)
        except DecodeError as exc:
            raise CorruptDataError(
                f"key {key!r} in namespace {self._app_name!r} holds data that cannot be "
                f"decoded: {exc}"
            ) from None

    def _storage_key(self, key: str) -> str:
        if not isinstance(key, str):
            raise TypeError(f"key must be a str, not {type(key).__name__}")
        if not key:
            raise ValueError("key must be a non-empty string")
        return self._prefix + key

    def _encode(self, key: str, value: object) -> str:
        try:
            return self._codec.encode(value)
        except EncodeError as exc:
            raise UnsupportedValueError(
                f"cannot store key {key!r} in namespace {self._app_name!r}: "
                f"value{exc.path} {exc.reason}"
            ) from None

    async def _call(self, operation: str, key: str | None, call: Awaitable[T]) -> T:
        """Await one backend call, bounded by the timeout, translating its errors."""
        what = operation if key is None else f"{operation}({key!r})"
        try:
            return await asyncio.wait_for(call, self._timeout)
        except StorageError:
            raise
        except asyncio.TimeoutError:
            reset = getattr(self._backend, "reset", None)
            if callable(reset):
                reset()  # a reconnected client may need a freshly registered service
            raise StorageTimeoutError(
                f"{what} in namespace {self._app_name!r} got no answer within "
                f"{self._timeout} s: is the Flet client still connected?"
            ) from None
        except RuntimeError as exc:
            error = StorageFullError if "quota" in str(exc).lower() else BackendError
            raise error(f"{what} in namespace {self._app_name!r} failed: {exc}") from exc


async def _gather_all(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Run ``calls`` concurrently and let every one finish; then raise the first error."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]

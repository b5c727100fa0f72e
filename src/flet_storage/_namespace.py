"""The I/O engine under FletStorage: one namespace on one backend.

Every read and write of :class:`~flet_storage.FletStorage` goes through here: the read cache,
TTLs, the per-key locks of writes, the restore after a refused write, and change events.
The backend calls themselves (timeouts, pipelining, error translation) are in ``_calls``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ._calls import BackendCalls
from ._codec import Codec, DecodeError, EncodeError
from ._errors import (
    BackendError,
    CorruptDataError,
    StorageError,
    StorageFullError,
    UnsupportedValueError,
)
from ._events import ChangeKind, StorageEvent
from ._state import LOAD, NamespaceState, namespace_state
from .backends import Backend, RawValue

__all__ = ["TTL_PREFIX", "Namespace"]

logger = logging.getLogger("flet_storage")

Entry = tuple[RawValue, "float | None"]
"""A stored raw value without its TTL prefix, and when it expires (None: never)."""


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
        self.calls = BackendCalls(backend, app_name, timeout)
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

    # -- reads ---------------------------------------------------------------------------------

    async def cache(self) -> dict[str, RawValue] | None:
        """The namespace's read cache, loaded on first use; None when not cached."""
        if not self.cached:
            return None
        state = self.state()
        generation = self._generation()
        if generation is not None and state.cache_generation is not generation:
            state.cache = None  # e.g. the page reloaded: its client re-read storage
        if state.cache is None:
            async with state.exclusive([LOAD], self.calls.timeout):
                if state.cache is None:
                    await self._load(state, generation)
        return state.cache

    async def reload(self) -> None:
        """Load the cache again, even if another load has just finished."""
        state = self.state()
        async with state.exclusive([LOAD], self.calls.timeout):
            await self._load(state, self._generation())

    async def _load(self, state: NamespaceState, generation: object) -> None:
        state.cache = None
        state.loading, state.load_spoiled = {}, False
        try:
            keys = await self.backend_keys()
            raws = await self._get_all(keys, keys)
            cache = {k: v for k, v in zip(keys, raws, strict=True) if v is not None}
            for storage_key, raw in state.loading.items():  # writes that raced the load
                if raw is None:
                    cache.pop(storage_key, None)
                else:
                    cache[storage_key] = raw
            if not state.load_spoiled:  # else: unknown; load again on next use
                state.cache, state.cache_generation = cache, generation
        finally:
            state.loading = None

    def _generation(self) -> object:
        generation = getattr(self.backend, "generation", None)
        return generation() if callable(generation) else None

    async def read(self, key: str, storage_key: str) -> RawValue | None:
        """The stored raw value without its TTL, or None if missing or expired."""
        entry = await self.read_entry(key, storage_key)
        return None if entry is None else entry[0]

    async def read_entry(self, key: str, storage_key: str) -> Entry | None:
        """``(raw value, expires_at or None)``; None if missing or expired."""
        return (await self.read_entries([key], [storage_key]))[0]

    async def read_entries(
        self, keys: Sequence[str], storage_keys: Sequence[str]
    ) -> list[Entry | None]:
        """:meth:`read_entry` of many keys, in one round. Expired keys are removed."""
        raws = await self._raws(keys, storage_keys)
        now = self.clock()
        entries: list[Entry | None] = []
        expired: list[tuple[str, str, RawValue]] = []
        for key, storage_key, raw in zip(keys, storage_keys, raws, strict=True):
            entry = None if raw is None else self.split_ttl(raw)
            if entry is not None and entry[1] is not None and entry[1] <= now:
                expired.append((key, storage_key, raw))  # type: ignore[arg-type]
                entry = None
            entries.append(entry)
        if expired:
            try:
                await self._expire(expired)
            except StorageError:  # the answer is "missing" either way; removal can wait
                logger.warning("could not remove expired keys of %r yet", self.app_name)
        return entries

    async def _raws(
        self, keys: Sequence[str], storage_keys: Sequence[str]
    ) -> list[RawValue | None]:
        cache = await self.cache()
        if cache is not None:
            return [cache.get(storage_key) for storage_key in storage_keys]
        if len(keys) == 1:  # the common case: no task per call
            return [await self.calls.call("get", keys[0], self.backend.get(storage_keys[0]))]
        return await self._get_all(keys, storage_keys)

    async def _expire(self, expired: Sequence[tuple[str, str, RawValue]]) -> None:
        """Remove expired keys, unless a write replaced them since they were read."""
        state = self.state()
        async with state.exclusive((sk for _, sk, _ in expired), self.calls.timeout):
            current = await self._raws([k for k, _, _ in expired], [sk for _, sk, _ in expired])
            stale = [
                (key, storage_key)
                for (key, storage_key, raw), now in zip(expired, current, strict=True)
                if now == raw
            ]
            await self._remove_round(state, stale, "expire")

    async def _get_all(
        self, keys: Sequence[str], storage_keys: Sequence[str]
    ) -> list[RawValue | None]:
        results = await self.calls.call_all("get", keys, map(self.backend.get, storage_keys))
        _raise_first(results)
        return results  # type: ignore[return-value]

    @staticmethod
    def split_ttl(raw: RawValue) -> Entry:
        """A value stored with a TTL: its text and expiry. Anything else (including a
        malformed TTL prefix, which then fails to decode) is returned as it is."""
        if isinstance(raw, str) and raw.startswith(TTL_PREFIX):
            stamp, sep, text = raw[len(TTL_PREFIX) :].partition(":")
            try:
                expires_at = float(stamp)
            except ValueError:
                return raw, None
            if sep and expires_at == expires_at:  # not nan
                return text, expires_at
        return raw, None

    async def contains(self, key: str, storage_key: str) -> bool:
        # A get, not contains_key: only the value tells whether the key has expired.
        return await self.read_entry(key, storage_key) is not None

    async def sweep(self) -> tuple[list[str], int]:
        """The storage keys that have not expired, and how many had (now removed)."""
        storage_keys = await self.storage_keys()
        keys = [storage_key[len(self.prefix) :] for storage_key in storage_keys]
        entries = await self.read_entries(keys, storage_keys)
        live = [k for k, entry in zip(storage_keys, entries, strict=True) if entry is not None]
        return live, len(storage_keys) - len(live)

    async def storage_keys(self) -> list[str]:
        cache = await self.cache()
        return list(cache) if cache is not None else await self.backend_keys()

    async def backend_keys(self) -> list[str]:
        keys = await self.calls.call("get_keys", None, self.backend.get_keys(self.prefix))
        # The backend filters by prefix already; filter again so a backend that returns more
        # can never leak another namespace's keys.
        return [key for key in keys if key.startswith(self.prefix)]

    # -- writes: under the keys' locks; the cache and the listeners learn of each success ---

    async def write(self, key: str, storage_key: str, text: str) -> None:
        await self.write_all([(key, storage_key, text)])

    async def write_all(self, items: Sequence[tuple[str, str, str]]) -> None:
        """Write ``(key, storage key, text)`` items in one round; then raise the first error.

        The previous values are read in the same round (or taken from the cache): when the
        client refuses a write for lack of space, its in-memory cache still holds the new
        value although storage kept the old one (measured on the Flutter web client), so the
        old value is written back and the session sees what a reload would see.
        """
        state = self.state()
        keys = [key for key, _, _ in items]
        async with state.exclusive((sk for _, sk, _ in items), self.calls.timeout):
            try:
                cache = await self.cache()
                sets = [self.backend.set(storage_key, text) for _, storage_key, text in items]
                if cache is not None:
                    previous: list[Any] = [cache.get(k) for _, k, _ in items]
                    results: list[Any] = await self.calls.call_all("set", keys, sets)
                else:
                    gets = [self.backend.get(storage_key) for _, storage_key, _ in items]
                    both: list[Any] = await self.calls.call_all("set", keys + keys, [*gets, *sets])
                    previous, results = both[: len(items)], both[len(items) :]
            except BaseException:
                state.invalidate()  # what the client holds now is unknown
                raise
            errors: list[StorageError] = []
            for (key, storage_key, text), result, before in zip(
                items, results, previous, strict=True
            ):
                if isinstance(result, StorageFullError) and not isinstance(before, StorageError):
                    errors.append(result)
                    try:
                        await self._restore(state, key, storage_key, before)
                    except StorageError as exc:  # the other keys still get their turn
                        errors.append(exc)
                elif isinstance(result, StorageError):
                    state.invalidate()
                    errors.append(result)
                elif not result:
                    state.invalidate()
                    errors.append(
                        BackendError(f"the backend did not store key {key!r} of {self.app_name!r}")
                    )
                else:
                    self._record(state, key, storage_key, text)
        _raise_first(errors)

    async def _restore(
        self, state: NamespaceState, key: str, storage_key: str, previous: RawValue | None
    ) -> None:
        try:
            if previous is None:
                await self.calls.call("remove", key, self.backend.remove(storage_key))
            else:
                await self.calls.call("set", key, self.backend.set(storage_key, previous))
        except BaseException:
            state.invalidate()
            raise
        state.note(storage_key, previous)  # a load under way may have seen the refused value

    def _record(self, state: NamespaceState, key: str, storage_key: str, text: str) -> None:
        """Tell the cache and the listeners about a write that succeeded."""
        state.note(storage_key, text)
        if state.listeners.wants(key):
            try:
                value = self.decode(key, self.split_ttl(text)[0])
            except StorageError:  # a custom decoder failing must not fail the write
                logger.exception("no change event for %r of namespace %r", key, self.app_name)
                return
            state.listeners.fire(StorageEvent(self.app_name, key, "set", value))

    async def remove_stored(self, pairs: Sequence[tuple[str, str]]) -> int:
        """Remove the ``(key, storage key)`` pairs that are stored (and have not expired);
        return how many were.

        SharedPreferences' own remove() answers True either way, so existence is read first
        (free with the cache), under the keys' locks so that no write can land in between;
        a missing key costs no remove call.
        """
        state = self.state()
        async with state.exclusive((sk for _, sk in pairs), self.calls.timeout):
            entries = await self.read_entries([k for k, _ in pairs], [sk for _, sk in pairs])
            stored = [pair for pair, entry in zip(pairs, entries, strict=True) if entry is not None]
            await self._remove_round(state, stored, "remove")
            return len(stored)

    async def remove_all(self, pairs: Sequence[tuple[str, str]], kind: ChangeKind) -> None:
        """Remove ``(key, storage key)`` pairs in one round; then raise the first error."""
        state = self.state()
        async with state.exclusive((sk for _, sk in pairs), self.calls.timeout):
            await self._remove_round(state, pairs, kind)

    async def _remove_round(
        self, state: NamespaceState, pairs: Sequence[tuple[str, str]], kind: ChangeKind
    ) -> None:
        if not pairs:
            return
        calls = [self.backend.remove(storage_key) for _, storage_key in pairs]
        try:
            results = await self.calls.call_all("remove", [key for key, _ in pairs], calls)
        except BaseException:
            state.invalidate()
            raise
        for (key, storage_key), result in zip(pairs, results, strict=True):
            if isinstance(result, StorageError):
                state.invalidate()
                continue
            state.note(storage_key, None)
            if state.listeners.wants(key):
                state.listeners.fire(StorageEvent(self.app_name, key, kind))
        _raise_first(results)


def _raise_first(results: Iterable[object]) -> None:
    for result in results:
        if isinstance(result, StorageError):
            raise result

"""The record layer: what one namespace stores around the codec's text, and where.

* A value lives under `{app_name}.{key}`, the key scheme of flet-storage 1.1.x.
* Without a TTL it is exactly the codec's text, as 1.1.x reads it. With one it is framed as
  `fst:{expires_at}:{text}` (Unix seconds; neither JSON nor the codec's tagged text
  starts so), and an *expiry mark* `flet_storage:ttl:{app_name}.{key}` is set beside it.
  Marks let `Records.keys` list a namespace in one round (the keys under both
  prefixes) and read only the values that may have expired. A mark is a hint: a value
  without one never expires, and a mark whose value has no TTL (left by a write that
  replaced it) costs one read and is then removed.
* Expired values read as missing and are removed in the background (see `Store.later`).
* With [Encryption][flet_storage.Encryption], the text inside the frame is encrypted with the
  namespace, the key and the expiry as associated data, so a value moved to another key or
  namespace, or given another expiry, fails to decrypt. The expiry stays readable in the
  frame (a reader learns that a value has expired without decrypting it); editing it can
  only make a value look expired, which is no more than deleting it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, NamedTuple

from ._crypto import DecryptionError
from ._errors import CorruptDataError, StorageError
from ._store import Op, Store, first_error, raise_first
from .backends import Backend, RawValue

if TYPE_CHECKING:
    from ._crypto import Encryption

__all__ = ["MARK_PREFIX", "RESERVED", "TTL_PREFIX", "Entry", "KeyInfo", "Records"]

TTL_PREFIX = "fst:"
RESERVED = "flet_storage:"
"""Starts the keys flet-storage keeps for itself. App names starting with it are refused,
so no namespace's keys include them."""
MARK_PREFIX = RESERVED + "ttl:"


class KeyInfo(NamedTuple):
    """What [`FletStorage.key_info`][flet_storage.FletStorage.key_info] tells of a key.

    Attributes:
        size: The length of the stored text: TTL frame and encryption included.
        expires_at: When the key expires, in Unix seconds; `None`: never.
    """

    size: int
    expires_at: float | None


Entry = tuple[RawValue, "float | None"]
"""What a read found: the codec's text (or a raw value plain SharedPreferences code wrote)
and when it expires (None: never)."""


class Records:
    """The stored records of the namespace `app_name`."""

    def __init__(
        self,
        app_name: str,
        backend: Backend,
        timeout: float | None,
        cached: bool,
        clock: Callable[[], float],
        on_expired: Callable[[list[str]], None],
        encryption: Encryption | None = None,
    ) -> None:
        self.app_name = app_name
        self.encryption = encryption
        self._where = f"{len(app_name)}:{app_name}".encode("utf-8", "surrogatepass")
        self.prefix = f"{app_name}."
        self.marks = f"{MARK_PREFIX}{app_name}."
        self.store = Store(backend, app_name, (self.prefix, self.marks), timeout, cached)
        self.clock = clock
        self._on_expired = on_expired  # keys whose expired values were removed

    @staticmethod
    def unseal(raw: RawValue) -> Entry:
        """A value stored with a TTL: its text and expiry. Anything else, including a
        malformed frame (which then fails to decode), is returned as it is."""
        if isinstance(raw, str) and raw.startswith(TTL_PREFIX):
            stamp, sep, text = raw[len(TTL_PREFIX) :].partition(":")
            try:
                expires_at = float(stamp)
            except ValueError:
                return raw, None
            if sep and expires_at == expires_at:  # not nan
                return text, expires_at
        return raw, None

    def locked(self, keys: Iterable[str]) -> AbstractAsyncContextManager[None]:
        """Hold the locks of `keys` and their expiry marks across several rounds (a
        read-modify-write): all at once, so that no write waits for a mark while holding
        a value another write waits for."""
        return self.store.locked(k for key in keys for k in (self.prefix + key, self.marks + key))

    # -- reads ---------------------------------------------------------------------------------

    async def read(self, keys: Sequence[str]) -> list[Entry | None]:
        """The entries of `keys` in one round, decrypted; None for a missing or expired
        key. Raises [CorruptDataError][flet_storage.CorruptDataError] for a value that fails to
        decrypt."""
        frames = await self._frames(keys)
        if self.encryption is None:
            return frames
        return [
            None if frame is None else (self._decrypt(key, *frame), frame[1])
            for key, frame in zip(keys, frames, strict=True)
        ]

    async def _frames(self, keys: Sequence[str]) -> list[Entry | None]:
        """The stored frames of `keys` (text still encrypted); None if missing or expired."""
        since = self.store.version()
        raws = await self.store.round([("get", self.prefix + key) for key in keys])
        raise_first(raws)
        now = self.clock()
        entries: list[Entry | None] = []
        expired: list[str] = []
        for key, raw in zip(keys, raws, strict=True):
            entry = None if raw is None else self.unseal(raw)
            if entry is not None and entry[1] is not None and entry[1] <= now:
                expired.append(key)
                entry = None
            entries.append(entry)
        if expired:  # the answer is "missing" either way: remove them off the caller's path
            self.store.later(since, self._removals(expired), self._announce_expired(expired))
        return entries

    async def keys(self) -> list[str]:
        """The namespace's live keys: one round, and a second to read values that have an
        expiry mark."""
        keys, live, _ = await self._scan()
        return [key for key in keys if key in live]

    async def _scan(self) -> tuple[list[str], set[str], list[str]]:
        """`(listed keys, live ones, marked ones)`; marks that need no more are removed
        in the background."""
        listed, marked = await self.store.round([("keys", self.prefix), ("keys", self.marks)])
        raise_first((listed, marked))
        keys = [key[len(self.prefix) :] for key in listed]
        marks = {mark[len(self.marks) :] for mark in marked}
        suspects = [key for key in keys if key in marks]
        since = self.store.version()
        live = set(keys).difference(suspects)
        if suspects:
            entries = await self._frames(suspects)
            live.update(k for k, entry in zip(suspects, entries, strict=True) if entry is not None)
            stale = [
                k
                for k, entry in zip(suspects, entries, strict=True)
                if entry is not None and entry[1] is None
            ]
            self._unmark_later(since, marks.difference(keys).union(stale))
        return keys, live, suspects

    async def stored(self) -> dict[str, KeyInfo]:
        """Read-only, for the inspector: each live key's stored size (the length of the
        stored text, TTL frame and encryption included) and expiry (None: never)."""
        keys = await self.keys()
        raws = await self.store.round([("get", self.prefix + key) for key in keys])
        raise_first(raws)
        now = self.clock()
        sizes: dict[str, KeyInfo] = {}
        for key, raw in zip(keys, raws, strict=True):
            if raw is None:
                continue
            expires_at = self.unseal(raw)[1]
            if expires_at is None or expires_at > now:
                sizes[key] = KeyInfo(len(_text(raw)), expires_at)
        return sizes

    # -- writes --------------------------------------------------------------------------------

    async def write(
        self, items: Sequence[tuple[str, str, float | None]]
    ) -> list[StorageError | None]:
        """Store `(key, text, expires_at)` items in one round; each item's error or None."""
        ops: list[Op] = []
        marked: list[str] = []
        for key, text, expires_at in items:
            storage_key = self.prefix + key
            ops.append(("get", storage_key))  # the previous value: did it have a mark?
            ops.append(("set", storage_key, self._seal(key, text, expires_at)))
            if expires_at is not None:
                ops.append(("set", self.marks + key, expires_at))
                marked.append(key)
        if not marked:
            errors, unmark, _ = self._written(items, await self.store.round(ops))
        else:  # a value and its mark stay locked together across the round and any undo
            async with self.locked(marked):
                errors, unmark, undo = self._written(items, await self.store.round(ops))
                if undo:
                    await self.store.restore(undo)
        self._unmark_later(self.store.version(), unmark)
        return errors

    def _written(
        self, items: Sequence[tuple[str, str, float | None]], results: list[Any]
    ) -> tuple[list[StorageError | None], list[str], list[tuple[str, RawValue | None]]]:
        """Each item's error; the keys whose stale marks can go; the values to put back
        because their mark was refused (a value with a TTL never goes unmarked)."""
        errors: list[StorageError | None] = []
        unmark: list[str] = []
        undo: list[tuple[str, RawValue | None]] = []
        at = 0
        for key, _, expires_at in items:
            before, value = results[at], results[at + 1]
            mark = None if expires_at is None else results[at + 2]
            at += 2 if expires_at is None else 3
            if isinstance(value, StorageError):
                errors.append(value)
            elif isinstance(mark, StorageError):
                errors.append(mark)
                if not isinstance(before, StorageError):
                    undo.append((self.prefix + key, before))
            else:
                errors.append(None)
                if expires_at is None and _framed(before):
                    unmark.append(key)
        return errors, unmark, undo

    async def remove(self, keys: Sequence[str]) -> tuple[list[str], StorageError | None]:
        """Remove `keys` in one round (each read in the same round). Returns the keys that
        were stored, live, and are now removed, and the first error, if any."""
        ops: list[Op] = []
        for key in keys:
            ops += [("get", self.prefix + key), ("remove", self.prefix + key)]
        results = await self.store.round(ops)
        since = self.store.version()
        now = self.clock()
        removed: list[str] = []
        unmark: list[str] = []
        for key, before, result in zip(keys, results[::2], results[1::2], strict=True):
            if isinstance(result, StorageError) or isinstance(before, StorageError):
                continue
            if before is not None and not _has_expired(before, now):
                removed.append(key)
            if _framed(before):
                unmark.append(key)
        self._unmark_later(since, unmark)
        return removed, first_error(results)

    async def clear(self) -> tuple[list[str], StorageError | None]:
        """Remove every key and mark of the namespace: two rounds (one when cached). Returns
        the keys removed and the first error, if any."""
        listed, marked = await self.store.round([("keys", self.prefix), ("keys", self.marks)])
        raise_first((listed, marked))
        results = await self.store.round([("remove", key) for key in [*listed, *marked]])
        removed = [
            key[len(self.prefix) :]
            for key, result in zip(listed, results[: len(listed)], strict=True)
            if not isinstance(result, StorageError)
        ]
        return removed, first_error(results)

    async def purge(self) -> list[str]:
        """Remove every expired key now; return them."""
        _, live, suspects = await self._scan()
        expired = [key for key in suspects if key not in live]
        if not expired:
            return []
        async with self.locked(expired):
            # Read again under the locks: a write may have landed since the scan.
            raws = await self.store.round([("get", self.prefix + key) for key in expired])
            raise_first(raws)
            now = self.clock()
            gone = [key for key, raw in zip(expired, raws, strict=True) if _has_expired(raw, now)]
            results = await self.store.round(self._removals(gone))
        removed = [k for k, r in zip(gone, results[::2], strict=True) if r is True]
        self._on_expired(removed)
        raise_first(results)
        return removed

    async def reencrypt(self) -> int:
        """Rewrite every live value not encrypted with the newest key (plaintext too, if
        accepted) with it, under the keys' locks; return how many."""
        assert self.encryption is not None
        listed = await self.store.round([("keys", self.prefix)])
        raise_first(listed)
        keys = [key[len(self.prefix) :] for key in listed[0]]
        async with self.locked(keys):
            frames = await self._frames(keys)
            items = [
                (key, self._decrypt(key, *frame), frame[1])
                for key, frame in zip(keys, frames, strict=True)
                if frame is not None and self.encryption.needs_reencrypt(_text(frame[0]))
            ]
            errors = await self.write([(k, _text(text), exp) for k, text, exp in items])
        raise_first(errors)
        return len(items)

    # -- the stored form -----------------------------------------------------------------------

    def _seal(self, key: str, text: str, expires_at: float | None) -> str:
        if self.encryption is not None:
            text = self.encryption.encrypt(text, self._context(key, expires_at))
        return text if expires_at is None else f"{TTL_PREFIX}{expires_at!r}:{text}"

    def _decrypt(self, key: str, body: RawValue, expires_at: float | None) -> RawValue:
        assert self.encryption is not None
        if not (isinstance(body, str) and self.encryption.is_encrypted(body)):
            if self.encryption.accept_plaintext:
                return body
            raise CorruptDataError(
                f"key {key!r} in namespace {self.app_name!r} holds unencrypted data in an "
                "encrypted namespace; it could be forged (Encryption(..., "
                "accept_plaintext=True) reads it, then reencrypt())"
            )
        try:
            return self.encryption.decrypt(body, self._context(key, expires_at))
        except DecryptionError as exc:
            raise CorruptDataError(
                f"key {key!r} in namespace {self.app_name!r} holds data that cannot be "
                f"decrypted: {exc}"
            ) from None

    def _context(self, key: str, expires_at: float | None) -> bytes:
        """What a ciphertext is bound to: where it is stored, and until when. Each field
        is length-prefixed, so no two (namespace, key, expiry) give the same bytes."""
        return self._where + f"{len(key)}:{key}{expires_at!r}".encode("utf-8", "surrogatepass")

    # -- clean-ups -----------------------------------------------------------------------------

    def _removals(self, keys: Sequence[str]) -> list[Op]:
        return [
            op
            for key in keys
            for op in (("remove", self.prefix + key), ("remove", self.marks + key))
        ]

    def _announce_expired(self, keys: list[str]) -> Callable[[list[Any]], None]:
        def then(results: list[Any]) -> None:
            self._on_expired(
                [
                    k
                    for k, r in zip(keys, results[::2], strict=True)
                    if not isinstance(r, StorageError)
                ]
            )

        return then

    def _unmark_later(self, since: int, keys: Sequence[str] | set[str]) -> None:
        if keys:
            self.store.later(since, [("remove", self.marks + key) for key in keys], _ignore)


def _has_expired(raw: RawValue | None, now: float) -> bool:
    expires_at = None if raw is None else Records.unseal(raw)[1]
    return expires_at is not None and expires_at <= now


def _text(raw: RawValue) -> str:
    """Codec text for a raw value: plain SharedPreferences values read back the same."""
    return raw if isinstance(raw, str) else json.dumps(raw)


def _framed(raw: object) -> bool:
    return isinstance(raw, str) and raw.startswith(TTL_PREFIX)


def _ignore(results: list[Any]) -> None:
    pass

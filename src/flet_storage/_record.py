"""The record layer: what one namespace stores around the codec's text, and where; the one
layer that locks keys and announces changes.

* A value lives under `{app_name}.{key}`, the key scheme of flet-storage 1.1.x.
* Without a TTL it is exactly the codec's text, as 1.1.x reads it. With one it is framed as
  `fst:{expires_at!r}:{text}` (Unix seconds; neither JSON nor the codec's tagged text
  starts so), and an *expiry mark* `flet_storage:ttl:{app_name}.{key}` is set beside it.
  Marks let `Records.keys` list a namespace in one call and read only the values that may
  have expired. A mark is a hint: a value without one never expires, and a mark whose value
  has no TTL (left by a write that replaced it) costs one read and is then removed.
* Expired values read as missing and are removed in the background, under their locks,
  unless a write of them landed since they were read.
* With [Encryption][flet_storage.Encryption], the text inside the frame is encrypted with the
  namespace, the key and the expiry as associated data, so a value moved to another key or
  namespace, or given another expiry, fails to decrypt. The expiry stays readable in the
  frame (a reader learns that a value has expired without decrypting it); editing it can
  only make a value look expired, which is no more than deleting it.
* Nested app names share keys (`app.sub.k` is key `sub.k` of `app` and `k` of `app.sub`).
  Each dotted namespace registers itself on the client with its first write of a session
  (`flet_storage:ns:{app_name}`, set in that write's round), and the namespace-wide
  operations (`get_keys`, `clear`, `export`, `import_`, `reencrypt`, `purge_expired`) of a
  namespace leave alone the keys of every longer namespace registered there. Data written
  by flet-storage 1.1.x under a longer name is not registered: it still counts as the
  shorter namespace's until that namespace writes again here.
* Every write holds its keys' locks (taken in sorted order) until it has landed and been
  announced, so listeners hear each key's changes in the order storage saw them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, NamedTuple

from ._crypto import DecryptionError
from ._errors import CorruptDataError, StorageError, logger
from ._events import ChangeKind, Listener, Subscription, announce
from ._locks import holding_nothing
from ._store import Change, Store, first_error, raise_first
from .backends import Backend, RawValue

if TYPE_CHECKING:
    from ._crypto import Encryption
    from .sync import InProcessSync

__all__ = [
    "MARK_PREFIX",
    "NAMESPACE_PREFIX",
    "RESERVED",
    "TTL_PREFIX",
    "Entry",
    "Item",
    "KeyInfo",
    "Records",
]

TTL_PREFIX = "fst:"
RESERVED = "flet_storage:"
"""Starts the keys flet-storage keeps for itself. App names starting with it are refused,
so no namespace's keys include them."""
MARK_PREFIX = RESERVED + "ttl:"
NAMESPACE_PREFIX = RESERVED + "ns:"
"""`flet_storage:ns:{app_name}` says that namespace exists on this client, so that the
namespace-wide operations of `app` leave the keys of `app.sub` alone."""


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
Item = tuple[str, str, "float | None"]
"""What to write: `(key, codec text, expires_at)`."""


class Records:
    """The stored records of the namespace `app_name`; `decode(key, text)` gives the
    value a `"set"` event carries."""

    def __init__(
        self,
        app_name: str,
        backend: Backend,
        timeout: float | None,
        cached: bool,
        clock: Callable[[], float],
        decode: Callable[[str, RawValue], Any],
        encryption: Encryption | None = None,
        sync: InProcessSync | None = None,
    ) -> None:
        self.app_name = app_name
        self.encryption = encryption
        self._where = f"{len(app_name)}:{app_name}".encode("utf-8", "surrogatepass")
        self.prefix = f"{app_name}."
        self.marks = f"{MARK_PREFIX}{app_name}."
        # Only a dotted name can be another's nested namespace, and so needs registering.
        self.registration = NAMESPACE_PREFIX + app_name if "." in app_name else None
        children = f"{NAMESPACE_PREFIX}{app_name}."  # the longer namespaces registered
        prefixes = (self.prefix, self.marks, children)
        self.store = Store(backend, app_name, prefixes, timeout, cached, sync)
        self.clock = clock
        self.decode = decode

    @staticmethod
    def unseal(raw: RawValue) -> Entry:
        """A value stored with a TTL: its text and expiry. Anything else, including a
        malformed frame (which then fails to decode), is returned as it is."""
        if isinstance(raw, str) and raw.startswith(TTL_PREFIX):
            # A stamp is at most 24 characters: look no further, whatever the text's size.
            stamp, sep, _ = raw[len(TTL_PREFIX) : len(TTL_PREFIX) + 32].partition(":")
            if sep and _canonical(stamp):
                return raw[len(TTL_PREFIX) + len(stamp) + 1 :], float(stamp)
        return raw, None

    def locked(
        self, keys: Iterable[str], exclusive: bool = False
    ) -> AbstractAsyncContextManager[None]:
        """Hold the locks of `keys` (the locks of their values; a value's expiry mark is
        written under it) until the block ends (see `Store.locked`). `exclusive`: across
        processes too (an update, which reads what it writes)."""
        return self.store.locked([self.prefix + key for key in keys], exclusive)

    def subscribe(self, listener: Listener, key: str | None) -> Subscription:
        return self.store.page_state().listeners.add(listener, key, self)

    def event_value(self, key: str, raw: RawValue) -> Any:
        """The value a `"set"` event carries for `raw` stored under `key` (a change another
        process made)."""
        body, expires_at = self.unseal(raw)
        if self.encryption is not None:
            body = self._decrypt(key, body, expires_at)
        return self.decode(key, body)

    def expired(self, raw: RawValue | None) -> bool:
        return _has_expired(raw, self.clock())

    async def settle(self) -> None:
        """Wait until the background clean-ups under way have finished."""
        tasks = self.store.state().tasks
        while tasks:
            await asyncio.wait(set(tasks))

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
        state = self.store.state()
        since = state.scope.version
        raws = await self.store.read([self.prefix + key for key in keys])
        if self.store.state() is not state:  # the page joined its browser in this round
            since = -1  # a version of another scope: clean up nothing on this read's word
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
            self._later(since, expired, self._removals(expired), "expire")
        return entries

    async def _listed(self) -> tuple[list[str], list[str]]:
        """The storage keys of this namespace's values and marks: one listing call (or the
        cache), leaving out those of the longer namespaces registered."""
        listed = await self.store.keys()
        children = [
            key[len(NAMESPACE_PREFIX) :] + "." for key in listed if key.startswith(NAMESPACE_PREFIX)
        ]
        values = [
            k for k in listed if k.startswith(self.prefix) and not k.startswith(tuple(children))
        ]
        taken = tuple(MARK_PREFIX + child for child in children)
        marks = [k for k in listed if k.startswith(self.marks) and not k.startswith(taken)]
        return values, marks

    async def keys(self) -> list[str]:
        """The namespace's live keys: one listing call, and a round to read the values
        that have an expiry mark."""
        keys, live, _ = await self._scan()
        return [key for key in keys if key in live]

    async def _scan(self) -> tuple[list[str], set[str], list[str]]:
        """`(listed keys, live ones, marked ones)`; marks that need no more are removed
        in the background."""
        values, marked = await self._listed()
        since = self.store.state().scope.version
        keys = [key[len(self.prefix) :] for key in values]
        marks = {key[len(self.marks) :] for key in marked}
        suspects = [key for key in keys if key in marks]
        live = set(keys).difference(suspects)
        if suspects:
            entries = await self._frames(suspects)
            live.update(k for k, entry in zip(suspects, entries, strict=True) if entry is not None)
            stale = {k for k, e in zip(suspects, entries, strict=True) if e and e[1] is None}
            self._unmark_later(since, marks.difference(keys).union(stale))
        return keys, live, suspects

    async def stored(self) -> dict[str, KeyInfo]:
        """Each live key's stored size and expiry (see `KeyInfo`), read-only."""
        keys = await self.keys()
        raws = await self.store.read([self.prefix + key for key in keys])
        now = self.clock()
        sizes: dict[str, KeyInfo] = {}
        for key, raw in zip(keys, raws, strict=True):
            expires_at = None if raw is None else self.unseal(raw)[1]
            if raw is not None and (expires_at is None or expires_at > now):
                sizes[key] = KeyInfo(len(_text(raw)), expires_at)
        return sizes

    # -- writes: each under its keys' locks, announced before they are released -----------------

    async def write(self, items: Sequence[Item]) -> list[StorageError | None]:
        """Store `(key, text, expires_at)` items in one round; each item's error or None."""
        async with self.locked([key for key, _, _ in items]):
            return await self._write(items)

    async def update(
        self, key: str, compute: Callable[[Entry | None], Awaitable[tuple[Item, Any]]]
    ) -> Any:
        """Read `key`, write what `compute(entry)` returns as `(item, result)`, and return
        `result`: all under the key's lock."""
        async with self.locked([key], exclusive=True):
            (entry,) = await self.read([key])
            item, result = await compute(entry)
            raise_first(await self._write([item]))
            return result

    async def _write(self, items: Sequence[Item]) -> list[StorageError | None]:
        groups: list[list[Change]] = []
        for key, text, expires_at in items:
            value: Change = (self.prefix + key, self._seal(key, text, expires_at))
            # The mark's value is text, which every Flet client stores (0.81 and 0.82 store
            # nothing else); only its key is read.
            mark: Change = (self.marks + key, repr(expires_at))
            groups.append([value] if expires_at is None else [value, mark])
        state = self.store.state()
        if groups and self.registration and not state.registered:  # once, in this round
            groups[0].append((self.registration, "1"))
        outcomes = await self.store.write(groups)
        if groups and outcomes[0][1] is None:
            # The state after the write: the browser's, if this write joined the tab to it.
            state.registered = self.store.state().registered = True
        since = self.store.state().scope.version
        landed = [
            (item, before)
            for item, (before, error) in zip(items, outcomes, strict=True)
            if not error
        ]
        self._announce("set", [(key, text) for (key, text, _), _ in landed])
        self._unmark_later(
            since, {key for (key, _, exp), before in landed if exp is None and _framed(before)}
        )
        return [error for _, error in outcomes]

    async def remove(self, keys: Sequence[str]) -> tuple[int, StorageError | None]:
        """Remove `keys` in one round (each read in the same round). Returns how many were
        stored, live, and are now removed, and the first error, if any."""
        async with self.locked(keys):
            outcomes = await self.store.write([[(self.prefix + key, None)] for key in keys])
            since = self.store.state().scope.version
            now = self.clock()
            removed: list[tuple[str, None]] = []
            expired: list[tuple[str, None]] = []
            for key, (before, error) in zip(keys, outcomes, strict=True):
                if error is None and before is not None and not isinstance(before, StorageError):
                    (expired if _has_expired(before, now) else removed).append((key, None))
            self._announce("remove", removed)
            self._announce("expire", expired)  # storage held it, though it read as missing
            framed = {k for k, (before, _) in zip(keys, outcomes, strict=True) if _framed(before)}
            self._unmark_later(since, framed)
        return len(removed), first_error(error for _, error in outcomes)

    async def clear(self) -> StorageError | None:
        """Remove every key and mark of the namespace: a listing call and a round of
        removals (one round when cached). Returns the first error, if any."""
        values, marks = await self._listed()
        listed = [*values, *marks]
        keys = [key[len(self.prefix) :] for key in values]
        async with self.locked(keys):
            outcomes = await self.store.write(
                [[(key, None)] for key in listed], previous=False, kind="clear"
            )
            cleared = [
                (key[len(self.prefix) :], None)
                for key, (_, error) in zip(listed, outcomes, strict=True)
                if error is None and key.startswith(self.prefix)
            ]
            self._announce("clear", cleared)
        return first_error(error for _, error in outcomes)

    async def purge(self) -> int:
        """Remove every expired key now; return how many."""
        _, live, suspects = await self._scan()
        expired = [key for key in suspects if key not in live]
        if not expired:
            return 0
        async with self.locked(expired):
            # Read again under the locks: a write may have landed since the scan.
            raws = await self.store.read([self.prefix + key for key in expired])
            now = self.clock()
            gone = [key for key, raw in zip(expired, raws, strict=True) if _has_expired(raw, now)]
            return await self._remove_expired(gone)

    async def reencrypt(self) -> int:
        """Rewrite every live value not encrypted with the newest key (plaintext too, if
        accepted) with it, under the keys' locks; return how many."""
        assert self.encryption is not None
        values, _ = await self._listed()
        keys = [key[len(self.prefix) :] for key in values]
        async with self.locked(keys):
            frames = await self._frames(keys)
            items: list[Item] = []
            for key, frame in zip(keys, frames, strict=True):
                if frame is None or not self.encryption.needs_reencrypt(_text(frame[0])):
                    continue
                body, expires_at = frame
                # Accepted plaintext carries no integrity: an expiry no TTL gives (a forged
                # far future) is refused, not made authentic.
                if not self.encryption.is_encrypted(_text(body)) and _far(expires_at, self.clock()):
                    raise CorruptDataError(
                        f"key {key!r} in namespace {self.app_name!r} holds unencrypted data "
                        "that expires more than 100 years from now: not re-encrypted"
                    )
                items.append((key, _text(self._decrypt(key, body, expires_at)), expires_at))
            errors = await self._write(items)
        raise_first(errors)
        return len(items)

    # -- the stored form -----------------------------------------------------------------------

    def _seal(self, key: str, text: str, expires_at: float | None) -> str:
        if self.encryption is not None:
            text = self.encryption.encrypt(text, self._context(key, expires_at))
        return text if expires_at is None else f"{TTL_PREFIX}{expires_at!r}:{text}"

    def _decrypt(self, key: str, body: RawValue, expires_at: float | None) -> RawValue:
        assert self.encryption is not None
        where = f"key {key!r} in namespace {self.app_name!r}"
        if not (isinstance(body, str) and self.encryption.is_encrypted(body)):
            if self.encryption.accept_plaintext:
                return body
            raise CorruptDataError(
                f"{where} holds unencrypted data in an encrypted namespace; it could be "
                "forged (Encryption(..., accept_plaintext=True) reads it, then reencrypt())"
            )
        try:
            return self.encryption.decrypt(body, self._context(key, expires_at))
        except DecryptionError as exc:
            why = str(exc)
        # Raised outside the handler, so no exception of the decryption is chained to it.
        raise CorruptDataError(f"{where} holds data that cannot be decrypted: {why}")

    def _context(self, key: str, expires_at: float | None) -> bytes:
        """What a ciphertext is bound to: where it is stored, and until when. Each field
        is length-prefixed, so no two (namespace, key, expiry) give the same bytes."""
        return self._where + f"{len(key)}:{key}{expires_at!r}".encode("utf-8", "surrogatepass")

    # -- events and clean-ups ------------------------------------------------------------------

    def _announce(self, kind: ChangeKind, changes: Sequence[tuple[str, RawValue | None]]) -> None:
        if changes:
            announce(self.store.audiences(), self.app_name, kind, changes, self.decode)

    def _removals(self, keys: Iterable[str]) -> list[list[Change]]:
        return [[(self.prefix + key, None), (self.marks + key, None)] for key in keys]

    async def _remove_expired(self, keys: Sequence[str]) -> int:
        """Remove expired `keys` and their marks (their locks held); announce and count
        those removed."""
        return await self._apply(keys, self._removals(keys), "expire")

    async def _apply(
        self, keys: Sequence[str], groups: list[list[Change]], kind: ChangeKind | None
    ) -> int:
        """Write a group per key of `keys` (their locks held; no value read first); announce
        the keys whose group landed as `kind` and count them; raise the first error."""
        outcomes = await self.store.write(groups, previous=False, kind=kind)
        landed = [(key, None) for key, (_, error) in zip(keys, outcomes, strict=True) if not error]
        if kind is not None:
            self._announce(kind, landed)
        raise_first(error for _, error in outcomes)
        return len(landed)

    def _unmark_later(self, since: int, keys: set[str]) -> None:
        if keys:
            self._later(since, keys, [[(self.marks + key, None)] for key in keys], None)

    def _later(
        self, since: int, keys: Iterable[str], groups: list[list[Change]], kind: ChangeKind | None
    ) -> None:
        """Apply `groups`, one per key of `keys` (the removal of expired values, or of
        stale marks), in the background under the keys' locks, unless a write of them
        has landed since the scope's version was `since`."""
        state = self.store.state()
        # Started by a task that may hold locks, it must not hold them: nobody waits for it.
        task = holding_nothing().run(
            asyncio.get_running_loop().create_task, self._clean(since, [*keys], groups, kind)
        )
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    async def _clean(
        self, since: int, keys: list[str], groups: list[list[Change]], kind: ChangeKind | None
    ) -> None:
        try:
            async with self.locked(keys):
                written = [key for group in groups for key, _ in group]
                if self.store.state().scope.untouched(written, since):
                    await self._apply(keys, groups, kind)
                # else it may have changed: the next read will tell
        except StorageError as exc:
            logger.warning("clean-up in namespace %r must wait: %s", self.app_name, exc)


def _canonical(stamp: str) -> bool:
    """Whether `stamp` is an expiry exactly as written (`repr` of a finite float)."""
    try:
        return repr(float(stamp)) == stamp and stamp not in ("inf", "-inf", "nan")
    except ValueError:
        return False


def _far(expires_at: float | None, now: float) -> bool:
    return expires_at is not None and expires_at > now + 100 * 365.25 * 86400


def _has_expired(raw: RawValue | StorageError | None, now: float) -> bool:
    if raw is None or isinstance(raw, StorageError):
        return False
    expires_at = Records.unseal(raw)[1]
    return expires_at is not None and expires_at <= now


def _text(raw: RawValue) -> str:
    """Codec text for a raw value: plain SharedPreferences values read back the same."""
    return raw if isinstance(raw, str) else json.dumps(raw)


def _framed(raw: object) -> bool:
    return isinstance(raw, str) and raw.startswith(TTL_PREFIX)

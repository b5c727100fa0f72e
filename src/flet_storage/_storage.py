"""FletStorage: the front, the API as a user reads it. Keys are validated and values
encoded here; what is stored around the text, the key locks and the change events are the
record layer's (`_record`), and the calls and the read cache are the store's (`_store`).
Export, import and migrations live in `_transfer`."""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar, overload

from ._codec import Codec, DecodeError, EncodeError
from ._crypto import Encryption
from ._errors import CorruptDataError, KeyNotFoundError, UnsupportedValueError
from ._events import Listener, Subscription
from ._record import RESERVED, Entry, Item, KeyInfo, Records
from ._store import raise_first
from ._transfer import MigrationStep, export, import_, migrate
from ._use_storage import use_storage
from .backends import Backend, RawValue, SharedPreferencesBackend
from .sync import DEFAULT as DEFAULT_SYNC
from .sync import InProcessSync

__all__ = ["DEFAULT_TIMEOUT", "FletStorage"]

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
"""Seconds the client may stay silent during a call before a `StorageTimeoutError`."""

_MISSING: Any = object()


class FletStorage:
    """Namespaced, type-faithful async storage on top of Flet's SharedPreferences.

    Every key is stored as `"{app_name}.{key}"`, the scheme of flet-storage 1.1.x, so data
    written by it stays readable and apps sharing one browser origin keep apart. Values of
    any type the [Codec][flet_storage.Codec] supports come back with their types.

    Creating a FletStorage costs nothing and does no I/O: with the default backend, every
    FletStorage on a page shares one SharedPreferences service, so one module-level object
    can serve every session of a web app.

    Every method that reaches the backend may also raise
    [StorageTimeoutError][flet_storage.StorageTimeoutError] (the client did not answer within
    `timeout`), [BackendError][flet_storage.BackendError] (the backend reported a failure) and,
    with the default backend, [NoPageError][flet_storage.NoPageError] (called outside a Flet
    page). A key that is not a `str` raises `TypeError` before any I/O.

    Args:
        app_name: The namespace; a non-empty string, e.g. `"my_app"`, not starting with
            `"flet_storage:"` (reserved for the library's own keys).
        backend: Where values go. Defaults to a
            [SharedPreferencesBackend][flet_storage.SharedPreferencesBackend]: Flet's
            SharedPreferences of the page each call is made from. Use
            [MemoryBackend][flet_storage.MemoryBackend] in tests.
        codec: Turns values into stored text and back. Defaults to a new
            [Codec][flet_storage.Codec]; pass one to store your own types.
        timeout: Seconds the backend may stay silent during a call (`None`: wait
            forever). A client that is gone raises
            [StorageTimeoutError][flet_storage.StorageTimeoutError] instead of hanging, while
            a big batch on a live client runs as long as it needs.
        cache: Load the namespace on the first read and answer reads locally from then on,
            with no round trip. Writes still reach the client before they return. See
            [`refresh`][flet_storage.FletStorage.refresh].
        clock: Returns the current Unix time in seconds, for TTLs (tests pass a fake).
        encryption: Encrypt every value with [Encryption][flet_storage.Encryption] (the
            `[crypto]` extra), bound to its namespace, key and expiry. Key names stay
            readable.
        sync: Keep the tabs of one browser in step (the default; web only, with the
            default backend): every tab reads every write made in any other, through one
            read mirror per browser kept by this process, `update` and `increment` are
            atomic across tabs, and listeners hear other tabs' writes
            ([`StorageEvent.remote`][flet_storage.StorageEvent]). `False`: each tab sees
            what its own client holds (Flet's client loads it once per tab). A
            [`RedisSync`][flet_storage.sync.RedisSync]: the same across server processes
            and hosts, through Redis. See the guide "Several tabs and processes".

    Raises:
        TypeError: `app_name` is not a `str`, or `encryption` is not an
            [Encryption][flet_storage.Encryption].
        ValueError: `app_name` is empty or reserved, or `timeout` is not positive.

    Example:
        ```python
        storage = FletStorage("my_app")
        await storage.set("tags", {"python", "flet"})
        tags = await storage.get("tags")  # {"python", "flet"}: a set again
        ```
    """

    def __init__(
        self,
        app_name: str,
        *,
        backend: Backend | None = None,
        codec: Codec | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        cache: bool = False,
        clock: Callable[[], float] = time.time,
        encryption: Encryption | None = None,
        sync: bool | InProcessSync = True,
    ) -> None:
        if not isinstance(app_name, str):
            raise TypeError(f"app_name must be a str, not {type(app_name).__name__}")
        if not app_name:
            raise ValueError("app_name must be a non-empty string")
        if app_name.startswith(RESERVED):
            raise ValueError(f"app_name {app_name!r} is reserved: it starts with {RESERVED!r}")
        if timeout is not None and not timeout > 0:
            raise ValueError(
                f"timeout must be a positive number of seconds or None, not {timeout!r}"
            )
        self._app_name = app_name
        self._backend = backend if backend is not None else SharedPreferencesBackend()
        self._codec = codec if codec is not None else Codec()
        self._clock = clock
        if encryption is not None and not isinstance(encryption, Encryption):
            raise TypeError(f"encryption must be an Encryption, not {type(encryption).__name__}")
        self._records = Records(
            app_name,
            self._backend,
            timeout,
            cache,
            clock,
            self._decode,
            encryption,
            sync if isinstance(sync, InProcessSync) else DEFAULT_SYNC if sync else None,
        )

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

    @property
    def clock(self) -> Callable[[], float]:
        """The clock TTLs are measured with: Unix seconds now (`clock=` of the constructor)."""
        return self._clock

    # -- the API of flet-storage 1.1.x -------------------------------------------------------

    @overload
    async def set(self, key: str, value: Any, ttl: float | timedelta | None = None) -> bool: ...

    @overload
    async def set(self, key: str, *, obj: Any, ttl: float | timedelta | None = None) -> bool: ...

    async def set(
        self,
        key: str,
        value: Any = _MISSING,
        ttl: float | timedelta | None = None,
        *,
        obj: Any = _MISSING,
    ) -> bool:
        """Store `value` under `key`, replacing any previous value.

        One round trip. The expiry is stored with the value, so it survives restarts; an
        expired key behaves as missing everywhere and is removed when next seen.

        Args:
            key: A non-empty key.
            value: Any value the codec supports.
            ttl: Seconds (or a `timedelta`) from now until the key expires; `None`: never.
            obj: Accepted instead of `value`: the name flet-storage 1.1.x used.

        Returns:
            `True`, as `ft.SharedPreferences.set` returns.

        Raises:
            UnsupportedValueError: `value` (or an element inside it) cannot be stored;
                nothing is written and the previous value stays. The message gives the path
                of the element, e.g. `value['settings']['tags'][2]`.
            StorageFullError: The client's storage quota is exhausted; the previous value is
                put back.
            TypeError: `value` is given both ways or not at all, or `ttl` is neither a number
                nor a `timedelta`.
            ValueError: `key` is empty, or `ttl` is not a positive, finite duration.
        """
        if (value is _MISSING) == (obj is _MISSING):
            raise TypeError("set() takes the value once: set(key, value) or set(key, obj=value)")
        await self._write_at([(key, value if obj is _MISSING else obj)], self._expires_at(ttl))
        return True

    async def get(self, key: str) -> Any:
        """Return the value stored under `key`.

        Args:
            key: The key, without the `"{app_name}."` prefix.

        Returns:
            The value, with the type it was stored with.

        Raises:
            KeyNotFoundError: The key is not stored, or has expired (a `KeyError`).
            CorruptDataError: The stored text cannot be decoded (a `ValueError`).
        """
        value = await self.get_or_default(key, _MISSING)
        if value is _MISSING:
            raise KeyNotFoundError(f"key {key!r} not found in namespace {self._app_name!r}")
        return value

    async def get_or_default(self, key: str, default: Any = None) -> Any:
        """Return the value stored under `key`, or `default` if there is none.

        Args:
            key: The key.
            default: What to return when the key is not stored or has expired.

        Returns:
            The stored value, or `default`.

        Raises:
            CorruptDataError: The stored text cannot be decoded: corrupt data is never
                silently replaced by the default.
        """
        (entry,) = await self._records.read([_readable(key)])
        return default if entry is None else self._decode(key, entry[0])

    async def contains_key(self, key: str) -> bool:
        """Whether `key` is stored in this namespace (and has not expired).

        Args:
            key: The key.

        Returns:
            `True` if a value is stored under `key`.
        """
        (entry,) = await self._records.read([_readable(key)])
        return entry is not None

    async def remove(self, key: str) -> bool:
        """Remove `key` from this namespace. One round trip.

        Args:
            key: The key.

        Returns:
            Whether the key was stored.
        """
        return await self.remove_many([_readable(key)]) == 1

    async def get_keys(self) -> list[str]:
        """The keys of this namespace, without the `"{app_name}."` prefix.

        One round trip, plus one that reads the values that may have expired if any key has
        a TTL (none with `cache=True`). Expired keys are left out.

        Returns:
            The keys, in no particular order.
        """
        return await self._records.keys()

    async def clear(self) -> None:
        """Remove every key of this namespace; other namespaces stay.

        Lists the namespace, then removes its keys concurrently (one round with `cache=True`).
        Never calls SharedPreferences' own `clear()`, which wipes every app's data.

        Raises:
            StorageError: A removal failed; the keys removed before it stay removed, and their
                listeners have been told.
        """
        error = await self._records.clear()
        if error is not None:
            raise error

    # -- batches: one pipelined round of calls instead of a round trip per key ---------------

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The stored values of `keys`, read in one round of calls sent together.

        Args:
            keys: The keys to read; duplicates are read once.

        Returns:
            A dict of key to value. Keys that are not stored (or have expired) are left out.

        Raises:
            CorruptDataError: One of them holds text that cannot be decoded.
        """
        keys = [_readable(key) for key in dict.fromkeys(keys)]
        entries = await self._records.read(keys)
        return {
            key: self._decode(key, entry[0])
            for key, entry in zip(keys, entries, strict=True)
            if entry is not None
        }

    async def set_many(
        self, items: Mapping[str, Any], ttl: float | timedelta | None = None
    ) -> None:
        """Store every item of `items`, in one round of calls sent together.

        Every key is validated and every value encoded before anything is written, so an
        unsupported value writes nothing. If some writes then fail (timeout, quota), the first
        error is raised once all have finished, and each key holds either its previous or its
        new value.

        Args:
            items: Keys and the values to store under them.
            ttl: Seconds (or a `timedelta`) until every item expires; `None`: never.

        Raises:
            UnsupportedValueError: A value cannot be stored; nothing is written.
            StorageFullError: The client's storage quota is exhausted for one of the writes.
        """
        await self._write_at(list(items.items()), self._expires_at(ttl))

    async def remove_many(self, keys: Iterable[str]) -> int:
        """Remove `keys`, in one round of calls sent together.

        Args:
            keys: The keys to remove; duplicates are removed once.

        Returns:
            How many of them were stored.

        Raises:
            StorageError: A removal failed; the others still happened, and their listeners have
                been told.
        """
        removed, error = await self._records.remove([_readable(k) for k in dict.fromkeys(keys)])
        if error is not None:
            raise error
        return removed

    async def refresh(self) -> None:
        """Reload the read cache (`cache=True`) from the backend.

        The cache sees every write made through any FletStorage of this namespace on the
        same page, and is dropped by itself when the page's client reloads. Call
        `refresh()` after writes it cannot see: plain `ft.SharedPreferences` code, or
        another backend object. (On web, another tab's writes reach this tab only when it
        reloads: Flutter's SharedPreferences keeps a copy per tab.) Without `cache=True`, it
        drops the read caches of the page, so cached FletStorage objects reload on their
        next read.
        """
        await self._records.store.refresh()

    # -- beyond 1.1.x ------------------------------------------------------------------------

    async def purge_expired(self) -> int:
        """Remove every expired key of this namespace now.

        Expired keys are also removed whenever a read meets them, so this is only needed
        to reclaim space held by keys nobody reads. It finds them by their expiry marks,
        which every value written with a TTL has.

        Returns:
            How many expired keys there were.
        """
        return await self._records.purge()

    async def key_info(self) -> dict[str, KeyInfo]:
        """Each live key's stored size and expiry, read-only: for tools such as the
        [StorageInspector][flet_storage.StorageInspector] and the `flet-storage` command.

        Returns:
            Key to [KeyInfo][flet_storage.KeyInfo]: `size`, the length of the stored text
            (TTL frame and encryption included), and `expires_at` (Unix seconds; `None`:
            never).
        """
        return await self._records.stored()

    async def settle(self) -> None:
        """Wait until the background clean-ups of this namespace have finished.

        A read that meets an expired key answers "missing" at once and removes the key in
        the background; await this before asserting what the backend holds, or before a
        script exits.
        """
        await self._records.settle()

    async def reencrypt(self) -> int:
        """Rewrite every value that is not encrypted with the newest key.

        Run it after a key rotation (`Encryption(new_key, old_key)`), or once after turning
        encryption on with `accept_plaintext=True`; then drop the old key or the flag.

        Returns:
            How many values were rewritten.

        Raises:
            ValueError: This storage has no `encryption`.
            CorruptDataError: A value cannot be decrypted with any key (nothing is written).
        """
        if self._records.encryption is None:
            raise ValueError("reencrypt() needs FletStorage(..., encryption=Encryption(key))")
        return await self._records.reencrypt()

    async def export(self, *, decrypted: bool = False) -> dict[str, Any]:
        """A JSON-serializable copy of the namespace, for backups and tools.

        Every live value is kept as its codec text (exact, types included) with its
        expiry; expired keys are left out. Two rounds, plus one if any key has a TTL.

        ```python
        document = await storage.export()
        # {"format": "flet-storage-export", "version": 1, "app_name": "my_app",
        #  "exported_at": 1790000000.0,
        #  "items": {"theme": {"value": '"dark"', "expires_at": None}}}
        ```

        Args:
            decrypted: Required with `encryption`: the document then holds every value
                decrypted, in plaintext; keep it as safe as the key.

        Returns:
            The document: `format`, `version`, `app_name`, `exported_at` (Unix
            seconds) and `items`, mapping each key to `{"value": codec text,
            "expires_at": Unix seconds or None}`.

        Raises:
            ValueError: This storage has `encryption` and `decrypted` is not `True`.
            CorruptDataError: A value cannot be decrypted or decoded.
        """
        return await export(self, self._records, decrypted)

    async def import_(self, document: Mapping[str, Any], *, replace: bool = False) -> int:
        """Store the items of a document made by [`export`][flet_storage.FletStorage.export].

        Everything is checked before anything is written: the format and version, every
        key, every expiry, and that every value decodes with this storage's codec. Items
        already expired are skipped; the others are written in one round, each keeping
        its expiry (encrypted afresh with this storage's `encryption`, if any). The
        document's `app_name` may differ from this namespace.

        Args:
            document: The exported document (e.g. read back with `json.load`).
            replace: Clear the namespace first, so it holds the document's items only.

        Returns:
            How many items were written.

        Raises:
            ValueError: The document is not a valid export; nothing is written.
            StorageFullError: The client's storage quota is exhausted for one of the writes.
        """
        return await import_(self, self._records, document, replace)

    # -- the value path ------------------------------------------------------------------------

    async def _write_at(self, items: Sequence[tuple[str, Any]], expires_at: float | None) -> None:
        texts = [(_writable(key), self._encode(key, value), expires_at) for key, value in items]
        raise_first(await self._records.write(texts))

    def _encode(self, key: str, value: object) -> str:
        try:
            return self._codec.encode(value)
        except EncodeError as exc:
            why = f"value{exc.path} {exc.reason}"
        # Raised outside the handler: nothing of the codec's is chained to it.
        raise UnsupportedValueError(
            f"cannot store key {key!r} in namespace {self._app_name!r}: {why}"
        )

    def _decode(self, key: str, raw: RawValue) -> Any:
        if not isinstance(raw, str):
            # Written by plain ft.SharedPreferences code: int, float, bool or list[str].
            return list(raw) if isinstance(raw, list) else raw
        try:
            return self._codec.decode(raw)
        except DecodeError as exc:
            why = str(exc)
        if self._records.encryption is None and Encryption.is_encrypted(raw):
            why = (
                "it is encrypted: pass the key it was stored with, "
                "FletStorage(..., encryption=Encryption(key))"
            )
        # Raised outside the handler: no exception of a (custom) decoder, whose text may
        # hold the value, is chained to it.
        raise CorruptDataError(
            f"key {key!r} in namespace {self._app_name!r} holds data that cannot be decoded: {why}"
        )

    def _expires_at(self, ttl: float | timedelta | None) -> float | None:
        if ttl is None:
            return None
        seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else ttl
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f"ttl must be seconds or a timedelta, not {type(ttl).__name__}")
        try:
            expires_at = self._clock() + float(seconds)
        except OverflowError:
            expires_at = math.inf
        if not (seconds > 0 and math.isfinite(expires_at)):
            raise ValueError(f"ttl must be a positive, finite number of seconds, not {ttl!r}")
        return expires_at

    def use_storage(
        self, key: str, default: Any = None
    ) -> tuple[Any, Callable[[Any], Awaitable[None]]]:
        """A hook for `@ft.component`s: `value, set_value = storage.use_storage(key)`.

        Like `ft.use_state`, but stored. `value` is `default` until the stored value has
        loaded (once, on mount); `await set_value(new)` stores it, and every component using
        this key on the page re-renders with it, whoever wrote it (another component, an
        event handler, an expiry).

        Args:
            key: A non-empty key.
            default: The value before the stored one has loaded, and while none is stored.

        Returns:
            The current value and an async function that stores a new one.

        Raises:
            ValueError: `key` is empty.
        """
        return use_storage(self, _writable(key), default)

    def subscribe(self, listener: Listener, key: str | None = None) -> Subscription:
        """Call `listener(event)` after a key of this namespace changes.

        It hears every write through any FletStorage of the namespace on the same page:
        `set`, `remove`, `clear` and expiry. `listener` may be sync or async; what it raises
        is logged (without the value), never propagated to the write.

        Args:
            listener: Called with a [StorageEvent][flet_storage.StorageEvent].
            key: Listen to this key only; `None`: to every key of the namespace.

        Returns:
            A [Subscription][flet_storage.Subscription]; `cancel()` it when done.
        """
        if key is not None:
            _readable(key)
        return self._records.subscribe(listener, key)

    async def update(self, key: str, fn: Callable[[Any], Any], default: Any = _MISSING) -> Any:
        """Replace the value of `key` with `fn(value)` and return the new value.

        Atomic among the tasks of this process on the same page: every write of the key
        waits while `fn` runs, so no write is lost between the read and the write. A TTL the
        key has is kept. `fn` runs while the key is locked: it may write the key itself, but
        should not write other keys through this storage; where two such functions would
        wait for each other's keys forever, the second raises `RuntimeError` at once.

        Args:
            key: A non-empty key.
            fn: Takes the current value and returns the new one; may be async.
            default: The current value when the key is not stored.

        Returns:
            The new value, as stored.

        Raises:
            KeyNotFoundError: The key is not stored and no `default` was given.
            CorruptDataError: The stored text cannot be decoded.
            UnsupportedValueError: The new value cannot be stored.
        """
        _writable(key)

        async def compute(entry: Entry | None) -> tuple[Item, Any]:
            if entry is not None:
                current = self._decode(key, entry[0])
            elif default is _MISSING:
                raise KeyNotFoundError(f"key {key!r} not found in namespace {self._app_name!r}")
            else:
                current = default
            new = fn(current)
            if inspect.isawaitable(new):
                new = await new
            return (key, self._encode(key, new), None if entry is None else entry[1]), new

        return await self._records.update(key, compute)

    async def increment(self, key: str, by: int | float = 1) -> int | float:
        """Add `by` to the number stored under `key`, atomically as
        [`update`][flet_storage.FletStorage.update].

        Args:
            key: A non-empty key; a missing key counts as `0`.
            by: What to add.

        Returns:
            The new number.

        Raises:
            TypeError: The key holds something other than an `int` or a `float`.
        """

        def add(value: Any) -> int | float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(
                    f"cannot increment key {key!r} of namespace {self._app_name!r}: "
                    f"it holds a {type(value).__name__}, not a number"
                )
            return value + by

        result: int | float = await self.update(key, add, default=0)
        return result

    async def migrate(
        self, steps: Mapping[int, MigrationStep], *, version_key: str = "schema_version"
    ) -> int:
        """Bring the namespace's data to the newest schema version.

        The current version is stored under `version_key` (1 when missing); the pending steps
        run in order and each bumps it once done, so a completed step never runs again
        (unless storing its version number fails: make steps safe to repeat). Two tasks
        migrating at once never run a step twice.

        Args:
            steps: Maps a version to the function (sync or async, taking this storage) that
                migrates the data from the previous version to it.
            version_key: The key holding the schema version.

        Returns:
            The version the data is at: the highest of `steps`, or the stored one if higher.

        Raises:
            MigrationError: A step raised (its exception is the `__cause__`; the version stays
                at the last completed step), or `version_key` holds no int.
        """
        return await migrate(self, self._records, steps, _writable(version_key))


def _readable(key: str) -> str:
    """A key to read or remove: any str, including `""`, which flet-storage 1.1.x could
    write (as `"{app_name}."`)."""
    if not isinstance(key, str):
        raise TypeError(f"key must be a str, not {type(key).__name__}")
    return key


def _writable(key: str) -> str:
    """A key to write: a non-empty str."""
    if not _readable(key):
        raise ValueError("key must be a non-empty string")
    return key

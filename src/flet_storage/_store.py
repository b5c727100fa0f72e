"""The store: raw values of one namespace on one backend, in rounds of pipelined calls.

It knows storage keys and raw values only (what to store is the record layer's job). What
the FletStorage objects of one *scope* share (the default backend: one Flet page) lives in
`Scope`: the key locks and the log of writes, for every namespace at once (nested
app names share keys); what those of one namespace share lives in `Shared`: the read
cache, the listeners and the background clean-ups.

Concurrency guarantees (asyncio tasks of one process, one scope):

* Every round that writes holds the locks of the keys it writes, until its calls have
  answered; `Store.locked` holds them across several rounds (`update()`). Locks
  are per key and re-entrant within a task, so writes of different keys run concurrently
  and a read-modify-write under the lock is atomic among tasks. A task that already holds
  a lock waits at most `timeout` for another (two such tasks could wait for each other).
* Reads take no lock. A read sees every write that returned before it started, and
  either the old or the new value of a write still under way.
* A round's calls go out together; the client answers them in order. A round that fails
  in part has written what its answered calls wrote: each key holds its old or new value.
* A cache is loaded without locks and kept only if no write landed meanwhile; every write
  in the scope keeps the caches that cover its key current, and a failed or cancelled
  write drops them (what the client holds is then unknown).
* Clean-ups that nobody awaits (the removal of expired keys seen by a read) run under the
  keys' locks and only if no write of those keys landed since that read started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ._calls import Calls, map_error
from ._errors import StorageError, StorageFullError, StorageTimeoutError
from ._events import Listeners
from ._locks import KeyLocks
from .backends import Backend, BaseBackend, RawValue

__all__ = ["Op", "Scope", "Shared", "Store", "raise_first"]

logger = logging.getLogger("flet_storage")

Op: TypeAlias = tuple[Literal["get", "remove", "keys"], str] | tuple[Literal["set"], str, RawValue]
"""One backend call: `("get", key)`, `("set", key, raw)`, `("remove", key)` or
`("keys", prefix)`."""


@dataclass(eq=False)
class Scope:
    """What every FletStorage of one scope shares, whatever its namespace."""

    locks: KeyLocks = field(default_factory=KeyLocks)
    version: int = 0
    """Counts write rounds (failed ones too): a load is kept only if it did not change."""
    written: dict[str, int] = field(default_factory=dict)
    """Storage key -> the version of its last write: what a clean-up compares."""
    unknown: int = 0
    """The version when what the backend holds last became unknown."""
    namespaces: dict[str, Shared] = field(default_factory=dict)

    def note(self, key: str, raw: RawValue | None) -> None:
        """A write (`raw`) or removal (None) the backend confirmed: keep every cache that
        covers `key` current."""
        for shared in self.namespaces.values():
            if shared.cache is not None and key.startswith(shared.prefixes):
                if raw is None:
                    shared.cache.pop(key, None)
                else:
                    shared.cache[key] = raw

    def invalidate(self) -> None:
        """What the backend holds is unknown (a call failed or was cancelled)."""
        self.version += 1
        self.unknown = self.version
        for shared in self.namespaces.values():
            shared.cache = None

    def untouched(self, keys: Iterable[str], since: int) -> bool:
        """Whether no write of `keys` landed after version `since`, and nothing became
        unknown."""
        return self.unknown <= since and all(self.written.get(k, 0) <= since for k in keys)


@dataclass(eq=False)
class Shared:
    """What every FletStorage of one namespace in one scope shares."""

    scope: Scope
    prefixes: tuple[str, ...]
    cache: dict[str, RawValue] | None = None
    """Storage key -> raw value under `prefixes`, once a cached store loaded it."""
    generation: object = None
    """The backend's generation the cache was loaded in (see `BaseBackend.generation`)."""
    loading: asyncio.Future[None] | None = None
    listeners: Listeners = field(default_factory=Listeners)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class Store:
    """Rounds of calls for the storage keys under `prefixes` of one namespace."""

    def __init__(
        self,
        backend: Backend,
        app_name: str,
        prefixes: tuple[str, ...],
        timeout: float | None,
        cached: bool,
    ) -> None:
        self.backend = backend
        self.app_name = app_name
        self.prefixes = prefixes
        self.cached = cached
        self.calls = Calls(timeout)
        self._hooks = backend if isinstance(backend, BaseBackend) else None
        # A scope that is the backend itself never changes: look its state up once.
        self._static: Shared | None = None
        if self._hooks is None or type(self._hooks).scope is BaseBackend.scope:
            self._static = _shared_state(backend, app_name, prefixes)

    @property
    def timeout(self) -> float | None:
        return self.calls.timeout

    def shared(self) -> Shared:
        if self._static is not None:
            return self._static
        assert self._hooks is not None
        return _shared_state(self._hooks.scope(), self.app_name, self.prefixes)

    def version(self) -> int:
        """The scope's write version now (see `later`)."""
        return self.shared().scope.version

    def locked(self, keys: Iterable[str]) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the locks of storage `keys` across several rounds."""
        return self.shared().scope.locks.hold(keys, self.timeout, self._name)

    async def round(self, ops: Sequence[Op]) -> list[Any]:
        """Run `ops` as one round (reads from the cache need none); return each op's
        result or [StorageError][flet_storage.StorageError], in order."""
        shared = self.shared()
        written = [op[1] for op in ops if op[0] == "set" or op[0] == "remove"]
        if not written:
            cache = await self._cache(shared) if self.cached else None
            if cache is None:
                return await self._send(ops)
            return [_from_cache(cache, op) for op in ops]
        scope = shared.scope
        async with scope.locks.hold(written, self.timeout, self._name):
            try:
                return await self._write(shared, ops)
            except BaseException:
                scope.invalidate()
                raise

    async def _write(self, shared: Shared, ops: Sequence[Op]) -> list[Any]:
        # The previous value of each key set: the Flutter web client keeps a write it could
        # not persist (quota) in its in-memory copy (measured), so it is written back. A
        # cache is used if loaded, never loaded here: a write must not wait for a load.
        cache = self._loaded(shared)
        if cache is None:
            read = {op[1] for op in ops if op[0] == "get"}
            extra: list[Op] = [("get", op[1]) for op in ops if op[0] == "set" and op[1] not in read]
            sent = [*extra, *ops] if extra else ops
            answers = await self._send(sent)
            previous: dict[str, Any] = {}
            for op, answer in zip(sent, answers, strict=True):
                if op[0] == "get" and op[1] not in previous:
                    previous[op[1]] = answer
            results = answers[len(extra) :] if extra else answers
        else:
            previous = {op[1]: cache.get(op[1]) for op in ops if op[0] == "set"}
            sent_answers = iter(await self._send([op for op in ops if _writes(op)]))
            results = [next(sent_answers) if _writes(op) else _from_cache(cache, op) for op in ops]
        # All the bookkeeping first, with no await: a read meanwhile sees it whole.
        scope = shared.scope
        version = scope.version = scope.version + 1
        restores: list[tuple[str, RawValue | None]] = []
        for i, op in enumerate(ops):
            if op[0] == "get" or op[0] == "keys":
                continue
            scope.written[op[1]] = version
            result = results[i]
            if isinstance(result, StorageFullError) and not isinstance(
                before := previous.get(op[1]), StorageError
            ):
                restores.append((op[1], before))
            elif isinstance(result, StorageError):
                scope.invalidate()
            elif op[0] != "set":
                scope.note(op[1], None)
            elif result:
                scope.note(op[1], op[2])
            else:
                scope.invalidate()
                results[i] = self._map(RuntimeError("the backend did not store it"), op)
        if restores:
            await self.restore(restores)
        return results

    async def restore(self, items: Sequence[tuple[str, RawValue | None]]) -> None:
        """Write `(key, previous raw or None)` back in one round, under the keys' locks."""
        ops: list[Op] = [
            ("remove", key) if raw is None else ("set", key, raw) for key, raw in items
        ]
        scope = self.shared().scope
        async with scope.locks.hold([key for key, _ in items], self.timeout, self._name):
            results = await self._send(ops)
            scope.version += 1
            for (key, raw), result in zip(items, results, strict=True):
                scope.written[key] = scope.version
                if isinstance(result, StorageError) or not result:
                    scope.invalidate()
                    logger.warning("could not restore %s: %s", self._name(key), result)
                else:
                    scope.note(key, raw)

    async def _send(self, ops: Sequence[Op]) -> list[Any]:
        """Send `ops` to the backend as one round; each result or its error, in order."""
        if len(ops) == 1:  # the common case: no task per call
            try:
                results = [await self.calls.one(self._call(ops[0]))]
            except Exception as exc:
                results = [exc]
        else:
            results = await self.calls.round([*map(self._call, ops)])
        for i, (op, result) in enumerate(zip(ops, results, strict=True)):
            if isinstance(result, Exception):
                result = results[i] = self._map(result, op)
            if op[0] == "keys" and isinstance(result, list):
                # Filter again: a backend that returns more must never leak other keys.
                results[i] = [key for key in result if key.startswith(op[1])]
            elif isinstance(result, StorageTimeoutError) and self._hooks is not None:
                self._hooks.on_timeout()  # e.g. a reconnected client needs a fresh service
        return results

    def _name(self, key: str) -> str:
        """How messages name a storage key: by the key without its namespace."""
        prefix = next((p for p in self.prefixes if key.startswith(p)), "")
        what = "key" if prefix == self.prefixes[0] else "the expiry mark of key"
        return f"{what} {key[len(prefix) :]!r} in namespace {self.app_name!r}"

    def _map(self, exc: Exception, op: Op) -> StorageError:
        """`exc` as our error, naming the call by the key, e.g. `get('theme') in
        namespace 'app'`."""
        if op[0] == "keys":
            what = f"get_keys({op[1]!r}) in namespace {self.app_name!r}"
        else:
            prefix = next((p for p in self.prefixes if op[1].startswith(p)), "")
            method = op[0] if prefix == self.prefixes[0] else f"{op[0]} mark"
            what = f"{method}({op[1][len(prefix) :]!r}) in namespace {self.app_name!r}"
        return map_error(exc, what, self.timeout)

    def _call(self, op: Op) -> Coroutine[Any, Any, Any]:
        if op[0] == "get":
            return self.backend.get(op[1])
        if op[0] == "set":
            return self.backend.set(op[1], op[2])
        if op[0] == "remove":
            return self.backend.remove(op[1])
        return self.backend.get_keys(op[1])

    # -- the read cache ------------------------------------------------------------------------

    def _loaded(self, shared: Shared) -> dict[str, RawValue] | None:
        """The cache if it is loaded and of the backend's current generation."""
        if (
            shared.cache is not None
            and self._hooks is not None
            and shared.generation is not self._hooks.generation()
        ):
            shared.cache = None  # e.g. the page reloaded: its client re-read storage
        return shared.cache

    async def _cache(self, shared: Shared) -> dict[str, RawValue] | None:
        """The namespace's cache, loaded on first use; None when a load could not be kept
        (a write landed meanwhile) or failed: then the backend is read."""
        if self._loaded(shared) is None:
            if shared.loading is not None:
                await asyncio.wait([shared.loading])  # the load under way (our cancel spares it)
            else:
                await self.load(shared)
        return shared.cache

    async def load(self, shared: Shared | None = None) -> None:
        """Load the cache, even if loaded; keep it if no write landed meanwhile, else drop
        it (the next read loads again)."""
        if shared is None:
            shared = self.shared()
        generation = None if self._hooks is None else self._hooks.generation()
        loading = shared.loading = asyncio.get_running_loop().create_future()
        version = shared.scope.version
        try:
            listed = await self._send([("keys", prefix) for prefix in self.prefixes])
            raise_first(listed)
            keys = list(dict.fromkeys(key for some in listed for key in some))
            raws = await self._send([("get", key) for key in keys])
            raise_first(raws)
            if shared.scope.version == version:
                shared.cache = {k: v for k, v in zip(keys, raws, strict=True) if v is not None}
                shared.generation = generation
            else:
                shared.cache = None
        finally:
            if shared.loading is loading:
                shared.loading = None
            loading.set_result(None)

    # -- clean-ups nobody awaits ----------------------------------------------------------------

    def later(self, since: int, ops: Sequence[Op], then: Callable[[list[Any]], None]) -> None:
        """Run the writing `ops` in the background, under their keys' locks, unless a write
        of their keys has landed since the scope's version was `since`; then call
        `then(results)`."""
        shared = self.shared()
        task = asyncio.get_running_loop().create_task(self._later(shared, since, ops, then))
        shared.tasks.add(task)
        task.add_done_callback(shared.tasks.discard)

    async def _later(
        self, shared: Shared, since: int, ops: Sequence[Op], then: Callable[[list[Any]], None]
    ) -> None:
        keys = [op[1] for op in ops]
        try:
            async with shared.scope.locks.hold(keys, self.timeout, self._name):
                if not shared.scope.untouched(keys, since):
                    return  # it may have changed: the next read will tell
                results = await self.round(ops)
        except StorageError as exc:
            results = [exc] * len(ops)
        failed = next((r for r in results if isinstance(r, StorageError)), None)
        if failed is not None:
            logger.warning("clean-up in namespace %r must wait: %s", self.app_name, failed)
        then(results)

    async def settle(self) -> None:
        """Wait until the background clean-ups under way have finished."""
        tasks = self.shared().tasks
        while tasks:
            await asyncio.wait(set(tasks))


def raise_first(results: Iterable[object]) -> None:
    error = first_error(results)
    if error is not None:
        raise error


def first_error(results: Iterable[object]) -> StorageError | None:
    return next((r for r in results if isinstance(r, StorageError)), None)


def _writes(op: Op) -> bool:
    return op[0] == "set" or op[0] == "remove"


def _from_cache(cache: dict[str, RawValue], op: Op) -> Any:
    if op[0] == "keys":
        return [key for key in cache if key.startswith(op[1])]
    return cache.get(op[1])


# -- one Scope per scope, one Shared per namespace in it -------------------------------------

_ATTRIBUTE = "_flet_storage_scope"
_weak: weakref.WeakKeyDictionary[object, Scope] = weakref.WeakKeyDictionary()
_pinned: dict[object, Scope] = {}


def _shared_state(scope_object: object, app_name: str, prefixes: tuple[str, ...]) -> Shared:
    # Kept on the scope itself where it can be (a Flet page): a listener that refers to the
    # page then makes a cycle the garbage collector frees with the page, where a dict keyed
    # by the page would keep it. A scope that takes neither attributes nor weak references
    # (a str, a class with __slots__) is kept for the life of the process.
    scope: Scope | None = getattr(scope_object, _ATTRIBUTE, None)
    if scope is None:
        scope = Scope()
        try:
            setattr(scope_object, _ATTRIBUTE, scope)
        except (AttributeError, TypeError):
            try:
                scope = _weak.setdefault(scope_object, scope)
            except TypeError:
                scope = _pinned.setdefault(scope_object, scope)
    shared = scope.namespaces.get(app_name)
    if shared is None:
        shared = scope.namespaces[app_name] = Shared(scope, prefixes)
    return shared

"""The store: raw values of one namespace on one backend, in rounds of pipelined calls.

It knows storage keys and raw values only (what to store is the record layer's job) and
owns everything shared by the FletStorage objects of one namespace in one scope: the read
cache, the key locks, the listeners and background clean-ups.

Concurrency guarantees (asyncio tasks of one process, one namespace, one scope):

* Every round that writes holds the locks of the keys it writes, until its calls have
  answered; :meth:`Store.locked` holds them across several rounds (``update()``). Locks
  are per key and re-entrant within a task, so writes of different keys run concurrently
  and a read-modify-write under the lock is atomic among tasks.
* Reads take no lock. A read sees every write that returned before it started, and
  either the old or the new value of a write still under way.
* A round's calls go out together; the client answers them in order. A round that fails
  in part has written what its answered calls wrote: each key holds its old or new value.
* The cache is loaded without locks and kept only if no write landed meanwhile; every
  write through any FletStorage of the namespace in the scope keeps it current, and a
  failed or cancelled write drops it (what the client holds is then unknown).
* Clean-ups that nobody awaits (the removal of expired keys seen by a read) run under the
  keys' locks and only if no write landed since that read started.
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

__all__ = ["Op", "Shared", "Store", "raise_first"]

logger = logging.getLogger("flet_storage")

Op: TypeAlias = tuple[Literal["get", "remove", "keys"], str] | tuple[Literal["set"], str, RawValue]
"""One backend call: ``("get", key)``, ``("set", key, raw)``, ``("remove", key)`` or
``("keys", prefix)``."""


@dataclass(eq=False)
class Shared:
    """What every FletStorage of one namespace in one scope shares."""

    cache: dict[str, RawValue] | None = None
    """Storage key -> raw value under the store's prefixes, once a cached store loaded it."""
    generation: object = None
    """The backend's generation the cache was loaded in (see ``BaseBackend.generation``)."""
    version: int = 0
    """Counts write rounds (failed ones too): a load is kept only if it did not change."""
    written: dict[str, int] = field(default_factory=dict)
    """Storage key -> the version of its last write: what a clean-up compares."""
    unknown: int = 0
    """The version when what the backend holds last became unknown."""
    loading: asyncio.Future[None] | None = None
    locks: KeyLocks = field(default_factory=KeyLocks)
    listeners: Listeners = field(default_factory=Listeners)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def invalidate(self) -> None:
        """What the backend holds is unknown (a call failed or was cancelled)."""
        self.cache = None
        self.version += 1
        self.unknown = self.version

    def untouched(self, keys: Iterable[str], since: int) -> bool:
        """Whether no write of ``keys`` started after version ``since`` (and nothing became
        unknown)."""
        return self.unknown <= since and all(self.written.get(k, 0) <= since for k in keys)


class Store:
    """Rounds of calls for the storage keys under ``prefixes`` of one namespace."""

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
        # A scope that is the backend itself never changes: look its Shared up once.
        self._static: Shared | None = None
        if self._hooks is None or type(self._hooks).scope is BaseBackend.scope:
            self._static = _shared_state(backend, app_name)

    @property
    def timeout(self) -> float | None:
        return self.calls.timeout

    def shared(self) -> Shared:
        if self._static is not None:
            return self._static
        assert self._hooks is not None
        return _shared_state(self._hooks.scope(), self.app_name)

    def locked(self, keys: Iterable[str]) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the locks of storage ``keys`` across several rounds."""
        return self.shared().locks.hold(keys, self.timeout)

    async def round(self, ops: Sequence[Op]) -> list[Any]:
        """Run ``ops`` as one round (reads from the cache need none); return each op's
        result or :class:`StorageError`, in order."""
        shared = self.shared()
        written = [op[1] for op in ops if op[0] == "set" or op[0] == "remove"]
        if not written:
            cache = await self._cache(shared) if self.cached else None
            if cache is None:
                return await self._send(ops)
            return [_from_cache(cache, op) for op in ops]
        async with shared.locks.hold(written, self.timeout):
            try:
                return await self._write(shared, ops)
            except BaseException:
                shared.invalidate()
                raise

    async def _write(self, shared: Shared, ops: Sequence[Op]) -> list[Any]:
        # The previous value of each key set: the Flutter web client keeps a write it could
        # not persist (quota) in its in-memory copy (measured), so it is written back.
        cache = await self._cache(shared) if self.cached else None
        if cache is None:
            # The first read of a key in the round gives its previous value; a key set
            # without one is read first.
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
        version = shared.version = shared.version + 1
        for i, op in enumerate(ops):
            if op[0] == "get" or op[0] == "keys":
                continue
            shared.written[op[1]] = version
            result = results[i]
            if isinstance(result, StorageFullError) and not isinstance(
                before := previous.get(op[1]), StorageError
            ):
                await self._restore(shared, op[1], before)
            elif isinstance(result, StorageError):
                shared.invalidate()
            elif op[0] != "set":
                _note(shared, op[1], None)
            elif result:
                _note(shared, op[1], op[2])
            else:
                shared.invalidate()
                results[i] = self._map(RuntimeError("the backend did not store it"), op)
        return results

    async def _restore(self, shared: Shared, key: str, raw: RawValue | None) -> None:
        restore: Op = ("remove", key) if raw is None else ("set", key, raw)
        if isinstance(result := (await self._send([restore]))[0], StorageError):
            shared.invalidate()
            logger.warning(
                "could not restore %r of namespace %r: %s",
                key,
                self.app_name,
                type(result).__name__,
            )
        else:
            _note(shared, key, raw)

    async def _send(self, ops: Sequence[Op]) -> list[Any]:
        """Send ``ops`` to the backend as one round; each result or its error, in order."""
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

    def _map(self, exc: Exception, op: Op) -> StorageError:
        """``exc`` as our error, naming the call by the key without its namespace, e.g.
        ``get('theme') in namespace 'app'``."""
        method: str = op[0]
        key = op[1]
        if method == "keys":
            method = "get_keys"
        else:
            prefix = next((p for p in self.prefixes if key.startswith(p)), "")
            method = method if prefix == self.prefixes[0] else f"{method} mark"
            key = key[len(prefix) :]
        return map_error(exc, f"{method}({key!r}) in namespace {self.app_name!r}", self.timeout)

    def _call(self, op: Op) -> Coroutine[Any, Any, Any]:
        if op[0] == "get":
            return self.backend.get(op[1])
        if op[0] == "set":
            return self.backend.set(op[1], op[2])
        if op[0] == "remove":
            return self.backend.remove(op[1])
        return self.backend.get_keys(op[1])

    # -- the read cache ------------------------------------------------------------------------

    async def _cache(self, shared: Shared) -> dict[str, RawValue] | None:
        """The namespace's cache, loaded on first use; None when not cached or when a load
        could not be kept (a write landed meanwhile): then the backend is read."""
        generation = None if self._hooks is None else self._hooks.generation()
        if shared.cache is not None and shared.generation is not generation:
            shared.cache = None  # e.g. the page reloaded: its client re-read storage
        if shared.cache is None:
            if shared.loading is not None:
                await asyncio.wait([shared.loading])  # the load under way (our cancel spares it)
            else:
                await self.load(shared, generation)
        return shared.cache

    async def load(self, shared: Shared | None = None, generation: object = None) -> None:
        """Load the cache, even if loaded; keep it if no write landed meanwhile."""
        if shared is None:
            shared = self.shared()
            generation = None if self._hooks is None else self._hooks.generation()
        loading = shared.loading = asyncio.get_running_loop().create_future()
        version = shared.version
        try:
            listed = await self._send([("keys", prefix) for prefix in self.prefixes])
            raise_first(listed)
            keys = list(dict.fromkeys(key for some in listed for key in some))
            raws = await self._send([("get", key) for key in keys])
            raise_first(raws)
            if shared.version == version:
                shared.cache = {k: v for k, v in zip(keys, raws, strict=True) if v is not None}
                shared.generation = generation
        finally:
            shared.loading = None
            loading.set_result(None)

    # -- clean-ups nobody awaits ----------------------------------------------------------------

    def later(self, since: int, ops: Sequence[Op], then: Callable[[list[Any]], None]) -> None:
        """Run the writing ``ops`` in the background, under their keys' locks, unless a write
        of their keys has landed since the shared version was ``since``; then call
        ``then(results)``."""
        shared = self.shared()
        task = asyncio.get_running_loop().create_task(self._later(shared, since, ops, then))
        shared.tasks.add(task)
        task.add_done_callback(shared.tasks.discard)

    async def _later(
        self, shared: Shared, since: int, ops: Sequence[Op], then: Callable[[list[Any]], None]
    ) -> None:
        try:
            keys = [op[1] for op in ops]
            async with shared.locks.hold(keys, self.timeout):
                if not shared.untouched(keys, since):
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
    for result in results:
        if isinstance(result, StorageError):
            raise result


def _writes(op: Op) -> bool:
    return op[0] == "set" or op[0] == "remove"


def _from_cache(cache: dict[str, RawValue], op: Op) -> Any:
    if op[0] == "keys":
        return [key for key in cache if key.startswith(op[1])]
    return cache.get(op[1])


def _note(shared: Shared, key: str, raw: RawValue | None) -> None:
    """A write (``raw``) or removal (None) the backend confirmed: keep the cache current."""
    if shared.cache is not None:
        if raw is None:
            shared.cache.pop(key, None)
        else:
            shared.cache[key] = raw


# -- one Shared per namespace and scope ------------------------------------------------------

_ATTRIBUTE = "_flet_storage_shared"
_weak: weakref.WeakKeyDictionary[object, dict[str, Shared]] = weakref.WeakKeyDictionary()
_pinned: dict[object, dict[str, Shared]] = {}


def _shared_state(scope: object, app_name: str) -> Shared:
    # Kept on the scope itself where it can be (a Flet page): a listener that refers to the
    # page then makes a cycle the garbage collector frees with the page, where a dict keyed
    # by the page would keep it. A scope that takes neither attributes nor weak references
    # (a str, a class with __slots__) is kept for the life of the process.
    states: dict[str, Shared] | None = getattr(scope, _ATTRIBUTE, None)
    if states is None:
        states = {}
        try:
            setattr(scope, _ATTRIBUTE, states)
        except (AttributeError, TypeError):
            try:
                states = _weak.setdefault(scope, states)
            except TypeError:
                states = _pinned.setdefault(scope, states)
    state = states.get(app_name)
    if state is None:
        state = states[app_name] = Shared()
    return state

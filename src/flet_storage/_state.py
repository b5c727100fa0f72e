"""State shared by every FletStorage of one namespace in one scope.

The scope is what one storage really is: for the default backend the Flet page (one browser
tab's localStorage as seen by its session), for any other backend the backend object itself.
Two FletStorage objects of the same namespace and scope share one read cache, one set of
listeners and one set of key locks, so neither ever reads what the other has overwritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._errors import StorageTimeoutError
from ._events import Listeners

if TYPE_CHECKING:
    from .backends import Backend, RawValue

__all__ = ["LOAD", "NamespaceState", "namespace_state"]

LOAD = ""
"""The lock of a cache load; no storage key is empty, they all start with ``{app_name}.``."""

_ATTRIBUTE = "_flet_storage_namespaces"


@dataclass(eq=False)
class NamespaceState:
    cache: dict[str, RawValue] | None = None
    """Storage key -> raw value of the whole namespace, once some FletStorage(cache=True)
    has loaded it; every write through any FletStorage of the namespace keeps it current."""
    cache_generation: object = None
    """The backend's generation the cache was loaded in (see Backend ``generation()``)."""
    loading: dict[str, RawValue | None] | None = None
    """While a load is reading the backend: the writes (None: removals) made meanwhile,
    which the load's result must not hide."""
    load_spoiled: bool = False
    listeners: Listeners = field(default_factory=Listeners)
    owners: dict[str, asyncio.Task[object] | None] = field(default_factory=dict)
    """The task holding each locked key (see :meth:`exclusive`)."""
    waiters: dict[str, deque[tuple[asyncio.Task[object] | None, asyncio.Future[None]]]] = field(
        default_factory=dict
    )

    def note(self, storage_key: str, raw: RawValue | None) -> None:
        """A write (``raw``) or removal (None) the backend confirmed: keep the cache current."""
        if self.cache is not None:
            if raw is None:
                self.cache.pop(storage_key, None)
            else:
                self.cache[storage_key] = raw
        if self.loading is not None:
            self.loading[storage_key] = raw

    def invalidate(self) -> None:
        """What the backend holds is unknown (a call failed or was cancelled): drop the
        cache, and the result of a load under way."""
        self.cache = None
        self.load_spoiled = self.loading is not None

    @contextlib.asynccontextmanager
    async def exclusive(
        self, keys: Iterable[str], timeout: float | None = None
    ) -> AsyncIterator[None]:
        """Hold the locks of ``keys``, taken in sorted order, each wait bounded by ``timeout``.

        Every write and remove takes them, so a read-modify-write (update, the removal of an
        expired key, the restore after a refused write) never undoes another task's write.
        Re-entrant within a task. A freed key goes straight to the task that waited longest,
        so a busy writer cannot starve it. Tasks that wait for each other (two update()s
        whose functions write each other's keys, or one whose function writes its key from
        another task) end in :class:`StorageTimeoutError`, never a hang. A plain table rather
        than an asyncio.Lock per key: an uncontended key costs two dict operations, which
        matters to clear() of a whole namespace, and it works from any event loop.
        """
        task = asyncio.current_task()
        mine: list[str] = []
        try:
            for key in sorted(set(keys)):
                owner = self.owners.get(key, _FREE)
                if owner is task:
                    continue
                if owner is _FREE:
                    self.owners[key] = task
                else:
                    await self._wait_for(key, task, timeout)
                mine.append(key)
            yield
        finally:
            for key in reversed(mine):
                self._release(key)

    async def _wait_for(
        self, key: str, task: asyncio.Task[object] | None, timeout: float | None
    ) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(key, deque()).append((task, waiter))
        try:
            await (waiter if timeout is None else asyncio.wait_for(waiter, timeout))
        except BaseException as exc:
            if self.owners.get(key, _FREE) is task:  # handed the key, but leaving: pass it on
                self._release(key)
            if isinstance(exc, asyncio.TimeoutError):
                raise StorageTimeoutError(
                    f"waited {timeout} s for key {key!r}, which another task holds: do not "
                    "write other keys from update()'s function, nor its own key from "
                    "another task"
                ) from None
            raise

    def _release(self, key: str) -> None:
        """Hand ``key`` to the task that waited longest, or free it."""
        queue = self.waiters.get(key)
        while queue:
            task, waiter = queue.popleft()
            if not waiter.done():  # a waiter that timed out or was cancelled has left
                self.owners[key] = task
                waiter.set_result(None)
                break
        else:
            del self.owners[key]
        if queue is not None and not queue:
            del self.waiters[key]


_FREE = object()

# Scopes that take no attributes (__slots__) keep their state here instead.
_fallback: weakref.WeakKeyDictionary[object, dict[str, NamespaceState]] = (
    weakref.WeakKeyDictionary()
)


def namespace_state(backend: Backend, app_name: str) -> NamespaceState:
    scope_of = getattr(backend, "scope", None)
    scope: object = scope_of() if callable(scope_of) else backend
    # Kept on the scope itself, not in a dict keyed by it: a listener that refers to the page
    # then makes an ordinary cycle the garbage collector frees with the page.
    states: dict[str, NamespaceState] | None = getattr(scope, _ATTRIBUTE, None)
    if states is None:
        states = {}
        try:
            setattr(scope, _ATTRIBUTE, states)
        except (AttributeError, TypeError):
            states = _fallback.setdefault(scope, states)
    state = states.get(app_name)
    if state is None:
        state = states[app_name] = NamespaceState()
    return state

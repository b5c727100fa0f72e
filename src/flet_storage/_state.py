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

from ._events import Listeners

if TYPE_CHECKING:
    from .backends import Backend, RawValue

__all__ = ["NamespaceState", "namespace_state"]

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
    load_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    listeners: Listeners = field(default_factory=Listeners)
    owners: dict[str, asyncio.Task[object] | None] = field(default_factory=dict)
    """The task holding each locked storage key (see :meth:`exclusive`)."""
    waiters: dict[str, deque[asyncio.Future[None]]] = field(default_factory=dict)

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
    async def exclusive(self, storage_keys: Iterable[str]) -> AsyncIterator[None]:
        """Hold the locks of ``storage_keys`` (in a fixed order, so no two tasks deadlock).

        Every write and remove takes them, so a read-modify-write (update, the removal of an
        expired key, the restore after a refused write) never undoes another task's write.
        Re-entrant within a task: a write inside update() does not wait for itself. A plain
        table rather than an asyncio.Lock per key: an uncontended key costs two dict
        operations, which matters to clear() of a whole namespace.
        """
        task = asyncio.current_task()
        mine: list[str] = []
        try:
            for key in sorted(set(storage_keys)):
                if self.owners.get(key, False) is task:
                    continue
                while key in self.owners:
                    waiter = asyncio.get_running_loop().create_future()
                    self.waiters.setdefault(key, deque()).append(waiter)
                    try:
                        await waiter
                    except BaseException:
                        if waiter.done() and not waiter.cancelled():
                            self._wake(key)  # handed the turn, but leaving: pass it on
                        raise
                self.owners[key] = task
                mine.append(key)
            yield
        finally:
            for key in reversed(mine):
                del self.owners[key]
                self._wake(key)

    def _wake(self, key: str) -> None:
        """Hand ``key``'s turn to the next task still waiting for it."""
        queue = self.waiters.get(key)
        while queue:
            waiter = queue.popleft()
            if not waiter.done():  # a cancelled waiter has left the queue in spirit
                waiter.set_result(None)
                break
        if queue is not None and not queue:
            del self.waiters[key]


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

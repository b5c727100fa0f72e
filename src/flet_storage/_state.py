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
    load_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    listeners: Listeners = field(default_factory=Listeners)
    key_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )
    owners: dict[str, asyncio.Task[object] | None] = field(default_factory=dict)
    """Which task holds each held key lock: a write inside update() or migrate(), which
    hold the key already, must not wait for itself."""

    @contextlib.asynccontextmanager
    async def exclusive(self, storage_keys: Iterable[str]) -> AsyncIterator[None]:
        """Hold the locks of ``storage_keys`` (in a fixed order, so no two tasks deadlock).

        Every write and remove takes them, so a read-modify-write (update, the removal of an
        expired key, the restore after a refused write) never undoes another task's write.
        Re-entrant within a task.
        """
        task = asyncio.current_task()
        mine = sorted({key for key in storage_keys if self.owners.get(key, False) is not task})
        acquired: list[tuple[str, asyncio.Lock]] = []
        try:
            for key in mine:
                lock = self.key_locks.get(key)
                if lock is None:
                    lock = self.key_locks[key] = asyncio.Lock()
                await lock.acquire()
                self.owners[key] = task
                acquired.append((key, lock))
            yield
        finally:
            for key, lock in reversed(acquired):
                del self.owners[key]
                lock.release()


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

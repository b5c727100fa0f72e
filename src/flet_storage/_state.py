"""State shared by every FletStorage of one namespace in one scope.

The scope is what one storage really is: for the default backend the Flet page (one browser
tab's localStorage as seen by its session), for any other backend the backend object itself.
Two FletStorage objects of the same namespace and scope share one read cache, so neither ever
reads what the other has overwritten.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field

from ._events import Listeners
from .backends import Backend, RawValue

__all__ = ["NamespaceState", "namespace_state"]


@dataclass(eq=False)
class NamespaceState:
    cache: dict[str, RawValue] | None = None
    """Storage key -> raw value of the whole namespace, once some FletStorage(cache=True)
    has loaded it; every write through any FletStorage of the namespace keeps it current."""
    load_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    listeners: Listeners = field(default_factory=Listeners)
    key_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )
    """Per-key locks of update(): read-modify-write is atomic among this process's tasks."""

    def key_lock(self, storage_key: str) -> asyncio.Lock:
        lock = self.key_locks.get(storage_key)
        if lock is None:
            lock = self.key_locks[storage_key] = asyncio.Lock()
        return lock


_states: weakref.WeakKeyDictionary[object, dict[str, NamespaceState]] = weakref.WeakKeyDictionary()


def namespace_state(backend: Backend, app_name: str) -> NamespaceState:
    scope_of = getattr(backend, "scope", None)
    scope = scope_of() if callable(scope_of) else backend
    states = _states.get(scope)
    if states is None:  # setdefault would build a dict and a weakref on every call
        states = _states[scope] = {}
    state = states.get(app_name)
    if state is None:
        state = states[app_name] = NamespaceState()
    return state

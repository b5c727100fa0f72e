"""Per-key locks: a plain `asyncio.Lock` per storage key while some task holds or awaits it."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Iterable

__all__ = ["KeyLocks", "holding_nothing"]


class _Holder:
    """One `hold`: the keys of `locks` its task holds with the holds it is nested in (a
    task started inside it, e.g. by `gather`, holds them too), and the key it is waiting
    for."""

    __slots__ = ("keys", "locks", "outer", "waiting")

    def __init__(self, keys: frozenset[str], locks: KeyLocks, outer: _Holder | None) -> None:
        self.keys = keys
        self.locks = locks
        self.outer = outer
        self.waiting: tuple[KeyLocks, str] | None = None

    def chain(self) -> list[_Holder]:
        """This hold and the holds it is nested in."""
        holders = []
        holder: _Holder | None = self
        while holder is not None:
            holders.append(holder)
            holder = holder.outer
        return holders


_holder: contextvars.ContextVar[_Holder | None] = contextvars.ContextVar(
    "flet_storage_holder", default=None
)


def holding_nothing() -> contextvars.Context:
    """A copy of the current context (a Flet page's included) in which no key is held: for
    a task that a holder starts but does not wait for."""
    context = contextvars.copy_context()
    context.run(_holder.set, None)
    return context


class KeyLocks:
    """The key locks of one backend scope, taken in sorted order within one `hold`.

    A task may take keys it already holds again (`update()`'s function writing its own
    key). A wait ends when the holder is done, which a write to a silent client is within
    its timeout; a wait that would close a cycle (two updates whose functions write each
    other's key) raises `RuntimeError` at once instead of waiting forever.
    """

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}  # tasks holding or awaiting a key; it goes at 0
        self._owners: dict[str, _Holder] = {}

    @contextlib.asynccontextmanager
    async def hold(self, keys: Iterable[str]) -> AsyncIterator[None]:
        outer = _holder.get()
        # The keys of these locks held already (a tab's page holds its own, then its
        # browser's: the same names in two scopes).
        mine = next((h for h in outer.chain() if h.locks is self), None) if outer else None
        held = mine.keys if mine is not None else frozenset()
        wanted = sorted(set(keys).difference(held))
        if not wanted:
            yield
            return
        holder = _Holder(held.union(wanted), self, outer)
        token = _holder.set(holder)
        taken: list[str] = []
        try:
            for key in wanted:
                lock = self._locks.get(key)
                if lock is None:
                    lock = self._locks[key] = asyncio.Lock()
                self._users[key] = self._users.get(key, 0) + 1
                chain = holder.chain()
                try:
                    self._refuse_cycle(key, chain)
                    for link in chain:  # the task waits in every hold it is in
                        link.waiting = (self, key)
                    await lock.acquire()
                except BaseException:
                    self._leave(key)
                    raise
                finally:
                    for link in chain:
                        link.waiting = None
                self._owners[key] = holder
                taken.append(key)
            yield
        finally:
            _holder.reset(token)
            for key in reversed(taken):
                del self._owners[key]
                self._locks[key].release()
                self._leave(key)

    def _refuse_cycle(self, key: str, chain: list[_Holder]) -> None:
        """Raise if the holder of `key` waits for a key whose holder waits ... for a key
        one of the holds of `chain` holds. A wait may be for another KeyLocks' key (a tab
        holds its page's locks while it waits for its browser's)."""
        owner = self._owners.get(key)
        seen: set[_Holder] = set()
        while owner is not None and owner not in seen:
            if owner in chain:
                raise RuntimeError(
                    "two tasks would wait for each other's keys forever: an update() "
                    "function writes a key that another task holds while it waits for a "
                    "key this one holds; do not write other keys from update()'s function"
                )
            seen.add(owner)
            waiting = owner.waiting
            owner = None if waiting is None else waiting[0]._owners.get(waiting[1])

    def _leave(self, key: str) -> None:
        users = self._users[key] - 1
        if users:
            self._users[key] = users
        else:
            del self._users[key], self._locks[key]

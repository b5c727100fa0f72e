"""Per-key locks: one ``asyncio.Lock`` per key while some task holds or awaits it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

from ._errors import StorageTimeoutError

__all__ = ["KeyLocks"]


class _Entry:
    __slots__ = ("key", "lock", "owner", "users")

    def __init__(self, key: str) -> None:
        self.key = key
        self.lock = asyncio.Lock()
        self.owner: asyncio.Task[object] | None = None
        self.users = 0  # tasks holding or awaiting the lock; the entry goes at 0


class KeyLocks:
    """Locks of keys, taken in sorted order (so two tasks never hold-and-wait crosswise).

    Re-entrant within a task, so ``update()``'s function may write its own key. An entry
    exists only while its lock is in use, so the table stays small and no lock outlives the
    event loop it was used in. ``asyncio.Lock`` wakes waiters first come, first served.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    @contextlib.asynccontextmanager
    async def hold(self, keys: Iterable[str], timeout: float | None) -> AsyncIterator[None]:
        """Hold the locks of ``keys``; each wait ends in :class:`StorageTimeoutError` after
        ``timeout`` seconds, so tasks waiting for each other fail instead of hanging."""
        task = asyncio.current_task()
        held: list[_Entry] = []
        try:
            for key in sorted(set(keys)):
                entry = self._entries.get(key)
                if entry is None:
                    entry = self._entries[key] = _Entry(key)
                elif entry.owner is task:
                    continue
                entry.users += 1
                try:
                    await self._acquire(entry, key, timeout)
                except BaseException:
                    self._leave(entry)
                    raise
                entry.owner = task
                held.append(entry)
            yield
        finally:
            for entry in reversed(held):
                entry.owner = None
                entry.lock.release()
            for entry in held:
                self._leave(entry)

    @staticmethod
    async def _acquire(entry: _Entry, key: str, timeout: float | None) -> None:
        if timeout is None or entry.users == 1:  # nobody else holds or awaits it
            await entry.lock.acquire()
            return
        try:
            await asyncio.wait_for(entry.lock.acquire(), timeout)
        except asyncio.TimeoutError:
            raise StorageTimeoutError(
                f"waited {timeout} s for key {key!r}, which another task holds: do not write "
                "other keys from update()'s function, nor its own key from another task"
            ) from None

    def _leave(self, entry: _Entry) -> None:
        entry.users -= 1
        if not entry.users:
            del self._entries[entry.key]

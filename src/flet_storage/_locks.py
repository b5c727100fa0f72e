"""Per-key locks: one `asyncio.Lock` per key while some task holds or awaits it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable

from ._errors import StorageTimeoutError

__all__ = ["KeyLocks"]

_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+


class _Entry:
    __slots__ = ("key", "lock", "owner", "users")

    def __init__(self, key: str) -> None:
        self.key = key
        self.lock = asyncio.Lock()
        self.owner: asyncio.Task[object] | None = None
        self.users = 0  # tasks holding or awaiting the lock; the entry goes at 0


class KeyLocks:
    """Locks of keys, taken in sorted order within one `hold`.

    Re-entrant within a task, so `update()`'s function may write its own key. A task
    that holds no lock yet waits as long as the holder needs: holders are writes whose
    calls are bounded by the storage timeout. A task that already holds some lock (a
    nested hold: `update()`'s function writing another key) waits at most `timeout`,
    since two such tasks could wait for each other. An entry exists only while its lock is
    in use, so the table stays small and no lock outlives the event loop it was used in.
    `asyncio.Lock` wakes waiters first come, first served.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._holding: dict[asyncio.Task[object] | None, int] = {}  # task -> locks held

    @contextlib.asynccontextmanager
    async def hold(
        self, keys: Iterable[str], timeout: float | None, name: Callable[[str], str] = repr
    ) -> AsyncIterator[None]:
        """Hold the locks of `keys`; a nested wait ends in
        [StorageTimeoutError][flet_storage.StorageTimeoutError] after `timeout` seconds. `name(key)`
        names a key in that error."""
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
                    nested = timeout if self._holding.get(task) else None
                    await _acquire(entry, nested, name)
                except BaseException:
                    self._leave(entry)
                    raise
                entry.owner = task
                self._holding[task] = self._holding.get(task, 0) + 1
                held.append(entry)
            yield
        finally:
            for entry in reversed(held):
                entry.owner = None
                entry.lock.release()
                self._leave(entry)
            if held and not (left := self._holding[task] - len(held)):
                del self._holding[task]
            elif held:
                self._holding[task] = left

    def _leave(self, entry: _Entry) -> None:
        entry.users -= 1
        if not entry.users:
            del self._entries[entry.key]


async def _acquire(entry: _Entry, timeout: float | None, name: Callable[[str], str]) -> None:
    if timeout is None or entry.users == 1:  # unbounded, or nobody else holds or awaits it
        await entry.lock.acquire()
        return
    try:
        if _timeout is None:  # Python 3.10
            await asyncio.wait_for(entry.lock.acquire(), timeout)
        else:  # unlike wait_for before 3.12, never swallows a cancellation
            async with _timeout(timeout):
                await entry.lock.acquire()
    except (TimeoutError, asyncio.TimeoutError):
        raise StorageTimeoutError(
            f"waited {timeout} s for {name(entry.key)}, which another task holds while this "
            "one holds another key: do not write other keys from update()'s function, nor "
            "its own key from another task"
        ) from None

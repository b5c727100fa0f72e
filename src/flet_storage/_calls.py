"""Backend calls: one at a time or many as one pipelined round, bounded by a timeout on
silence; and `map_error`, the one place where what a backend raises becomes ours."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from ._errors import BackendError, StorageError, StorageFullError, StorageTimeoutError

__all__ = ["Calls", "map_error"]

T = TypeVar("T")

_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+

# What the Flet client answers after 10 s when a call reaches a service it no longer binds
# (after a reconnect, flet-dev/flet#6412): a timeout whose cure is a fresh service.
_STALE_SERVICE = "Timeout waiting for invoke method listener"


def map_error(exc: BaseException, what: str, timeout: float | None) -> StorageError:
    """The one place where whatever a backend raises becomes one of our errors.

    `what` names the call and namespace, e.g. `"get('theme') in namespace 'app'"`.
    """
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or _STALE_SERVICE in str(exc):
        waited = "in time" if timeout is None else f"within {timeout} s"
        return StorageTimeoutError(
            f"{what} got no answer {waited}: is the Flet client still connected?"
        )
    if isinstance(exc, RuntimeError):  # what the Flet client reports, e.g. the quota
        error: StorageError = (StorageFullError if "quota" in str(exc).lower() else BackendError)(
            f"{what} failed: {exc}"
        )
        error.__cause__ = exc
        return error
    # Foreign text might hold a value: name the type only, and chain nothing a traceback
    # would print.
    return BackendError(f"{what} failed: {type(exc).__name__}")


class Calls:
    """Awaits backend calls, with `timeout` seconds of silence allowed."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout

    async def one(self, call: Coroutine[Any, Any, T]) -> T:
        """Await one call; a timeout raises `TimeoutError`."""
        if self.timeout is None:
            return await call
        if _timeout is None:  # Python 3.10
            return await asyncio.wait_for(call, self.timeout)
        async with _timeout(self.timeout):  # no task per call, unlike wait_for
            return await call

    async def round(self, calls: Sequence[Coroutine[Any, Any, Any]]) -> list[Any]:
        """Send every call at once (one pipelined round); return each one's result or
        exception (`TimeoutError` for a call cut short), in order.

        The timeout bounds silence, not work: it ends the round only when no call has
        finished for `timeout` seconds, so a batch of any size completes on a live client
        while a client that stops answering still fails within about `timeout`. Calls
        still running then (or when the caller is cancelled) are cancelled and awaited: none
        is left behind.
        """
        if not calls:
            return []
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(call) for call in calls]
        left = len(tasks)
        last_answer = loop.time()
        over = loop.create_future()  # every call answered, or silence for a whole timeout

        def answered(_: object) -> None:
            nonlocal left, last_answer
            left -= 1
            last_answer = loop.time()
            if not left and not over.done():
                over.set_result(None)

        watchdog: asyncio.TimerHandle | None = None

        def watch(timeout: float) -> None:
            nonlocal watchdog
            silence = loop.time() - last_answer
            if silence >= timeout:
                if not over.done():
                    over.set_result(None)
            else:
                watchdog = loop.call_later(timeout - silence, watch, timeout)

        for task in tasks:
            task.add_done_callback(answered)
        watchdog = (
            None if self.timeout is None else loop.call_later(self.timeout, watch, self.timeout)
        )
        try:
            await over
        except BaseException:  # cancelled: no call is left running
            if watchdog is not None:
                watchdog.cancel()
            await _settle(tasks)
            raise
        if watchdog is not None:
            watchdog.cancel()
        if left:  # silence: the calls still running are cut short
            await _settle(tasks)
        results: list[Any] = []
        for task in tasks:  # every failure read, so asyncio never logs one (with data)
            exc = asyncio.TimeoutError() if task.cancelled() else task.exception()
            if exc is None:
                results.append(task.result())
            elif isinstance(exc, Exception):
                results.append(exc)
            else:  # KeyboardInterrupt, SystemExit
                raise exc
        return results


async def _settle(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel what still runs and wait for it, even when cancelled again meanwhile."""
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    cancelled = False
    while pending:
        try:
            await asyncio.wait(pending)
            break
        except asyncio.CancelledError:
            cancelled = True
    for task in tasks:  # read every failure, so asyncio never logs one (with data)
        if not task.cancelled():
            task.exception()
    if cancelled:
        raise asyncio.CancelledError

"""Backend calls: one at a time or many as one pipelined round, each bounded by a timeout
on silence, and whatever a backend raises mapped to our errors in :func:`map_error`."""

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

    ``what`` names the call and namespace, e.g. ``"get('theme') in namespace 'app'"``.
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
    else:  # foreign text might hold a value: name the type only
        error = BackendError(f"{what} failed: {type(exc).__name__}")
    error.__cause__ = exc
    return error


class Calls:
    """Awaits backend calls for one namespace, with ``timeout`` seconds of silence allowed."""

    def __init__(self, app_name: str, timeout: float | None) -> None:
        self.app_name = app_name
        self.timeout = timeout

    def describe(self, method: str, key: str) -> str:
        return f"{method}({key!r}) in namespace {self.app_name!r}"

    async def one(self, method: str, key: str, call: Coroutine[Any, Any, T]) -> T:
        """Await one call; raise its mapped error."""
        try:
            if self.timeout is None:
                return await call
            if _timeout is None:  # Python 3.10
                return await asyncio.wait_for(call, self.timeout)
            async with _timeout(self.timeout):  # no task per call, unlike wait_for
                return await call
        except Exception as exc:
            error = map_error(exc, self.describe(method, key), self.timeout)
            raise error from error.__cause__

    async def round(
        self, labels: Sequence[tuple[str, str]], calls: Sequence[Coroutine[Any, Any, Any]]
    ) -> list[Any]:
        """Send every call at once (one pipelined round) and return each one's result or
        mapped :class:`StorageError`, in order. ``labels`` are ``(method, key)`` pairs.

        The timeout bounds silence, not work: it ends the round only when no call has
        finished for ``timeout`` seconds, so a batch of any size completes on a live client
        while a client that stops answering still fails within about ``timeout``. Calls
        still running then (or when the caller is cancelled) are cancelled and awaited: none
        is left behind.
        """
        if not calls:
            return []
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(call) for call in calls]
        left = len(tasks)
        last_answer = loop.time()
        all_done = loop.create_future()

        def answered(_: object) -> None:
            nonlocal left, last_answer
            left -= 1
            last_answer = loop.time()
            if not left and not all_done.done():
                all_done.set_result(None)

        for task in tasks:
            task.add_done_callback(answered)
        try:
            while not all_done.done():
                wait = None if self.timeout is None else last_answer + self.timeout - loop.time()
                if wait is not None and wait <= 0:
                    break  # silence for a whole timeout
                await asyncio.wait([all_done], timeout=wait)
        finally:
            await _settle(tasks)
        results: list[Any] = []
        for (method, key), task in zip(labels, tasks, strict=True):
            exc = asyncio.TimeoutError() if task.cancelled() else task.exception()
            if exc is None:
                results.append(task.result())
            elif isinstance(exc, Exception):
                results.append(map_error(exc, self.describe(method, key), self.timeout))
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

"""Backend calls: each bounded by the timeout, many at once as one pipelined round, and
whatever a backend raises translated into our errors in this one place."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

from ._errors import BackendError, StorageError, StorageFullError, StorageTimeoutError
from .backends import Backend

__all__ = ["BackendCalls"]

T = TypeVar("T")

_timeout = getattr(asyncio, "timeout", None)

# What the Flet client answers after 10 s when a call reaches a service it no longer binds
# (after a reconnect, flet-dev/flet#6412): a timeout whose cure is a fresh service.
_STALE_SERVICE = "Timeout waiting for invoke method listener"


class BackendCalls:
    def __init__(self, backend: Backend, app_name: str, timeout: float | None) -> None:
        self.backend = backend
        self.app_name = app_name
        self.timeout = timeout

    async def call(self, operation: str, key: str | None, call: Awaitable[T]) -> T:
        """Await one backend call."""
        try:
            return await self._bounded(call)
        except Exception as exc:
            error = self._translate(exc, operation if key is None else f"{operation}({key!r})")
            raise error from error.__cause__

    async def call_all(
        self, operation: str, keys: Sequence[str], calls: Iterable[Coroutine[Any, Any, T]]
    ) -> list[T | StorageError]:
        """Run many backend calls at once (one pipelined round) under one timeout.

        Returns each call's result, or its translated error, in order. Calls still running
        at the timeout (or when the caller is cancelled) are cancelled and awaited, so none
        is left behind.
        """
        tasks = [asyncio.ensure_future(call) for call in calls]
        if not tasks:
            return []
        try:
            await asyncio.wait(tasks, timeout=self.timeout)
        finally:
            pending = {task for task in tasks if not task.done()}
            for task in pending:
                task.cancel()
            cancelled = False
            while pending:  # even when cancelled again: no task is left running
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
        out: list[T | StorageError] = []
        for key, task in zip(keys, tasks, strict=True):
            what = f"{operation}({key!r})"
            if task in pending or task.cancelled():
                out.append(self._translate(asyncio.TimeoutError(), what))
            elif (exc := task.exception()) is not None:
                if not isinstance(exc, Exception):
                    raise exc
                out.append(self._translate(exc, what))
            else:
                out.append(task.result())
        return out

    async def _bounded(self, call: Awaitable[T]) -> T:
        if self.timeout is None:
            return await call
        if _timeout is None:  # Python 3.10
            return await asyncio.wait_for(call, self.timeout)
        async with _timeout(self.timeout):  # no extra task per call, unlike wait_for
            return await call

    def _translate(self, exc: Exception, what: str) -> StorageError:
        """The one place where whatever a backend raises becomes one of our errors."""
        if isinstance(exc, StorageError):
            return exc
        where = f"{what} in namespace {self.app_name!r}"
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or _STALE_SERVICE in str(exc):
            on_timeout = getattr(self.backend, "on_timeout", None)
            if callable(on_timeout):
                on_timeout()  # e.g. a reconnected client needs a freshly registered service
            waited = "in time" if self.timeout is None else f"within {self.timeout} s"
            return StorageTimeoutError(
                f"{where} got no answer {waited}: is the Flet client still connected?"
            )
        if isinstance(exc, RuntimeError):  # what the Flet client reports, e.g. quota
            error = StorageFullError if "quota" in str(exc).lower() else BackendError
            translated = error(f"{where} failed: {exc}")
        else:  # foreign text might hold a value: name the type only
            translated = BackendError(f"{where} failed: {type(exc).__name__}")
        translated.__cause__ = exc
        return translated

"""Change listeners: callbacks fired after a key of a namespace changes."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["ChangeKind", "Listener", "Listeners", "StorageEvent", "Subscription"]

logger = logging.getLogger("flet_storage")

ChangeKind = Literal["set", "remove", "clear", "expire"]


@dataclass(frozen=True)
class StorageEvent:
    """What changed: `key` of namespace `app_name`, and how.

    Listeners registered with [`FletStorage.subscribe`][flet_storage.FletStorage.subscribe]
    receive one event per key a write changed.

    Attributes:
        app_name: The namespace.
        key: The key, without the `"{app_name}."` prefix.
        kind: `"set"`, `"remove"`, `"clear"` (removed by
            [`clear`][flet_storage.FletStorage.clear]) or `"expire"` (its TTL ran out).
        value: The new value for `"set"` (decoded afresh from what was stored, so
            mutating it changes nothing stored; the listeners of one write share it);
            `None` for the other kinds.
    """

    app_name: str
    key: str
    kind: ChangeKind
    value: Any = None


Listener = Callable[[StorageEvent], "Awaitable[None] | None"]


@dataclass(eq=False)
class Subscription:
    """A listener registered with
    [`FletStorage.subscribe`][flet_storage.FletStorage.subscribe].

    [`cancel()`][flet_storage.Subscription.cancel] stops the calls. It is also a context
    manager that cancels on exit:

    ```python
    with storage.subscribe(print, key="theme"):
        await storage.set("theme", "dark")  # prints the StorageEvent
    ```

    Attributes:
        listener: The function called with each [StorageEvent][flet_storage.StorageEvent].
        key: The key listened to; `None` for every key of the namespace.
    """

    listener: Listener
    key: str | None
    _owner: Listeners = field(repr=False)

    def cancel(self) -> None:
        """Stop calling the listener. Cancelling twice does nothing."""
        self._owner.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()


class Listeners:
    """The subscriptions of one namespace in one scope (see `_store.Shared`)."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._tasks: set[asyncio.Task[None]] = set()  # keeps async listeners alive

    def __bool__(self) -> bool:
        return bool(self._subscriptions)

    def add(self, listener: Listener, key: str | None) -> Subscription:
        subscription = Subscription(listener, key, self)
        self._subscriptions.append(subscription)
        return subscription

    def discard(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def wants(self, key: str) -> bool:
        return any(s.key is None or s.key == key for s in self._subscriptions)

    def fire(self, event: StorageEvent) -> None:
        """Call every matching listener. A listener that raises is logged, never re-raised:
        the write it reports has already happened."""
        for subscription in list(self._subscriptions):
            if subscription.key is not None and subscription.key != event.key:
                continue
            try:
                result = subscription.listener(event)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(_log_errors(result, event))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:
                _log(event)


async def _log_errors(result: Awaitable[None], event: StorageEvent) -> None:
    try:
        await result
    except Exception:
        _log(event)


def _log(event: StorageEvent) -> None:
    # Never log the value: it is user data.
    logger.exception(
        "listener for %r of namespace %r (%s) raised", event.key, event.app_name, event.kind
    )

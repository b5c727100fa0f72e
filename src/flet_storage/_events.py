"""Change listeners: callbacks fired after a key of a namespace changes."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ._errors import StorageError, logger

__all__ = [
    "ChangeKind",
    "Listener",
    "Listeners",
    "StorageEvent",
    "Subscription",
    "announce",
    "announce_remote",
]

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
        remote: Whether the change was made in another session: another tab of the same
            browser, served by this process or, with `RedisSync`, by another (see `sync=`
            of [FletStorage][flet_storage.FletStorage]).
    """

    app_name: str
    key: str
    kind: ChangeKind
    value: Any = None
    remote: bool = False


Listener = Callable[[StorageEvent], "Awaitable[None] | None"]


class Reader(Protocol):
    """What a namespace's record layer tells of a stored value, for remote events."""

    def event_value(self, key: str, raw: Any) -> Any:
        """The value a `"set"` event carries for `raw` stored under `key`."""

    def expired(self, raw: Any) -> bool:
        """Whether `raw` holds a value whose TTL ran out."""


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
    _context: contextvars.Context = field(repr=False, default_factory=contextvars.copy_context)
    """Where it was subscribed (its Flet page): a change another tab made is heard there."""
    _reader: Reader | None = field(repr=False, default=None)
    """How the storage it was subscribed through reads a stored value (another process's
    changes arrive as stored values)."""

    def cancel(self) -> None:
        """Stop calling the listener. Cancelling twice does nothing."""
        self._owner.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()


class Listeners:
    """The subscriptions of one namespace in one scope (see `_store.NamespaceState`)."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._tasks: set[asyncio.Task[None]] = set()  # keeps async listeners alive

    def __bool__(self) -> bool:
        return bool(self._subscriptions)

    def add(
        self, listener: Listener, key: str | None, reader: Reader | None = None
    ) -> Subscription:
        subscription = Subscription(listener, key, self, _reader=reader)
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
            if event.remote:  # in its own tab's context: e.g. use_storage re-renders there
                subscription._context.copy().run(self._call, subscription, event)
            else:
                self._call(subscription, event)

    def fire_stored(
        self, app_name: str, key: str, raw: Any, kind: ChangeKind | None, previous: Any
    ) -> None:
        """Call every matching listener, in its own tab's context, for a remote change
        that arrives as a stored value: each gets the value read by the storage it
        subscribed through. `raw` None: removed, as `kind` says (None: "remove", or
        "expire" if `previous` held a value whose TTL ran out)."""
        for subscription in list(self._subscriptions):
            reader = subscription._reader
            if reader is None or subscription.key not in (None, key):
                continue
            event_kind: ChangeKind = "set" if raw is not None else kind or "remove"
            value = None
            try:
                if raw is not None:
                    value = reader.event_value(key, raw)
                elif kind is None and reader.expired(previous):
                    event_kind = "expire"
            except StorageError:
                logger.exception("no change event for %r of %r", key, app_name)
                continue
            event = StorageEvent(app_name, key, event_kind, value, remote=True)
            subscription._context.copy().run(self._call, subscription, event)

    def _call(self, subscription: Subscription, event: StorageEvent) -> None:
        try:
            result = subscription.listener(event)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(_log_errors(result, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except Exception:
            _log(event)


def announce(
    audiences: Sequence[tuple[Listeners, bool]],
    app_name: str,
    kind: ChangeKind,
    changes: Sequence[tuple[str, Any]],
    decode: Callable[[str, Any], Any],
) -> None:
    """The one place changes are announced: `changes` are `(key, stored text)` for a
    `"set"`, `(key, None)` otherwise. Called after they landed, while their keys are still
    locked, so each key's events come in the order storage saw its changes. A `"set"`
    listener gets the value decoded afresh from the text, so what it does with it changes
    nothing stored. `audiences` are the listeners of each tab that hears it, and whether
    the change is remote there."""
    for key, text in changes:
        hearing = [(ls, remote) for ls, remote in audiences if ls and ls.wants(key)]
        if not hearing:
            continue
        value = None
        if text is not None:
            try:
                value = decode(key, text)
            except StorageError:  # a custom decoder failing must not fail the write
                logger.exception("no change event for %r of %r", key, app_name)
                continue
        for listeners, remote in hearing:
            listeners.fire(StorageEvent(app_name, key, kind, value, remote))


def announce_remote(
    audiences: Sequence[Listeners],
    app_name: str,
    kind: ChangeKind | None,
    changes: Sequence[tuple[str, Any]],
    previous: dict[str, Any],
) -> None:
    """Announce changes that arrive as stored values (another process's, or those that
    landed while a tab joined its browser): `changes` are `(storage key, stored value or
    None)` of namespace `app_name`; `previous` holds what was stored before, where known."""
    prefix = f"{app_name}."
    for storage_key, raw in changes:
        if not storage_key.startswith(prefix):
            continue  # an expiry mark or a registration: no event of its own
        key = storage_key[len(prefix) :]
        for listeners in audiences:
            listeners.fire_stored(app_name, key, raw, kind, previous.get(storage_key))


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

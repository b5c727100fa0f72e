"""`use_storage`: a stored value as component state, for Flet's `@ft.component`s."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import flet as ft

from ._errors import StorageError, logger
from ._events import StorageEvent

if TYPE_CHECKING:
    from ._storage import FletStorage

__all__ = ["use_storage"]


def use_storage(
    storage: FletStorage, key: str, default: Any = None
) -> tuple[Any, Callable[[Any], Awaitable[None]]]:
    """Return `(value, set_value)` for `key`, like `ft.use_state` but stored.

    The value is `default` until the stored one has loaded (once, on mount).
    `await set_value(new)` stores `new`; every component using the key on this page then
    re-renders with it, whoever wrote it (another component, an event handler, an expiry).
    """
    value, set_state = ft.use_state(default)

    def mount() -> None:
        heard = False  # a change event is newer than what the first load may still return

        def on_change(event: StorageEvent) -> None:
            nonlocal heard
            heard = True
            set_state(event.value if event.kind == "set" else default)

        async def load() -> None:
            try:
                loaded = await storage.get_or_default(key, default)
            except StorageError:  # nobody awaits this task: say why the value stays the default
                logger.exception("use_storage could not load %r of %r", key, storage.app_name)
                return
            if not heard:
                set_state(loaded)

        subscription = storage.subscribe(on_change, key=key)
        loading = asyncio.ensure_future(load())

        def stop_following() -> None:
            subscription.cancel()
            loading.cancel()

        stop.current = stop_following

    def unmount() -> None:
        if stop.current is not None:
            stop.current()
            stop.current = None

    # cleanup= rather than a function mount returns: Flet 1.0.5 forgets that one once the
    # component renders again, and the subscription would outlive the component.
    stop: ft.MutableRef[Callable[[], None] | None] = ft.use_ref()
    ft.use_effect(mount, dependencies=[storage.app_name, key], cleanup=unmount)

    async def set_value(new: Any) -> None:
        await storage.set(key, new)  # the subscription re-renders this component too

    return value, set_value

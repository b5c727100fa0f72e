"""Flet client services of the page the caller runs in: one per page, connection and kind.

Shared by the backends built on a Flet service (`ft.SharedPreferences`, `SecureStorage`).

Why one service per page: creating a service registers a control with the page (and the
client), and the page only drops it once nothing references it, so a service per FletStorage
would pile up in apps that create one per event handler.

Why one per connection too (flet-dev/flet#6412): when a web client reconnects to its session,
the server sends the page again and the client rebuilds every control, but its service
registry keeps the binding of the old object for a known id, so calls to an existing service
are never answered. A service created after the reconnect gets a new id and works.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import flet as ft

from .._errors import NoPageError

__all__ = ["PageServices", "Slot", "connection", "context_page"]

S = TypeVar("S")

# The slots of a page are kept on the page itself, not in a dict keyed by the page: a slot is
# also a scope (FletStorage keeps its shared state, listeners included, on it), and a listener
# that refers to the page then makes a cycle the garbage collector frees with the page, where
# a dict keyed weakly by the page would keep the page alive through its own value.
_ATTRIBUTE = "_flet_storage_services"


class Slot(Generic[S]):
    """One kind of service on one page: the service of the page's current connection.

    A plain object that lives as long as its page, whatever the connection: what a backend
    that is not the whole page answers as its `BaseBackend.scope`.
    """

    def __init__(self) -> None:
        self.connection: object | None = None
        self.service: S | None = None


class PageServices(Generic[S]):
    """Hands out the service `factory()` makes, one per page and connection.

    Every backend that uses the same `PageServices` object shares the services: keep one per kind of
    service (and per set of service options) for the life of the process. `no_page` is the message
    of the [NoPageError][flet_storage.NoPageError] raised outside a page context.
    """

    def __init__(self, factory: Callable[[], S], no_page: str) -> None:
        self._factory = factory
        self._no_page = no_page

    def page(self) -> ft.Page:
        """The page the caller runs in (`ft.context.page`); [NoPageError][flet_storage.NoPageError]
        outside one.

        Guessing a page there (a bare thread, code run before the app starts) could hand one
        user's data to another."""
        page = context_page()
        if page is None:
            raise NoPageError(self._no_page)
        return page

    def slot(self, page: ft.Page | None = None) -> Slot[S]:
        """This kind's slot on `page` (default: the caller's page), made on first use."""
        if page is None:
            page = self.page()
        slots: dict[object, Slot[Any]] | None = getattr(page, _ATTRIBUTE, None)
        if slots is None:
            slots = {}
            setattr(page, _ATTRIBUTE, slots)
        slot: Slot[S] | None = slots.get(self)
        if slot is None:
            slot = slots[self] = Slot[S]()
        return slot

    def generation(self) -> object:
        """The current page's connection (a reloaded tab reconnects the same page)."""
        return connection(self.page())

    def get(self) -> S:
        """The service of the current page and connection, made (and registered with the
        page) on first use and after `forget` or a new connection."""
        page = self.page()
        slot = self.slot(page)
        current = connection(page)
        if slot.service is not None and (current is None or slot.connection is current):
            return slot.service
        service = self._factory()  # registers with ft.context.page, i.e. page
        slot.connection, slot.service = current, service
        return service

    def forget(self) -> None:
        """Drop the current page's service (if any), so the next `get` makes a fresh
        one; nothing outside a page context."""
        with contextlib.suppress(NoPageError):
            slot = self.slot()
            slot.connection = slot.service = None


def context_page() -> ft.Page | None:
    """`ft.context.page`, or None outside a page context."""
    try:
        return ft.context.page
    except RuntimeError:
        return None


def connection(page: ft.Page) -> object | None:
    """The page's current websocket connection (None while disconnected)."""
    try:
        return page.session.connection
    except (RuntimeError, AttributeError):
        return None

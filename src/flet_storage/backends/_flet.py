"""The default backend: Flet's real ``SharedPreferences`` service of the current page."""

from __future__ import annotations

import contextlib
import weakref

import flet as ft

from .._errors import NoPageError
from ._base import RawValue

__all__ = ["SharedPreferencesBackend"]

# One service per page and connection, shared by every FletStorage on the page. Creating a
# SharedPreferences registers a control with the page (and the client), and the page only
# drops it once nothing references it, so a service per FletStorage would pile up in apps
# that create one per event handler. Keyed weakly so a closed session's page is not kept.
#
# Why the connection too (flet-dev/flet#6412): when a web client reconnects to its session,
# the server sends the page again and the client rebuilds every control, but its service
# registry keeps the binding of the old object for a known id, so calls to an existing
# service are never answered. A service created after the reconnect gets a new id and works.
_services: weakref.WeakKeyDictionary[ft.Page, tuple[object, ft.SharedPreferences]] = (
    weakref.WeakKeyDictionary()
)

_NO_PAGE = (
    "FletStorage has no Flet page to reach SharedPreferences: use it inside a running Flet "
    "app (in main(page) or an event handler), or pass a backend, e.g. "
    "FletStorage(app_name, backend=MemoryBackend()) in tests."
)


class SharedPreferencesBackend:
    """``ft.SharedPreferences`` of the page the caller runs in.

    The page is looked up on every call (``ft.context.page``), so one instance shared by many
    sessions always talks to the session it is called from. The first page seen is remembered
    for calls made where Flet sets no page context (e.g. a bare thread).
    """

    def __init__(self) -> None:
        self._first_page: weakref.ref[ft.Page] | None = None

    def scope(self) -> ft.Page:
        """The page the caller runs in: what one storage is for this backend."""
        page = _context_page()
        if page is None:
            page = self._first_page() if self._first_page else None
            if page is None:
                raise NoPageError(_NO_PAGE)
        elif self._first_page is None:
            self._first_page = weakref.ref(page)
        return page

    def service(self) -> ft.SharedPreferences:
        """The SharedPreferences service of the current page and connection."""
        page = self.scope()
        connection = _connection(page)
        known = _services.get(page)
        if known is not None and (connection is None or known[0] is connection):
            return known[1]
        if page is not _context_page():
            # Constructing a service registers it with ft.context.page; with no page
            # context (a bare thread) it would silently belong to no page.
            raise NoPageError(_NO_PAGE)
        service = ft.SharedPreferences()  # registers with the page
        _services[page] = (connection, service)
        return service

    def reset(self) -> None:
        """Forget the current page's service, so the next call registers a fresh one."""
        with contextlib.suppress(NoPageError):
            _services.pop(self.scope(), None)

    async def set(self, key: str, value: RawValue) -> bool:
        return await self.service().set(key, value)

    async def get(self, key: str) -> RawValue | None:
        return await self.service().get(key)

    async def contains_key(self, key: str) -> bool:
        return await self.service().contains_key(key)

    async def remove(self, key: str) -> bool:
        return await self.service().remove(key)

    async def get_keys(self, key_prefix: str) -> list[str]:
        return await self.service().get_keys(key_prefix)

    async def clear(self) -> bool:
        return await self.service().clear()


def _context_page() -> ft.Page | None:
    try:
        return ft.context.page
    except RuntimeError:
        return None


def _connection(page: ft.Page) -> object | None:
    """The page's current websocket connection (None while disconnected)."""
    try:
        return page.session.connection
    except (RuntimeError, AttributeError):
        return None

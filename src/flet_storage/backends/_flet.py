"""The default backend: Flet's real ``SharedPreferences`` service of the current page."""

from __future__ import annotations

import contextlib
import weakref

import flet as ft

from .._errors import NoPageError
from ._base import BaseBackend, RawValue

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


class SharedPreferencesBackend(BaseBackend):
    """``ft.SharedPreferences`` of the page the caller runs in.

    The page is looked up on every call (``ft.context.page``), so one instance shared by many
    sessions always talks to the session it is called from. Outside a page context (a bare
    thread, code run before the app starts) calls raise :class:`NoPageError`: guessing a
    page there could hand one user's data to another.
    """

    def scope(self) -> ft.Page:
        """The page the caller runs in: what one storage is for this backend."""
        page = _context_page()
        if page is None:
            raise NoPageError(_NO_PAGE)
        return page

    def generation(self) -> object:
        """The page's current connection: a new one means a freshly loaded client, whose
        view of storage any cache must re-read (a reloaded tab reconnects the same page)."""
        return _connection(self.scope())

    def service(self) -> ft.SharedPreferences:
        """The SharedPreferences service of the current page and connection."""
        page = self.scope()
        connection = _connection(page)
        known = _services.get(page)
        if known is not None and (connection is None or known[0] is connection):
            return known[1]
        service = ft.SharedPreferences()  # registers with ft.context.page, i.e. page
        _services[page] = (connection, service)
        return service

    def on_timeout(self) -> None:
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

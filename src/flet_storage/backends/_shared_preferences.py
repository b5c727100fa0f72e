"""The default backend: Flet's real `SharedPreferences` service of the current page."""

from __future__ import annotations

import flet as ft

from ._base import BaseBackend, RawValue
from ._page import PageServices

__all__ = ["SharedPreferencesBackend"]

_NO_PAGE = (
    "FletStorage has no Flet page to reach SharedPreferences: use it inside a running Flet "
    "app (in main(page) or an event handler), or pass a backend, e.g. "
    "FletStorage(app_name, backend=MemoryBackend()) in tests."
)

# One service per page and connection, shared by every FletStorage on the page (see _page).
_services: PageServices[ft.SharedPreferences] = PageServices(ft.SharedPreferences, _NO_PAGE)


class SharedPreferencesBackend(BaseBackend):
    """`ft.SharedPreferences` of the page the caller runs in.

    The page is looked up on every call (`ft.context.page`), so one instance shared by many sessions
    always talks to the session it is called from. Outside a page context (a bare thread, code run
    before the app starts) calls raise [NoPageError][flet_storage.NoPageError]: guessing a page
    there could hand one user's data to another.
    """

    def scope(self) -> ft.Page:
        """The page the caller runs in: what one storage is for this backend."""
        return _services.page()

    def generation(self) -> object:
        """The page's current connection: a new one means a freshly loaded client, whose
        view of storage any cache must re-read (a reloaded tab reconnects the same page)."""
        return _services.generation()

    def service(self) -> ft.SharedPreferences:
        """The SharedPreferences service of the current page and connection."""
        return _services.get()

    def on_timeout(self) -> None:
        """Forget the current page's service, so the next call registers a fresh one."""
        _services.forget()

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

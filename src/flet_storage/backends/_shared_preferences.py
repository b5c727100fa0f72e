"""The default backend: Flet's real `SharedPreferences` service of the current page."""

from __future__ import annotations

import flet as ft

from ._base import BaseBackend, RawValue, check_raw
from ._flet_version import FLET_VERSION, at_least
from ._page import PageServices

__all__ = ["SharedPreferencesBackend"]

_NO_PAGE = (
    "FletStorage has no Flet page to reach SharedPreferences: use it inside a running Flet "
    "app (in main(page) or an event handler), or pass a backend, e.g. "
    "FletStorage(app_name, backend=MemoryBackend()) in tests."
)

# The clients of Flet 0.81 and 0.82 store text only: any other value fails in the client with
# "type 'int' is not a subtype of type 'String'" (measured on the 0.81.0 and 0.82.2 desktop
# clients, tests/desktop). 0.83 stores each value with its type.
TYPED_VALUES = at_least(FLET_VERSION, (0, 83, 0))
"""Whether this Flet's client stores `int`, `float`, `bool` and `list[str]` values."""

# One service per page and connection, shared by every FletStorage on the page (see _page).
_services: PageServices[ft.SharedPreferences] = PageServices(ft.SharedPreferences, _NO_PAGE)


class SharedPreferencesBackend(BaseBackend):
    """`ft.SharedPreferences` of the page the caller runs in.

    The page is looked up on every call (`ft.context.page`), so one instance shared by many sessions
    always talks to the session it is called from. Outside a page context (a bare thread, code run
    before the app starts) calls raise [NoPageError][flet_storage.NoPageError]: guessing a page
    there could hand one user's data to another.

    On Flet 0.81 and 0.82, whose clients store text only, `set` takes a `str` only
    ([FletStorage][flet_storage.FletStorage] writes text, so it works there unchanged).
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
        """Store `value` under `key`.

        Returns:
            `True`.

        Raises:
            ValueError: `value` is not a [RawValue][flet_storage.backends.RawValue]; or, on
                Flet 0.81 and 0.82, it is not a `str` (raised before any call to the
                client; the message names the key, the type and the fix).
        """
        if not TYPED_VALUES and not isinstance(value, str):
            check_raw(value)
            raise ValueError(
                f"SharedPreferencesBackend cannot store the {type(value).__name__} under "
                f"{key!r}: the client of Flet {FLET_VERSION} stores text (str) only. Store "
                "text, store through FletStorage (which writes any value as text), or "
                "upgrade to Flet >= 0.83."
            )
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

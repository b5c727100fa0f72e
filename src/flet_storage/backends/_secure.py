"""A backend on Flet's `SecureStorage` service (the optional `flet-secure-storage` package).

SecureStorage differs from `ft.SharedPreferences` in ways the backend hides:

* it stores `str` only (the client fails any other value with "Runtime type check
  failed"): other raw values are stored as typed text (below) and come back with their types;
* it has no `get_keys(prefix)`: the backend lists `get_all()` and filters by prefix;
* its `set`, `remove` and `clear` answer nothing (`None`): the backend answers
  `True` once the call returned, as SharedPreferences does.

The typed text: a `str` is stored as itself, unless it starts with `MARK` (U+001F,
a control character no text FletStorage writes starts with); every other value is `MARK`
+ a type letter + text:

```text
"hello"       -> "hello"              2.5           -> "\\x1ff2.5"
"\\x1fx"       -> "\\x1fs\\x1fx"         True / False  -> "\\x1fb1" / "\\x1fb0"
-42           -> "\\x1fi-42"            ["a", "ü"]    -> '\\x1fl["a", "\\\\u00fc"]'
```

So values FletStorage writes are readable with a plain `SecureStorage` too, and text stored
by other code reads back as that text: stored text starting with `MARK` that is not exactly
what the backend would write for the value it spells is returned as the text itself.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from ._base import BaseBackend, RawValue, check_raw
from ._flet_version import FLET_VERSION, at_least
from ._page import PageServices, Slot

if TYPE_CHECKING:
    from flet_secure_storage import (
        AndroidOptions,
        IOSOptions,
        MacOsOptions,
        WebOptions,
        WindowsOptions,
    )

__all__ = ["MARK", "SecureStorageBackend"]

MARK = "\x1f"
"""Starts the stored text of every value but a `str` that does not start with it."""

_INSTALL = (
    "SecureStorageBackend needs the flet-secure-storage package (Flet's SecureStorage "
    'service): pip install "flet-storage[secure]"'
)

_TOO_OLD = (
    "SecureStorageBackend needs flet-secure-storage >= 1.0.5, which runs on Flet >= 1.0.5; "
    'this app runs Flet {version}. Upgrade both: pip install -U "flet-storage[secure]" '
    '"flet>=1.0.5"'
)

_NO_PAGE = (
    "SecureStorageBackend has no Flet page to reach SecureStorage: use it inside a running "
    "Flet app (in main(page) or an event handler), or pass another backend, e.g. "
    "FletStorage(app_name, backend=MemoryBackend()) in tests."
)

# One PageServices per set of service options: backends with equal options share one
# service per page and connection (and one scope, hence one read cache per namespace).
_services: dict[str, PageServices[Any]] = {}


class SecureStorageBackend(BaseBackend):
    """Flet's `SecureStorage` service of the page the caller runs in: the platform's secure
    store (Keychain, Keystore, libsecret, Credential Manager; WebCrypto on web).

    Needs `pip install "flet-storage[secure]"` and Flet >= 1.0.5; without them the constructor
    raises `ImportError`, saying so.
    Like [SharedPreferencesBackend][flet_storage.SharedPreferencesBackend], the page is looked up on
    every call, and calls outside a page context raise [NoPageError][flet_storage.NoPageError].

    The options configure the page's service and are copied when the backend is made.
    Backends with equal options share one service per page and connection. What it
    protects, platform by platform: [Secure storage](../secure-storage.md).

    Args:
        web_options: A `flet_secure_storage.WebOptions`; `None` keeps the service's
            default.
        ios_options: A `flet_secure_storage.IOSOptions`; `None`: the default.
        android_options: A `flet_secure_storage.AndroidOptions`; `None`: the default.
        macos_options: A `flet_secure_storage.MacOsOptions`; `None`: the default.
        windows_options: A `flet_secure_storage.WindowsOptions`; `None`: the default.

    Raises:
        ImportError: `flet-secure-storage` is not installed, or Flet is older than 1.0.5
            (flet-secure-storage >= 1.0.5 needs it); the message says how to install it.
    """

    def __init__(
        self,
        *,
        web_options: WebOptions | None = None,
        ios_options: IOSOptions | None = None,
        android_options: AndroidOptions | None = None,
        macos_options: MacOsOptions | None = None,
        windows_options: WindowsOptions | None = None,
    ) -> None:
        try:
            from flet_secure_storage import SecureStorage
        except ImportError as exc:
            raise ImportError(_INSTALL) from exc
        if not at_least(FLET_VERSION, (1, 0, 5)):
            raise ImportError(_TOO_OLD.format(version=FLET_VERSION))
        given = {
            "web_options": web_options,
            "ios_options": ios_options,
            "android_options": android_options,
            "macos_options": macos_options,
            "windows_options": windows_options,
        }
        options = {name: copy.deepcopy(value) for name, value in given.items() if value is not None}

        def factory() -> Any:
            # Each service gets its own copies: a Flet value object belongs to one control.
            return SecureStorage(**copy.deepcopy(options))

        key = repr(sorted(options.items()))
        self._services: PageServices[Any] = _services.setdefault(
            key, PageServices(factory, _NO_PAGE)
        )

    def scope(self) -> Slot[Any]:
        """This kind of service on the page the caller runs in: one per page and set of
        options, not the page itself, whose SharedPreferences is another store."""
        return self._services.slot()

    def generation(self) -> object:
        """The page's current connection (see
        [`SharedPreferencesBackend.generation`][flet_storage.SharedPreferencesBackend.generation])."""
        return self._services.generation()

    def service(self) -> Any:
        """The `flet_secure_storage.SecureStorage` of the current page and connection, e.g.
        for `get_availability()`."""
        return self._services.get()

    def on_timeout(self) -> None:
        """Forget the current page's service, so the next call registers a fresh one."""
        self._services.forget()

    async def set(self, key: str, value: RawValue) -> bool:
        service = self.service()
        await service.set(key, encode(value))
        return True

    async def get(self, key: str) -> RawValue | None:
        return decode(await self.service().get(key))

    async def contains_key(self, key: str) -> bool:
        found: bool = await self.service().contains_key(key)
        return found

    async def remove(self, key: str) -> bool:
        await self.service().remove(key)
        return True

    async def get_keys(self, key_prefix: str) -> list[str]:
        stored: dict[str, str] = await self.service().get_all()
        return [key for key in stored if key.startswith(key_prefix)]

    async def clear(self) -> bool:
        await self.service().clear()
        return True


def encode(value: RawValue) -> str:
    """The text SecureStorage stores for `value`; `ValueError` for what
    `ft.SharedPreferences` would not take either."""
    value = check_raw(value)
    if isinstance(value, str):
        return f"{MARK}s{value}" if value.startswith(MARK) else value
    if isinstance(value, bool):
        return f"{MARK}b1" if value else f"{MARK}b0"
    if isinstance(value, int):
        return f"{MARK}i{int.__repr__(value)}"
    if isinstance(value, float):
        return f"{MARK}f{float.__repr__(value)}"
    return f"{MARK}l{json.dumps(value)}"  # ASCII only: every str survives any transport


def decode(text: str | None) -> RawValue | None:
    """The value `encode` stored as `text`; text it would not write comes back as is."""
    if text is None or not text.startswith(MARK):
        return text
    tag, body = text[1:2], text[2:]
    value: object
    try:
        if tag == "s":
            value = body
        elif tag == "b":
            value = body == "1"
        elif tag == "i":
            value = int(body)
        elif tag == "f":
            value = float(body)
        elif tag == "l":
            value = json.loads(body)
        else:
            return text
        raw = check_raw(value)
        return raw if encode(raw) == text else text
    except (ValueError, RecursionError):
        return text

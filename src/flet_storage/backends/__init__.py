"""Backends: where FletStorage keeps its already-encoded values.

* [SharedPreferencesBackend][flet_storage.SharedPreferencesBackend] (the default): Flet's
  SharedPreferences of the current page, that is the browser's localStorage on web and the
  platform's preferences on desktop and mobile;
* [SecureStorageBackend][flet_storage.SecureStorageBackend]: Flet's SecureStorage of the
  current page, that is the platform's secure store (Keychain, Keystore, libsecret,
  Credential Manager; WebCrypto on web), with the optional `flet-storage[secure]` extra;
* [MemoryBackend][flet_storage.MemoryBackend]: an in-process stand-in with the same
  semantics, for tests;
* [FileBackend][flet_storage.FileBackend]: a Flutter desktop app's
  `shared_preferences.json` file, for scripts and tools while the app is not running.

Anything with the [Backend][flet_storage.Backend] method set works, `ft.SharedPreferences`
included; [BaseBackend][flet_storage.backends.BaseBackend] adds optional hooks.
"""

from ._base import Backend, BaseBackend, RawValue
from ._file import FileBackend
from ._memory import MemoryBackend
from ._secure import SecureStorageBackend
from ._shared_preferences import SharedPreferencesBackend

__all__ = [
    "Backend",
    "BaseBackend",
    "FileBackend",
    "MemoryBackend",
    "RawValue",
    "SecureStorageBackend",
    "SharedPreferencesBackend",
]

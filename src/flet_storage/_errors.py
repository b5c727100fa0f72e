"""The exceptions flet-storage raises.

Every error FletStorage raises is a [StorageError][flet_storage.StorageError] *and* the built-in
exception that code written for flet-storage 1.1.x (or for plain dictionaries) already catches:

```text
StorageError
├── KeyNotFoundError          (also KeyError)      get() of a key that is not stored
├── CorruptDataError          (also ValueError)    stored text that cannot be decoded
├── UnsupportedValueError     (also TypeError)     set() of a value the codec cannot encode
├── StorageTimeoutError       (also TimeoutError)  the client did not answer in time
├── NoPageError               (also RuntimeError)  no Flet page to reach SharedPreferences
├── MigrationError            (also RuntimeError)  a migrate() step failed
└── BackendError              (also RuntimeError)  the backend reported a failure
    └── StorageFullError                           the client's storage quota is exhausted
```

Messages name the key (and, for values, the path of the offending element) but never the
stored value: values are user data and must not end up in logs.

[Codec][flet_storage.Codec] itself, which knows no keys, raises `EncodeError` (a
`TypeError`) and `DecodeError` (a `ValueError`); FletStorage turns them into
`UnsupportedValueError` and `CorruptDataError` naming the key.
"""

from __future__ import annotations

import asyncio
import logging

__all__ = [
    "BackendError",
    "CorruptDataError",
    "DecodeError",
    "EncodeError",
    "KeyNotFoundError",
    "MigrationError",
    "NoPageError",
    "StorageError",
    "StorageFullError",
    "StorageTimeoutError",
    "UnsupportedValueError",
    "logger",
    "map_error",
]

logger = logging.getLogger("flet_storage")
"""The library's one logger. It never logs a stored value: values are user data."""


class StorageError(Exception):
    """Base class of every error raised by flet-storage."""

    def __str__(self) -> str:
        # KeyError.__str__ quotes its argument; every error here carries a readable message.
        return str(self.args[0]) if self.args else ""


class KeyNotFoundError(StorageError, KeyError):
    """The key is not stored in this namespace."""


class CorruptDataError(StorageError, ValueError):
    """The text stored under a key is not data flet-storage can decode."""


class UnsupportedValueError(StorageError, TypeError):
    """The value (or an element nested in it) has a type the codec cannot store."""


class StorageTimeoutError(StorageError, TimeoutError):
    """The backend did not answer within the configured timeout (e.g. the client is gone)."""


class NoPageError(StorageError, RuntimeError):
    """A page-bound backend was used outside a running Flet app, so there is no page.

    Use the storage in `main(page)` or an event handler (or `page.run_task`), or pass
    `backend=MemoryBackend()` in tests.
    """


class MigrationError(StorageError, RuntimeError):
    """[`FletStorage.migrate`][flet_storage.FletStorage.migrate] could not finish.

    A step raised (its exception is the `__cause__`), or the version key holds something
    other than a version number. The stored version is that of the last step that
    completed.

    Attributes:
        version: The schema version the data is at: the last completed step's (`0` if the
            stored version could not be read).
    """

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message)
        self.version = version


class BackendError(StorageError, RuntimeError):
    """The backend reported that an operation failed."""


class StorageFullError(BackendError):
    """The client refused a write because its storage quota is exhausted.

    On web, `localStorage` holds about 5 MB of text per origin. The key keeps its previous
    value.
    """


class EncodeError(TypeError):
    """A value cannot be encoded. `path` locates the bad element, e.g. `["tags"][2]`."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"value{path}: {reason}")
        self.path = path
        self.reason = reason

    def under(self, step: str | tuple[object]) -> EncodeError:
        """This error one level up: `step` is a path marker or a 1-tuple of index or key."""
        prefix = step if isinstance(step, str) else f"[{step[0]!r}]"
        return EncodeError(prefix + self.path, self.reason)


class DecodeError(ValueError):
    """Stored text is not something this codec wrote."""


# What the Flet client answers after 10 s when a call reaches a service it no longer binds
# (after a reconnect, flet-dev/flet#6412): a timeout whose cure is a fresh service.
_STALE_SERVICE = "Timeout waiting for invoke method listener"


def map_error(exc: BaseException, what: str, timeout: float | None) -> StorageError:
    """The one place where whatever a backend raises becomes one of our errors.

    `what` names the call and namespace, e.g. `"get('theme') in namespace 'app'"`.
    """
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or _STALE_SERVICE in str(exc):
        waited = "in time" if timeout is None else f"within {timeout} s"
        return StorageTimeoutError(
            f"{what} got no answer {waited}: is the Flet client still connected?"
        )
    if isinstance(exc, RuntimeError):  # what the Flet client reports, e.g. the quota
        error: StorageError = (StorageFullError if "quota" in str(exc).lower() else BackendError)(
            f"{what} failed: {exc}"
        )
        error.__cause__ = exc
        return error
    # Foreign text might hold a value: name the type only, and chain nothing a traceback
    # would print.
    return BackendError(f"{what} failed: {type(exc).__name__}")

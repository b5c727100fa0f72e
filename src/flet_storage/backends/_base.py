"""What a backend is: exactly the method set of `ft.SharedPreferences`, plus optional hooks.

A backend is a dumb key-value store of already-encoded values. Namespacing, encoding, validation and
timeouts belong to [FletStorage][flet_storage.FletStorage], so a real `ft.SharedPreferences`
instance (or any object with its six methods, `__slots__` or not) is a valid backend. A backend that
needs more subclasses [BaseBackend][flet_storage.backends.BaseBackend] and overrides its hooks;
FletStorage calls them only on subclasses, so no hook is found by its name.
"""

from __future__ import annotations

from typing import Protocol, TypeAlias, runtime_checkable

__all__ = ["Backend", "BaseBackend", "RawValue"]

RawValue: TypeAlias = str | int | float | bool | list[str]
"""What SharedPreferences can hold: `str`, `int`, `float`, `bool` or `list[str]`."""


@runtime_checkable
class Backend(Protocol):
    """An async key-value store with the semantics of `ft.SharedPreferences`.

    A backend is a dumb store of already-encoded values: namespacing, encoding, validation
    and timeouts belong to [FletStorage][flet_storage.FletStorage]. Anything with these six
    methods is a backend (a structural protocol, checked with `isinstance`), a real
    `ft.SharedPreferences` included. Keys passed to it are full storage keys
    (`"{app_name}.{key}"`). [flet_storage.testing.BackendContract][] checks the semantics.
    """

    async def set(self, key: str, value: RawValue) -> bool:
        """Store `value` under `key`.

        Returns:
            `True`.

        Raises:
            ValueError: `value` is not a [RawValue][flet_storage.backends.RawValue], with
                the message of `ft.SharedPreferences.set`
                (`"Unsupported value type: ..."`).
        """

    async def get(self, key: str) -> RawValue | None:
        """The value stored under `key`, or `None` if there is none."""

    async def contains_key(self, key: str) -> bool:
        """Whether a value is stored under `key`."""

    async def remove(self, key: str) -> bool:
        """Remove `key`; return `True`, whether or not it was stored (as the real client
        does)."""

    async def get_keys(self, key_prefix: str) -> list[str]:
        """Every stored key that starts with `key_prefix` (`""`: every key)."""

    async def clear(self) -> bool:
        """Remove every key of the store, every app's; return `True`. FletStorage never
        calls it."""


class BaseBackend:
    """A base class for backends with optional hooks; each default does nothing special.

    Subclasses implement the six [Backend][flet_storage.Backend] methods and override the
    hooks they need. FletStorage calls the hooks only on subclasses of BaseBackend.
    """

    def scope(self) -> object:
        """What one store is.

        The FletStorage objects of one namespace and scope share a read cache, listeners
        and key locks, so they must all see the same data.

        Returns:
            The scope: any object, compared by identity. Default: the backend object
            itself ([SharedPreferencesBackend][flet_storage.SharedPreferencesBackend]: the
            current Flet page, since each page has its own client).
        """
        return self

    def generation(self) -> object:
        """Changes when the store must be re-read; a read cache of another generation is
        dropped.

        Returns:
            The generation: any object, compared by identity. Default: `None`, never
            changing ([SharedPreferencesBackend][flet_storage.SharedPreferencesBackend]: the
            page's connection, new after a reload).
        """
        return None

    def on_timeout(self) -> None:
        """Called when a call got no answer within FletStorage's `timeout`, e.g. to
        register a fresh client service. Default: nothing."""


def check_raw(value: object) -> RawValue:
    """`value` if SharedPreferences can hold it (a list is copied); otherwise the
    `ValueError` that `ft.SharedPreferences.set` raises, message included."""
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ValueError(
        f"Unsupported value type: {type(value)}. "
        "Supported types are: str, int, float, bool, list[str]."
    )

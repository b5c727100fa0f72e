"""What a backend is: exactly the method set of ``ft.SharedPreferences``, plus optional hooks.

A backend is a dumb key-value store of already-encoded values. Namespacing, encoding,
validation and timeouts belong to :class:`~flet_storage.FletStorage`, so a real
``ft.SharedPreferences`` instance (or any object with its six methods, ``__slots__`` or not)
is a valid backend. A backend that needs more subclasses :class:`BaseBackend` and overrides
its hooks; FletStorage calls them only on subclasses, so no hook is found by its name.
"""

from __future__ import annotations

from typing import Protocol, TypeAlias, runtime_checkable

__all__ = ["Backend", "BaseBackend", "RawValue"]

RawValue: TypeAlias = str | int | float | bool | list[str]
"""What SharedPreferences can hold: ``str``, ``int``, ``float``, ``bool`` or ``list[str]``."""


@runtime_checkable
class Backend(Protocol):
    """An async key-value store with the semantics of ``ft.SharedPreferences``."""

    async def set(self, key: str, value: RawValue) -> bool: ...

    async def get(self, key: str) -> RawValue | None: ...

    async def contains_key(self, key: str) -> bool: ...

    async def remove(self, key: str) -> bool: ...

    async def get_keys(self, key_prefix: str) -> list[str]: ...

    async def clear(self) -> bool: ...


class BaseBackend:
    """A base class for backends with optional hooks; each default does nothing special.

    Subclasses implement the six :class:`Backend` methods and override what they need.
    """

    def scope(self) -> object:
        """What one store is. The FletStorage objects of one namespace and scope share a read
        cache, listeners and key locks. Default: the backend object itself (the default
        backend: the current Flet page, since each page has its own client)."""
        return self

    def generation(self) -> object:
        """Changes when the store must be re-read (the default backend: the page's
        connection, new after a reload); a read cache of another generation is dropped.
        Default: ``None``, never."""
        return None

    def on_timeout(self) -> None:
        """Called when a call got no answer in time, e.g. to register a fresh client
        service. Default: nothing."""


def check_raw(value: object) -> RawValue:
    """``value`` if SharedPreferences can hold it (a list is copied); otherwise the
    ``ValueError`` that ``ft.SharedPreferences.set`` raises, message included."""
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ValueError(
        f"Unsupported value type: {type(value)}. "
        "Supported types are: str, int, float, bool, list[str]."
    )

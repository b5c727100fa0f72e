"""The backend protocol: exactly the method set of ``ft.SharedPreferences``.

A backend is a dumb key-value store of already-encoded values. Namespacing, encoding,
validation and timeouts belong to :class:`~flet_storage.FletStorage`, so a real
``ft.SharedPreferences`` instance is itself a valid backend.

A backend may also have these optional methods, which FletStorage calls when present:

* ``scope() -> object``: what one storage is (the default backend: the current page); the
  FletStorage objects of one namespace and scope share a read cache, listeners and locks.
  Without it, the scope is the backend object itself.
* ``generation() -> object | None``: changes when the store must be re-read (the default
  backend: the page's connection, new after a reload); a read cache of an older
  generation is dropped.
* ``on_timeout() -> None``: a call got no answer; e.g. register a fresh client service.
"""

from __future__ import annotations

from typing import Protocol, TypeAlias, runtime_checkable

__all__ = ["Backend", "RawValue"]

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

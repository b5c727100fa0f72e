"""The backend protocol: exactly the method set of ``ft.SharedPreferences``.

A backend is a dumb key-value store of already-encoded values. Namespacing, encoding,
validation and timeouts belong to :class:`~flet_storage.FletStorage`, so a real
``ft.SharedPreferences`` instance is itself a valid backend.
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

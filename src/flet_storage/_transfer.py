"""Export, import and migrations: documents and schema steps, built on the record layer.
[FletStorage][flet_storage.FletStorage]'s `export`, `import_` and `migrate` call these."""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._errors import CorruptDataError, MigrationError
from ._record import Item, Records
from ._store import raise_first

if TYPE_CHECKING:
    from ._storage import FletStorage

__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "MigrationStep", "export", "import_", "migrate"]

EXPORT_FORMAT = "flet-storage-export"
EXPORT_VERSION = 1

MigrationStep = Callable[["FletStorage"], "Awaitable[None] | None"]


async def export(storage: FletStorage, records: Records, decrypted: bool) -> dict[str, Any]:
    if records.encryption is not None and decrypted is not True:
        raise ValueError(
            f"namespace {storage.app_name!r} is encrypted: export(decrypted=True) writes "
            "its values in plaintext into the document; pass it to confirm"
        )
    keys = await records.keys()
    entries = await records.read(keys)
    items: dict[str, dict[str, Any]] = {}
    for key, entry in zip(keys, entries, strict=True):
        if entry is None:  # removed or expired since listed
            continue
        raw, expires_at = entry
        text = raw if isinstance(raw, str) else json.dumps(raw)
        records.decode(key, text)  # a value that cannot be read back is not exported
        items[key] = {"value": text, "expires_at": expires_at}
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "app_name": storage.app_name,
        "exported_at": storage.clock(),
        "items": dict(sorted(items.items())),
    }


async def import_(
    storage: FletStorage, records: Records, document: Mapping[str, Any], replace: bool
) -> int:
    items = _items(records, document, storage.clock())
    if replace:
        # The document's items first, then what it does not hold: a write that fails
        # leaves the old data in place.
        listed = set(await records.keys())
        listed.difference_update(key for key, _, _ in items)
    raise_first(await records.write(items))
    if replace and listed:
        _, error = await records.remove(sorted(listed))
        if error is not None:
            raise error
    return len(items)


def _items(records: Records, document: Mapping[str, Any], now: float) -> list[Item]:
    """The live items of a valid export document: everything is checked before anything
    is written."""

    def bad(why: str) -> ValueError:
        return ValueError(f"not a flet-storage export document: {why}")

    if not isinstance(document, Mapping):
        raise bad(f"a {type(document).__name__}, not a dict")
    if document.get("format") != EXPORT_FORMAT:
        raise bad(f"format is {document.get('format')!r}, not {EXPORT_FORMAT!r}")
    version = document.get("version")
    if version != EXPORT_VERSION or isinstance(version, bool):
        raise bad(f"version {version!r} is not supported (only {EXPORT_VERSION})")
    raw_items = document.get("items")
    if not isinstance(raw_items, Mapping):
        raise bad("'items' is not an object")
    items: list[Item] = []
    for key, item in raw_items.items():
        if not isinstance(key, str) or not key:
            raise bad(f"key {key!r} is not a non-empty string")
        if not isinstance(item, Mapping) or not isinstance(item.get("value"), str):
            raise bad(f"item {key!r} has no 'value' string")
        text: str = item["value"]
        if not (_storable(key) and _storable(text)):
            raise bad(f"item {key!r} holds a lone surrogate, which no client can store")
        try:
            expires_at = _expiry(item.get("expires_at"))
        except ValueError:
            raise bad(f"item {key!r} has an 'expires_at' that is not Unix seconds") from None
        try:
            records.decode(key, text)
        except CorruptDataError as exc:
            raise bad(f"the value of {key!r} cannot be decoded: {exc}") from None
        if expires_at is None or expires_at > now:
            items.append((key, text, expires_at))
    return items


def _expiry(value: object) -> float | None:
    """`value` as an expiry (None: never); ValueError if it is not Unix seconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(value)
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        raise ValueError(value) from None
    if not math.isfinite(seconds):
        raise ValueError(value)
    return seconds


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def migrate(
    storage: FletStorage,
    records: Records,
    steps: Mapping[int, MigrationStep],
    version_key: str,
) -> int:
    app_name = storage.app_name
    # Two tasks migrating at once must not run a step twice.
    async with records.locked([version_key]):
        version = await storage.get_or_default(version_key, 1)
        if isinstance(version, bool) or not isinstance(version, int):
            raise MigrationError(
                f"{version_key!r} of namespace {app_name!r} holds a "
                f"{type(version).__name__}, not a version number",
                version=0,
            )
        for target in sorted(steps):
            if target <= version:
                continue
            try:
                result = steps[target](storage)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                raise MigrationError(
                    f"migrating namespace {app_name!r} to version {target} failed; "
                    f"it stays at version {version}",
                    version=version,
                ) from exc
            await storage.set(version_key, target)
            version = target
        return version

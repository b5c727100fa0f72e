"""FletStorage.export and import_: a versioned, JSON-serializable copy of a namespace."""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from conftest import FakeClock

from flet_storage import CorruptDataError, Encryption, FletStorage, MemoryBackend

VALUES: dict[str, Any] = {
    "str": "héllo ✓",
    "int": 2**70,
    "float": 2.0,
    "bool": True,
    "none": None,
    "list": [1, "a", [2.5]],
    "tuple": (1, (2, "x")),
    "set": {1, 2, 3},
    "frozenset": frozenset({"a"}),
    "dict": {"a": {"b": [1]}, 1: "int key"},
    "bytes": b"\x00\xff",
    "datetime": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
    "naive": datetime(2026, 1, 2, 3, 4),  # noqa: DTZ001
    "date": date(2026, 1, 2),
    "time": time(3, 4, 5),
    "timedelta": timedelta(days=1, microseconds=3),
    "decimal": Decimal("1.10"),
    "uuid": UUID(int=7),
    "complex": 1 + 2j,
    "ordered": OrderedDict(a=1),
}


def _storage(backend: MemoryBackend, clock: FakeClock, **kwargs: Any) -> FletStorage:
    return FletStorage("app", backend=backend, clock=clock, **kwargs)


async def test_round_trip_keeps_every_type(backend: MemoryBackend, clock: FakeClock) -> None:
    source = _storage(backend, clock)
    supported = {}
    for key, value in VALUES.items():
        try:
            source._codec.encode(value)
        except Exception:
            continue
        supported[key] = value
    assert {"set", "tuple", "datetime", "bytes", "dict"} <= supported.keys()
    await source.set_many(supported)
    document = json.loads(json.dumps(await source.export()))  # JSON-serializable
    assert document["format"] == "flet-storage-export"
    assert document["version"] == 1
    assert document["app_name"] == "app"
    assert document["exported_at"] == clock.now
    assert set(document["items"]) == set(supported)

    target_backend = MemoryBackend()
    target = FletStorage("other", backend=target_backend, clock=clock)
    assert await target.import_(document) == len(supported)
    got = await target.get_many(supported)
    for key, value in supported.items():
        assert got[key] == value, key
        assert type(got[key]) is type(value), key
    # the stored text is the codec's, exactly as the source stored it
    for key in supported:
        assert target_backend.data[f"other.{key}"] == backend.data[f"app.{key}"]


async def test_expiry_is_kept_and_expired_items_skipped(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    source = _storage(backend, clock)
    await source.set("short", 1, ttl=10)
    await source.set("long", 2, ttl=100)
    await source.set("forever", 3)
    document = await source.export()
    assert document["items"]["short"]["expires_at"] == clock.now + 10
    assert document["items"]["forever"]["expires_at"] is None

    clock.advance(50)  # "short" has expired since the export
    target = FletStorage("t", backend=MemoryBackend(), clock=clock)
    assert await target.import_(document) == 2
    assert sorted(await target.get_keys()) == ["forever", "long"]
    clock.advance(50)
    assert await target.get_keys() == ["forever"]


async def test_export_leaves_out_expired_keys(backend: MemoryBackend, clock: FakeClock) -> None:
    source = _storage(backend, clock)
    await source.set("gone", 1, ttl=1)
    await source.set("here", 2)
    clock.advance(2)
    assert list((await source.export())["items"]) == ["here"]


async def test_plain_shared_preferences_values_are_exported(clock: FakeClock) -> None:
    backend = MemoryBackend({"app.n": 3, "app.l": ["a"], "app.f": 2.0})
    document = await _storage(backend, clock).export()
    target = FletStorage("t", backend=MemoryBackend(), clock=clock)
    await target.import_(document)
    assert await target.get_many(["n", "l", "f"]) == {"n": 3, "l": ["a"], "f": 2.0}
    assert type(await target.get("f")) is float


def _valid() -> dict[str, Any]:
    return {
        "format": "flet-storage-export",
        "version": 1,
        "app_name": "app",
        "exported_at": 0,
        "items": {"a": {"value": "1", "expires_at": None}},
    }


def _broken(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(_valid())
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    "document",
    [
        [],
        _broken(("format",), "other"),
        _broken(("version",), 2),
        _broken(("version",), True),
        _broken(("items",), []),
        _broken(("items", ""), {"value": "1", "expires_at": None}),
        _broken(("items", "b"), "1"),
        _broken(("items", "b"), {"value": 1, "expires_at": None}),
        _broken(("items", "b"), {"value": "{not json", "expires_at": None}),
        _broken(("items", "b"), {"value": "1", "expires_at": "soon"}),
        _broken(("items", "b"), {"value": "1", "expires_at": True}),
        _broken(("items", "b"), {"value": "1", "expires_at": float("inf")}),
    ],
)
async def test_invalid_documents_write_nothing(
    document: Any, backend: MemoryBackend, clock: FakeClock
) -> None:
    storage = _storage(backend, clock)
    await storage.set("keep", "me")
    before = dict(backend.data)
    with pytest.raises(ValueError, match="not a flet-storage export document"):
        await storage.import_(document, replace=True)
    assert backend.data == before
    assert backend.calls["set"] == 1


async def test_replace_clears_the_namespace_first(clock: FakeClock) -> None:
    backend = MemoryBackend({"other.x": "1"})
    storage = _storage(backend, clock)
    await storage.set_many({"old": 1, "a": 0})
    await storage.import_(_valid(), replace=True)
    assert await storage.get_many(["old", "a"]) == {"a": 1}
    assert backend.data["other.x"] == "1"  # other namespaces stay


async def test_import_merges_without_replace(backend: MemoryBackend, clock: FakeClock) -> None:
    storage = _storage(backend, clock)
    await storage.set_many({"old": 1, "a": 0})
    await storage.import_(_valid())
    assert await storage.get_many(["old", "a"]) == {"old": 1, "a": 1}


async def test_encrypted_export_needs_decrypted(backend: MemoryBackend, clock: FakeClock) -> None:
    pytest.importorskip("cryptography")
    key = Encryption.generate_key()
    storage = _storage(backend, clock, encryption=Encryption(key))
    secret = {"card": "4111", "since": datetime(2026, 1, 2, tzinfo=timezone.utc)}
    await storage.set("secret", secret, ttl=60)
    with pytest.raises(ValueError, match=r"decrypted=True"):
        await storage.export()
    document = await storage.export(decrypted=True)
    assert "4111" in document["items"]["secret"]["value"]  # plaintext codec text

    other = MemoryBackend()
    encrypted = FletStorage("t", backend=other, clock=clock, encryption=Encryption(key))
    await encrypted.import_(document)
    assert await encrypted.get("secret") == secret
    assert "4111" not in str(other.data)  # encrypted again on the way in
    plain = FletStorage("p", backend=MemoryBackend(), clock=clock)
    await plain.import_(document)
    assert await plain.get("secret") == secret


async def test_undecodable_stored_value_fails_the_export(clock: FakeClock) -> None:
    storage = _storage(MemoryBackend({"app.bad": "fs2:{nope"}), clock)
    with pytest.raises(CorruptDataError):
        await storage.export()

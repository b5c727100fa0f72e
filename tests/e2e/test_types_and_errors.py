"""Requirements 1 and 2: every method, error and value type through the real localStorage,
and across a browser restart, with the default backend."""

from __future__ import annotations

import json
from typing import Any

import flet as ft
import pytest

from flet_storage import (
    CorruptDataError,
    FletStorage,
    KeyNotFoundError,
    StorageError,
    UnsupportedValueError,
)
from flet_storage._codec import PREFIX

from .harness import FletServer, Profile
from .values import EVERY_TYPE, assert_clear_empties, assert_same


def _raw_key(app_name: str, key: str) -> str:
    return f"flutter.{app_name}.{key}"


async def test_every_type_and_method_round_trips_and_persists_across_a_restart(
    profile: Profile, server: FletServer, app_name: str
) -> None:
    client = await profile.open(server)
    keys = sorted(EVERY_TYPE)
    many = {f"m_{key}": value for key, value in EVERY_TYPE.items()}

    async def write_and_read(page: ft.Page) -> dict[str, Any]:
        storage = FletStorage(app_name)
        out: dict[str, Any] = {}
        out["set"] = [await storage.set(key, value) for key, value in EVERY_TYPE.items()]
        out["set_all"] = await storage.set("all", EVERY_TYPE)
        out["get"] = {key: await storage.get(key) for key in EVERY_TYPE}
        out["get_all"] = await storage.get("all")
        out["get_or_default"] = {key: await storage.get_or_default(key, "x") for key in keys}
        out["default"] = await storage.get_or_default("missing", ("fallback", {1}))
        out["default_none"] = await storage.get_or_default("missing")
        out["contains"] = [await storage.contains_key(key) for key in keys]
        out["contains_missing"] = await storage.contains_key("missing")
        await storage.set_many(many)
        out["get_many"] = await storage.get_many([*many, "missing"])
        out["keys"] = sorted(await storage.get_keys())
        out["remove_many"] = await storage.remove_many([*list(many)[:3], "missing"])
        out["remove_many_rest"] = await storage.remove_many(list(many)[3:])
        out["remove"] = await storage.remove("all")
        out["remove_missing"] = await storage.remove("all")
        out["purge_expired"] = await storage.purge_expired()
        await storage.refresh()  # reloads the tab's mirror (sync): must not fail
        out["keys_after"] = sorted(await storage.get_keys())

        # errors, each also the built-in exception 1.1.x code catches
        with pytest.raises(KeyNotFoundError) as missing:
            await storage.get("missing")
        out["missing_is_key_error"] = isinstance(missing.value, KeyError)
        await ft.SharedPreferences().set(f"{app_name}.corrupt", "not json {")
        await storage.refresh()  # a write outside flet-storage: the mirror reloads (sync)
        with pytest.raises(CorruptDataError) as corrupt:
            await storage.get("corrupt")
        out["corrupt_is_value_error"] = isinstance(corrupt.value, ValueError)
        with pytest.raises(CorruptDataError):
            await storage.get_or_default("corrupt", "default")
        with pytest.raises(CorruptDataError):
            await storage.get_many(["corrupt"])
        out["corrupt_contained"] = await storage.contains_key("corrupt")
        out["corrupt_removed"] = await storage.remove("corrupt")
        with pytest.raises(UnsupportedValueError) as unsupported:
            await storage.set("dict", {"a": object()})
        out["unsupported_is_type_error"] = isinstance(unsupported.value, TypeError)
        with pytest.raises(UnsupportedValueError):
            await storage.set_many({"int": 7, "set": {object()}})  # nothing is written
        with pytest.raises(UnsupportedValueError):
            await storage.set("list", [1, ft.Text("a control")])
        out["intact"] = {key: await storage.get(key) for key in ("dict", "int", "set", "list")}
        out["errors_are_storage_errors"] = all(
            isinstance(e.value, StorageError) for e in (missing, corrupt, unsupported)
        )
        return out

    out = await client.run(write_and_read, timeout=60)
    assert out["set"] == [True] * len(EVERY_TYPE)
    assert out["set_all"] is True
    assert_same(out["get"], EVERY_TYPE)
    assert_same(out["get_all"], EVERY_TYPE)
    assert_same(out["get_or_default"], {key: EVERY_TYPE[key] for key in keys})
    assert_same(out["default"], ("fallback", {1}))
    assert out["default_none"] is None
    assert out["contains"] == [True] * len(keys)
    assert out["contains_missing"] is False
    assert_same(out["get_many"], many)
    assert out["keys"] == sorted([*keys, "all", *many])
    assert (out["remove_many"], out["remove_many_rest"]) == (3, len(many) - 3)
    assert (out["remove"], out["remove_missing"]) == (True, False)
    assert out["purge_expired"] == 0
    assert out["keys_after"] == keys
    assert out["missing_is_key_error"] is True
    assert out["corrupt_is_value_error"] is True
    assert (out["corrupt_contained"], out["corrupt_removed"]) == (True, True)
    assert out["unsupported_is_type_error"] is True
    assert_same(out["intact"], {key: EVERY_TYPE[key] for key in ("dict", "int", "set", "list")})
    assert out["errors_are_storage_errors"] is True

    # the raw localStorage: one "flutter.{app}.{key}" entry per key, a JSON string of the text
    raw = {k: v for k, v in (await client.local_storage()).items() if app_name in k}
    assert sorted(raw) == sorted(_raw_key(app_name, key) for key in keys)
    assert json.loads(raw[_raw_key(app_name, "str_set")]).startswith('{"__type__": "set"')
    assert json.loads(raw[_raw_key(app_name, "bytes")]).startswith(PREFIX)
    assert json.loads(raw[_raw_key(app_name, "dict")]) == json.dumps(EVERY_TYPE["dict"])

    # Requirement 2: a browser restart (graceful close flushes localStorage to the profile)
    port = server.port
    await profile.restart()
    client = await profile.open(server)
    assert server.port == port  # localStorage is per origin: same host and port

    async def read_back(page: ft.Page) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
        storage = FletStorage(app_name)
        got = {key: await storage.get(key) for key in keys}
        return sorted(await storage.get_keys()), got, await storage.get_many(keys)

    stored_keys, got, got_many = await client.run(read_back)
    assert stored_keys == keys
    assert_same(got, EVERY_TYPE)
    assert_same(got_many, EVERY_TYPE)

    await assert_clear_empties(client, app_name)

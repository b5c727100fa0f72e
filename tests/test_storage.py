"""FletStorage on MemoryBackend: every method, every error, namespacing and timeouts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from flet_storage import (
    BackendError,
    CorruptDataError,
    FletStorage,
    KeyNotFoundError,
    MemoryBackend,
    NoPageError,
    StorageError,
    StorageFullError,
    StorageTimeoutError,
    UnsupportedValueError,
)
from flet_storage.backends import RawValue
from flet_storage.testing import Call, ScriptedBackend


async def test_set_get_round_trip_under_namespaced_key(
    storage: FletStorage, backend: MemoryBackend
) -> None:
    settings = {"theme": "dark", "notifications": True, "volume": 0.5, "tabs": [1, None]}
    assert await storage.set("user_settings", settings) is True
    assert await storage.get("user_settings") == settings
    assert json.loads(backend.data["app.user_settings"]) == settings  # type: ignore[arg-type]


async def test_sets_come_back_as_sets(storage: FletStorage) -> None:
    await storage.set("favorite_tags", {"python", "flet", "async"})
    tags = await storage.get("favorite_tags")
    assert tags == {"python", "flet", "async"}
    assert type(tags) is set


async def test_set_replaces_previous_value(storage: FletStorage) -> None:
    await storage.set("k", 1)
    await storage.set("k", "two")
    assert await storage.get("k") == "two"


async def test_get_missing_key_is_key_error_naming_key_and_namespace(
    storage: FletStorage,
) -> None:
    with pytest.raises(KeyNotFoundError) as info:
        await storage.get("user")
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, StorageError)
    assert str(info.value) == "key 'user' not found in namespace 'app'"


async def test_get_or_default(storage: FletStorage) -> None:
    assert await storage.get_or_default("missing") is None
    assert await storage.get_or_default("missing", {"name": "Guest"}) == {"name": "Guest"}
    await storage.set("present", 0)
    assert await storage.get_or_default("present", 5) == 0


async def test_get_or_default_does_not_hide_corrupt_data(
    storage: FletStorage, backend: MemoryBackend
) -> None:
    backend.data["app.settings"] = "{not json"
    with pytest.raises(CorruptDataError):
        await storage.get_or_default("settings", {})


async def test_contains_key(storage: FletStorage) -> None:
    assert await storage.contains_key("k") is False
    await storage.set("k", None)
    assert await storage.contains_key("k") is True
    assert await storage.get("k") is None


async def test_remove_reports_whether_key_existed(storage: FletStorage) -> None:
    await storage.set("k", "v")
    assert await storage.remove("k") is True
    assert await storage.remove("k") is False
    assert await storage.contains_key("k") is False


@pytest.fixture
def neighbours(backend: MemoryBackend) -> dict[str, RawValue]:
    """Keys of other namespaces (and raw keys) that `app` must never see or touch."""
    raw: dict[str, RawValue] = {
        "app2.a": '"x"',
        "app_b.a": '"x"',
        "appa": '"x"',
        "other.app.a": '"x"',
        "plain_key": 7,
    }
    backend.data.update(raw)
    return raw


async def test_get_keys_sees_only_its_namespace(
    storage: FletStorage, neighbours: dict[str, RawValue]
) -> None:
    assert await storage.get_keys() == []
    await storage.set("a", 1)
    await storage.set("b.c", 2)
    assert sorted(await storage.get_keys()) == ["a", "b.c"]


async def test_clear_removes_only_its_namespace(
    storage: FletStorage, backend: MemoryBackend, neighbours: dict[str, RawValue]
) -> None:
    for i in range(10):
        await storage.set(f"k{i}", i)
    await storage.clear()
    assert await storage.get_keys() == []
    assert backend.data == neighbours
    assert backend.calls["clear"] == 0  # SharedPreferences.clear() would wipe every app


async def test_clear_removes_concurrently() -> None:
    removing: set[str] = set()
    most_at_once = 0

    async def probe(call: Call) -> object:
        """Records how many removes are in flight at once."""
        nonlocal most_at_once
        if call.method != "remove":
            return await call.proceed()
        removing.add(call.key)
        most_at_once = max(most_at_once, len(removing))
        try:
            return await call.proceed()
        finally:
            removing.discard(call.key)

    backend = ScriptedBackend(probe)
    storage = FletStorage("app", backend=backend)
    for i in range(10):
        await storage.set(f"k{i}", i)
    await storage.clear()
    assert most_at_once == 10
    assert backend.data == {}


@pytest.mark.parametrize(
    "raw",
    [5, 2.5, True, ["a", "b"]],
    ids=["int", "float", "bool", "list"],
)
async def test_values_written_by_raw_shared_preferences_are_returned_as_is(
    storage: FletStorage, backend: MemoryBackend, raw: RawValue
) -> None:
    backend.data["app.raw"] = raw
    got = await storage.get("raw")
    assert got == raw
    assert type(got) is type(raw)


@pytest.mark.parametrize("text", ["not json", "{", "", "[1, 2"])
async def test_text_that_is_not_stored_data_is_corrupt_data_error(
    storage: FletStorage, backend: MemoryBackend, text: str
) -> None:
    backend.data["app.settings"] = text
    with pytest.raises(CorruptDataError, match="key 'settings' in namespace 'app'") as info:
        await storage.get("settings")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("app_name", "error"),
    [(None, TypeError), (3, TypeError), (b"app", TypeError), ("", ValueError)],
)
def test_app_name_is_validated(app_name: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="app_name"):
        FletStorage(app_name, backend=MemoryBackend())


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_timeout_is_validated(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        FletStorage("app", backend=MemoryBackend(), timeout=timeout)


@pytest.mark.parametrize("method", ["set", "get", "get_or_default", "contains_key", "remove"])
async def test_keys_are_validated_before_any_io(
    storage: FletStorage, backend: MemoryBackend, method: str
) -> None:
    args: tuple[Any, ...] = ("v",) if method == "set" else ()
    with pytest.raises(TypeError, match="key must be a str, not int"):
        await getattr(storage, method)(42, *args)
    assert not backend.calls


async def test_new_writes_refuse_the_empty_key(
    storage: FletStorage, backend: MemoryBackend
) -> None:
    empty = "key must be a non-empty string"
    with pytest.raises(ValueError, match=empty):
        await storage.set("", "v")
    with pytest.raises(ValueError, match=empty):
        await storage.set_many({"": "v"})
    with pytest.raises(ValueError, match=empty):
        await storage.update("", lambda value: value, default=1)
    with pytest.raises(ValueError, match=empty):
        storage.use_storage("")
    assert not backend.calls


async def test_empty_key_written_by_1_1_x_reads_and_removes(
    storage: FletStorage, backend: MemoryBackend
) -> None:
    backend.data["app."] = '"old"'  # flet-storage 1.1.x's set("", "old")
    assert await storage.get_keys() == [""]
    assert await storage.get("") == "old"
    assert await storage.contains_key("") is True
    assert await storage.get_many([""]) == {"": "old"}
    assert await storage.remove("") is True
    assert "app." not in backend.data
    assert await storage.remove("") is False


async def test_unsupported_value_names_key_and_keeps_previous_value(
    storage: FletStorage, backend: MemoryBackend
) -> None:
    await storage.set("settings", {"theme": "dark"})
    with pytest.raises(UnsupportedValueError, match="'settings'") as info:
        await storage.set("settings", {"theme": object()})
    assert isinstance(info.value, TypeError)
    assert await storage.get("settings") == {"theme": "dark"}
    assert backend.calls["set"] == 1


async def _never_answers_get(call: Call) -> object:
    """A client that never answers `get`, like a closed browser tab."""
    if call.method == "get":
        await asyncio.Event().wait()
    return await call.proceed()


async def test_unanswered_call_times_out_and_leaves_no_task() -> None:
    backend = ScriptedBackend(_never_answers_get)
    storage = FletStorage("app", backend=backend, timeout=0.05)
    tasks_before = asyncio.all_tasks()
    with pytest.raises(StorageTimeoutError, match=r"get\('k'\) in namespace 'app'") as info:
        await storage.get("k")
    assert isinstance(info.value, TimeoutError)
    assert asyncio.all_tasks() == tasks_before
    assert backend.calls["on_timeout"] == 1  # the next call gets a fresh client service


def _set_raises(error: Exception) -> ScriptedBackend:
    def handler(call: Call) -> object:
        if call.method == "set":
            raise error
        return call.proceed()

    return ScriptedBackend(handler)


async def test_backend_runtime_error_becomes_backend_error() -> None:
    cause = RuntimeError("PlatformException(boom)")
    storage = FletStorage("app", backend=_set_raises(cause))
    with pytest.raises(BackendError, match=r"set\('k'\) in namespace 'app' failed") as info:
        await storage.set("k", 1)
    assert isinstance(info.value, RuntimeError)
    assert info.value.__cause__ is cause
    assert not isinstance(info.value, StorageFullError)


async def test_quota_exceeded_becomes_storage_full_error() -> None:
    cause = RuntimeError("QuotaExceededError: Failed to execute 'setItem' on 'Storage'")
    storage = FletStorage("app", backend=_set_raises(cause))
    with pytest.raises(StorageFullError, match="'k'"):
        await storage.set("k", "x" * 100)


async def test_backend_refusing_a_write_is_backend_error() -> None:
    refuses = ScriptedBackend(lambda call: False if call.method == "set" else call.proceed())
    storage = FletStorage("app", backend=refuses)
    with pytest.raises(
        BackendError, match=r"set\('k'\) in namespace 'app' failed: the backend did not store it"
    ):
        await storage.set("k", 1)


async def test_default_backend_outside_a_flet_app_says_how_to_fix() -> None:
    storage = FletStorage("app")
    with pytest.raises(NoPageError, match="backend=MemoryBackend") as info:
        await storage.get("k")
    assert isinstance(info.value, RuntimeError)


def test_repr_and_properties(storage: FletStorage, backend: MemoryBackend) -> None:
    assert storage.app_name == "app"
    assert storage.backend is backend
    assert repr(storage).startswith("FletStorage(app_name='app', backend=")


async def test_spec_usage_example(storage: FletStorage) -> None:
    """The usage example users learned from (flet-storage-skill.txt), on MemoryBackend."""
    await storage.set("user_settings", {"theme": "dark", "notifications": True})
    await storage.set("login_attempts", 3)
    await storage.set("favorite_tags", {"python", "flet", "async"})
    tags = await storage.get("favorite_tags")
    settings = await storage.get("user_settings")
    attempts = await storage.get_or_default("login_attempts", 0)
    assert await storage.contains_key("user_settings")
    await storage.remove("login_attempts")
    assert (tags, settings, attempts) == (
        {"python", "flet", "async"},
        {"theme": "dark", "notifications": True},
        3,
    )
    await storage.clear()
    assert await storage.get_keys() == []


@pytest.mark.parametrize("cache", [False, True], ids=["uncached", "cached"])
async def test_storage_full_keeps_the_previous_value_in_session_and_after_reload(
    cache: bool,
) -> None:
    backend = MemoryBackend(quota=300)
    storage = FletStorage("app", backend=backend, cache=cache)
    await storage.set("note", "small")
    with pytest.raises(StorageFullError, match=r"set\('note'\)"):
        await storage.set("note", "x" * 1000)
    assert await storage.get("note") == "small"  # the client's cache no longer lies
    with pytest.raises(StorageFullError):
        await storage.set("new", "x" * 1000)
    assert await storage.contains_key("new") is False
    assert sorted(await storage.get_keys()) == ["note"]
    backend.reload()  # what a reloaded page sees
    assert await FletStorage("app", backend=backend).get_many(["note", "new"]) == {"note": "small"}


async def test_set_many_storage_full_restores_only_what_did_not_fit() -> None:
    backend = MemoryBackend(quota=300)
    storage = FletStorage("app", backend=backend)
    await storage.set("a", 1)
    with pytest.raises(StorageFullError, match="'big'"):
        await storage.set_many({"a": 2, "big": "x" * 1000})
    backend.reload()
    assert await storage.get_many(["a", "big"]) == {"a": 2}


async def test_memory_backend_quota_mimics_the_flutter_web_client() -> None:
    backend = MemoryBackend(quota=50)
    with pytest.raises(RuntimeError, match="QuotaExceededError"):
        await backend.set("k", "x" * 100)
    assert await backend.contains_key("k")  # the session's cache says yes...
    backend.reload()
    assert not await backend.contains_key("k")  # ...storage never had it


def _stale_service(call: Call) -> object:
    """The Flet client's answer to a call on a service it no longer binds (#6412)."""
    if call.method == "get":
        raise RuntimeError(
            "TimeoutException after 0:00:10.000000: Timeout waiting for invoke method "
            "listener for SharedPreferences(10).get"
        )
    return call.proceed()


async def test_stale_client_service_is_a_timeout_and_is_replaced() -> None:
    backend = ScriptedBackend(_stale_service)
    with pytest.raises(StorageTimeoutError):
        await FletStorage("app", backend=backend).get("k")
    assert backend.calls["on_timeout"] == 1

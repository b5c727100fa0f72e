"""The store (`_store.Store`): rounds of calls, explicit outcomes, the one undo path, the
read cache."""

from __future__ import annotations

import pytest

from flet_storage import MemoryBackend, StorageFullError, StorageTimeoutError
from flet_storage._errors import BackendError
from flet_storage._store import Store
from flet_storage.testing import Call, ScriptedBackend

PREFIXES = ("app.", "flet_storage:ttl:app.")


def _store(backend: MemoryBackend | ScriptedBackend, cached: bool = False) -> Store:
    return Store(backend, "app", PREFIXES, timeout=5.0, cached=cached)


async def test_a_write_returns_each_groups_previous_value_and_error() -> None:
    backend = MemoryBackend({"app.a": "1"})
    store = _store(backend)
    outcomes = await store.write([[("app.a", "2")], [("app.b", "3"), ("app.m", 1.0)]])
    assert outcomes == [("1", None), (None, None)]
    assert backend.data == {"app.a": "2", "app.b": "3", "app.m": 1.0}
    assert backend.calls == {"get": 2, "set": 3}  # one read per group, in the same round


async def test_a_write_without_previous_reads_nothing() -> None:
    backend = MemoryBackend({"app.a": "1", "app.b": "2"})
    outcomes = await _store(backend).write([[("app.a", None)], [("app.b", None)]], previous=False)
    assert outcomes == [(None, None), (None, None)]
    assert backend.calls == {"remove": 2}


def _refuse(key: str, error: Exception) -> ScriptedBackend:
    def handler(call: Call) -> object:
        if call.method == "set" and call.key == key and call.value != "1":
            raise error
        return call.proceed()

    return ScriptedBackend(handler, data={"app.a": "1"})


async def test_a_group_that_fails_in_part_gets_its_first_key_back() -> None:
    backend = _refuse("flet_storage:ttl:app.a", RuntimeError("refused"))
    (outcome,) = await _store(backend).write([[("app.a", "2"), ("flet_storage:ttl:app.a", 9.0)]])
    assert outcome[0] == "1"
    assert isinstance(outcome[1], BackendError)
    assert "set mark('a') in namespace 'app'" in str(outcome[1])
    assert backend.data == {"app.a": "1"}  # the value never stays without its mark


async def test_a_write_refused_for_quota_is_put_back_as_the_client_kept_it() -> None:
    backend = _refuse("app.a", RuntimeError("QuotaExceededError: quota exceeded"))
    (outcome,) = await _store(backend).write([[("app.a", "2")]])
    assert isinstance(outcome[1], StorageFullError)
    assert [(c.method, c.key, c.value) for c in backend.log[-1:]] == [("set", "app.a", "1")]


async def test_a_write_that_times_out_is_not_put_back_and_drops_the_cache() -> None:
    backend = _refuse("app.a", TimeoutError())
    store = _store(backend, cached=True)
    assert await store.read(["app.a"]) == ["1"]  # loads the cache
    (outcome,) = await store.write([[("app.a", "2")]])
    assert isinstance(outcome[1], StorageTimeoutError)
    assert store.state().cache is None  # what the client holds is unknown
    assert backend.calls["on_timeout"] == 1


async def test_keys_is_one_listing_call_filtered_to_the_namespace() -> None:
    backend = MemoryBackend({"app.a": "1", "flet_storage:ttl:app.a": 1.0, "other.b": "2"})
    assert sorted(await _store(backend).keys()) == ["app.a", "flet_storage:ttl:app.a"]
    assert backend.calls == {"get_keys": 1}


async def test_a_cached_store_reads_and_lists_without_calls_once_loaded() -> None:
    backend = MemoryBackend({"app.a": "1"})
    store = _store(backend, cached=True)
    assert await store.read(["app.a", "app.b"]) == ["1", None]
    calls = dict(backend.calls)
    assert await store.keys() == ["app.a"]
    await store.write([[("app.b", "2")]])
    assert await store.read(["app.b"]) == ["2"]
    assert backend.calls == {**calls, "set": 1}  # the write only: no read, no listing


@pytest.mark.parametrize("cached", [False, True])
async def test_refresh_reloads_or_drops_the_caches(cached: bool) -> None:
    backend = MemoryBackend({"app.a": "1"})
    reader = _store(backend, cached=True)
    assert await reader.read(["app.a"]) == ["1"]
    backend.data["app.a"] = "2"  # behind the store's back
    await _store(backend, cached=cached).refresh()
    assert await reader.read(["app.a"]) == ["2"]

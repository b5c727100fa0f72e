"""Test helpers for apps and backends built on flet-storage (needs ``pytest``).

The backend contract: what every backend must do to stand in for ``ft.SharedPreferences``.
Run it against your own backend by subclassing :class:`BackendContract`::

    from flet_storage.testing import BackendContract

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def backend(self) -> MyBackend:
            return MyBackend()

Each check is also a plain coroutine function in :data:`CONTRACT` (``await check(backend)``),
so it can run where pytest fixtures cannot reach, e.g. on a live Flet page.

App tests need no helper: ``FletStorage("my_app", backend=MemoryBackend())``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from ._storage import FletStorage
from .backends import Backend, RawValue


async def settle(storage: FletStorage) -> None:
    """Wait until the background clean-ups of ``storage``'s namespace have finished.

    A read that meets an expired key answers "missing" at once and removes the key in the
    background; await this before asserting what the backend holds.
    """
    await storage._records.store.settle()


__all__ = ["CONTRACT", "BackendContract", "settle"]

# Checks use keys under this prefix and never touch others, except check_clear.
_P = "contract."


async def check_get_missing_is_none(backend: Backend) -> None:
    assert await backend.get(_P + "missing") is None
    assert await backend.contains_key(_P + "missing") is False


async def check_round_trips_every_value_type(backend: Backend) -> None:
    values: dict[str, RawValue] = {
        "str": 'héllo wörld ✓ {"json": [1]}',
        "empty": "",
        "int": -42,
        "big_int": 2**52,
        "float": 2.5,
        "true": True,
        "false": False,
        "list": ["a", "", "ü"],
        "empty_list": [],
    }
    for name, value in values.items():
        assert await backend.set(_P + name, value) is True
    for name, value in values.items():
        got = await backend.get(_P + name)
        assert got == value, name
        assert type(got) is type(value), name
        await backend.remove(_P + name)


async def check_set_overwrites(backend: Backend) -> None:
    await backend.set(_P + "k", "first")
    await backend.set(_P + "k", "second")
    assert await backend.get(_P + "k") == "second"
    await backend.remove(_P + "k")


async def check_contains_and_remove(backend: Backend) -> None:
    await backend.set(_P + "k", "v")
    assert await backend.contains_key(_P + "k") is True
    assert await backend.remove(_P + "k") is True
    assert await backend.contains_key(_P + "k") is False
    assert await backend.get(_P + "k") is None
    # The real client answers True for a key that is not there, too.
    assert await backend.remove(_P + "k") is True


async def check_get_keys_is_a_prefix_filter(backend: Backend) -> None:
    keys = [_P + "app.a", _P + "app.b.c", _P + "app2.d", _P + "app_b.e", _P + "other.app.f"]
    for key in keys:
        await backend.set(key, "x")
    assert sorted(await backend.get_keys(_P + "app.")) == [_P + "app.a", _P + "app.b.c"]
    assert sorted(await backend.get_keys(_P + "app")) == sorted(keys[:4])
    assert set(keys) <= set(await backend.get_keys(""))
    for key in keys:
        await backend.remove(key)


async def check_rejects_unsupported_values(backend: Backend) -> None:
    for bad in ({"a": 1}, [1, 2], ("a",), None, b"x"):
        with pytest.raises(ValueError, match="Unsupported value type"):
            await backend.set(_P + "bad", bad)  # type: ignore[arg-type]
    assert await backend.contains_key(_P + "bad") is False


async def check_stored_lists_are_not_aliased(backend: Backend) -> None:
    value = ["a", "b"]
    await backend.set(_P + "list", value)
    value.append("c")
    got = await backend.get(_P + "list")
    assert got == ["a", "b"]
    assert isinstance(got, list)
    got.append("d")
    assert await backend.get(_P + "list") == ["a", "b"]
    await backend.remove(_P + "list")


async def check_concurrent_calls(backend: Backend) -> None:
    keys = [f"{_P}c{i}" for i in range(20)]
    assert all(await asyncio.gather(*(backend.set(key, key) for key in keys)))
    assert await asyncio.gather(*(backend.get(key) for key in keys)) == keys
    await asyncio.gather(*(backend.remove(key) for key in keys))
    assert await backend.get_keys(_P + "c") == []


async def check_clear(backend: Backend) -> None:
    await backend.set(_P + "a", "x")
    await backend.set("elsewhere", 1)
    assert await backend.clear() is True
    assert await backend.get_keys("") == []


CONTRACT: tuple[Callable[[Backend], Awaitable[None]], ...] = (
    check_get_missing_is_none,
    check_round_trips_every_value_type,
    check_set_overwrites,
    check_contains_and_remove,
    check_get_keys_is_a_prefix_filter,
    check_rejects_unsupported_values,
    check_stored_lists_are_not_aliased,
    check_concurrent_calls,
    check_clear,
)
"""Every contract check, in a safe order (``check_clear`` wipes the whole backend last)."""


class BackendContract:
    """Subclass it and define a ``backend`` fixture to run the whole contract."""

    @pytest.fixture
    def backend(self) -> Backend:
        raise NotImplementedError("define a `backend` fixture returning a fresh backend")

    @pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__)
    async def test_contract(
        self, backend: Backend, check: Callable[[Backend], Awaitable[None]]
    ) -> None:
        await check(backend)

"""update/increment (atomic read-modify-write) and migrate (schema versions)."""

from __future__ import annotations

import asyncio

import pytest

from flet_storage import FletStorage, KeyNotFoundError, MigrationError


async def test_update_applies_fn_and_returns_new_value(storage: FletStorage) -> None:
    await storage.set("tags", {"a"})
    assert await storage.update("tags", lambda tags: tags | {"b"}) == {"a", "b"}
    assert await storage.get("tags") == {"a", "b"}


async def test_update_missing_key(storage: FletStorage) -> None:
    with pytest.raises(KeyNotFoundError):
        await storage.update("k", lambda v: v)
    assert await storage.update("k", lambda v: [*v, 1], default=[]) == [1]


async def test_update_accepts_async_fn(storage: FletStorage) -> None:
    async def double(value: int) -> int:
        await asyncio.sleep(0)
        return value * 2

    await storage.set("n", 21)
    assert await storage.update("n", double) == 42


async def test_concurrent_updates_lose_nothing(storage: FletStorage) -> None:
    await asyncio.gather(*(storage.update("log", lambda v: [*v, 1], default=[]) for _ in range(50)))
    assert len(await storage.get("log")) == 50


async def test_concurrent_increments_from_many_instances(storage: FletStorage) -> None:
    backend = storage.backend
    await asyncio.gather(
        *(FletStorage("app", backend=backend).increment("hits") for _ in range(30)),
        *(storage.increment("hits", by=2) for _ in range(10)),
    )
    assert await storage.get("hits") == 50


async def test_increment_floats_and_refuses_non_numbers(storage: FletStorage) -> None:
    assert await storage.increment("x", by=0.5) == 0.5
    await storage.set("flag", True)
    with pytest.raises(TypeError, match=r"cannot increment key 'flag'.*bool"):
        await storage.increment("flag")
    assert await storage.get("flag") is True


async def test_migrate_runs_pending_steps_in_order_once(storage: FletStorage) -> None:
    ran: list[int] = []

    async def to_2(s: FletStorage) -> None:
        ran.append(2)
        old = await s.get_or_default("settings", {})
        await s.set("settings", {"ui": {"theme": old.get("theme", "light")}})

    def to_3(s: FletStorage) -> None:
        ran.append(3)

    await storage.set("settings", {"theme": "dark"})
    assert await storage.migrate({3: to_3, 2: to_2}) == 3
    assert await storage.migrate({3: to_3, 2: to_2}) == 3
    assert ran == [2, 3]
    assert await storage.get("settings") == {"ui": {"theme": "dark"}}
    assert await storage.get("schema_version") == 3


async def test_concurrent_migrations_run_each_step_once(storage: FletStorage) -> None:
    ran: list[int] = []

    async def step(s: FletStorage) -> None:
        ran.append(2)

    await asyncio.gather(storage.migrate({2: step}), storage.migrate({2: step}))
    assert ran == [2]


async def test_failing_step_keeps_last_completed_version(storage: FletStorage) -> None:
    def broken(s: FletStorage) -> None:
        raise ValueError("bad data")

    ran: list[int] = []
    with pytest.raises(MigrationError, match="to version 3 failed; it stays at version 2") as info:
        await storage.migrate({2: lambda s: ran.append(2), 3: broken, 4: lambda s: ran.append(4)})
    assert info.value.version == 2
    assert isinstance(info.value.__cause__, ValueError)
    assert ran == [2]
    assert await storage.get("schema_version") == 2
    assert await storage.migrate({3: lambda s: None, 4: lambda s: ran.append(4)}) == 4
    assert ran == [2, 4]


async def test_migrate_refuses_a_non_numeric_version(storage: FletStorage) -> None:
    await storage.set("schema_version", "2")
    with pytest.raises(MigrationError, match="holds a str"):
        await storage.migrate({2: lambda s: None})

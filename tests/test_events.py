"""Change listeners: who is told what, and that a failing listener never breaks a write."""

from __future__ import annotations

import asyncio
import logging

import pytest

from flet_storage import FletStorage, MemoryBackend, StorageEvent


async def test_namespace_listener_sees_set_remove_and_clear(backend: MemoryBackend) -> None:
    storage = FletStorage("app", backend=backend)
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    await storage.set("a", {1, 2})
    await storage.remove("a")
    await storage.remove("a")  # nothing removed: no event
    await storage.set_many({"b": 1, "c": 2})
    await storage.clear()
    assert events[:2] == [
        StorageEvent("app", "a", "set", {1, 2}),
        StorageEvent("app", "a", "remove"),
    ]
    assert sorted((e.key, e.kind) for e in events[2:]) == [
        ("b", "clear"),
        ("b", "set"),
        ("c", "clear"),
        ("c", "set"),
    ]


async def test_key_listener_sees_only_its_key(backend: MemoryBackend) -> None:
    storage = FletStorage("app", backend=backend)
    events: list[StorageEvent] = []
    storage.subscribe(events.append, key="theme")
    await storage.set("other", 1)
    await storage.set("theme", "dark")
    assert events == [StorageEvent("app", "theme", "set", "dark")]


async def test_listeners_hear_every_storage_of_the_namespace_in_the_scope(
    backend: MemoryBackend,
) -> None:
    events: list[StorageEvent] = []
    FletStorage("app", backend=backend).subscribe(events.append)
    await FletStorage("app", backend=backend).set("k", 1)  # another instance, same namespace
    await FletStorage("app2", backend=backend).set("k", 1)  # another namespace
    await FletStorage("app", backend=MemoryBackend()).set("k", 1)  # another scope (page)
    assert events == [StorageEvent("app", "k", "set", 1)]


async def test_event_value_is_a_copy(backend: MemoryBackend) -> None:
    storage = FletStorage("app", backend=backend)
    seen: list[StorageEvent] = []
    storage.subscribe(seen.append)
    tags = {"a"}
    await storage.set("tags", tags)
    seen[0].value.add("b")
    assert await storage.get("tags") == {"a"}
    assert tags == {"a"}


async def test_async_listener_runs(backend: MemoryBackend) -> None:
    storage = FletStorage("app", backend=backend)
    done = asyncio.Event()

    async def listener(event: StorageEvent) -> None:
        assert event.key == "k"
        done.set()

    storage.subscribe(listener)
    await storage.set("k", 1)
    await asyncio.wait_for(done.wait(), 1)


async def test_cancelled_subscription_is_silent(backend: MemoryBackend) -> None:
    storage = FletStorage("app", backend=backend)
    events: list[StorageEvent] = []
    with storage.subscribe(events.append):
        await storage.set("k", 1)
    subscription = storage.subscribe(events.append)
    subscription.cancel()
    subscription.cancel()  # idempotent
    await storage.set("k", 2)
    assert [e.value for e in events] == [1]


async def test_failing_listeners_never_break_the_write(
    backend: MemoryBackend, caplog: pytest.LogCaptureFixture
) -> None:
    storage = FletStorage("app", backend=backend)

    def sync_boom(event: StorageEvent) -> None:
        raise RuntimeError("sync listener bug")

    ran = asyncio.Event()

    async def async_boom(event: StorageEvent) -> None:
        ran.set()
        raise RuntimeError("async listener bug")

    later: list[StorageEvent] = []
    storage.subscribe(sync_boom)
    storage.subscribe(async_boom)
    storage.subscribe(later.append)
    with caplog.at_level(logging.ERROR, logger="flet_storage"):
        assert await storage.set("secret", "hunter2") is True
        await asyncio.wait_for(ran.wait(), 1)  # it ran, and was logged as it raised
    assert await storage.get("secret") == "hunter2"
    assert len(later) == 1
    assert len(caplog.records) == 2
    assert all("'secret'" in r.getMessage() for r in caplog.records)
    assert "hunter2" not in caplog.text  # values are user data: never logged


def test_subscribe_validates_key(backend: MemoryBackend) -> None:
    with pytest.raises(TypeError, match="key must be a str"):
        FletStorage("app", backend=backend).subscribe(print, key=1)  # type: ignore[arg-type]

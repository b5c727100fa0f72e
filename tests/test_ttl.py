"""TTL: an expired key is missing everywhere, removed lazily, and no test ever sleeps."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from conftest import FakeClock

from flet_storage import FletStorage, KeyInfo, KeyNotFoundError, MemoryBackend, StorageEvent
from flet_storage.testing import Call, ScriptedBackend, settle


@pytest.fixture(params=[False, True], ids=["uncached", "cached"])
def storage(
    request: pytest.FixtureRequest, backend: MemoryBackend, clock: FakeClock
) -> FletStorage:
    return FletStorage("app", backend=backend, clock=clock, cache=request.param)


async def test_value_lives_until_its_ttl(storage: FletStorage, clock: FakeClock) -> None:
    await storage.set("token", {"jwt": "abc"}, ttl=60)
    clock.advance(59.9)
    assert await storage.get("token") == {"jwt": "abc"}
    clock.advance(0.1)
    with pytest.raises(KeyNotFoundError):
        await storage.get("token")


async def test_expired_key_is_missing_everywhere(
    storage: FletStorage, backend: MemoryBackend, clock: FakeClock
) -> None:
    await storage.set("keep", 1)
    await storage.set_many({"a": 1, "b": 2}, ttl=timedelta(minutes=1))
    clock.advance(61)
    assert await storage.get_or_default("a", "default") == "default"
    assert await storage.contains_key("b") is False
    assert await storage.get_keys() == ["keep"]
    assert await storage.get_many(["a", "b", "keep"]) == {"keep": 1}
    await settle(storage)
    assert sorted(backend.data) == ["app.keep"]  # removed in the background, on sight


async def test_expiry_fires_an_event(storage: FletStorage, clock: FakeClock) -> None:
    events: list[StorageEvent] = []
    storage.subscribe(events.append, key="a")
    await storage.set("a", 1, ttl=1)
    clock.advance(2)
    assert await storage.get_or_default("a") is None
    await settle(storage)
    assert [e.kind for e in events] == ["set", "expire"]


async def test_purge_expired(
    storage: FletStorage, backend: MemoryBackend, clock: FakeClock
) -> None:
    await storage.set("a", 1, ttl=10)
    await storage.set("b", 2, ttl=100)
    await storage.set("c", 3)
    clock.advance(50)
    assert await storage.purge_expired() == 1
    assert sorted(backend.data) == ["app.b", "app.c", "flet_storage:ttl:app.b"]
    assert await storage.purge_expired() == 0


async def test_expiry_survives_a_restart(backend: MemoryBackend, clock: FakeClock) -> None:
    await FletStorage("app", backend=backend, clock=clock).set("a", "v", ttl=10)
    reopened = FletStorage("app", backend=backend, clock=clock)  # a new session, same data
    assert await reopened.get("a") == "v"
    clock.advance(10)
    assert await reopened.contains_key("a") is False


async def test_value_without_ttl_is_stored_exactly_as_before(
    storage: FletStorage, backend: MemoryBackend
) -> None:
    await storage.set("plain", {"theme": "dark"})
    assert backend.data["app.plain"] == '{"theme": "dark"}'  # what flet-storage 1.1.x writes
    await storage.set("plain", {"theme": "dark"}, ttl=5)
    await storage.set("plain", {"theme": "dark"})  # a later set without ttl drops the expiry
    assert backend.data["app.plain"] == '{"theme": "dark"}'


async def test_update_and_increment_keep_the_ttl(storage: FletStorage, clock: FakeClock) -> None:
    await storage.set("hits", 1, ttl=10)
    assert await storage.increment("hits") == 2
    clock.advance(10)
    assert await storage.get_or_default("hits") is None


@pytest.mark.parametrize(
    ("ttl", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (timedelta(0), ValueError),
        ("5", TypeError),
        (True, TypeError),
    ],
)
async def test_ttl_is_validated_before_any_write(
    storage: FletStorage, backend: MemoryBackend, ttl: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match="ttl"):
        await storage.set("k", 1, ttl=ttl)  # type: ignore[call-overload]
    assert backend.data == {}


@pytest.mark.parametrize("raw", ["fst:soon:1", "fst:nan:1", "fst:123"])
async def test_malformed_expiry_is_corrupt_data_that_can_still_be_removed(
    storage: FletStorage, backend: MemoryBackend, raw: str
) -> None:
    backend.data["app.k"] = raw
    with pytest.raises(ValueError, match="'k'"):
        await storage.get("k")
    assert await storage.contains_key("k") is True
    assert await storage.get_keys() == ["k"]
    assert await storage.remove("k") is True  # the spec's recovery: catch ValueError, remove
    assert backend.data == {}


@pytest.mark.parametrize("ttl", [float("inf"), 10**400, float("nan")])
async def test_ttl_must_be_finite(storage: FletStorage, ttl: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        await storage.set("k", 1, ttl=ttl)


async def test_expiry_never_removes_a_value_written_meanwhile(clock: FakeClock) -> None:
    read, written = asyncio.Event(), asyncio.Event()

    async def slow_read(call: Call) -> object:
        result = await call.proceed()
        if call.method == "get" and not read.is_set():
            read.set()
            await written.wait()  # the read's answer arrives after the set below
        if call.method == "set":
            written.set()
        return result

    backend = ScriptedBackend()
    storage = FletStorage("app", backend=backend, clock=clock)
    await storage.set("k", "old", ttl=1)
    clock.advance(2)
    backend.handler = slow_read

    async def set_after_the_read() -> bool:
        await read.wait()
        return await storage.set("k", "new")

    # The read sees the expired value; a set lands before the read's removal.
    got, stored = await asyncio.gather(storage.get_or_default("k"), set_after_the_read())
    assert (got, stored) == (None, True)
    assert await storage.get("k") == "new"


async def test_several_reads_meeting_expired_keys_remove_them_all(clock: FakeClock) -> None:
    backend = MemoryBackend(latency=0.001)
    storage = FletStorage("app", backend=backend, clock=clock)
    await storage.set_many({"a": 1, "b": 2, "c": 3}, ttl=1)
    clock.now += 2
    # Each read's clean-up runs while the next read is under way: one clean-up landing
    # must not make the others give up (they touch other keys).
    assert await storage.get_or_default("a") is None
    assert await storage.contains_key("b") is False
    assert await storage.get_many(["c"]) == {}
    await settle(storage)
    assert backend.data == {}


async def test_key_info_gives_each_live_keys_stored_size_and_expiry() -> None:
    now = [1000.0]
    backend = MemoryBackend()
    storage = FletStorage("app", backend=backend, clock=lambda: now[0])
    await storage.set("plain", "x")
    await storage.set("short", 1, ttl=10)
    await storage.set("gone", 2, ttl=1)
    now[0] += 5
    info = await storage.key_info()
    assert info == {
        "plain": KeyInfo(len(await backend.get("app.plain")), None),  # type: ignore[arg-type]
        "short": KeyInfo(len(await backend.get("app.short")), 1010.0),  # type: ignore[arg-type]
    }
    await storage.settle()  # the expired key's removal, started by the read, has finished
    assert await backend.get("app.gone") is None

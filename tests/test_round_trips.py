"""The engine's promises: round trips per operation, timeouts that bound silence, and any
object with the method set of ft.SharedPreferences as a backend."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from flet_storage import FletStorage, MemoryBackend, StorageTimeoutError
from flet_storage.backends import RawValue
from flet_storage.testing import Call, ScriptedBackend


class Rounds(ScriptedBackend):
    """Counts rounds: times the calls in flight go from none to some (calls sent
    together, pipelined, are one round trip). Each call takes ``latency`` seconds."""

    def __init__(self) -> None:
        super().__init__(self._count, latency=0.001)
        self.rounds = 0
        self._in_flight = 0

    async def _count(self, call: Call) -> object:
        self.rounds += not self._in_flight
        self._in_flight += 1
        try:
            return await call.proceed()
        finally:
            self._in_flight -= 1

    async def count(self, op: Awaitable[object]) -> int:
        before = self.rounds
        await op
        return self.rounds - before


@pytest.fixture
def rounds() -> Rounds:
    return Rounds()


Op = Callable[[FletStorage], Awaitable[object]]

ONE_ROUND: dict[str, Op] = {
    "get": lambda s: s.get("a"),
    "get_or_default of a missing key": lambda s: s.get_or_default("missing"),
    "contains_key": lambda s: s.contains_key("a"),
    "set": lambda s: s.set("a", {"v": 2}),
    "set with ttl": lambda s: s.set("a", 2, ttl=60),
    "remove": lambda s: s.remove("a"),
    "remove of a missing key": lambda s: s.remove("missing"),
    "get_keys": lambda s: s.get_keys(),
    "get_many": lambda s: s.get_many(["a", "b", "missing"]),
    "set_many": lambda s: s.set_many({"a": 1, "b": 2}),
    "remove_many": lambda s: s.remove_many(["a", "b", "missing"]),
}


@pytest.mark.parametrize("op", ONE_ROUND.values(), ids=ONE_ROUND.keys())
async def test_one_round_trip_per_uncached_operation(rounds: Rounds, op: Op) -> None:
    storage = FletStorage("app", backend=rounds)
    await storage.set_many({"a": 1, "b": 2})
    assert await rounds.count(op(storage)) == 1


async def test_remove_reports_existence_read_in_the_same_round(rounds: Rounds) -> None:
    storage = FletStorage("app", backend=rounds)
    await storage.set("a", 1)
    assert await storage.remove("a") is True
    assert await storage.remove("a") is False
    assert "app.a" not in rounds.data


async def test_get_keys_reads_only_values_that_may_have_expired(rounds: Rounds) -> None:
    now = [1000.0]
    storage = FletStorage("app", backend=rounds, clock=lambda: now[0])
    await storage.set_many({f"k{i}": i for i in range(10)})
    await storage.set("t", "short-lived", ttl=5)
    gets = rounds.calls["get"]
    assert await rounds.count(storage.get_keys()) == 2  # list, then read the one marked
    assert rounds.calls["get"] - gets == 1
    now[0] += 10
    assert sorted(await storage.get_keys()) == sorted(f"k{i}" for i in range(10))


async def test_clear_is_two_rounds_and_one_with_the_cache(rounds: Rounds) -> None:
    storage = FletStorage("app", backend=rounds)
    await storage.set_many({"a": 1, "b": 2})
    await storage.set("t", 1, ttl=60)
    assert await rounds.count(storage.clear()) == 2
    assert rounds.data == {}
    cached = FletStorage("app", backend=rounds, cache=True)
    await cached.set_many({"a": 1, "b": 2})
    assert await rounds.count(cached.get("a")) == 2  # the first read loads: list, then read
    assert await rounds.count(cached.clear()) == 1
    assert rounds.data == {}


async def test_cached_reads_make_no_round_trip(rounds: Rounds) -> None:
    storage = FletStorage("app", backend=rounds, cache=True)
    await storage.set("a", 1)  # a write never waits for a load
    assert await rounds.count(storage.get("a")) == 2  # the first read loads the namespace
    for op in (storage.get("a"), storage.get_keys(), storage.contains_key("b")):
        assert await rounds.count(op) == 0
    assert await rounds.count(storage.remove("a")) == 1


async def test_update_reads_then_writes(rounds: Rounds) -> None:
    storage = FletStorage("app", backend=rounds)
    assert await rounds.count(storage.increment("n")) == 2


def one_at_a_time(pace: float, answers: int | None = None) -> ScriptedBackend:
    """A live client answering one call at a time, ``pace`` seconds each; after
    ``answers`` answers (if given) it never answers again."""
    turn = asyncio.Lock()
    left = [answers]

    async def handler(call: Call) -> object:
        async with turn:
            if left[0] is not None:
                if not left[0]:
                    await asyncio.Event().wait()  # gone
                left[0] -= 1
            await asyncio.sleep(pace)
        return await call.proceed()

    return ScriptedBackend(handler)


async def test_a_batch_of_any_size_completes_on_a_live_client() -> None:
    # 20k calls at about 1 ms each take twice the default timeout (10 s) in all.
    backend = one_at_a_time(pace=0.001)
    storage = FletStorage("app", backend=backend)
    keys = [f"k{i}" for i in range(20_000)]
    backend.data.update({f"app.{key}": "1" for key in keys})
    assert len(await storage.get_many(keys)) == 20_000


@pytest.mark.parametrize(
    "op",
    [
        lambda s: s.get_keys(),
        lambda s: s.clear(),
        lambda s: s.set_many({f"k{i}": i for i in range(40)}),
        lambda s: s.remove_many([f"k{i}" for i in range(40)]),
    ],
    ids=["get_keys", "clear", "set_many", "remove_many"],
)
async def test_every_batch_outlasts_its_timeout_while_answers_come(op: Op) -> None:
    # Answers 25 ms apart (silence 20 times shorter than the timeout, so a busy machine
    # cannot fake one), 30 to 100 of them: 1.5 to 5 timeouts of work in one round.
    backend = one_at_a_time(pace=0.025)
    now = [1000.0]
    storage = FletStorage("app", backend=backend, timeout=0.5, clock=lambda: now[0])
    backend.data.update({f"app.k{i}": "1" for i in range(40)})
    backend.data.update({f"app.t{i}": f"fst:2000.0:{i}" for i in range(30)})
    backend.data.update({f"flet_storage:ttl:app.t{i}": 2000.0 for i in range(30)})
    await op(storage)


async def test_a_client_that_stops_answering_mid_batch_times_out() -> None:
    backend = one_at_a_time(pace=0.001, answers=50)
    storage = FletStorage("app", backend=backend, timeout=0.1)
    tasks_before = asyncio.all_tasks()
    with pytest.raises(StorageTimeoutError, match="get"):
        await storage.get_many([f"k{i}" for i in range(200)])
    assert asyncio.all_tasks() == tasks_before  # every call was cancelled and awaited


class SlotsBackend:
    """A backend with __slots__: neither attributes nor weak references can be added."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: dict[str, RawValue] = {}

    async def set(self, key: str, value: RawValue) -> bool:
        self.data[key] = value
        return True

    async def get(self, key: str) -> RawValue | None:
        return self.data.get(key)

    async def contains_key(self, key: str) -> bool:
        return key in self.data

    async def remove(self, key: str) -> bool:
        self.data.pop(key, None)
        return True

    async def get_keys(self, key_prefix: str) -> list[str]:
        return [key for key in self.data if key.startswith(key_prefix)]

    async def clear(self) -> bool:
        self.data.clear()
        return True


async def test_a_backend_with_slots_works_and_shares_state() -> None:
    backend = SlotsBackend()
    one, two = FletStorage("app", backend=backend), FletStorage("app", backend=backend)
    seen: list[str] = []
    one.subscribe(lambda event: seen.append(event.key))
    await two.set("k", {"v": 1})
    assert await one.get("k") == {"v": 1}
    assert seen == ["k"]  # one namespace, one scope: the listeners are shared


async def test_a_scope_that_is_a_str_works() -> None:
    storage = FletStorage("app", backend=ScriptedBackend(scope=lambda: "tenant-1"))
    await storage.set("k", 1)
    assert await storage.get("k") == 1


async def test_1_1_x_keyword_names_are_accepted(rounds: Rounds) -> None:
    storage = FletStorage(app_name="app", backend=rounds)
    assert await storage.set(key="k", obj=1) is True
    assert await storage.get(key="k") == 1
    assert await storage.get_or_default(key="missing", default=2) == 2
    assert await storage.contains_key(key="k") is True
    assert await storage.remove(key="k") is True
    with pytest.raises(TypeError, match="takes the value once"):
        await storage.set("k", 1, obj=2)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="takes the value once"):
        await storage.set("k")  # type: ignore[call-overload]


def test_reserved_app_names_are_refused() -> None:
    with pytest.raises(ValueError, match="reserved"):
        FletStorage("flet_storage:ttl", backend=MemoryBackend())

"""The operations benchmarked, for ours, raw SharedPreferences and flet-storage 1.1.3.

One suite, several environments: ``run.py`` runs it on MemoryBackend with a simulated
per-call latency, and on the real Flutter web client (inside a Flet page, through the e2e
harness), over loopback and through a latency proxy (``proxy.py``).

Ours is driven only through FletStorage's public API, so the suite measures any engine.
Every backend call is counted by a :class:`RoundCounter` wrapped around what carries the
calls (the page session's ``invoke_method`` on the real client, the backend's methods on
MemoryBackend): ``calls`` is how many were made, ``rounds`` how many times the number of
calls in flight rose from 0 to 1 or more, i.e. the round trips one after the other that an
operation waits for (a pipelined batch is one round).

Each contender gets namespaces of its own (no one's writes are another's surprise).
"""

from __future__ import annotations

import asyncio
import functools
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from flet_storage import FletStorage

__all__ = ["BACKEND_METHODS", "N_KEYS", "VALUE", "Env", "Reps", "RoundCounter", "Row", "run_suite"]

P = ParamSpec("P")
T = TypeVar("T")

N_KEYS = 50
VALUE = {"theme": "dark", "font_size": 14, "recent": ["a", "b", "c"], "beta": False}
TEXT = json.dumps(VALUE)  # what ours and 1.1.3 store for VALUE (1.1.x's JSON)
BACKEND_METHODS = ("set", "get", "contains_key", "remove", "get_keys", "clear")

# Namespaces (app names) per contender; none is a prefix of another, since 1.1.3's get_keys
# asks for the app name without its dot.
OURS, OURS_KEYS, OURS_CLEAR = "o-main", "o-keys", "o-clear"
UP, UP_KEYS, UP_CLEAR = "u-main", "u-keys", "u-clear"
RAW, RAW_KEYS, RAW_CLEAR = "r-main.", "r-keys.", "r-clear."


class RoundCounter:
    """Counts backend calls and rounds (0 → ≥1 calls in flight) through wrapped methods."""

    def __init__(self) -> None:
        self.calls = 0
        self.rounds = 0
        self.in_flight = 0

    def wrap(self, method: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(method)
        async def counted(*args: P.args, **kwargs: P.kwargs) -> T:
            self.calls += 1
            if self.in_flight == 0:
                self.rounds += 1
            self.in_flight += 1
            try:
                return await method(*args, **kwargs)
            finally:
                self.in_flight -= 1

        return counted

    def wrap_backend(self, backend: Any) -> None:
        """Count every SharedPreferences method of ``backend`` (instance attributes that
        shadow its methods, so it keeps its type)."""
        for name in BACKEND_METHODS:
            setattr(backend, name, self.wrap(getattr(backend, name)))


@dataclass
class Env:
    """How to reach the three contenders in one environment."""

    name: str
    raw: Any  # something with the ft.SharedPreferences method set
    ours: Callable[..., FletStorage]  # ours(app_name, **kwargs) (kwargs: cache=...)
    upstream: Callable[[str], Any] | None  # flet-storage 1.1.3: upstream(app_name)
    counter: RoundCounter  # counts every call of every contender


@dataclass
class Reps:
    """How many timed operations per contender, by kind of operation."""

    single: int = 200  # get, set, contains_key, remove, get_keys, ...
    clear: int = 20  # clear(50), each after an untimed refill
    batch: int = 20  # 50 gets in one batch (get_many, asyncio.gather)
    sequential: int = 10  # 50 gets one after the other
    cached: int = 2000  # get with cache=True
    warmup: int = 200  # untimed raw gets before anything is timed
    turns: int = 10  # contenders take turns this many times per operation


@dataclass
class Row:
    op: str
    who: str
    ms_per_op: float  # the median: on a shared, noisy machine the mean follows the outliers
    mean_ms: float
    calls_per_op: float
    rounds_per_op: float
    n: int

    @property
    def ops_per_s(self) -> float:
        return 1000 / self.ms_per_op if self.ms_per_op else float("inf")


Op = Callable[[], Awaitable[Any]]


@dataclass
class Contender:
    who: str
    fn: Op
    setup: Op | None = None  # run before every timed operation, untimed and uncounted


async def _compare(env: Env, op: str, contenders: list[Contender], n: int, turns: int) -> list[Row]:
    """Time ``n`` runs of each contender's ``fn``, each on its own (its ``setup`` before it,
    outside the clock and the counts), taking turns (each turn starting with the next
    contender) so that drift and position effects (a client warming up, a noisy neighbour,
    garbage collection) hit every contender alike."""
    counter = env.counter
    spent: dict[str, list[float]] = {c.who: [] for c in contenders}
    calls = dict.fromkeys(spent, 0)
    rounds = dict.fromkeys(spent, 0)
    for c in contenders:  # first-use costs (service registration, ...) are not per op
        if c.setup:
            await c.setup()
        await c.fn()
    turns = max(1, min(turns, n))
    per_turn = n // turns
    for turn in range(turns):
        shift = turn % len(contenders)
        for c in contenders[shift:] + contenders[:shift]:
            for _ in range(per_turn):
                if c.setup:
                    await c.setup()
                calls0, rounds0 = counter.calls, counter.rounds
                start = time.perf_counter()
                await c.fn()
                spent[c.who].append(time.perf_counter() - start)
                calls[c.who] += counter.calls - calls0
                rounds[c.who] += counter.rounds - rounds0
    runs = turns * per_turn
    return [
        Row(
            op,
            c.who,
            statistics.median(spent[c.who]) * 1000,
            statistics.fmean(spent[c.who]) * 1000,
            calls[c.who] / runs,
            rounds[c.who] / runs,
            runs,
        )
        for c in contenders
    ]


async def run_suite(env: Env, reps: Reps | None = None) -> list[Row]:
    reps = reps or Reps()
    raw = env.raw
    make_up = env.upstream
    ours = env.ours(OURS)
    up = make_up(UP) if make_up else None
    rows: list[Row] = []

    async def compare(op: str, contenders: list[Contender | None], n: int) -> None:
        present = [c for c in contenders if c is not None]
        rows.extend(await _compare(env, op, present, n, reps.turns))

    def theirs(fn: Callable[[Any], Op], setup: Callable[[Any], Op] | None = None) -> Any:
        """The 1.1.3 contender, if 1.1.3 is here."""
        if up is None:
            return None
        return Contender("1.1.3", fn(up), setup(up) if setup else None)

    await ours.set("k", VALUE)
    await raw.set(RAW + "k", TEXT)
    if up is not None:
        await up.set("k", VALUE)
    for _ in range(reps.warmup):  # warm the client up before anything is timed
        await raw.get(RAW + "k")

    await compare(
        "get",
        [
            Contender("raw", lambda: raw.get(RAW + "k")),
            Contender("ours", lambda: ours.get("k")),
            theirs(lambda s: lambda: s.get("k")),
        ],
        reps.single,
    )
    await compare(
        "set",
        [
            Contender("raw", lambda: raw.set(RAW + "k", json.dumps(VALUE))),
            Contender("ours", lambda: ours.set("k", VALUE)),
            theirs(lambda s: lambda: s.set("k", VALUE)),
        ],
        reps.single,
    )
    await compare(
        "contains_key",
        [
            Contender("raw", lambda: raw.contains_key(RAW + "k")),
            Contender("ours", lambda: ours.contains_key("k")),
            theirs(lambda s: lambda: s.contains_key("k")),
        ],
        reps.single,
    )

    async def ours_remove() -> None:
        if not await ours.remove("r"):
            raise AssertionError("remove: the key was not there; the benchmark is broken")

    await compare(
        "remove (existing key)",
        [
            Contender("raw", lambda: raw.remove(RAW + "r"), lambda: raw.set(RAW + "r", TEXT)),
            Contender("ours", ours_remove, lambda: ours.set("r", VALUE)),
            theirs(lambda s: lambda: s.remove("r"), lambda s: lambda: s.set("r", VALUE)),
        ],
        reps.single,
    )
    await compare(
        "get_or_default (missing)",
        [
            Contender("raw", lambda: raw.get(RAW + "nope")),
            Contender("ours", lambda: ours.get_or_default("nope", 0)),
            theirs(lambda s: lambda: s.get_or_default("nope", 0)),
        ],
        reps.single,
    )

    # get_keys: a namespace of N_KEYS keys per contender.
    keys = [f"m{i}" for i in range(N_KEYS)]
    ours_keys = env.ours(OURS_KEYS)
    await ours_keys.set_many(dict.fromkeys(keys, VALUE))
    await asyncio.gather(*(raw.set(RAW_KEYS + key, TEXT) for key in keys))
    up_keys = make_up(UP_KEYS) if make_up else None
    if up_keys is not None:
        await asyncio.gather(*(up_keys.set(key, VALUE) for key in keys))
    got = await ours_keys.get_keys()
    if sorted(got) != sorted(keys):
        raise AssertionError(f"get_keys: {len(got)} keys, not {N_KEYS}; the benchmark is broken")
    await compare(
        f"get_keys ({N_KEYS} keys)",
        [
            Contender("raw", lambda: raw.get_keys(RAW_KEYS)),
            Contender("ours", ours_keys.get_keys),
            Contender("1.1.3", up_keys.get_keys) if up_keys else None,
        ],
        reps.single,
    )

    # clear: each contender refills its own namespace (untimed, with its own API, in one
    # round) before every timed clear. Raw SharedPreferences.clear() wipes every app's
    # data, so raw's namespace clear is what 1.1.3 does by hand: get_keys, then removes.
    ours_clear = env.ours(OURS_CLEAR)
    items = dict.fromkeys(keys, VALUE)

    async def raw_fill() -> None:
        await asyncio.gather(*(raw.set(RAW_CLEAR + key, TEXT) for key in keys))

    async def raw_clear() -> None:
        found = await raw.get_keys(RAW_CLEAR)
        await asyncio.gather(*(raw.remove(key) for key in found))

    up_clear = make_up(UP_CLEAR) if make_up else None

    async def up_fill() -> None:
        assert up_clear is not None
        await asyncio.gather(*(up_clear.set(key, VALUE) for key in keys))

    await compare(
        f"clear ({N_KEYS} keys)",
        [
            Contender("raw, get_keys + removes", raw_clear, raw_fill),
            Contender("ours", ours_clear.clear, lambda: ours_clear.set_many(items)),
            Contender("1.1.3", up_clear.clear, up_fill) if up_clear else None,
        ],
        reps.clear,
    )
    if await ours_clear.get_keys():
        raise AssertionError("clear left keys behind; the benchmark is broken")

    # N_KEYS gets (of the get_keys namespaces): one after the other, or in one batch. Without
    # sync's mirror (with it, a web tab's gets take no round trip at all, batched or not).
    batched = env.ours(OURS_KEYS, sync=False)
    many = await batched.get_many(keys)
    if len(many) != N_KEYS:
        raise AssertionError(f"get_many: {len(many)} values, not {N_KEYS}")

    async def sequential() -> None:
        for key in keys:
            await batched.get(key)

    await compare(
        f"{N_KEYS} gets, one after the other",
        [Contender("ours, sync=False", sequential)],
        reps.sequential,
    )
    await compare(
        f"{N_KEYS} gets in one batch",
        [
            Contender(
                "raw, asyncio.gather",
                lambda: asyncio.gather(*(raw.get(RAW_KEYS + key) for key in keys)),
            ),
            Contender("ours, get_many, sync=False", lambda: batched.get_many(keys)),
            Contender("ours, get_many", lambda: ours_keys.get_many(keys)),
            Contender(
                "1.1.3, asyncio.gather",
                lambda: asyncio.gather(*(up_keys.get(key) for key in keys)),
            )
            if up_keys
            else None,
        ],
        reps.batch,
    )

    cached = env.ours(OURS, cache=True)
    await cached.get("k")
    await compare(
        "get (cached)", [Contender("ours, cache=True", lambda: cached.get("k"))], reps.cached
    )

    # Last: 1.1.3 registers a new service with the page per instance, and they pile up.
    await compare(
        "fresh instance + get",
        [
            Contender("ours", lambda: env.ours(OURS).get("k")),
            Contender("1.1.3", lambda: make_up(UP).get("k")) if make_up else None,
        ],
        reps.single,
    )
    return rows

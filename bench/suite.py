"""The operations benchmarked, for ours, raw SharedPreferences and flet-storage 1.1.3.

One suite, two environments: ``run.py`` runs it on MemoryBackend with a simulated per-call
latency, and on the real Flutter web client (inside a Flet page, through the e2e harness).
Round trips are counted by the environment's ``calls`` function (backend calls made).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from flet_storage import FletStorage

__all__ = ["Env", "Row", "run_suite"]

N_KEYS = 100
APP = "bench"
VALUE = {"theme": "dark", "font_size": 14, "recent": ["a", "b", "c"], "beta": False}


@dataclass
class Env:
    """How to reach the three contenders in one environment."""

    name: str
    raw: Any  # something with the ft.SharedPreferences method set
    ours: Callable[..., FletStorage]  # FletStorage factory (kwargs: cache=...)
    upstream: Callable[[], Any] | None  # flet-storage 1.1.3 FletStorage factory
    calls: Callable[[], int]  # backend calls made so far


@dataclass
class Row:
    op: str
    who: str
    ms_per_op: float
    round_trips_per_op: float

    @property
    def ops_per_s(self) -> float:
        return 1000 / self.ms_per_op if self.ms_per_op else float("inf")


async def _compare(
    env: Env,
    op: str,
    contenders: list[tuple[str, Callable[[], Awaitable[Any]]]],
    n: int,
    rounds: int = 20,
) -> list[Row]:
    """Time ``n`` runs of each contender's ``fn``, taking turns in ``rounds`` (each round
    starting with the next contender) so that drift and position effects (a client warming
    up, a noisy neighbour, garbage collection) hit every contender alike."""
    spent = dict.fromkeys((who for who, _ in contenders), 0.0)
    trips = dict.fromkeys(spent, 0)
    for _, fn in contenders:
        await fn()  # first-use costs (service registration, cache load) are not per op
    rounds = min(rounds, n)
    for turn in range(rounds):
        shift = turn % len(contenders)
        for who, fn in contenders[shift:] + contenders[:shift]:
            calls = env.calls()
            start = time.perf_counter()
            for _ in range(n // rounds):
                await fn()
            spent[who] += time.perf_counter() - start
            trips[who] += env.calls() - calls
    runs = rounds * (n // rounds)
    return [Row(op, who, spent[who] * 1000 / runs, trips[who] / runs) for who, _ in contenders]


async def run_suite(env: Env, n: int = 200) -> list[Row]:
    rows: list[Row] = []
    ours = env.ours()
    await ours.set("k", VALUE)
    await env.raw.set("raw.k", json.dumps(VALUE))  # the same text ours stores
    up = env.upstream() if env.upstream else None
    for _ in range(n):  # warm the client up before anything is timed
        await env.raw.get("raw.k")

    def three(
        raw: Callable[[], Awaitable[Any]] | None,
        mine: Callable[[], Awaitable[Any]],
        theirs: Callable[[], Awaitable[Any]] | None,
    ) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
        contenders = [("raw", raw)] if raw else []
        contenders.append(("ours", mine))
        return contenders + ([("1.1.3", theirs)] if theirs else [])

    rows += await _compare(
        env,
        "get",
        three(
            lambda: env.raw.get("raw.k"),
            lambda: ours.get("k"),
            (lambda: up.get("k")) if up else None,
        ),
        n,
    )
    rows += await _compare(
        env,
        "set",
        three(
            lambda: env.raw.set("raw.k", json.dumps(VALUE)),
            lambda: ours.set("k", VALUE),
            (lambda: up.set("k", VALUE)) if up else None,
        ),
        n,
    )
    rows += await _compare(
        env,
        "get_or_default (missing)",
        three(
            None,
            lambda: ours.get_or_default("nope", 0),
            (lambda: up.get_or_default("nope", 0)) if up else None,
        ),
        n,
    )
    make_up = env.upstream
    rows += await _compare(
        env,
        "fresh instance + get",
        three(
            None,
            lambda: env.ours().get("k"),
            (lambda: make_up().get("k")) if make_up else None,
        ),
        n,
    )

    keys = [f"m{i}" for i in range(N_KEYS)]
    await ours.set_many(dict.fromkeys(keys, VALUE))

    async def sequential() -> None:
        for key in keys:
            await ours.get(key)

    async def raw_gather() -> None:
        await asyncio.gather(*(env.raw.get(f"{APP}.{key}") for key in keys))

    rows += await _compare(
        env,
        f"{N_KEYS} gets",
        [
            ("ours, sequential", sequential),
            ("raw, asyncio.gather", raw_gather),
            ("ours, get_many", lambda: ours.get_many(keys)),
        ],
        10,
    )

    # clear(100): both contenders clear the same 100 keys, refilled by the raw client, taking
    # turns so that drift on a noisy machine hits both alike.
    await ours.clear()
    contenders = [("ours", ours)] + ([("1.1.3", up)] if up else [])
    spent = dict.fromkeys((who for who, _ in contenders), 0.0)
    trips = dict.fromkeys(spent, 0)
    rounds = 5
    for _ in range(rounds):
        for who, storage in contenders:
            for key in keys:
                await env.raw.set(f"{APP}.{key}", '"v"')
            calls = env.calls()
            start = time.perf_counter()
            await storage.clear()
            spent[who] += time.perf_counter() - start
            trips[who] += env.calls() - calls
    for who, _ in contenders:
        rows.append(Row(f"clear({N_KEYS})", who, spent[who] * 1000 / rounds, trips[who] / rounds))

    cached = env.ours(cache=True)
    await cached.set("k", VALUE)
    rows += await _compare(
        env, "get (cached)", [("ours, cache=True", lambda: cached.get("k"))], n * 10
    )
    return rows

"""The operations benchmarked, for ours, raw SharedPreferences and flet-storage 1.1.3.

One suite, two environments: ``run.py`` runs it on MemoryBackend with a simulated per-call
latency, and on the real Flutter web client (inside a Flet page, through the e2e harness).
Round trips are counted by the environment's ``calls`` function (backend calls made).
"""

from __future__ import annotations

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


async def _timed(env: Env, op: str, who: str, n: int, fn: Callable[[], Awaitable[Any]]) -> Row:
    await fn()  # warm up: first-use costs (service registration, cache load) are not per op
    calls = env.calls()
    start = time.perf_counter()
    for _ in range(n):
        await fn()
    elapsed = time.perf_counter() - start
    return Row(op, who, elapsed * 1000 / n, (env.calls() - calls) / n)


async def run_suite(env: Env, n: int = 200) -> list[Row]:
    rows: list[Row] = []
    ours = env.ours()
    await ours.set("k", VALUE)
    await env.raw.set("raw.k", json.dumps(VALUE))  # the same text ours stores
    up = env.upstream() if env.upstream else None

    async def raw_get() -> None:
        await env.raw.get("raw.k")

    rows.append(await _timed(env, "get", "raw", n, raw_get))
    rows.append(await _timed(env, "get", "ours", n, lambda: ours.get("k")))
    if up:
        rows.append(await _timed(env, "get", "1.1.3", n, lambda: up.get("k")))

    rows.append(await _timed(env, "set", "raw", n, lambda: env.raw.set("raw.k", "x")))
    rows.append(await _timed(env, "set", "ours", n, lambda: ours.set("k", VALUE)))
    if up:
        rows.append(await _timed(env, "set", "1.1.3", n, lambda: up.set("k", VALUE)))

    op = "get_or_default (missing)"
    rows.append(await _timed(env, op, "ours", n, lambda: ours.get_or_default("nope", 0)))
    if up:
        rows.append(await _timed(env, op, "1.1.3", n, lambda: up.get_or_default("nope", 0)))

    op = "fresh instance + get"
    rows.append(await _timed(env, op, "ours", n, lambda: env.ours().get("k")))
    if up and env.upstream:
        make_up = env.upstream
        rows.append(await _timed(env, op, "1.1.3", n, lambda: make_up().get("k")))

    keys = [f"m{i}" for i in range(N_KEYS)]
    await ours.set_many(dict.fromkeys(keys, VALUE))

    async def sequential() -> None:
        for key in keys:
            await ours.get(key)

    rows.append(await _timed(env, f"{N_KEYS} sequential gets", "ours", 10, sequential))
    rows.append(await _timed(env, f"get_many({N_KEYS})", "ours", 10, lambda: ours.get_many(keys)))

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
    rows.append(await _timed(env, "cached get", "ours", n * 10, lambda: cached.get("k")))
    return rows

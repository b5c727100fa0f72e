"""Live sync on the real Flutter web client, at a real network's round trip.

    uv run python bench/bench_sync.py            # 50 ms RTT (bench/proxy.py)
    uv run python bench/bench_sync.py --rtt 0    # loopback

Tabs of one Chromium profile (one localStorage) reach one app through the delaying proxy:

* latency: tab B subscribes; tab A sets a key 50 times; for each write, the time from A's
  `set` returning to B's listener firing (both run in the one server process, so one clock
  times both; a negative time means B heard it before A's `set` returned);
* increments: 4 tabs, each incrementing one key 20 times in a row, all at once: increments
  per second, and that none was lost;
* one tab: `get` and `set` medians with `sync=True` (the default) and `sync=False`, taking
  turns, and the first write of a fresh tab (which reads or makes the browser id).

Prints a markdown table; speed is reported as ratios from this one run.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import flet as ft  # noqa: E402
from e2e.harness import Browser, Client, FletServer, find_chromium, running  # noqa: E402
from proxy import LatencyProxy  # noqa: E402

from flet_storage import FletStorage, StorageEvent  # noqa: E402


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _latency(a: Client, b: Client, app: str, writes: int) -> list[float]:
    heard: dict[int, float] = {}
    arrived = asyncio.Event()

    async def subscribe(page: ft.Page) -> None:
        def listener(event: StorageEvent) -> None:
            heard[event.value] = time.perf_counter()
            arrived.set()

        storage = FletStorage(app)
        storage.subscribe(listener, key="k")
        await storage.get_or_default("k")

    async def write(page: ft.Page) -> list[float]:
        storage = FletStorage(app)
        await storage.set("warm", 1)
        gaps = []
        for i in range(writes):
            arrived.clear()
            await storage.set("k", i)
            returned = time.perf_counter()
            if i not in heard:
                await asyncio.wait_for(arrived.wait(), 30)
            gaps.append((heard[i] - returned) * 1000)
        return gaps

    await b.run(subscribe)
    gaps: list[float] = await a.run(write, timeout=600)
    return gaps


async def _increments(tabs: list[Client], app: str, each: int) -> tuple[float, Any]:
    async def hammer(page: ft.Page) -> None:
        storage = FletStorage(app)
        for _ in range(each):
            await storage.increment("hits")

    async def warm(page: ft.Page) -> None:
        await FletStorage(app).get_or_default("hits")

    for tab in tabs:
        await tab.run(warm)
    start = time.perf_counter()
    await asyncio.gather(*(tab.run(hammer, timeout=600) for tab in tabs))
    seconds = time.perf_counter() - start

    async def total(page: ft.Page) -> Any:
        return await FletStorage(app).get("hits")

    return len(tabs) * each / seconds, await tabs[0].run(total)


async def _one_tab(tab: Client, app: str, reps: int) -> dict[str, dict[bool, float]]:
    async def measure(page: ft.Page) -> dict[str, dict[bool, float]]:
        times: dict[str, dict[bool, list[float]]] = {"get": {}, "set": {}}
        storages = {sync: FletStorage(f"{app}_{sync}", sync=sync) for sync in (True, False)}
        for storage in storages.values():
            await storage.set("k", {"v": 1})
        for _ in range(reps):
            for sync, storage in storages.items():  # taking turns: drift hits both alike
                for op in ("get", "set"):
                    start = time.perf_counter()
                    await (storage.get("k") if op == "get" else storage.set("k", {"v": 2}))
                    times[op].setdefault(sync, []).append((time.perf_counter() - start) * 1000)
        return {op: {s: statistics.median(v) for s, v in t.items()} for op, t in times.items()}

    result: dict[str, dict[bool, float]] = await tab.run(measure, timeout=600)
    return result


async def _first_write(profile_of: Any, server: FletServer, url: str | None, app: str) -> Any:
    times: dict[bool, float] = {}
    for sync in (False, True):
        profile = await profile_of()
        try:
            tab = await profile.open(server, base_url=url, timeout=120)

            async def first(page: ft.Page, sync: bool = sync) -> float:
                start = time.perf_counter()
                await FletStorage(app, sync=sync).set("k", 1)
                return (time.perf_counter() - start) * 1000

            times[sync] = await tab.run(first)
        finally:
            await profile.close()
    return times


async def main_async(server: FletServer, browser: Browser, rtt_ms: float, writes: int) -> str:
    proxy = LatencyProxy(server.port, rtt_ms / 2000) if rtt_ms > 0 else None
    if proxy is not None:
        proxy.start()
    url = proxy.url if proxy else None
    app = f"bench_sync_{secrets.token_hex(3)}"
    try:
        profile = await browser.open_profile()
        try:
            tabs = [await profile.open(server, base_url=url, timeout=120) for _ in range(4)]
            gaps = await _latency(tabs[0], tabs[1], app, writes)
            rate, total = await _increments(tabs, app, 20)
            one = await _one_tab(tabs[0], app, 30)
        finally:
            await profile.close()
        first = await _first_write(browser.open_profile, server, url, app)
    finally:
        if proxy is not None:
            proxy.stop()
    lines = [
        f"Live sync on the real web client, {rtt_ms:g} ms RTT, one run "
        f"(`uv run python bench/bench_sync.py --rtt {rtt_ms:g}`):",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| A's `set` returned → B's listener fired, p50 (ms, {writes} writes) "
        f"| {_pct(gaps, 0.5):.2f} |",
        f"| same, p95 (ms) | {_pct(gaps, 0.95):.2f} |",
        f"| increments/s, 4 tabs x 20 on one key | {rate:.1f} (final value {total}, of 80) |",
    ]
    for op in ("get", "set"):
        on, off = one[op][True], one[op][False]
        lines.append(
            f"| one tab: `{op}` median, sync on / off (ms) | {on:.2f} / {off:.2f} "
            f"= {on / off:.3f} |"
        )
    lines.append(
        f"| a fresh tab's first `set`, sync on / off (ms) | {first[True]:.1f} / "
        f"{first[False]:.1f} = {first[True] / first[False]:.2f} |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rtt", type=float, default=50.0, help="round trip in ms (0: none)")
    parser.add_argument("--writes", type=int, default=50)
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no Chromium found: set FLET_STORAGE_CHROMIUM or install chromium")
    with running(chromium) as (server, browser):
        print(asyncio.run(main_async(server, browser, args.rtt, args.writes)))


if __name__ == "__main__":
    main()

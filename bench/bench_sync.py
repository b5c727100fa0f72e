"""Live sync on the real Flutter web client, at a real network's round trip.

    uv run python bench/bench_sync.py                 # 50 ms RTT (bench/proxy.py)
    uv run python bench/bench_sync.py --rtt 0         # loopback
    uv run python bench/bench_sync.py --write         # and record it: bench/results.md,
                                                      # bench/results_sync.json (the chart's)

Tabs of one Chromium profile (one localStorage) reach one app through the delaying proxy.
Each measure is made twice: in-process (`sync=True`, the default) and, when Debian's
`redis-server` is installed, through Redis (a `redis-server` of its own on a free loopback
port): the tabs are then served by two `RedisSync` objects, tabs 0 and 2 by one, tabs 1 and
3 by the other, as two server processes would serve them. Both live in the benchmark's one
server process, so nothing but Redis carries a write from one to the other: this measures
Redis's publish/subscribe path, not two processes' schedulers. The latency is also measured
with B's server a second OS process (this script, `--peer`): its `RedisSync` serves a tab of
`flet_storage.testing.FakeBrowser` that holds the real browser's id (passed on a pipe, never
shown), so it joins that browser; its listener's times come back on the pipe (one clock,
CLOCK_MONOTONIC, for every process of the machine).

* latency: tab B subscribes; tab A sets a key 50 times; for each write, the time from A's
  `set` returning to B's listener firing (one process, so one clock times both; a negative
  time means B heard it before A's `set` returned). B's listener fires when B's server
  applies the change; the forward to B's client runs in the background;
* increments: 4 tabs, each incrementing one key 20 times in a row, all at once: increments
  per second, and that none was lost;
* one tab: `get` and `set` medians with sync off, in-process and through Redis, taking
  turns; the first `set` of a fresh browser's first tab (which reads the browser id,
  finds none and makes one), and a second tab's first `get` (which reads the id in its own
  round), with the client round trips each waited for;
* Redis's own cost of a write: the round trip of the one command (a Lua script appending to
  the browser's stream and publishing) each landed write sends, timed where the library
  sends it.

Prints markdown tables; speed is reported as ratios from this one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import flet as ft  # noqa: E402
from e2e.harness import Browser, Client, FletServer, find_chromium, running  # noqa: E402
from proxy import LatencyProxy  # noqa: E402
from redis_server import RedisServer, find_redis_server  # noqa: E402
from sections import replace_section  # noqa: E402
from suite import RoundCounter  # noqa: E402

from flet_storage import FletStorage, StorageEvent  # noqa: E402
from flet_storage.sync import InProcessSync  # noqa: E402

Sync = bool | InProcessSync
GOAL_EXTRA_MS = 10.0  # listener latency goal: one client round trip + 10 ms
RESULTS_JSON = HERE / "results_sync.json"
PEER_KEY = "p"  # the key A writes for the --peer process (no other measure writes it)
FIRST_SETS = 3  # fresh browsers per setting for the first `set`


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(ms: list[float]) -> dict[str, float]:
    return {"p50": _pct(ms, 0.5), "p95": _pct(ms, 0.95), "n": len(ms)}


async def _latency(a: Client, b: Client, app: str, writes: int, syncs: list[Sync]) -> list[float]:
    heard: dict[int, float] = {}
    arrived = asyncio.Event()

    async def subscribe(page: ft.Page) -> None:
        def listener(event: StorageEvent) -> None:
            heard[event.value] = time.perf_counter()
            arrived.set()

        storage = FletStorage(app, sync=syncs[-1])
        storage.subscribe(listener, key="k")
        await storage.get_or_default("k")

    async def write(page: ft.Page) -> list[float]:
        storage = FletStorage(app, sync=syncs[0])
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


async def _increments(
    tabs: list[Client], app: str, each: int, syncs: list[Sync]
) -> tuple[float, Any]:
    def storage_of(tab: int) -> FletStorage:
        return FletStorage(app, sync=syncs[tab % len(syncs)])

    def hammer(tab: int) -> Callable[[ft.Page], Awaitable[None]]:
        async def run(page: ft.Page) -> None:
            storage = storage_of(tab)
            for _ in range(each):
                await storage.increment("hits")

        return run

    def warm(tab: int) -> Callable[[ft.Page], Awaitable[None]]:
        async def run(page: ft.Page) -> None:
            await storage_of(tab).get_or_default("hits")

        return run

    for i, tab in enumerate(tabs):
        await tab.run(warm(i))
    start = time.perf_counter()
    await asyncio.gather(*(tab.run(hammer(i), timeout=600) for i, tab in enumerate(tabs)))
    seconds = time.perf_counter() - start

    async def total(page: ft.Page) -> Any:
        return await storage_of(0).get("hits")

    return len(tabs) * each / seconds, await tabs[0].run(total)


async def _one_tab(tab: Client, app: str, reps: int, syncs: dict[str, Sync]) -> Any:
    async def measure(page: ft.Page) -> dict[str, dict[str, float]]:
        times: dict[str, dict[str, list[float]]] = {"get": {}, "set": {}}
        storages = {name: FletStorage(f"{app}_{name}", sync=s) for name, s in syncs.items()}
        for storage in storages.values():
            await storage.set("k", {"v": 1})
        for _ in range(reps):
            for name, storage in storages.items():  # taking turns: drift hits all alike
                for op in ("get", "set"):
                    start = time.perf_counter()
                    await (storage.get("k") if op == "get" else storage.set("k", {"v": 2}))
                    times[op].setdefault(name, []).append((time.perf_counter() - start) * 1000)
        return {op: {n: statistics.median(v) for n, v in t.items()} for op, t in times.items()}

    return await tab.run(measure, timeout=600)


async def _first_op(
    profile_of: Any, server: FletServer, url: str | None, app: str, syncs: dict[str, Sync], op: str
) -> dict[str, dict[str, Any]]:
    """A tab's first operation, `FIRST_SETS` times per setting: the median ms (and each
    time), and the rounds (client round trips, one after the other) it waited for.
    `"set"`: a fresh browser's first tab (no browser id yet); `"get"`, `"set2"`,
    `"increment"`: a second tab's `get`, `set`, `increment`, after a first one stored a
    value (and the id), untimed."""
    samples: dict[str, list[tuple[float, int]]] = {}
    for _ in range(FIRST_SETS):
        for name, sync in syncs.items():  # taking turns
            profile = await profile_of()
            try:
                if op != "set":
                    setup = await profile.open(server, base_url=url, timeout=120)

                    async def store(page: ft.Page, sync: Sync = sync) -> None:
                        await FletStorage(app, sync=sync).set("k", 1)

                    await setup.run(store)
                tab = await profile.open(server, base_url=url, timeout=120)

                async def first(page: ft.Page, sync: Sync = sync) -> tuple[float, int]:
                    counter = RoundCounter()
                    session = page.session
                    session.invoke_method = counter.wrap(session.invoke_method)  # type: ignore[method-assign]
                    try:
                        storage = FletStorage(app, sync=sync)
                        start = time.perf_counter()
                        if op in ("set", "set2"):
                            await storage.set("k", 2)
                        elif op == "get":
                            await storage.get("k")
                        else:
                            await storage.increment("k")
                        return (time.perf_counter() - start) * 1000, counter.rounds
                    finally:
                        del session.invoke_method

                samples.setdefault(name, []).append(await tab.run(first))
            finally:
                await profile.close()
    return {
        name: {
            "ms": statistics.median(ms for ms, _ in got),
            "rounds": max(r for _, r in got),
            "samples_ms": [ms for ms, _ in got],
        }
        for name, got in samples.items()
    }


def _time_commands(sync: Any, command: str) -> tuple[list[float], Callable[[], None]]:
    """Times every `command` the sync's Redis connection runs (ms); and how to stop."""
    bus = sync.bus
    execute = bus.execute
    times: list[float] = []

    async def timed(*args: Any) -> Any:
        start = time.perf_counter()
        try:
            return await execute(*args)
        finally:
            if args[0] == command:
                times.append((time.perf_counter() - start) * 1000)

    bus.execute = timed

    def stop() -> None:
        del bus.execute

    return times, stop


async def _peer(url: str, app: str) -> None:
    """`--peer`: B's server as a second OS process. Its tab is a `testing.FakeBrowser` tab
    holding the real browser's id (read from stdin), so its `RedisSync` joins that
    browser; each change of PEER_KEY its listener hears is printed as `value perf_counter`
    (CLOCK_MONOTONIC: one clock for every process of the machine)."""
    from flet_storage.sync import BROWSER_KEY, RedisSync
    from flet_storage.testing import FakeBrowser

    browser_id = sys.stdin.readline().strip()
    sync = RedisSync(url)
    tab = FakeBrowser({BROWSER_KEY: browser_id}).open_tab()
    storage = FletStorage(app, backend=tab.browser.backend, sync=sync)

    def listener(event: StorageEvent) -> None:
        print(f"{event.value} {time.perf_counter()}", flush=True)

    async def join() -> None:
        storage.subscribe(listener, key=PEER_KEY)
        await storage.get_or_default(PEER_KEY)

    await tab.run(join)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # until the parent is done
    await sync.aclose()


async def _latency_to_peer(a: Client, app: str, writes: int, sync: Sync, url: str) -> list[float]:
    """A's `set` returned (here) -> B's listener fired in a `--peer` process."""
    import threading

    async def browser_id(page: ft.Page) -> Any:
        from flet_storage.sync import BROWSER_KEY

        await FletStorage(app, sync=sync).get_or_default("warm")  # joins: the id exists
        return await ft.SharedPreferences().get(BROWSER_KEY)

    the_id = await a.run(browser_id)
    peer = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--peer",
        url,
        app,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert peer.stdin is not None
    assert peer.stdout is not None
    heard: dict[int, float] = {}
    arrived = {i: threading.Event() for i in range(writes)}  # waited for on the server's loop

    async def read(out: asyncio.StreamReader) -> None:  # on this loop
        while line := (await out.readline()).decode().strip():
            value, _, at = line.partition(" ")
            if value != "ready":
                heard[int(value)] = float(at)
                arrived[int(value)].set()

    reader: asyncio.Future[None] | None = None
    try:
        peer.stdin.write(f"{the_id}\n".encode())
        await peer.stdin.drain()
        while (line := await asyncio.wait_for(peer.stdout.readline(), 60)).strip() != b"ready":
            if not line:  # lines before "ready" are skipped; the end of its output: it failed
                raise RuntimeError("the --peer process ended before it joined (see its stderr)")
        reader = asyncio.ensure_future(read(peer.stdout))

        async def write(page: ft.Page) -> list[float]:
            storage = FletStorage(app, sync=sync)
            gaps = []
            for i in range(writes):
                await storage.set(PEER_KEY, i)
                returned = time.perf_counter()
                if not await asyncio.to_thread(arrived[i].wait, 30):
                    raise RuntimeError(f"the --peer process never heard write {i}")
                gaps.append((heard[i] - returned) * 1000)
            return gaps

        gaps: list[float] = await a.run(write, timeout=600)
        return gaps
    finally:
        with contextlib.suppress(OSError):
            peer.stdin.write(b"done\n")
            peer.stdin.close()
        try:
            await asyncio.wait_for(peer.wait(), 30)
        except asyncio.TimeoutError:  # TimeoutError from 3.11 on
            peer.kill()
            await peer.wait()
        if reader is not None:
            reader.cancel()


async def _measure(
    server: FletServer,
    browser: Browser,
    url: str | None,
    syncs: list[Sync],
    writes: int,
    redis_url: str | None = None,
) -> dict[str, Any]:
    """Every measure, the tabs served by `syncs` in turn."""
    app = f"bench_sync_{secrets.token_hex(3)}"
    redis = [s for s in syncs if not isinstance(s, bool)]
    settings: dict[str, Sync] = {"off": False, "on": syncs[0]}
    profile = await browser.open_profile()
    try:
        tabs = [await profile.open(server, base_url=url, timeout=120) for _ in range(4)]
        gaps = await _latency(tabs[0], tabs[1], app, writes, syncs)
        to_peer = (
            await _latency_to_peer(tabs[0], app, writes, syncs[0], redis_url) if redis_url else None
        )
        rate, total = await _increments(tabs, app, 20, syncs)
        publishes, stop = _time_commands(redis[0], "EVAL") if redis else ([], lambda: None)
        try:
            one = await _one_tab(tabs[0], app, 30, settings)
        finally:
            stop()
        first = await _first_op(browser.open_profile, server, url, app, settings, "set")
        first_get = await _first_op(browser.open_profile, server, url, app, settings, "get")
        first_set2 = await _first_op(browser.open_profile, server, url, app, settings, "set2")
        first_increment = await _first_op(
            browser.open_profile, server, url, app, settings, "increment"
        )
        for sync in redis:  # on the server's loop, where they connected

            async def close(page: ft.Page, sync: Any = sync) -> None:
                await sync.aclose()

            await tabs[0].run(close)
    finally:
        await profile.close()
    return {
        "latency_ms": _summary(gaps),
        "peer_latency_ms": _summary(to_peer) if to_peer else None,
        "increments": {"per_s": rate, "final": total, "of": 4 * 20},
        "one_tab_ms": one,
        "first_set": first,
        "first_get": first_get,
        "first_set2": first_set2,
        "first_increment": first_increment,
        "publish_ms": _summary(publishes) if publishes else None,
    }


async def main_async(
    server: FletServer, browser: Browser, rtt_ms: float, writes: int, redis: bool
) -> dict[str, Any]:
    proxy = LatencyProxy(server.port, rtt_ms / 2000) if rtt_ms > 0 else None
    if proxy is not None:
        proxy.start()
    url = proxy.url if proxy else None
    try:
        figures = {"in-process": await _measure(server, browser, url, [True], writes)}
        if redis:
            from flet_storage.sync import RedisSync

            redis_server = RedisServer()
            redis_server.start()
            try:
                syncs: list[Sync] = [RedisSync(redis_server.url) for _ in range(2)]
                figures["Redis"] = await _measure(
                    server, browser, url, syncs, writes, redis_server.url
                )
            finally:
                redis_server.close()
    finally:
        if proxy is not None:
            proxy.stop()
    return figures


ABOUT = """\
One clock times both tabs (one server process; `--peer`: the machine's monotonic clock,
read in both processes; B's tab there is a `testing.FakeBrowser` tab holding the real
browser's id, served by a `RedisSync` of its own): a negative time means B's listener fired
before A's `set` returned (in-process, a write is announced to the other tabs before `set`
returns). B's listener fires when B's server has applied the write; the forward to B's
client runs in the background. Increments: 4 tabs (through Redis, 2 per `RedisSync`), each
20 `increment`s in a row, all at once. One tab: medians of 30, taking turns with
`sync=False`. First `set`: a fresh browser's first tab (it reads the browser id, finds none,
makes one); first `get`, `set`, `increment`: a second tab's, once a first tab stored a
value (the id is read in the operation's own first round); (rounds): the client round
trips each waited for, one after the other. Redis command: the one EVAL (append to the
browser's stream, publish) each landed write sends, timed where the library sends it, over
the one-tab run's sets."""


def report(figures: dict[str, Any], rtt_ms: float, writes: int, command: str) -> str:
    names = list(figures)
    goal = rtt_ms + GOAL_EXTRA_MS
    where = f"{rtt_ms:g} ms RTT" if rtt_ms > 0 else "loopback"

    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> str:
        return f"| {label} | " + " | ".join(cell(figures[n]) for n in names) + " |"

    def ratio(op: str) -> Callable[[dict[str, Any]], str]:
        def cell(f: dict[str, Any]) -> str:
            on, off = f["one_tab_ms"][op]["on"], f["one_tab_ms"][op]["off"]
            return f"{on:.2f} / {off:.2f} = {on / off:.3f}"

        return cell

    def first(op: str) -> Callable[[dict[str, Any]], str]:
        def cell(f: dict[str, Any]) -> str:
            on, off = f[f"first_{op}"]["on"], f[f"first_{op}"]["off"]
            return (
                f"{on['ms']:.1f} ({on['rounds']}) / {off['ms']:.1f} ({off['rounds']}) "
                f"= {on['ms'] / off['ms']:.2f}"
            )

        return cell

    def publish(f: dict[str, Any]) -> str:
        p = f["publish_ms"]
        return "none" if p is None else f"{p['p50']:.2f} / {p['p95']:.2f} (n {p['n']})"

    def peer(f: dict[str, Any]) -> str:
        p = f.get("peer_latency_ms")
        if p is None:
            return "n/a"
        met = "✓" if p["p95"] <= goal else "✗"
        return f"{p['p50']:.2f} / {p['p95']:.2f} {met}"

    def latency(q: str) -> Callable[[dict[str, Any]], str]:
        def cell(f: dict[str, Any]) -> str:
            value = f["latency_ms"][q]
            return f"{value:.2f} {'✓' if value <= goal else '✗'}"

        return cell

    heads = {"in-process": "in-process (`sync=True`)", "Redis": "through Redis (2 `RedisSync`)"}
    lines = [
        f"Live sync on the real web client, {where}, one run (`{command}`):",
        "",
        "| measure | " + " | ".join(heads[n] for n in names) + " |",
        "| --- |" + " ---: |" * len(names),
        row(f"A's `set` returned → B's listener fired, p50 (ms, {writes} writes)", latency("p50")),
        row("same, p95 (ms)", latency("p95")),
        row("same, B's server a second OS process (`--peer`), p50 / p95 (ms)", peer),
        row(
            "increments/s, 4 tabs x 20 on one key",
            lambda f: (
                f"{f['increments']['per_s']:.1f} (final {f['increments']['final']}, "
                f"of {f['increments']['of']})"
            ),
        ),
        row("one tab: `get` median, sync on / off (ms)", ratio("get")),
        row("one tab: `set` median, sync on / off (ms)", ratio("set")),
        row(
            f"a fresh browser's first `set`, sync on / off (ms, median of {FIRST_SETS}; (rounds))",
            first("set"),
        ),
        row(
            f"a second tab's first `get`, sync on / off (ms, median of {FIRST_SETS}; (rounds))",
            first("get"),
        ),
        row(
            f"a second tab's first `set`, sync on / off (ms, median of {FIRST_SETS}; (rounds))",
            first("set2"),
        ),
        row(
            f"a second tab's first `increment`, sync on / off (ms, median of {FIRST_SETS}; "
            "(rounds))",
            first("increment"),
        ),
        row("Redis command per write (EVAL), p50 / p95 (ms)", publish),
        "",
        f"✓/✗: within one client round trip + {GOAL_EXTRA_MS:g} ms ({goal:g} ms), the issue's "
        "goal. Through Redis, tabs A and B are served by two `RedisSync` objects in the "
        "benchmark's one server process (as two processes would be; only Redis carries the "
        "write across), on a `redis-server` over loopback.",
        "",
        ABOUT,
    ]
    return "\n".join(lines)


def record(figures: dict[str, Any], rtt_ms: float, text: str, stamp: str) -> None:
    """Put this run in bench/results.md (its own section) and bench/results_sync.json."""
    machine = f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}"
    where = f"{rtt_ms:g} ms RTT" if rtt_ms > 0 else "loopback"
    heading = f"## Live sync on the real web client, {where}"
    replace_section(HERE / "results.md", heading, f"{stamp} · {machine}\n\n{text}\n")
    runs = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    runs[f"{rtt_ms:g}"] = {"date": stamp, "rtt_ms": rtt_ms, "figures": figures}
    RESULTS_JSON.write_text(json.dumps(runs, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rtt", type=float, default=50.0, help="round trip in ms (0: none)")
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--no-redis", action="store_true", help="in-process only")
    parser.add_argument(
        "--write", action="store_true", help="record in bench/results.md and results_sync.json"
    )
    parser.add_argument("--peer", nargs=2, metavar=("REDIS_URL", "APP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        asyncio.run(_peer(*args.peer))
        return
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no Chromium found: set FLET_STORAGE_CHROMIUM or install chromium")
    redis = not args.no_redis and find_redis_server() is not None
    if not args.no_redis and not redis:
        print("redis-server not found: in-process only", file=sys.stderr)
    with running(chromium) as (server, browser):
        figures = asyncio.run(main_async(server, browser, args.rtt, args.writes, redis))
    command = "uv run python bench/bench_sync.py" + " ".join(
        ["", f"--rtt {args.rtt:g}"] + (["--no-redis"] if args.no_redis else [])
    )
    text = report(figures, args.rtt, args.writes, command)
    print(text)
    if args.write:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        record(figures, args.rtt, text, stamp)
        print(f"wrote {HERE / 'results.md'} and {RESULTS_JSON}")


if __name__ == "__main__":
    main()

"""Benchmarks: ours vs raw SharedPreferences vs flet-storage 1.1.3, as ratios from one run.

    uv run --group bench python bench/run.py            # MemoryBackend (simulated latency)
    uv run --group bench python bench/run.py --real     # also the real Flutter web client

Writes bench/results.md (tables and the goals) and bench/results.png (a chart).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]  # bench helpers, the e2e harness

from suite import N_KEYS, VALUE, Env, Row, run_suite  # noqa: E402
from upstream import UpstreamUnavailable, load_upstream  # noqa: E402

from flet_storage import FletStorage, MemoryBackend  # noqa: E402


def _upstream() -> Any | None:
    try:
        return load_upstream()
    except UpstreamUnavailable as exc:
        print(f"flet-storage 1.1.3 unavailable, left out: {exc}", file=sys.stderr)
        return None


async def memory_env(latency: float) -> list[Row]:
    backend = MemoryBackend(latency=latency)
    up_module = _upstream()

    def upstream() -> Any:
        assert up_module is not None
        storage = up_module.FletStorage("bench")
        storage.storage = backend  # 1.1.3 keeps its SharedPreferences in .storage
        return storage

    env = Env(
        name=f"MemoryBackend, {latency * 1000:g} ms per call",
        raw=backend,
        ours=lambda **kw: FletStorage("bench", backend=backend, **kw),
        upstream=upstream if up_module else None,
        calls=lambda: sum(backend.calls.values()),
    )
    return await run_suite(env)


async def cpu_costs(n: int = 20_000) -> str:
    """What the library itself adds to each call: MemoryBackend with no latency, so the
    time is all CPU (Python), steady where round-trip timings on a busy machine are not."""
    backend = MemoryBackend()
    ours = FletStorage("bench", backend=backend)
    text = json.dumps(VALUE)
    await ours.set("k", VALUE)
    await backend.set("raw.k", text)

    async def raw_get() -> None:
        json.loads(await backend.get("raw.k"))  # type: ignore[arg-type]

    async def raw_set() -> None:  # the same two calls ours sends: get, then set
        await asyncio.gather(backend.get("raw.k"), backend.set("raw.k", json.dumps(VALUE)))

    cases = [
        ("get", raw_get, lambda: ours.get("k")),
        ("set", raw_set, lambda: ours.set("k", VALUE)),
    ]
    lines = [
        "| operation | raw + json (µs/op) | ours (µs/op) | ours adds (µs/op) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for op, raw, mine in cases:
        timings = []
        for fn in (raw, mine):
            best = float("inf")
            for _ in range(5):  # min of 5: the run least disturbed by the machine
                start = time.perf_counter()
                for _ in range(n // 5):
                    await fn()
                best = min(best, (time.perf_counter() - start) / (n // 5))
            timings.append(best * 1e6)
        lines.append(
            f"| {op} | {timings[0]:.1f} | {timings[1]:.1f} | {timings[1] - timings[0]:.1f} |"
        )
    return "\n".join(lines)


def real_env() -> list[Row]:
    from real_client import run_on_real_client  # needs the e2e harness and Chromium

    return run_on_real_client(run_suite, _upstream())


def table(title: str, rows: list[Row]) -> str:
    lines = [
        f"### {title}",
        "",
        "| operation | who | ms/op | ops/s | calls/op |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.op} | {r.who} | {r.ms_per_op:.4f} | {r.ops_per_s:,.0f} | "
            f"{r.round_trips_per_op:g} |"
        )
    return "\n".join(lines)


def goals(rows: list[Row]) -> str:
    def ms(op: str, who: str) -> float | None:
        return next((r.ms_per_op for r in rows if r.op == op and r.who == who), None)

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.3g}" if a is not None and b else "n/a"

    cached = next((r for r in rows if r.op == "get (cached)"), None)
    many = f"{N_KEYS} gets"
    checks = [
        ("ours get / raw get", ratio(ms("get", "ours"), ms("get", "raw")), "≤ 1.05"),
        (
            "fresh instance + get / reused get",
            ratio(ms("fresh instance + get", "ours"), ms("get", "ours")),
            "≤ 1.1",
        ),
        (
            "get_many(100) / 100 sequential gets",
            ratio(ms(many, "ours, get_many"), ms(many, "ours, sequential")),
            "≤ 0.333",
        ),
        (
            "raw asyncio.gather(100 gets) / 100 sequential gets",
            ratio(ms(many, "raw, asyncio.gather"), ms(many, "ours, sequential")),
            "(the pipelining limit)",
        ),
        (
            "uncached get / cached get",
            ratio(ms("get", "ours"), ms("get (cached)", "ours, cache=True")),
            f"≥ 100, with 0 calls (measured {cached.round_trips_per_op:g})" if cached else "≥ 100",
        ),
        (
            "ours clear(100) / 1.1.3 clear(100)",
            ratio(ms("clear(100)", "ours"), ms("clear(100)", "1.1.3")),
            "≤ 1",
        ),
        (
            "1.1.3 fresh instance + get / ours",
            ratio(ms("fresh instance + get", "1.1.3"), ms("fresh instance + get", "ours")),
            "(information)",
        ),
    ]
    lines = ["| ratio | measured | goal |", "| --- | ---: | --- |"]
    lines += [f"| {name} | {value} | {goal} |" for name, value, goal in checks]
    return "\n".join(lines)


def chart(results: dict[str, list[Row]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(7 * len(results), 5), squeeze=False)
    for ax, (title, rows) in zip(axes[0], results.items(), strict=True):
        labels = [f"{r.op} [{r.who}]" for r in rows]
        ax.barh(labels, [r.ms_per_op for r in rows], color=[_colour(r.who) for r in rows])
        ax.set_xscale("log")
        ax.set_xlabel("ms per operation (log scale, lower is better)")
        ax.set_title(title, fontsize=10)
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


_COLOURS = {"raw": "#999999", "ours": "#1f77b4", "1.1.3": "#ff7f0e"}


def _colour(who: str) -> str:
    return _COLOURS.get(who.split(",")[0], "#1f77b4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--real", action="store_true", help="also run on the real web client")
    parser.add_argument("--latency", type=float, default=0.0006, help="simulated s per call")
    args = parser.parse_args()

    results: dict[str, list[Row]] = {}
    mem = asyncio.run(memory_env(args.latency))
    results[f"MemoryBackend, {args.latency * 1000:g} ms simulated latency per call"] = mem
    if args.real:
        results["Real Flutter web client in headless Chromium, loopback"] = real_env()

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}"
    parts = [f"# Benchmark results\n\n{stamp} · {machine} · one run\n"]
    for title, rows in results.items():
        parts += [table(title, rows), "", goals(rows), ""]
    parts += [
        "### The library's own CPU per call (MemoryBackend, no latency, min of 5)",
        "",
        asyncio.run(cpu_costs()),
        "",
        "`set` makes two calls (it reads the previous value in the same round, for quota",
        "safety), so it is compared with the same two raw calls, gathered.",
        "",
    ]
    text = "\n".join(parts)
    (HERE / "results.md").write_text(text)
    print(text)
    chart(results, HERE / "results.png")
    print(f"wrote {HERE / 'results.md'} and {HERE / 'results.png'}")


if __name__ == "__main__":
    main()

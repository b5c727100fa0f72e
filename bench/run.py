"""Benchmarks: ours vs raw SharedPreferences vs flet-storage 1.1.3, from one run.

    uv run --group bench python bench/run.py             # MemoryBackend (simulated latency)
    uv run --group bench python bench/run.py --real      # the real Flutter web client too:
                                                         # at 50 ms RTT and over loopback
    uv run --group bench python bench/run.py --real --rtt 100

On loopback a round trip costs well under a millisecond, so the client's CPU hides the
round trips; ``--real`` therefore also runs the suite with Chromium reaching the app through
a loopback proxy that delays each direction by RTT/2 (``proxy.py``). Every operation reports
ms/op, calls/op (backend calls) and rounds/op (round trips waited for one after the other).

Writes bench/results.md (tables and the goals) and bench/results.png (a chart of the first
table: the real-RTT one with ``--real``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]  # bench helpers, the e2e harness

from bench_cpu import cpu_costs  # noqa: E402
from bench_cpu import table as cpu_table  # noqa: E402
from sections import split_sections  # noqa: E402
from suite import N_KEYS, Env, Reps, RoundCounter, Row, run_suite  # noqa: E402
from upstream import UpstreamUnavailable, load_upstream  # noqa: E402

from flet_storage import FletStorage, MemoryBackend  # noqa: E402

# At a real RTT every operation costs at least one RTT: fewer repetitions keep the run short.
RTT_REPS = Reps(single=30, clear=10, batch=10, sequential=3, cached=2000, warmup=20, turns=10)
LOOPBACK_REPS = Reps()
MEMORY_REPS = Reps()

GOAL_RATIO = 1.05  # ours / the contender with the fewest round trips
GOAL_BATCH = 0.05  # get_many(50) / 50 sequential gets
GOAL_CACHED_MS = 0.05  # cached get
SYNC_HEADING = "## Live sync"  # bench/bench_sync.py's sections of results.md


@dataclass
class Section:
    title: str
    rows: list[Row]
    about: str  # how it was run
    judged: bool  # whether the goals are judged here (✓/✗), or shown for information


def _upstream() -> Any | None:
    try:
        return load_upstream()
    except UpstreamUnavailable as exc:
        print(f"flet-storage 1.1.3 unavailable, left out: {exc}", file=sys.stderr)
        return None


async def memory_env(latency: float, up_module: Any | None) -> list[Row]:
    backend = MemoryBackend(latency=latency)
    counter = RoundCounter()
    counter.wrap_backend(backend)

    def upstream(app: str) -> Any:
        assert up_module is not None
        storage = up_module.FletStorage(app)
        storage.storage = backend  # 1.1.3 keeps its SharedPreferences in .storage
        return storage

    env = Env(
        name=f"MemoryBackend, {latency * 1000:g} ms per call",
        raw=backend,
        ours=lambda app, **kw: FletStorage(app, backend=backend, **kw),
        upstream=upstream if up_module else None,
        counter=counter,
    )
    return await run_suite(env, MEMORY_REPS)


def table(rows: list[Row]) -> str:
    lines = [
        "| operation | who | n | ms/op (median) | ms/op (mean) | calls/op | rounds/op |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.op} | {r.who} | {r.n} | {_ms(r.ms_per_op)} | {_ms(r.mean_ms)} | "
            f"{r.calls_per_op:.3g} | {r.rounds_per_op:.3g} |"
        )
    return "\n".join(lines)


def _ms(ms: float) -> str:
    return f"{ms:.4f}" if ms < 1 else f"{ms:.2f}"


def goals(rows: list[Row], judged: bool) -> str:
    def row(op: str, who: str) -> Row | None:
        return next((r for r in rows if r.op == op and r.who == who), None)

    def cell(r: Row | None) -> str:
        return f"{_ms(r.ms_per_op)} ({r.rounds_per_op:.3g})" if r else "n/a"

    lines = [
        "| goal | ours median ms/op (rounds) | against | its median ms/op (rounds) | ratio | goal |"
        + (" met |" if judged else ""),
        "| --- | ---: | --- | ---: | ---: | --- |" + (" :---: |" if judged else ""),
    ]

    def add(name: str, mine: Row | None, ref: Row | None, limit: float, against: str) -> None:
        ratio = mine.ms_per_op / ref.ms_per_op if mine and ref and ref.ms_per_op else None
        met = "n/a" if ratio is None else ("✓" if ratio <= limit else "✗")
        lines.append(
            f"| {name} | {cell(mine)} | {against} | {cell(ref)} | "
            + (f"{ratio:.3g}" if ratio is not None else "n/a")
            + f" | ≤ {limit:g}x |"
            + (f" {met} |" if judged else "")
        )

    for op in ("get", "set", "contains_key"):
        add(op, row(op, "ours"), row(op, "raw"), GOAL_RATIO, "raw")
    for op in (f"get_keys ({N_KEYS} keys)", "remove (existing key)", f"clear ({N_KEYS} keys)"):
        add(op, row(op, "ours"), row(op, "1.1.3"), GOAL_RATIO, "1.1.3")
    add(
        f"get_many({N_KEYS}), sync=False",
        row(f"{N_KEYS} gets in one batch", "ours, get_many, sync=False"),
        row(f"{N_KEYS} gets, one after the other", "ours, sync=False"),
        GOAL_BATCH,
        f"{N_KEYS} sequential gets",
    )
    cached = row("get (cached)", "ours, cache=True")
    met = "n/a" if cached is None else ("✓" if cached.ms_per_op <= GOAL_CACHED_MS else "✗")
    lines.append(
        f"| cached get | {cell(cached)} | (absolute) | | | ≤ {GOAL_CACHED_MS:g} ms |"
        + (f" {met} |" if judged else "")
    )
    return "\n".join(lines)


def chart(section: Section, path: Path) -> None:
    """ms/op per operation per contender (log scale), rounds/op written on each bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    ops = list(dict.fromkeys(r.op for r in section.rows))
    height = 0.8
    fig, ax = plt.subplots(figsize=(10, 0.25 * len(section.rows) + 0.35 * len(ops) + 1.5))
    labels: list[tuple[float, str]] = []
    y = 0.0
    for op in ops:
        group = [r for r in section.rows if r.op == op]
        for i, r in enumerate(group):
            pos = y + i * height
            ax.barh(pos, r.ms_per_op, height=height * 0.9, color=_colour(r.who))
            ax.text(
                r.ms_per_op * 1.08,
                pos,
                f"{_ms(r.ms_per_op)} ms/op · {r.rounds_per_op:.3g} rounds/op · {r.who}",
                va="center",
                fontsize=7,
            )
        labels.append((y + (len(group) - 1) * height / 2, op))
        y += len(group) * height + 0.8
    ax.set_yticks([pos for pos, _ in labels], [op for _, op in labels], fontsize=8)
    ax.set_xscale("log")
    low = min(r.ms_per_op for r in section.rows)
    high = max(r.ms_per_op for r in section.rows)
    ax.set_xlim(low / 2, high * 150)  # room for the labels
    ax.set_xlabel("median ms per operation (log scale, lower is better)")
    ax.set_title(section.title, fontsize=10)
    ax.invert_yaxis()
    handles = [Patch(color=colour, label=who) for who, colour in _COLOURS.items()]
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


_COLOURS = {"raw": "#999999", "ours": "#1f77b4", "1.1.3": "#ff7f0e"}


def _colour(who: str) -> str:
    return _COLOURS.get(who.split(",")[0], "#1f77b4")


def real_sections(rtt_ms: float, up_module: Any | None) -> list[Section]:
    from real_client import RealRun, run_on_real_client  # needs the e2e harness, Chromium

    runs = [RealRun(rtt_ms, RTT_REPS)] if rtt_ms > 0 else []
    runs.append(RealRun(0, LOOPBACK_REPS))
    start = time.perf_counter()
    run_on_real_client(run_suite, up_module, runs)
    print(f"real client: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    sections = []
    for run in runs:
        assert run.rows is not None
        if run.rtt_ms > 0:
            title = f"Real Flutter web client in headless Chromium, {run.rtt_ms:g} ms RTT"
            about = (
                f"Chromium reaches the app through `bench/proxy.py`, a loopback TCP proxy that "
                f"delays every chunk {run.rtt_ms / 2:g} ms each way (latency, not throttling). "
                f"{run.proxy_stats}. An operation of one round costs the RTT, plus what it "
                "costs over loopback (mostly the client's CPU), plus up to about a millisecond "
                "each way by which asyncio's timers wake up late. "
                f"This run took {run.seconds:.0f} s, page load included."
            )
        else:
            title = "Real Flutter web client in headless Chromium, loopback"
            about = (
                "No proxy: well under a millisecond per round trip, so the client's CPU "
                f"dominates. This run took {run.seconds:.0f} s, page load included."
            )
        sections.append(Section(title, run.rows, about, judged=run.rtt_ms > 0))
    return sections


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--real", action="store_true", help="also run on the real web client")
    parser.add_argument(
        "--rtt",
        type=float,
        default=50.0,
        metavar="MS",
        help="round-trip time for the real-client run, through the latency proxy "
        "(default 50; 0: loopback only). A loopback run is always made too.",
    )
    parser.add_argument("--latency", type=float, default=0.0006, help="simulated s per call")
    args = parser.parse_args()
    if args.rtt < 0:
        parser.error("--rtt must be >= 0")

    began = time.perf_counter()
    up_module = _upstream()
    sections: list[Section] = []
    if args.real:
        sections += real_sections(args.rtt, up_module)
    memory = asyncio.run(memory_env(args.latency, up_module))
    memory_section = Section(
        f"MemoryBackend, {args.latency * 1000:g} ms simulated latency per call",
        memory,
        "In-process, no client: `MemoryBackend(latency=...)` sleeps on every call.",
        judged=not args.real,
    )
    cpu = cpu_table({"ours": asyncio.run(cpu_costs())})

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}"
    parts = [
        "# Benchmark results",
        "",
        f"{stamp} · {machine} · one run of `uv run --group bench python bench/run.py"
        + (f" --real --rtt {args.rtt:g}`" if args.real else "`")
        + f" ({time.perf_counter() - began:.0f} s)",
        "",
        "*n* is how many times each contender ran the operation (taking turns, so drift hits",
        "all alike), each timed on its own; the goals and the chart use the median, steadier",
        "than the mean on this shared machine. calls/op counts backend calls (SharedPreferences",
        "`invoke_method`s on the real client); rounds/op counts how often the number of calls",
        "in flight rose from 0 (a pipelined batch is one round): the round trips an operation",
        "waits for, one after the other. `remove` times only the remove (the key is set again,",
        "untimed and uncounted, before each); `clear` likewise refills its 50 keys first.",
        "",
    ]
    for section in sections:
        parts += _section(section)
    parts += [
        "## The library's own CPU per call (MemoryBackend, no latency, min of 5)",
        "",
        cpu,
        "",
        "`set` makes two calls (it reads the previous value in the same round, for quota",
        "safety), so it is compared with the same two raw calls, gathered; a TTL adds the",
        "expiry mark's set. `bench/bench_cpu.py --against REV` runs another engine beside it.",
        "",
    ]
    parts += _section(memory_section)
    results = HERE / "results.md"
    old = results.read_text() if results.exists() else ""
    # bench/bench_sync.py's sections stay, as it wrote them.
    parts += [f"{h}\n{b}" for h, b in split_sections(old) if h.startswith(SYNC_HEADING)]
    text = "\n".join(parts)
    results.write_text(text)
    print(text)
    chart((sections or [memory_section])[0], HERE / "results.png")
    print(f"wrote {HERE / 'results.md'} and {HERE / 'results.png'}")


def _section(section: Section) -> list[str]:
    heading = (
        "Goals (✓/✗ judged at this RTT)"
        if section.judged
        else "The goals' ratios here (for information; judged at the real RTT)"
    )
    return [
        f"## {section.title}",
        "",
        section.about,
        "",
        table(section.rows),
        "",
        f"{heading}: each operation at most {GOAL_RATIO:g} times the contender that needs the",
        f"fewest round trips for it, get_many({N_KEYS}) at most {GOAL_BATCH:g} times {N_KEYS}"
        f" sequential gets, a cached get at most {GOAL_CACHED_MS:g} ms.",
        "",
        goals(section.rows, section.judged),
        "",
    ]


if __name__ == "__main__":
    main()

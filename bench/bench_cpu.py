"""The library's own CPU per call: what FletStorage adds to the raw backend calls it makes.

    uv run python bench/bench_cpu.py                 # this tree only
    uv run python bench/bench_cpu.py --against REV   # and the engine at git revision REV,
                                                     # side by side in the same run

MemoryBackend with no latency, so the time is all CPU (Python), steadier than round-trip
timings on a busy machine. Each case is timed against the same raw calls it makes (`set`
reads the previous value in the same round, so its raw twin gathers a get and a set; a TTL
adds the expiry mark's set). With `--against`, the two engines run in turn, three times
each, in child processes (`git archive REV src` is imported instead of this tree's), and
the best of each is kept. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from flet_storage import FletStorage, MemoryBackend

VALUE = {"theme": "dark", "font_size": 14, "recent": ["a", "b", "c"], "beta": False}
ROOT = Path(__file__).resolve().parents[1]


async def cpu_costs(n: int = 20_000) -> dict[str, tuple[float, float]]:
    """Each case's (raw µs/op, ours µs/op), the best of 5 runs of n/5 calls."""
    backend = MemoryBackend()
    ours = FletStorage("bench", backend=backend)
    await ours.set("k", VALUE)
    await backend.set("raw.k", json.dumps(VALUE))

    async def raw_get() -> None:
        json.loads(await backend.get("raw.k"))  # type: ignore[arg-type]

    async def raw_set() -> None:
        await asyncio.gather(backend.get("raw.k"), backend.set("raw.k", json.dumps(VALUE)))

    async def raw_set_ttl() -> None:
        await asyncio.gather(
            backend.get("raw.t"),
            backend.set("raw.t", json.dumps(VALUE)),
            backend.set("raw.mark", 1e10),
        )

    cases: dict[str, tuple[Callable[[], Awaitable[object]], Callable[[], Awaitable[object]]]] = {
        "get": (raw_get, lambda: ours.get("k")),
        "set": (raw_set, lambda: ours.set("k", VALUE)),
        "set with ttl": (raw_set_ttl, lambda: ours.set("t", VALUE, ttl=3600)),
    }
    results: dict[str, tuple[float, float]] = {}
    for name, (raw, mine) in cases.items():
        best = [float("inf"), float("inf")]
        for _ in range(5):
            for i, fn in enumerate((raw, mine)):  # in turn, so drift hits both alike
                start = time.perf_counter()
                for _ in range(n // 5):
                    await fn()
                best[i] = min(best[i], (time.perf_counter() - start) / (n // 5) * 1e6)
        results[name] = (best[0], best[1])
    return results


def table(columns: dict[str, dict[str, tuple[float, float]]]) -> str:
    heads = list(columns)
    lines = [
        "| operation | raw + json (µs/op) | "
        + " | ".join(f"{h} (µs/op) | {h} adds (µs/op)" for h in heads)
        + " |",
        "| --- | ---: | " + " | ".join("---: | ---:" for _ in heads) + " |",
    ]
    for case in next(iter(columns.values())):
        raw = min(columns[h][case][0] for h in heads)
        cells = " | ".join(
            f"{columns[h][case][1]:.1f} | {columns[h][case][1] - columns[h][case][0]:.1f}"
            for h in heads
        )
        lines.append(f"| {case} | {raw:.1f} | {cells} |")
    return "\n".join(lines)


def _child(src: Path | None) -> dict[str, tuple[float, float]]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    out = subprocess.run(
        [sys.executable, __file__, "--child"], env=env, check=True, capture_output=True, text=True
    ).stdout
    return {k: (v[0], v[1]) for k, v in json.loads(out).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="also time the engine at this revision")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(cpu_costs())))
        return
    if not args.against:
        print(table({"ours": asyncio.run(cpu_costs())}))
        return
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.against, "src"],
            check=True,
            capture_output=True,
        ).stdout
        archive_path = Path(tmp, "src.tar")
        archive_path.write_bytes(archive)
        with tarfile.open(archive_path) as tar:
            tar.extractall(tmp, filter="data")
        old_src = Path(tmp, "src")
        runs: dict[str, list[dict[str, tuple[float, float]]]] = {"this tree": [], args.against: []}
        for _ in range(3):
            runs["this tree"].append(_child(None))
            runs[args.against].append(_child(old_src))
    best = {
        who: {case: (min(r[case][0] for r in rs), min(r[case][1] for r in rs)) for case in rs[0]}
        for who, rs in runs.items()
    }
    print(table(best))


if __name__ == "__main__":
    main()

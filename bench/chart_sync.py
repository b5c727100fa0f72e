"""The live-sync chart of the docs, from bench/bench_sync.py's recorded run (standard library
only: it writes the SVG itself).

    uv run python bench/bench_sync.py --write     # records bench/results_sync.json
    uv run python bench/chart_sync.py             # writes docs/img/sync-latency.svg

Two panels, one bar per figure, each bar labelled with its value: the time from tab A's
`set` returning to tab B's listener firing (p50 and p95: in-process, through Redis, and
through Redis with B's server a second process) on one scale with the goal (one client
round trip + 10 ms) and, for scale, A's `set` itself; and a single tab's `get`/`set`
medians with sync on over sync off (1: costs nothing).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SOURCE = HERE / "results_sync.json"
TARGET = HERE.parent / "docs" / "img" / "sync-latency.svg"

WIDTH = 760
LABEL_W = 250  # the bars' names, left of the bars
VALUE_W = 190  # room right of the longest bar for its value
BAR_H = 18
GAP = 6
HALO = "stroke='white' stroke-width='4' paint-order='stroke'"
FONT = "font-family='system-ui, -apple-system, Segoe UI, Roboto, sans-serif'"
COLOURS = {"in-process": "#1f77b4", "Redis": "#d62728", "reference": "#9e9e9e"}
NAMES = {"in-process": "in-process", "Redis": "through Redis"}


@dataclass
class Bar:
    label: str
    value: float
    text: str  # the value as written beside the bar
    colour: str


@dataclass
class Line:
    at: float
    label: str


def _panel(title: str, bars: list[Bar], lines: list[Line], top: float, unit: str) -> list[str]:
    """One panel's SVG elements, its title at `top`; bars on a linear scale from 0."""
    high = max([b.value for b in bars] + [line.at for line in lines]) * 1.05
    left, right = LABEL_W, WIDTH - VALUE_W

    def x(value: float) -> float:
        return left + (right - left) * max(value, 0.0) / high

    parts = [f"<text x='10' y='{top + 14}' font-size='14' font-weight='600'>{escape(title)}</text>"]
    y = top + 28
    first_bar, last_bar = y, y + len(bars) * (BAR_H + GAP)
    for line in lines:  # under the bars' values, which keep a white halo over it
        at = x(line.at)
        parts += [
            f"<line x1='{at:.1f}' y1='{first_bar - 4}' x2='{at:.1f}' y2='{last_bar}' "
            "stroke='#2ca02c' stroke-width='2' stroke-dasharray='6 4'/>",
            f"<text x='{at:.1f}' y='{last_bar + 14}' font-size='12' fill='#2ca02c' "
            f"text-anchor='middle'>{escape(line.label)}</text>",
        ]
    for bar in bars:
        width = max(x(bar.value) - left, 1.0)  # a value near 0 still shows as a hairline
        parts += [
            f"<text x='{left - 8}' y='{y + BAR_H - 5}' font-size='12' text-anchor='end'>"
            f"{escape(bar.label)}</text>",
            f"<rect x='{left}' y='{y}' width='{width:.1f}' height='{BAR_H}' "
            f"fill='{bar.colour}'><title>{escape(bar.label)}: {escape(bar.text)}</title></rect>",
            f"<text x='{left + width + 6:.1f}' y='{y + BAR_H - 5}' font-size='12' "
            f"{HALO}>{escape(bar.text)}</text>",
        ]
        y += BAR_H + GAP
    parts.append(
        f"<line x1='{left}' y1='{first_bar - 4}' x2='{left}' y2='{y}' stroke='#444' "
        "stroke-width='1'/>"
    )
    parts.append(
        f"<text x='{left}' y='{y + 30}' font-size='11' fill='#555'>0 {escape(unit)} "
        "(linear scale)</text>"
    )
    return parts


def _ms(value: float) -> str:
    return f"{value:.2f} ms" + (" (before A's set returned)" if value < 0 else "")


def _height(bars: int) -> float:
    return 28 + bars * (BAR_H + GAP) + 40


def chart(run: dict[str, Any]) -> str:
    """The SVG text for one recorded run of bench/bench_sync.py."""
    rtt = float(run["rtt_ms"])
    figures: dict[str, Any] = run["figures"]
    goal = rtt + 10
    latency: list[Bar] = []
    ratios: list[Bar] = []
    for name, f in figures.items():
        colour, shown = COLOURS[name], NAMES[name]
        for q in ("p50", "p95"):
            value = f["latency_ms"][q]
            latency.append(Bar(f"{shown}, {q}", value, _ms(value), colour))
        if f.get("peer_latency_ms"):
            for q in ("p50", "p95"):
                value = f["peer_latency_ms"][q]
                latency.append(Bar(f"{shown}, B a 2nd process, {q}", value, _ms(value), colour))
        for op in ("get", "set"):
            on, off = f["one_tab_ms"][op]["on"], f["one_tab_ms"][op]["off"]
            ratios.append(
                Bar(
                    f"{shown}: {op}",
                    on / off,
                    f"{on / off:.3f} ({on:.2f} / {off:.2f} ms)",
                    colour,
                )
            )
    own_set = figures["in-process"]["one_tab_ms"]["set"]["on"]
    latency.append(
        Bar(
            "for scale: A's set itself (median)", own_set, f"{own_set:.1f} ms", COLOURS["reference"]
        )
    )
    where = f"{rtt:g} ms client round trip" if rtt > 0 else "loopback"
    first = (
        f"Tab A's set returned → tab B's listener fired ({where}, "
        f"{figures['in-process']['latency_ms']['n']} writes)"
    )
    second = "One tab: median time with sync on ÷ with sync off (1: costs nothing)"
    top2 = 10 + _height(len(latency)) + 20
    height = top2 + _height(len(ratios)) - 10
    body = [
        *_panel(first, latency, [Line(goal, f"goal: 1 RTT + 10 ms = {goal:g} ms")], 10, "ms"),
        *_panel(second, ratios, [Line(1.0, "1 (sync off)")], top2, ""),
    ]
    summary = (
        "Listener latency p50 and p95, in-process and through Redis, against the goal of one "
        "client round trip plus 10 ms; and a single tab's get and set medians, sync on over off."
    )
    return "\n".join(
        [
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height:.0f}' "
            f"viewBox='0 0 {WIDTH} {height:.0f}' role='img' {FONT} fill='#222'>",
            "<title>Live sync: listener latency and single-tab cost</title>",
            f"<desc>{escape(summary)} Measured {escape(run['date'])} by bench/bench_sync.py."
            "</desc>",
            f"<rect width='{WIDTH}' height='{height:.0f}' fill='white'/>",
            *body,
            "</svg>",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rtt", default="50", help="which recorded run (its RTT in ms)")
    parser.add_argument("--out", type=Path, default=TARGET)
    args = parser.parse_args()
    runs = json.loads(SOURCE.read_text())
    if args.rtt not in runs:
        raise SystemExit(f"no run at {args.rtt} ms in {SOURCE}: run bench_sync.py --write")
    args.out.write_text(chart(runs[args.rtt]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

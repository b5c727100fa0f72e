"""CPU cost of encode+decode: our codec against flet-storage 1.1.3's JSON path.

Run: ``uv run python bench/bench_codec.py``. Installs the real flet-storage 1.1.3 into a cache
directory (see ``upstream.py``) and times its own ``json.dumps(obj, default=_set_default)`` /
``json.loads(text, object_hook=_object_hook)`` against ``Codec().encode`` / ``decode``, with
``timeit``: min of N repeats, each long enough to be stable. Prints a markdown table.
"""

from __future__ import annotations

import json
import platform
import sys
import timeit
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from upstream import UPSTREAM_VERSION, load_upstream

from flet_storage._codec import Codec

REPEATS = 7
MIN_SECONDS = 0.2

SETTINGS: dict[str, Any] = {
    "theme": "dark",
    "language": "en-US",
    "font_size": 14,
    "volume": 0.75,
    "notifications": {"email": True, "push": False, "digest": "weekly", "quiet_hours": [22, 7]},
    "recent_files": ["/home/user/notes.txt", "/home/user/todo.md", "/tmp/report.csv"],
    "window": {"width": 1280, "height": 800, "maximized": False, "position": [100, 50]},
    "shortcuts": {"save": "ctrl+s", "open": "ctrl+o", "quit": "ctrl+q", "find": "ctrl+f"},
    "last_sync": None,
    "user_id": 123456789,
    "onboarding_done": True,
}
SETTINGS_UNICODE = {**SETTINGS, "language": "de-DE", "greeting": "Grüße, Zoë ✓"}

CREATED = datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
MIXED: dict[str, Any] = {
    "tags": {"python", "flet", "async", "storage"},
    "favorite_ids": {3, 14, 15, 92},
    "window": (1280, 800),
    "created": CREATED,
    "birthday": date(1990, 7, 14),
    "recent": [("notes.txt", CREATED + timedelta(hours=i)) for i in range(5)],
    "profile": {"name": "Ada", "admin": False, "score": 97.5},
}


def upstream_view(value: Any) -> Any:
    """What 1.1.3 can store of ``value``: tuples become lists, dates ISO strings."""
    if isinstance(value, dict):
        return {k: upstream_view(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [upstream_view(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def per_op(*funcs: Callable[[], object]) -> list[float]:
    """Microseconds per call of each function: min over REPEATS rounds of auto-sized loops.

    The functions take turns within each round, so a load spike on the machine hits all of
    them rather than skewing their ratio.
    """
    timers = [timeit.Timer(func) for func in funcs]
    numbers = [max(1, int(timer.autorange()[0] * MIN_SECONDS / 0.2)) for timer in timers]
    best = [float("inf")] * len(funcs)
    for _ in range(REPEATS):
        for i, (timer, number) in enumerate(zip(timers, numbers, strict=True)):
            best[i] = min(best[i], timer.timeit(number) / number * 1e6)
    return best


def measure(name: str, ours_value: Any, theirs_value: Any, old: Any) -> str:
    codec = Codec()
    ours_text = codec.encode(ours_value)
    theirs_text = json.dumps(theirs_value, default=old._set_default)
    assert codec.decode(ours_text) == ours_value
    assert json.loads(theirs_text, object_hook=old._object_hook) == theirs_value

    enc, dec, ours, theirs = per_op(
        lambda: codec.encode(ours_value),
        lambda: codec.decode(ours_text),
        lambda: codec.decode(codec.encode(ours_value)),
        lambda: json.loads(
            json.dumps(theirs_value, default=old._set_default), object_hook=old._object_hook
        ),
    )
    return (
        f"| {name} | {len(ours_text)} | {enc:.2f} | {dec:.2f} | {ours:.2f} | "
        f"{len(theirs_text)} | {theirs:.2f} | {ours / theirs:.2f}x |"
    )


def main() -> None:
    old = load_upstream().FletStorage
    print(
        f"Python {platform.python_version()} on {platform.machine()}; flet-storage "
        f"{UPSTREAM_VERSION} from PyPI; timeit min of {REPEATS}; microseconds per operation.\n"
    )
    print(
        "| case | ours: chars | ours: encode | ours: decode | ours: encode+decode | "
        f"{UPSTREAM_VERSION}: chars | {UPSTREAM_VERSION}: encode+decode | ratio ours/"
        f"{UPSTREAM_VERSION} |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(measure("(a) settings dict, plain JSON (ASCII)", SETTINGS, SETTINGS, old))
    unicode = SETTINGS_UNICODE
    print(measure("(a') settings dict, plain JSON, non-ASCII text", unicode, unicode, old))
    print(measure("(b) mixed: sets, tuples, datetimes, date", MIXED, upstream_view(MIXED), old))
    print(
        f"\n(b): {UPSTREAM_VERSION} cannot store tuples or dates, so its column times what it "
        "can store of the same value (tuples as lists, dates as ISO strings), without the "
        "conversions an app would need on top; it reads tuples back as lists and dates as str."
    )


if __name__ == "__main__":
    main()

"""CPU cost of encode+decode: our codec against flet-storage 1.1.3's JSON path, and decode
time of hostile stored text.

Run: ``uv run python bench/bench_codec.py``. Installs the real flet-storage 1.1.3 into a cache
directory (see ``upstream.py``) and times its own ``json.dumps(obj, default=_set_default)`` /
``json.loads(text, object_hook=_object_hook)`` against ``Codec().encode`` / ``decode``, with
``timeit``: min of N repeats, each long enough to be stable. Prints a markdown table.

Then decodes about 1 MB (``--hostile-mb``) of each of the worst stored texts we can build,
against a plain set of ints of the same size: decode time must stay linear in the size.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import timeit
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from upstream import UPSTREAM_VERSION, load_upstream

from flet_storage._codec import Codec
from flet_storage._tags import _MOST_SHARING, _UNCHECKED

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


P61 = 2**61 - 1
"""Every multiple of this prime hashes to 0: `hash(i * P61) == 0`."""
GROUP = _MOST_SHARING  # the most elements that may share a hash value, on average


def _tagged(tag: str, payload: object) -> str:
    return "fs2:" + json.dumps({"$fs": tag, "v": payload}, separators=(",", ":"))


HOSTILE: dict[str, Callable[[int], str]] = {
    "(baseline) set of the ints 0..n": lambda n: _tagged("set", list(range(n))),
    "set of ints that all hash to 0": lambda n: _tagged("set", [i * P61 for i in range(n)]),
    "dict whose int keys all hash to 0": lambda n: _tagged(
        "dict", [[i * P61, 0] for i in range(n)]
    ),
    "1.1.x set of ints that all hash to 0": lambda n: json.dumps(
        {"__type__": "set", "values": [i * P61 for i in range(n)]}
    ),
    # Sets small enough to go unchecked, each all of one hash value.
    f"sets of {_UNCHECKED} ints that all hash to 0": lambda n: (
        "fs2:"
        + json.dumps(
            [{"$fs": "set", "v": [i * P61 for i in range(_UNCHECKED)]}] * (n // _UNCHECKED),
            separators=(",", ":"),
        )
    ),
    # Groups as large as the bound lets through, and all groups' hashes alike in their low
    # 40 bits, so that they also share their first probes in the table.
    f"dict, int keys in groups of {GROUP} per hash, hashes alike in 40 low bits": lambda n: _tagged(
        "dict", [[(g << 40) + i * P61, 0] for g in range(n // GROUP) for i in range(GROUP)]
    ),
}


def of_size(make: Callable[[int], str], size: int) -> str:
    """`make(n)` for the smallest n (to within GROUP) whose text is at least `size` chars."""
    low, high = GROUP, GROUP
    while len(make(high)) < size:
        low, high = high, high * 2
    while high - low > GROUP:
        middle = (low + high) // 2
        low, high = (middle, high) if len(make(middle)) < size else (low, middle)
    return make(high)


def measure_hostile(name: str, make: Callable[[int], str], megabytes: float) -> str:
    codec = Codec()
    text = of_size(make, int(megabytes * 1e6))
    best, outcome = float("inf"), ""
    for _ in range(3):  # min of 3, or of fewer runs once one takes over a second
        start = time.perf_counter()
        try:
            codec.decode(text)
            outcome = "decoded"
        except ValueError as exc:
            outcome = f"{type(exc).__name__}"
        best = min(best, time.perf_counter() - start)
        if best > 1:
            break
    size = len(text) / 1e6
    return f"| {name} | {size:.2f} | {best:.3f} | {best / size:.3f} | {outcome} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hostile-mb", type=float, default=1.0)
    parser.add_argument("--hostile-only", action="store_true")
    args = parser.parse_args()
    if not args.hostile_only:
        compare()
    print(
        f"\nHostile stored text, Python {platform.python_version()}: decode time (min of up "
        "to 3 runs).\n"
    )
    print("| stored text | MB | decode s | s per MB | result |")
    print("|---|---:|---:|---:|---|")
    for name, make in HOSTILE.items():
        print(measure_hostile(name, make, args.hostile_mb), flush=True)


def compare() -> None:
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

"""CPU cost of Encryption.encrypt / decrypt of a 1 KB value (goal: at most 30 µs each).

Run: ``uv run python bench/bench_crypto.py``. Times with ``timeit`` as bench_codec.py does
(min of its REPEATS rounds of auto-sized loops), encrypt and decrypt taking turns.
Prints µs per call, for a 1 KB ASCII JSON value and a 1 KB non-ASCII one, and the goal check.
"""

from __future__ import annotations

import asyncio
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import cryptography
from bench_codec import REPEATS, per_op

from flet_storage import FletStorage, MemoryBackend
from flet_storage._crypto import Encryption

GOAL_US = 30.0
CONTEXT = b"\x06my_app\x0dsession_token\x0a1700000000"


def value_of_1kb(item: str) -> str:
    """Codec-like JSON text of exactly 1024 UTF-8 bytes."""
    text = json.dumps({"notes": [], "pad": ""}, ensure_ascii=False)
    notes: list[str] = []
    while len(text.encode()) < 1024 - 64:
        notes.append(item)
        text = json.dumps({"notes": notes, "pad": ""}, ensure_ascii=False)
    pad = "x" * (1024 - len(text.encode()))
    text = json.dumps({"notes": notes, "pad": pad}, ensure_ascii=False)
    assert len(text.encode()) == 1024, len(text.encode())
    return text


def main() -> int:
    enc = Encryption(Encryption.generate_key(), Encryption.generate_key())
    print(
        f"Python {platform.python_version()} on {platform.machine()}, cryptography "
        f"{cryptography.__version__}; timeit min of {REPEATS}; µs per call.\n"
    )
    print("| value | stored chars | encrypt µs | decrypt µs |")
    print("|---|---:|---:|---:|")
    worst = 0.0
    for name, item in [("1 KB ASCII JSON", "buy milk"), ("1 KB non-ASCII JSON", "Grüße ✓")]:
        plaintext = value_of_1kb(item)
        stored = enc.encrypt(plaintext, CONTEXT)
        assert enc.decrypt(stored, CONTEXT) == plaintext
        encrypt_us, decrypt_us = per_op(
            lambda: enc.encrypt(plaintext, CONTEXT),  # noqa: B023 - timed before the next item
            lambda: enc.decrypt(stored, CONTEXT),  # noqa: B023
        )
        worst = max(worst, encrypt_us, decrypt_us)
        print(f"| {name} | {len(stored)} | {encrypt_us:.2f} | {decrypt_us:.2f} |")
    print("\nWhat encryption adds to FletStorage's own get and set of a 1 KB value")
    print(
        "(MemoryBackend, no latency; min of 7 runs of 2000 ops, plain and encrypted "
        "taking turns):\n"
    )
    print("| operation | plain µs | encrypted µs | encryption adds µs | calls plain / encrypted |")
    print("|---|---:|---:|---:|---:|")
    for op, plain_us, secret_us, calls in asyncio.run(storage_costs(value_of_1kb("buy milk"))):
        worst = max(worst, secret_us - plain_us)
        print(f"| {op} | {plain_us:.1f} | {secret_us:.1f} | {secret_us - plain_us:.1f} | {calls} |")
    met = worst <= GOAL_US
    verdict = "met" if met else "NOT met"
    print(f"\nGoal: at most {GOAL_US:.0f} µs each: {verdict} (worst {worst:.2f} µs)")
    return 0 if met else 1


async def storage_costs(text: str, n: int = 2000) -> list[tuple[str, float, float, str]]:
    value = json.loads(text)
    plain_backend, secret_backend = MemoryBackend(), MemoryBackend()
    plain = FletStorage("bench", backend=plain_backend)
    secret = FletStorage(
        "bench", backend=secret_backend, encryption=Encryption(Encryption.generate_key())
    )
    rows = []
    for op in ("set", "get"):
        best = {id(plain): float("inf"), id(secret): float("inf")}
        for _ in range(7):
            for storage in (plain, secret):
                start = time.perf_counter()
                for _ in range(n):
                    if op == "set":
                        await storage.set("k", value)
                    else:
                        await storage.get("k")
                best[id(storage)] = min(best[id(storage)], (time.perf_counter() - start) / n)
        calls = f"{sum(plain_backend.calls.values())} / {sum(secret_backend.calls.values())}"
        rows.append((op, best[id(plain)] * 1e6, best[id(secret)] * 1e6, calls))
    return rows


if __name__ == "__main__":
    raise SystemExit(main())

"""The inspector's reading side, without a client: stored sizes, expiries, previews."""

from __future__ import annotations

import json

from conftest import FakeClock

from flet_storage import FletStorage, MemoryBackend
from flet_storage.inspector import PREVIEW, _countdown, _preview, _rows


async def test_stored_sizes_and_expiries_are_read_only(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    storage = FletStorage("app", backend=backend, clock=clock)
    await storage.set("tags", {"a"})
    await storage.set("session", "s", ttl=60)
    await storage.set("gone", 1, ttl=1)
    clock.advance(2)
    before = dict(backend.data)
    stored = await storage._records.stored()
    assert set(stored) == {"tags", "session"}
    assert stored["session"] == (
        len(f"fst:{clock.now - 2 + 60!r}:" + json.dumps("s")),
        clock.now + 58,
    )
    assert stored["tags"][1] is None
    assert stored["tags"][0] == len(str(backend.data["app.tags"]))
    rows = {row.key: row for row in await _rows(storage)}
    assert rows["tags"].type_name == "set"
    assert rows["tags"].json_text == ""  # a set is not JSON: the editor starts empty
    assert rows["session"].json_text == '"s"'
    assert {k: v for k, v in backend.data.items() if "gone" not in k} == {
        k: v for k, v in before.items() if "gone" not in k
    }


def test_previews_are_cut_and_countdowns_read_well() -> None:
    assert _preview("x" * 10) == repr("x" * 10)
    long = _preview("x" * (2 * PREVIEW))
    assert len(long) == PREVIEW
    assert long.endswith("…")
    assert [_countdown(s) for s in (-1, 0.2, 59, 61, 3600, 7322)] == [
        "0s",
        "1s",
        "59s",
        "1m 01s",
        "1h 00m",
        "2h 02m",
    ]

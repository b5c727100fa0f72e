"""FileBackend: a Flutter desktop shared_preferences.json with SharedPreferences' semantics."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from flet_storage import FileBackend, FletStorage
from flet_storage.testing import BackendContract


class TestFileBackendContract(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> FileBackend:
        return FileBackend(tmp_path / "shared_preferences.json")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _load(path: Path) -> Any:
    return json.loads(_text(path))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "app" / "shared_preferences.json"


async def test_writes_the_flutter_format(path: Path) -> None:
    backend = FileBackend(path)
    assert await backend.get_keys("") == []  # no file yet: empty
    await backend.set("a.s", "x")
    await backend.set("a.i", 2)
    await backend.set("a.f", 2.0)
    await backend.set("a.b", False)
    await backend.set("a.l", ["x", "y"])
    assert _load(path) == {
        "flutter.a.s": "x",
        "flutter.a.i": 2,
        "flutter.a.f": 2.0,
        "flutter.a.b": False,
        "flutter.a.l": ["x", "y"],
    }
    assert '"flutter.a.f":2.0' in _text(path)  # Flutter reads it back as a double
    reopened = FileBackend(path)
    assert await reopened.get("a.f") == 2.0
    assert type(await reopened.get("a.f")) is float
    assert type(await reopened.get("a.i")) is int
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


async def test_sees_external_edits_and_keeps_foreign_keys(path: Path) -> None:
    _write(path, json.dumps({"flutter.a.x": "1", "other": 5}))
    backend = FileBackend(path)
    assert await backend.get("a.x") == "1"
    _write(path, json.dumps({"flutter.a.x": "2", "other": 5}))
    assert await backend.get("a.x") == "2"
    await backend.clear()
    assert _load(path) == {"other": 5}


async def test_rejects_a_file_that_is_not_an_object(path: Path) -> None:
    _write(path, "[1]")
    with pytest.raises(ValueError, match=r"not a shared_preferences\.json"):
        await FileBackend(path).get("a")
    _write(path, "{nope")
    with pytest.raises(ValueError, match=r"not a shared_preferences\.json"):
        await FileBackend(path).get_keys("")


async def test_refuses_nan(path: Path) -> None:
    with pytest.raises(ValueError, match="NaN"):
        await FileBackend(path).set("a", float("nan"))


async def test_concurrent_writes_are_all_kept(path: Path) -> None:
    backend = FileBackend(path)
    await asyncio.gather(*(backend.set(f"k{i}", i) for i in range(20)))
    assert sorted(await backend.get_keys("k")) == sorted(f"k{i}" for i in range(20))


async def test_fletstorage_on_a_file(path: Path) -> None:
    storage = FletStorage("my_app", backend=FileBackend(path))
    await storage.set("tags", {"a", "b"}, ttl=60)
    again = FletStorage("my_app", backend=FileBackend(path))
    assert await again.get("tags") == {"a", "b"}
    assert "flutter.flet_storage:ttl:my_app.tags" in _load(path)

"""FileBackend: a Flutter desktop shared_preferences.json with SharedPreferences' semantics."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
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


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _owner(path: Path) -> tuple[int, int]:
    return path.stat().st_uid, path.stat().st_gid


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


def _write(path: Path, text: str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mode is not None:
        path.chmod(mode)


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
    lock = path.with_name("shared_preferences.json.lock")
    assert sorted(path.parent.iterdir()) == [path, lock]  # no temporary file left behind


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


async def test_a_file_nested_too_deeply_is_a_value_error(path: Path) -> None:
    _write(path, "[" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        await FileBackend(path).get("a")


# -- writing: through symlinks, keeping mode and owner, locked across processes -------------


async def test_writes_through_a_symlink(path: Path, tmp_path: Path) -> None:
    _write(path, json.dumps({"flutter.a.x": "1"}))
    link = tmp_path / "link.json"
    link.symlink_to(path)
    await FileBackend(link).set("a.y", "2")
    assert link.is_symlink()
    assert os.readlink(link) == str(path)
    assert _load(path) == {"flutter.a.x": "1", "flutter.a.y": "2"}
    await FileBackend(link).remove("a.x")
    assert link.is_symlink()
    assert _load(path) == {"flutter.a.y": "2"}


async def test_a_dangling_symlink_creates_its_target(path: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(path)
    await FileBackend(link).set("a.x", "1")
    assert link.is_symlink()
    assert _load(path) == {"flutter.a.x": "1"}


@pytest.mark.parametrize("mode", [0o644, 0o664, 0o600, 0o444])
async def test_keeps_the_mode(path: Path, mode: int) -> None:
    _write(path, "{}", mode)
    if mode == 0o444 and os.geteuid() != 0:
        pytest.skip("only root may replace a read-only file's contents here")
    await FileBackend(path).set("a.x", "1")
    assert _mode(path) == mode
    assert _load(path) == {"flutter.a.x": "1"}


async def test_a_new_file_is_private(path: Path) -> None:
    await FileBackend(path).set("a.x", "1")
    assert _mode(path) == 0o600


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give files away"
)
async def test_keeps_the_owner(path: Path) -> None:
    _write(path, "{}")
    os.chown(path, 4321, 4322)
    await FileBackend(path).set("a.x", "1")
    assert _owner(path) == (4321, 4322)


_WRITER = """
import asyncio, sys
from flet_storage import FileBackend

async def main(path, tag, n):
    backend = FileBackend(path)
    for i in range(n):
        await backend.set(f"{tag}.k{i}", i)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def test_two_processes_lose_no_write(path: Path) -> None:
    """Each process does a read-modify-write of the whole file per key: without a lock
    across processes, one overwrites keys the other has just added."""
    n = 150
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), tag, str(n)])
        for tag in ("one", "two")
    ]
    assert [writer.wait(timeout=300) for writer in writers] == [0, 0]
    keys = set(_load(path))
    assert keys == {f"flutter.{tag}.k{i}" for tag in ("one", "two") for i in range(n)}


# -- read-only --------------------------------------------------------------------------------


async def test_read_only_never_writes(path: Path) -> None:
    text = json.dumps({"flutter.a.x": "1", "flutter.a.y": 2})
    _write(path, text, 0o444)
    backend = FileBackend(path, read_only=True)
    assert repr(backend).endswith("read_only=True)")
    assert await backend.get("a.x") == "1"
    with pytest.raises(PermissionError, match="read-only"):
        await backend.set("a.x", "2")
    assert await backend.remove("a.x") is True
    assert await backend.clear() is True
    assert _text(path) == text
    assert _mode(path) == 0o444
    assert list(path.parent.iterdir()) == [path]  # not even a lock file


async def test_fletstorage_reads_leave_a_read_only_file_alone(path: Path) -> None:
    """FletStorage removes an expired key it reads, in the background: on a read-only
    FileBackend that removal is dropped."""
    past = FletStorage("my_app", backend=FileBackend(path), clock=lambda: 1_000.0)
    await past.set("token", "abc", ttl=10)
    await past.set("theme", "dark")
    before = _bytes(path)
    storage = FletStorage("my_app", backend=FileBackend(path, read_only=True))
    assert await storage.get_or_default("token") is None
    assert await storage.get_keys() == ["theme"]
    await storage.settle()
    assert _bytes(path) == before


def test_one_backend_serves_several_event_loops(path: Path) -> None:
    """Concurrent writes in one `asyncio.run`, then more in another: nothing is tied to
    the first event loop."""
    backend = FileBackend(path)

    async def write(tag: str) -> None:
        await asyncio.gather(*(backend.set(f"{tag}.k{i}", i) for i in range(5)))

    asyncio.run(write("one"))
    asyncio.run(write("two"))
    assert len(_load(path)) == 10


def test_read_all_checks_every_value(path: Path) -> None:
    _write(path, json.dumps({"flutter.a.x": "1", "flutter.a.gone": None, "other": {"y": 1}}))
    assert FileBackend(path).read_all() == {"a.x": "1"}
    _write(path, json.dumps({"flutter.a.ok": 1, "flutter.a.x": {"secret": 1}}))
    with pytest.raises(ValueError, match=r"'flutter\.a\.x' holds no Shared") as info:
        FileBackend(path).read_all()
    assert "secret" not in str(info.value)

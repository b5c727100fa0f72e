"""The flet-storage command on desktop shared_preferences.json files and localStorage dumps."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from flet_storage import FileBackend, FletStorage, MemoryBackend
from flet_storage.cli import default_path, main

VALUES: dict[str, Any] = {
    "theme": "dark",
    "tags": {"python", "flet"},
    "count": 3,
    "ratio": 2.0,
    "when": datetime(2026, 1, 2, tzinfo=timezone.utc),
    "blob": b"\x00\x01",
    "nested": {"a": [1, (2, 3)]},
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


async def _fill(storage: FletStorage) -> None:
    await storage.set_many(VALUES)
    await storage.set("token", "abc", ttl=3600)


@pytest.fixture
def desktop(tmp_path: Path) -> Path:
    path = tmp_path / "shared_preferences.json"

    async def fill() -> None:
        await _fill(FletStorage("my_app", backend=FileBackend(path)))
        await FletStorage("other", backend=FileBackend(path)).set("x", 1)

    asyncio.run(fill())
    return path


@pytest.fixture
def web(tmp_path: Path) -> Path:
    """A localStorage dump: each value the JSON of what SharedPreferences holds, as the
    Flutter web client writes it."""
    backend = MemoryBackend()
    asyncio.run(_fill(FletStorage("my_app", backend=backend)))
    dump = {f"flutter.{key}": json.dumps(value) for key, value in backend.data.items()}
    dump["unrelated"] = "kept as it is"
    path = tmp_path / "local_storage.json"
    path.write_text(json.dumps(dump), encoding="utf-8")
    return path


def test_ls_lists_namespaces_and_keys(capsys: pytest.CaptureFixture[str], desktop: Path) -> None:
    status, out, _ = run(capsys, "ls", str(desktop))
    assert status == 0
    assert out.splitlines() == ["my_app\t8 keys", "other\t1 key"]
    status, out, _ = run(capsys, "ls", str(desktop), "my_app")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["KEY", "TYPE", "SIZE", "EXPIRES"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["tags"][1] == "set"
    assert rows["ratio"][1] == "float"
    assert rows["blob"][1] == "bytes"
    assert rows["theme"][1:] == ["str", "6", "never"]
    assert rows["token"][3].startswith("20")  # an ISO date
    assert "flet_storage:ttl" not in out


@pytest.mark.parametrize("fixture", ["desktop", "web"])
def test_get(
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest, fixture: str
) -> None:
    path = str(request.getfixturevalue(fixture))
    assert run(capsys, "get", path, "my_app", "tags")[1].strip() in (
        "{'python', 'flet'}",
        "{'flet', 'python'}",
    )
    assert run(capsys, "get", path, "my_app", "when")[1].strip() == repr(VALUES["when"])
    assert run(capsys, "get", path, "my_app", "ratio", "--json")[1].strip() == "2.0"
    assert run(capsys, "get", path, "my_app", "theme", "--json")[1].strip() == '"dark"'
    status, _, err = run(capsys, "get", path, "my_app", "tags", "--json")
    assert status == 2
    assert "JSON cannot represent" in err
    status, _, err = run(capsys, "get", path, "my_app", "missing")
    assert status == 1
    assert "not found" in err


@pytest.mark.parametrize("fixture", ["desktop", "web"])
def test_set_rm_export_import_round_trip(
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    fixture: str,
    tmp_path: Path,
) -> None:
    path: Path = request.getfixturevalue(fixture)
    p = str(path)
    assert run(capsys, "set", p, "my_app", "theme", '"light"')[0] == 0
    assert run(capsys, "set", p, "my_app", "list", '[1, {"a": null}]')[0] == 0
    assert run(capsys, "get", p, "my_app", "theme", "--json")[1].strip() == '"light"'
    assert run(capsys, "get", p, "my_app", "list")[1].strip() == "[1, {'a': None}]"

    status, _, err = run(capsys, "rm", p, "my_app", "list", "nope")
    assert status == 0
    assert "'nope' not found" in err
    assert run(capsys, "rm", p, "my_app", "nope")[0] == 1

    exported = tmp_path / "export.json"
    assert run(capsys, "export", p, "my_app", "-o", str(exported))[0] == 0
    document = json.loads(_text(exported))
    assert document["format"] == "flet-storage-export"
    assert document["items"]["token"]["expires_at"] is not None
    status, out, _ = run(capsys, "export", p, "my_app")
    assert json.loads(out)["items"] == document["items"]

    assert run(capsys, "import", p, "copy", str(exported))[0] == 0
    assert run(capsys, "get", p, "copy", "blob")[1].strip() == repr(VALUES["blob"])
    assert run(capsys, "get", p, "copy", "theme")[1].strip() == "'light'"
    assert run(capsys, "import", p, "copy", str(exported), "--replace")[0] == 0
    assert run(capsys, "ls", p, "copy")[0] == 0

    if fixture == "web":  # written back in its own format
        dump = json.loads(_text(path))
        assert dump["unrelated"] == "kept as it is"
        assert json.loads(dump["flutter.my_app.theme"]) == '"light"'
        assert json.loads(dump["flutter.copy.count"]) == "3"


def test_web_dump_reads_like_the_app(capsys: pytest.CaptureFixture[str], web: Path) -> None:
    status, out, _ = run(capsys, "ls", str(web))
    assert status == 0
    assert out.splitlines() == ["my_app\t8 keys"]


def test_bad_files_change_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    status, _, err = run(capsys, "ls", str(missing))
    assert status == 2
    assert "no such file" in err
    for text in ("[1, 2]", "{nope"):
        bad = tmp_path / "bad.json"
        bad.write_text(text, encoding="utf-8")
        status, _, err = run(capsys, "set", str(bad), "app", "k", "1")
        assert status == 2, err
        assert _text(bad) == text


def test_invalid_import_changes_nothing(
    capsys: pytest.CaptureFixture[str], desktop: Path, tmp_path: Path
) -> None:
    before = _text(desktop)
    document = tmp_path / "doc.json"
    document.write_text(json.dumps({"format": "nope"}), encoding="utf-8")
    status, _, err = run(capsys, "import", str(desktop), "my_app", str(document), "--replace")
    assert status == 2
    assert "not a flet-storage export document" in err
    assert _text(desktop) == before


def test_usage_errors(capsys: pytest.CaptureFixture[str], desktop: Path) -> None:
    assert run(capsys, "ls")[0] == 2
    assert run(capsys, "frobnicate", str(desktop))[0] == 2
    status, _, err = run(capsys, "set", str(desktop), "my_app", "k", "not json")
    assert status == 2
    assert "not JSON" in err
    assert run(capsys, "get", str(desktop), "", "k")[0] == 2


def test_app_id_resolves_the_desktop_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("APPDATA", str(tmp_path / "roaming"))
    assert default_path("com.example.app", "linux") == (
        tmp_path / "com.example.app" / "shared_preferences.json"
    )
    assert default_path("Acme\\App", "win32") == (
        tmp_path / "roaming" / "Acme\\App" / "shared_preferences.json"
    )
    if sys.platform.startswith("linux"):
        assert run(capsys, "ls", "--app-id", "com.example.app")[0] == 2  # no file yet
        assert run(capsys, "set", "--app-id", "com.example.app", "my_app", "k", "1")[0] == 0
        assert run(capsys, "--app-id=com.example.app", "get", "my_app", "k")[1] == "1\n"
    with pytest.raises(Exception, match="NSUserDefaults"):
        default_path("x", "darwin")


def test_python_m_flet_storage(desktop: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flet_storage", "get", str(desktop), "my_app", "count"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "3\n"


@pytest.mark.parametrize("fixture", ["desktop", "web"])
def test_clean_ups_finish_before_the_command_ends(
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest, fixture: str
) -> None:
    path: Path = request.getfixturevalue(fixture)
    mark = "flutter.flet_storage:ttl:my_app.token"
    assert mark in json.loads(_text(path))
    assert run(capsys, "rm", str(path), "my_app", "token")[0] == 0
    stored = json.loads(_text(path))
    assert "flutter.my_app.token" not in stored
    assert mark not in stored  # the expiry mark went with it


def test_encrypted_values_stay_sealed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    from flet_storage import Encryption

    path = tmp_path / "shared_preferences.json"
    encryption = Encryption(Encryption.generate_key())
    storage = FletStorage("vault", backend=FileBackend(path), encryption=encryption)
    asyncio.run(storage.set("card", "4111"))
    status, out, _ = run(capsys, "ls", str(path), "vault")
    assert status == 0
    assert out.splitlines()[1].split()[:2] == ["card", "(encrypted)"]
    status, _, err = run(capsys, "get", str(path), "vault", "card")
    assert status == 2
    assert "is encrypted" in err
    status, out, err = run(capsys, "export", str(path), "vault")
    assert status == 2
    assert "decrypted=True" in err
    assert out == ""
    assert "4111" not in _text(path)

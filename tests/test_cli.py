"""The flet-storage command on desktop shared_preferences.json files and localStorage dumps."""

from __future__ import annotations

import asyncio
import json
import stat
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
    assert "--key-env" in err
    before = _text(path)
    status, _, err = run(capsys, "set", str(path), "vault", "pin", '"1234"')  # not plaintext
    assert status == 2
    assert "--key-env" in _one_line(err)
    assert _text(path) == before
    status, out, err = run(capsys, "export", str(path), "vault")
    assert status == 2
    assert "--key-env" in err
    assert out == ""
    assert "4111" not in _text(path)


def _write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _one_line(err: str) -> str:
    """The single message line of a failed command (no traceback)."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("flet-storage: "), err
    return lines[0]


# -- the format is told by content -----------------------------------------------------------


def test_a_renamed_desktop_file_is_read_as_desktop(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Values that are all JSON texts in strings, as FletStorage writes a dict and a str:
    taken for a localStorage dump when the file was not named shared_preferences.json."""
    backup = _write_json(
        tmp_path / "prefs-backup.json",
        {"flutter.app.settings": '{"theme": "dark"}', "flutter.app.name": '"bob"'},
    )
    status, out, err = run(capsys, "get", str(backup), "app", "settings")
    assert (status, out) == (0, "{'theme': 'dark'}\n"), err
    assert run(capsys, "set", str(backup), "app", "name", '"alice"')[0] == 0
    assert json.loads(_text(backup))["flutter.app.name"] == '"alice"'  # as the app reads it

    simple = _write_json(tmp_path / "simple-backup.json", {"flutter.app.name": '"bob"'})
    status, out, _ = run(capsys, "ls", str(simple), "app")
    assert status == 0
    assert out.splitlines()[1].split()[:2] == ["name", "str"]


def test_a_web_dump_named_like_a_desktop_file_is_read_as_web(
    capsys: pytest.CaptureFixture[str], web: Path, tmp_path: Path
) -> None:
    named = tmp_path / "shared_preferences.json"
    named.write_text(_text(web), encoding="utf-8")
    assert run(capsys, "get", str(named), "my_app", "theme")[1] == "'dark'\n"
    assert run(capsys, "get", str(named), "my_app", "count")[1] == "3\n"


def test_the_librarys_own_keys_never_decide_the_format(
    capsys: pytest.CaptureFixture[str], web: Path
) -> None:
    """The browser id (any string) and expiry marks are stored alike in both formats."""
    data = json.loads(_text(web))
    data["flutter.flet_storage:browser"] = json.dumps("0123456789abcdef0123456789abcdef")
    data["flutter.flet_storage:ttl:my_app.other"] = json.dumps("4102444800.0")
    web.write_text(json.dumps(data), encoding="utf-8")
    assert run(capsys, "get", str(web), "my_app", "theme")[1] == "'dark'\n"


NO_VOTES = [
    {},
    {"unrelated": "x"},
    {"flutter.a.n": "3", "flutter.a.b": "true"},  # numbers read the same either way
    {"flutter.a.x": "[" * 100_000},  # nested too deeply to vote
]
BOTH_WAYS = {"flutter.a.x": '"bob"', "flutter.a.y": json.dumps('"dark"')}


@pytest.mark.parametrize("data", [*NO_VOTES, BOTH_WAYS])
@pytest.mark.parametrize("command", ["set", "import", "ls"])
def test_content_that_cannot_decide_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: dict[str, str], command: str
) -> None:
    """Writes are refused unless the content decides; reads only when the formats would
    read it differently (votes both ways)."""
    path = _write_json(tmp_path / "prefs.json", data)
    before = _text(path)
    document = _write_json(tmp_path / "doc.json", {"format": "nope"})
    argv = {
        "set": ["set", str(path), "app", "k", "1"],
        "import": ["import", str(path), "app", str(document)],
        "ls": ["ls", str(path)],
    }[command]
    status, _, err = run(capsys, *argv)
    if command == "ls" and data is not BOTH_WAYS:
        assert status in (0, 1), err
    else:
        assert status == 2
        assert "--format desktop|web" in _one_line(err)
    assert _text(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json", "prefs.json"]


def test_numbers_read_the_same_either_way(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _write_json(tmp_path / "p.json", {"flutter.a.n": "3", "flutter.a.l": '["x"]'})
    assert run(capsys, "get", str(path), "a", "n")[:2] == (0, "3\n")
    for fmt in ("desktop", "web"):
        assert run(capsys, "get", str(path), "a", "l", "--format", fmt)[:2] == (0, "['x']\n")


def test_format_decides_what_content_cannot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    desktop = _write_json(tmp_path / "a.json", {})
    assert run(capsys, "set", str(desktop), "app", "k", '"v"', "--format", "desktop")[0] == 0
    assert json.loads(_text(desktop)) == {"flutter.app.k": '"v"'}
    web = _write_json(tmp_path / "b.json", {})
    assert run(capsys, "--format", "web", "set", str(web), "app", "k", '"v"')[0] == 0
    assert json.loads(_text(web)) == {"flutter.app.k": json.dumps('"v"')}
    missing = tmp_path / "new.json"
    status, _, err = run(capsys, "set", str(missing), "app", "k", "1")
    assert status == 2
    assert "--format desktop|web" in _one_line(err)
    assert not missing.exists()
    assert run(capsys, "set", str(missing), "app", "k", "1", "--format", "web")[0] == 0
    assert json.loads(_text(missing)) == {"flutter.app.k": '"1"'}


def test_a_number_beyond_4300_digits_does_not_flip_the_format(
    capsys: pytest.CaptureFixture[str], web: Path, desktop: Path
) -> None:
    """A string of 5000 digits is JSON, too long for Python's int(): in a localStorage
    dump it is still a dump (whose value is refused, naming its key), in a desktop file
    still a desktop string."""
    data = json.loads(_text(web))
    data["flutter.other.big"] = "1" * 5000
    _write_json(web, data)
    status, _, err = run(capsys, "get", str(web), "my_app", "theme")
    assert status == 2
    assert "'flutter.other.big' is not a localStorage value" in _one_line(err)

    data = json.loads(_text(desktop))
    data["flutter.other.big"] = "1" * 5000
    _write_json(desktop.with_name("backup.json"), data)
    status, out, _ = run(capsys, "get", str(desktop.with_name("backup.json")), "my_app", "theme")
    assert (status, out) == (0, "'dark'\n")


# -- bad files and documents: one line, exit 2 -----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        '{"flutter.a.n": ' + "1" * 5000 + "}",
        "\udcff",
    ],
)
def test_a_bad_file_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str
) -> None:
    path = tmp_path / "shared_preferences.json"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    before = path.read_bytes()
    for argv in (["ls", str(path)], ["set", str(path), "a", "k", "1"]):
        status, _, err = run(capsys, *argv)
        assert status == 2
        _one_line(err)
    assert path.read_bytes() == before


def test_a_stored_value_nested_too_deeply(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _write_json(
        tmp_path / "p.json",
        {"flutter.a.deep": "[" * 100_000 + "]" * 100_000, "flutter.a.name": '"bob"'},
    )
    status, out, _ = run(capsys, "ls", str(path), "a")
    assert status == 0
    assert out.splitlines()[1].split()[:2] == ["deep", "(corrupt)"]
    status, _, err = run(capsys, "get", str(path), "a", "deep")
    assert status == 2
    _one_line(err)


@pytest.mark.parametrize(
    "document",
    [
        "[" * 100_000,
        json.dumps(
            {
                "format": "flet-storage-export",
                "version": 1,
                "items": {"k": {"value": '"v"', "expires_at": 10**400}},
            }
        ),
    ],
)
def test_a_bad_import_document_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], desktop: Path, tmp_path: Path, document: str
) -> None:
    before = _text(desktop)
    path = tmp_path / "doc.json"
    path.write_text(document, encoding="utf-8")
    status, _, err = run(capsys, "import", str(desktop), "my_app", str(path))
    assert status == 2
    _one_line(err)
    assert _text(desktop) == before


# -- names are escaped -----------------------------------------------------------------------

EVIL = "\x1b]0;pwned\x07\x1b[2J\u202e\x9b"


def test_control_characters_in_names_are_escaped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _write_json(
        tmp_path / "p.json",
        {
            f"flutter.ns{EVIL}.k{EVIL}": json.dumps(EVIL),
            f"flutter.flet_storage:ttl:ns{EVIL}.k{EVIL}": 4102444800.0,
        },
    )
    outputs = [
        run(capsys, "ls", str(path)),
        run(capsys, "ls", str(path), f"ns{EVIL}"),
        run(capsys, "get", str(path), f"ns{EVIL}", f"k{EVIL}"),
        run(capsys, "get", str(path), f"ns{EVIL}", f"k{EVIL}", "--json"),
        run(capsys, "get", str(path), f"ns{EVIL}", f"missing{EVIL}"),
        run(capsys, "get", str(path), f"nz{EVIL}", "k"),
        run(capsys, "export", str(path), f"ns{EVIL}"),
    ]
    assert [status for status, _, _ in outputs] == [0, 0, 0, 0, 1, 1, 0]
    for _, out, err in outputs:
        for text in (out, err):
            assert not any(c in text for c in "\x1b\x07\u202e\x9b"), text
    assert outputs[0][1] == "ns\\x1b]0;pwned\\x07\\x1b[2J\\u202e\\x9b\t1 key\n"
    assert json.loads(outputs[3][1]) == EVIL  # the same JSON value, escaped
    assert json.loads(outputs[6][1])["items"][f"k{EVIL}"]["value"] == json.dumps(EVIL)


# -- read commands never write; writes keep the file ----------------------------------------


def _with_expired(path: Path, fmt: str) -> None:
    """Add a key that expired long ago, as the app would have stored it."""
    backend = MemoryBackend()
    asyncio.run(FletStorage("my_app", backend=backend, clock=lambda: 1_000.0).set("old", 1, ttl=1))
    data = json.loads(_text(path))
    for key, value in backend.data.items():
        data[f"flutter.{key}"] = value if fmt == "desktop" else json.dumps(value)
    _write_json(path, data)


@pytest.mark.parametrize("mode", [0o644, 0o444])
@pytest.mark.parametrize("fixture", ["desktop", "web"])
def test_read_commands_never_write(
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    fixture: str,
    mode: int,
) -> None:
    path: Path = request.getfixturevalue(fixture)
    _with_expired(path, fixture)
    path.chmod(mode)
    before, listing = path.read_bytes(), sorted(path.parent.iterdir())
    p = str(path)
    assert run(capsys, "ls", p)[0] == 0
    assert run(capsys, "ls", p, "my_app")[0] == 0
    assert run(capsys, "get", p, "my_app", "old")[0] == 1  # expired
    assert run(capsys, "get", p, "my_app", "theme")[0] == 0
    assert run(capsys, "export", p, "my_app")[0] == 0
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert sorted(path.parent.iterdir()) == listing


@pytest.mark.parametrize("fixture", ["desktop", "web"])
def test_writes_keep_mode_and_symlink(
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest, fixture: str
) -> None:
    path: Path = request.getfixturevalue(fixture)
    path.chmod(0o664)
    link = path.with_name("link.json")
    link.symlink_to(path)
    assert run(capsys, "set", str(link), "my_app", "theme", '"light"')[0] == 0
    assert run(capsys, "rm", str(link), "my_app", "count")[0] == 0
    assert link.is_symlink()
    assert stat.S_IMODE(path.stat().st_mode) == 0o664
    assert run(capsys, "get", str(path), "my_app", "theme")[1] == "'light'\n"


# -- a namespace that is not there -----------------------------------------------------------


def test_a_misspelt_namespace(
    capsys: pytest.CaptureFixture[str], desktop: Path, tmp_path: Path
) -> None:
    p = str(desktop)
    output = tmp_path / "x.json"
    status, out, err = run(capsys, "export", p, "my_ap", "-o", str(output))
    assert (status, out) == (1, "")
    assert "did you mean 'my_app'?" in _one_line(err)
    assert not output.exists()
    status, out, err = run(capsys, "export", p, "my_ap")
    assert (status, out) == (1, "")
    for argv in (["get", p, "my_ap", "theme"], ["ls", p, "my_ap"]):
        status, out, err = run(capsys, *argv)
        assert (status, out) == (1, "")
        assert "did you mean 'my_app'?" in _one_line(err)
        assert "'my_app', 'other'" in err
    status, _, err = run(capsys, "rm", p, "my_ap", "theme")
    assert status == 1
    assert "did you mean 'my_app'?" in err
    status, _, err = run(capsys, "get", p, "zzz", "theme")
    assert status == 1
    assert "did you mean" not in err
    assert "(namespaces: 'my_app', 'other')" in err


# -- consistency -----------------------------------------------------------------------------


def test_format_after_the_command(
    capsys: pytest.CaptureFixture[str], web: Path, desktop: Path
) -> None:
    assert run(capsys, "ls", str(desktop), "--format", "desktop")[0] == 0
    # Read as the other format, the web dump's strings are one JSON level deeper.
    assert run(capsys, "get", str(web), "my_app", "theme", "--format", "desktop")[1] == (
        "'\"dark\"'\n"
    )
    assert run(capsys, "--format", "desktop", "get", str(web), "my_app", "theme")[1] == (
        "'\"dark\"'\n"
    )


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    from flet_storage import __version__

    assert run(capsys, "--version") == (0, f"flet-storage {__version__}\n", "")
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert "--version" in out


def test_every_message_is_prefixed(
    capsys: pytest.CaptureFixture[str], desktop: Path, tmp_path: Path
) -> None:
    p = str(desktop)
    runs = [
        run(capsys, "get", p, "my_app", "missing"),
        run(capsys, "get", p, "my_ap", "x"),
        run(capsys, "ls", str(tmp_path / "missing.json")),
        run(capsys, "frobnicate", p),
        run(capsys, "get", p),
        run(capsys, "rm", p, "my_app", "nope"),
        run(capsys, "set", p, "my_app", "k", "not json"),
        run(capsys, "set", p, "my_app", "k", "1"),
        run(capsys, "export", p, "my_app", "-o", str(tmp_path / "out.json")),
        run(capsys, "import", p, "copy", str(tmp_path / "out.json")),
    ]
    assert [status for status, _, _ in runs] == [1, 1, 2, 2, 2, 1, 2, 0, 0, 0]
    for _, _, err in runs:
        assert err
        assert all(line.startswith("flet-storage: ") for line in err.splitlines()), err


def test_set_and_rm_say_what_changed(capsys: pytest.CaptureFixture[str], desktop: Path) -> None:
    p = str(desktop)
    status, _, err = run(capsys, "set", p, "my_app", "theme", '"light"')
    assert (status, err) == (
        0,
        "flet-storage: set 'theme' in namespace 'my_app' (replaced its value)\n",
    )
    status, _, err = run(capsys, "set", p, "my_app", "fresh", "1")
    assert (status, err) == (0, "flet-storage: set 'fresh' in namespace 'my_app' (a new key)\n")
    status, _, err = run(capsys, "rm", p, "my_app", "theme", "nosuch", "fresh")
    assert status == 0
    assert err.splitlines() == [
        "flet-storage: removed 'theme' from namespace 'my_app'",
        "flet-storage: key 'nosuch' not found in namespace 'my_app'",
        "flet-storage: removed 'fresh' from namespace 'my_app'",
    ]
    status, _, err = run(capsys, "rm", p, "my_app", "nosuch", "theme")
    assert status == 1
    assert "removed" not in err


# -- decrypting with the key from the environment --------------------------------------------


def test_key_env_reads_and_writes_encrypted_namespaces(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("cryptography")
    from flet_storage import Encryption

    key, newer = Encryption.generate_key(), Encryption.generate_key()
    path = tmp_path / "shared_preferences.json"
    encryption = Encryption(key)
    storage = FletStorage("vault", backend=FileBackend(path), encryption=encryption)
    asyncio.run(storage.set_many({"card": "4111", "point": (1, 2)}))
    asyncio.run(storage.set("token", "abc", ttl=3600))
    p = str(path)
    monkeypatch.setenv("VAULT_KEY", key)
    monkeypatch.setenv("ROTATED", f"{newer}, {key}")
    monkeypatch.setenv("WRONG", newer)
    monkeypatch.setenv("BAD", "not-a-key")

    assert run(capsys, "get", p, "vault", "card", "--key-env", "VAULT_KEY")[:2] == (0, "'4111'\n")
    assert run(capsys, "get", p, "vault", "point", "--key-env", "ROTATED")[:2] == (0, "(1, 2)\n")
    status, out, err = run(capsys, "export", p, "vault", "--key-env", "VAULT_KEY")
    assert status == 0
    items = json.loads(out)["items"]
    assert items["card"]["value"] == '"4111"'
    assert items["token"]["expires_at"] is not None
    assert "decrypted" in err

    status, _, err = run(capsys, "set", p, "vault", "pin", '"1234"', "--key-env", "VAULT_KEY")
    assert status == 0
    assert "1234" not in _text(path)
    assert asyncio.run(storage.get("pin")) == "1234"

    status, _, err = run(capsys, "get", p, "vault", "card", "--key-env", "WRONG")
    assert status == 2
    assert "cannot be decrypted" in _one_line(err)
    for name, why in (("BAD", "url-safe base64"), ("UNSET", "holds no key")):
        status, _, err = run(capsys, "get", p, "vault", "card", "--key-env", name)
        assert status == 2
        assert why in _one_line(err)
        assert "not-a-key" not in err

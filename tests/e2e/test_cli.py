"""The flet-storage command on a real localStorage dump: values written by FletStorage on
the real Flutter web client, dumped as `JSON.stringify(localStorage)` would, read back by
the command exactly (told apart from a desktop file by content alone, and never written by
a read); a value it sets is read by the client once put back."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import flet as ft

from flet_storage import FletStorage

from .harness import Client

VALUES: dict[str, Any] = {
    "theme": "dark",
    "tags": {"python", "flet"},
    "count": 3,
    "ratio": 2.5,
    "when": datetime(2026, 1, 2, tzinfo=timezone.utc),
    "blob": b"\x00\x01",
    "point": (1, 2),
}


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flet_storage", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _write(path: Path, data: object) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


async def test_cli_reads_and_edits_a_local_storage_dump(
    client: Client, app_name: str, tmp_path: Path
) -> None:
    storage = FletStorage(app_name)

    async def write(page: ft.Page) -> None:
        await storage.set_many(VALUES)
        await storage.set("token", "abc", ttl=3600)

    await client.run(write)
    dump = tmp_path / "local_storage.json"
    _write(dump, await client.local_storage())
    before = dump.read_bytes()

    listed = _cli("ls", str(dump))
    assert listed.returncode == 0, listed.stderr
    assert f"{app_name}\t{len(VALUES) + 1} keys" in listed.stdout.splitlines()

    keys = _cli("ls", str(dump), app_name)
    assert keys.returncode == 0, keys.stderr
    rows = {line.split()[0]: line.split() for line in keys.stdout.splitlines()[1:]}
    assert {name: row[1] for name, row in rows.items()} == {
        **{name: type(value).__name__ for name, value in VALUES.items()},
        "token": "str",
    }
    assert rows["token"][3] != "never"

    for key, value in VALUES.items():
        got = _cli("get", str(dump), app_name, key)
        assert got.returncode == 0, got.stderr
        assert got.stdout.strip() == repr(value) or (
            isinstance(value, set) and ast.literal_eval(got.stdout) == value
        )
    assert _cli("get", str(dump), app_name, "count", "--json").stdout == "3\n"

    exported = _cli("export", str(dump), app_name)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert sorted(document["items"]) == sorted([*VALUES, "token"])
    assert dump.read_bytes() == before  # reading never writes

    # The format is told by the content, not by the file's name.
    named = tmp_path / "shared_preferences.json"
    named.write_bytes(before)
    got = _cli("get", str(named), app_name, "theme")
    assert (got.returncode, got.stdout) == (0, "'dark'\n"), got.stderr

    # A value set in the dump is read by the client once the dump is put back.
    assert _cli("set", str(dump), app_name, "theme", '"light"').returncode == 0
    edited = _read(dump)[f"flutter.{app_name}.theme"]
    await client.evaluate(
        "([k, v]) => localStorage.setItem(k, v)", [f"flutter.{app_name}.theme", edited]
    )
    await client.reload()  # a fresh client reads localStorage again

    async def read(page: ft.Page) -> Any:
        return await FletStorage(app_name).get("theme")

    assert await client.run(read) == "light"

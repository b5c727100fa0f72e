"""FletStorage on the real Flutter Linux desktop client, under Xvfb.

`./scripts/test`'s desktop stage runs this module in a venv of its own, with `flet` and
`flet-desktop-light` (a PyPI wheel that ships the client binary; nothing is downloaded at run
time) of one release: 0.82.2 and 0.81.0. One lifecycle, shared by the tests below:

1. the app (tests/desktop/app.py) writes every value kind, values with a TTL, an encrypted
   value, batches and a listener's events, reports what it saw and closes its window;
2. with the app closed, `FileBackend` and the `flet-storage` command (`--app-id flet`: the
   prebuilt client's app id) read and edit its `shared_preferences.json`;
3. the app restarts, an hour later by the clock the test gives it, and reports what it reads.

HOME and XDG_DATA_HOME point into a temporary directory: the real
`~/.local/share/flet/shared_preferences.json` is never touched. Each run of the app is waited
for with a bounded timeout; nothing here measures time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from e2e.values import EVERY_TYPE, assert_same

from flet_storage import Encryption, FileBackend, FletStorage
from flet_storage.backends._flet_version import FLET_VERSION
from flet_storage.backends._shared_preferences import TYPED_VALUES

from .app import APP, SECRET, SECRET_APP

pytestmark = pytest.mark.skipif(
    find_spec("flet_desktop") is None,
    reason="needs the desktop client (flet-desktop-light): ./scripts/test runs this module "
    "in its desktop stage",
)

APP_PY = Path(__file__).with_name("app.py")
NOW = 4_000_000_000.0  # 2096: the CLI, on the real clock, sees no TTL expired
LATER = NOW + 3600  # the restart: a 1-minute TTL has expired, a 1-day one has not
RUN_TIMEOUT = 90  # seconds an app run may take before it is killed and the test fails
CLI = str(Path(sys.executable).with_name("flet-storage"))


@dataclass
class Lifecycle:
    written: dict[str, Any]
    """What the app reported in its first run."""
    file_text: str
    """The preferences file once the first run closed."""
    offline: dict[str, Any]
    """What FileBackend read with the app closed."""
    cli: dict[str, subprocess.CompletedProcess[str]]
    """The `flet-storage` commands run with the app closed."""
    read: dict[str, Any]
    """What the app reported after the restart."""


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A fresh Xvfb server; its display, e.g. `:5`."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        message = "Xvfb is not installed (Debian: apt-get install xvfb)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write_end), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 30)
        number = os.read(read_end, 16).decode().strip() if ready else ""
        if not number:
            pytest.fail("Xvfb did not start within 30 s")
        yield f":{number}"
    finally:
        os.close(read_end)
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(10)


@pytest.fixture(scope="module")
def lifecycle(display: str, tmp_path_factory: pytest.TempPathFactory) -> Lifecycle:
    home = tmp_path_factory.mktemp("home")
    env = {
        **os.environ,
        "DISPLAY": display,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "FLET_STORAGE_DESKTOP_KEY": Encryption.generate_key(),
    }
    env.pop("FLET_FORCE_WEB_SERVER", None)
    prefs = home / "data" / "flet" / "shared_preferences.json"
    written = run_app("write", NOW, env, home)
    file_text = prefs.read_text(encoding="utf-8")
    offline = asyncio.run(edit_offline(prefs, env["FLET_STORAGE_DESKTOP_KEY"]))
    commands = {
        "ls": ["ls", "--app-id", "flet", APP],
        "get": ["get", "--app-id", "flet", APP, "int"],
        "set": ["set", "--app-id", "flet", APP, "edited_by_cli", '{"by": "cli", "n": [1, 2]}'],
        "rm": ["rm", "--app-id", "flet", APP, "batch_a"],
        "get secret": ["get", "--app-id", "flet", SECRET_APP, "card"],
    }
    cli = {
        name: subprocess.run(
            [CLI, *args], env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
        for name, args in commands.items()
    }
    screenshot = os.environ.get("FLET_STORAGE_SCREENSHOT")
    if screenshot:
        env["FLET_STORAGE_SCREENSHOT"] = screenshot
    read = run_app("read", LATER, env, home)
    return Lifecycle(written, file_text, offline, cli, read)


def run_app(phase: str, now: float, env: dict[str, str], home: Path) -> dict[str, Any]:
    """Run tests/desktop/app.py once, until it closes its window; what it reported."""
    result = home / f"{phase}.pickle"
    env = {
        **env,
        "FLET_STORAGE_DESKTOP_PHASE": phase,
        "FLET_STORAGE_DESKTOP_RESULT": str(result),
        "FLET_STORAGE_DESKTOP_NOW": repr(now),
    }
    try:
        done = subprocess.run(
            [sys.executable, str(APP_PY)],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the {phase} run did not close within {RUN_TIMEOUT} s: {exc.stderr!r}")
    if not result.exists():
        pytest.fail(f"the {phase} run reported nothing (exit {done.returncode}): {done.stderr}")
    out: dict[str, Any] = pickle.loads(result.read_bytes())
    assert "crashed" not in out, out["crashed"]
    return out


async def edit_offline(prefs: Path, key: str) -> dict[str, Any]:
    """Read and edit the app's file with FileBackend, as a script would while it is closed."""
    storage = FletStorage(APP, backend=FileBackend(prefs), clock=lambda: NOW)
    secret = FletStorage(SECRET_APP, backend=FileBackend(prefs), encryption=Encryption(key))
    out = {
        "every_type": await storage.get_many(list(EVERY_TYPE)),
        "visits": await storage.get("visits"),
        "secret": await secret.get("card"),
    }
    await storage.set("edited_by_file", {"by": "FileBackend", "tags": {"a", "b"}})
    return out


# -- the tests ---------------------------------------------------------------------------------


def test_the_client_of_the_installed_flet_ran(lifecycle: Lifecycle) -> None:
    assert lifecycle.written["flet"] == lifecycle.read["flet"] == FLET_VERSION


def test_every_value_kind_round_trips(lifecycle: Lifecycle) -> None:
    failed = {k: v for k, v in lifecycle.written.items() if k.startswith("set ") and v is not True}
    assert not failed
    assert_same(lifecycle.written["every_type"], EVERY_TYPE)


def test_every_value_kind_survives_a_restart(lifecycle: Lifecycle) -> None:
    assert_same(lifecycle.read["every_type"], EVERY_TYPE)


def test_batches(lifecycle: Lifecycle) -> None:
    assert lifecycle.written["set_many"] is None
    assert lifecycle.written["remove_many"] == 1
    assert lifecycle.written["increment"] == 5
    assert lifecycle.written["update"] == 10
    assert_same(lifecycle.written["batch"], {"batch_a": 1, "batch_b": [2.5], "visits": 10})


def test_listeners(lifecycle: Lifecycle) -> None:
    events = lifecycle.written["events"]
    assert events[: len(EVERY_TYPE)] == [("set", key) for key in EVERY_TYPE]
    assert sorted(events[len(EVERY_TYPE) : len(EVERY_TYPE) + 3]) == [
        ("set", "batch_a"),
        ("set", "batch_b"),
        ("set", "gone"),
    ]
    assert events[len(EVERY_TYPE) + 3 :][:3] == [
        ("remove", "gone"),
        ("set", "visits"),
        ("set", "visits"),
    ]


def test_ttl_expires_across_a_restart(lifecycle: Lifecycle) -> None:
    assert lifecycle.written["ttl short"] is True
    assert lifecycle.written["ttl long"] is True
    assert lifecycle.read["token"] == "(missing)"  # 1 minute, read an hour later
    assert lifecycle.read["lasting"] == "l"  # 1 day


def test_encryption_leaves_no_plaintext_in_the_file(lifecycle: Lifecycle) -> None:
    assert lifecycle.written["secret"] is True
    assert f'"flutter.{SECRET_APP}.card"' in lifecycle.file_text
    assert SECRET not in lifecycle.file_text
    assert "plaintext-canary" not in lifecycle.file_text
    assert lifecycle.offline["secret"] == SECRET  # FileBackend, with the key
    assert lifecycle.read["secret"] == SECRET  # the restarted app


def test_file_backend_reads_the_apps_file(lifecycle: Lifecycle) -> None:
    assert_same(lifecycle.offline["every_type"], EVERY_TYPE)
    assert lifecycle.offline["visits"] == 10


def test_cli_reads_and_edits_the_apps_file(lifecycle: Lifecycle) -> None:
    cli = lifecycle.cli
    assert [p.returncode for p in cli.values()] == [0, 0, 0, 0, 2], {
        name: p.stderr for name, p in cli.items()
    }
    listed = [line.split()[0] for line in cli["ls"].stdout.splitlines()[1:]]
    stored_ttl = [  # none on a text-only client for now: see test_ttl_expires_across_a_restart
        key
        for key, step in (("token", "ttl short"), ("lasting", "ttl long"))
        if lifecycle.written[step] is True
    ]
    everything = [*EVERY_TYPE, "batch_a", "batch_b", "visits", "edited_by_file", *stored_ttl]
    assert sorted(listed) == sorted(everything)
    assert cli["get"].stdout == "42\n"
    assert "encrypted" in cli["get secret"].stderr
    assert SECRET not in cli["get secret"].stdout + cli["get secret"].stderr


def test_restart_reads_the_offline_edits(lifecycle: Lifecycle) -> None:
    read = lifecycle.read
    assert_same(read["file edit"], {"by": "FileBackend", "tags": {"a", "b"}})
    assert_same(read["cli edit"], {"by": "cli", "n": [1, 2]})
    assert_same(read["batch"], {"batch_b": [2.5], "visits": 10})  # batch_a: removed by the CLI
    assert "batch_a" not in read["keys"]


@pytest.mark.skipif(TYPED_VALUES, reason="this Flet's client stores typed values")
def test_text_only_client_refuses_raw_typed_values(lifecycle: Lifecycle) -> None:
    """SharedPreferencesBackend refuses a raw int before any I/O; the client itself fails it
    (what the refusal saves the app from)."""
    refused = lifecycle.written["backend int"]["raised"]
    assert refused.startswith("ValueError: SharedPreferencesBackend cannot store the int")
    assert f"Flet {FLET_VERSION}" in refused
    assert (
        "type 'int' is not a subtype of type 'String'"
        in (lifecycle.written["client int"]["raised"])
    )

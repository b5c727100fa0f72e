"""The desktop app that tests/desktop/test_desktop_client.py runs on the real Flutter Linux
client (flet-desktop-light), under Xvfb.

It runs one phase, named by the environment, then writes what it saw to a pickle file
(values keep their exact types there) and closes its window, which ends the process:

* ``write``: every value kind, values with a TTL, an encrypted value, batches and a
  listener; the raw values the text-only clients of Flet 0.81 and 0.82 refuse;
* ``read`` (a restart, later by the clock the test sets): everything read back, with what
  FileBackend and the `flet-storage` command changed while the app was closed.

A step that raises is reported as ``{"raised": "Type: message"}``, so the test shows it.

Environment: ``FLET_STORAGE_DESKTOP_PHASE``, ``FLET_STORAGE_DESKTOP_RESULT`` (the pickle
file), ``FLET_STORAGE_DESKTOP_NOW`` (the clock, Unix seconds), ``FLET_STORAGE_DESKTOP_KEY``
(the encryption key, which the app gets from its server, never from storage) and, optionally,
``FLET_STORAGE_SCREENSHOT`` (a PNG of the screen is taken there once the read phase's results
are shown; needs ImageMagick's ``import``).
"""

from __future__ import annotations

import asyncio
import os
import pickle
import sys
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Any

import flet as ft
from flet.version import flet_version

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, for e2e.values
from e2e.values import EVERY_TYPE

from flet_storage import (
    Encryption,
    FletStorage,
    SharedPreferencesBackend,
    StorageEvent,
)

APP = "desk"
SECRET_APP = "desk_secret"
SECRET = "4111 1111 1111 1111 plaintext-canary"
"""The encrypted value; the test looks for it in the preferences file."""


async def attempt(out: dict[str, Any], name: str, call: Awaitable[Any]) -> None:
    try:
        out[name] = await call
    except Exception as exc:
        out[name] = {"raised": f"{type(exc).__name__}: {exc}"}


async def write(page: ft.Page, out: dict[str, Any], now: float) -> None:
    storage = FletStorage(APP, clock=lambda: now)
    secret = FletStorage(SECRET_APP, encryption=Encryption(os.environ["FLET_STORAGE_DESKTOP_KEY"]))
    events: list[tuple[str, str]] = []

    def listen(event: StorageEvent) -> None:
        events.append((event.kind, event.key))

    subscription = storage.subscribe(listen)
    for key, value in EVERY_TYPE.items():
        await attempt(out, f"set {key}", storage.set(key, value))
    await attempt(out, "set_many", storage.set_many({"batch_a": 1, "batch_b": [2.5], "gone": 0}))
    await attempt(out, "remove_many", storage.remove_many(["gone"]))
    await attempt(out, "increment", storage.increment("visits", 5))
    await attempt(out, "update", storage.update("visits", lambda n: n * 2))
    await attempt(out, "ttl short", storage.set("token", "t", ttl=timedelta(minutes=1)))
    await attempt(out, "ttl long", storage.set("lasting", "l", ttl=timedelta(days=1)))
    await attempt(out, "secret", secret.set("card", SECRET))
    await storage.settle()
    subscription.cancel()
    out["events"] = events
    await attempt(out, "every_type", storage.get_many(list(EVERY_TYPE)))
    await attempt(out, "batch", storage.get_many(["batch_a", "batch_b", "gone", "visits"]))
    # What Flet 0.81 and 0.82 clients do with a raw int: SharedPreferencesBackend refuses
    # it before any I/O; the client itself fails it.
    await attempt(out, "backend int", SharedPreferencesBackend().set("raw.n", 7))
    await attempt(out, "client int", ft.SharedPreferences().set("raw.n", 7))
    out["keys"] = sorted(await storage.get_keys())


async def read(page: ft.Page, out: dict[str, Any], now: float) -> None:
    storage = FletStorage(APP, clock=lambda: now)
    secret = FletStorage(SECRET_APP, encryption=Encryption(os.environ["FLET_STORAGE_DESKTOP_KEY"]))
    await attempt(out, "every_type", storage.get_many(list(EVERY_TYPE)))
    await attempt(out, "batch", storage.get_many(["batch_a", "batch_b", "gone", "visits"]))
    await attempt(out, "token", storage.get_or_default("token", "(missing)"))
    await attempt(out, "lasting", storage.get_or_default("lasting", "(missing)"))
    await attempt(out, "secret", secret.get("card"))
    await attempt(out, "file edit", storage.get_or_default("edited_by_file"))
    await attempt(out, "cli edit", storage.get_or_default("edited_by_cli"))
    out["keys"] = sorted(await storage.get_keys())
    show(page, out)
    screenshot = os.environ.get("FLET_STORAGE_SCREENSHOT")
    if screenshot:
        await asyncio.sleep(2)  # let the client draw the results: a picture, not a check
        taking = await asyncio.create_subprocess_exec("import", "-window", "root", screenshot)
        out["screenshot"] = await taking.wait()


SHOWN = ("str_set", "tuple", "dict_tuple_keys", "decimal", "aware_datetime", "bytes", "uuid")
"""Values shown on screen, with their types."""


def show(page: ft.Page, out: dict[str, Any]) -> None:
    """What the read phase found, on screen (for the screenshot in the Platforms guide)."""
    every = out["every_type"]
    ok = isinstance(every, dict) and "raised" not in every
    lines = [f"{len(every) if ok else 0} values of every kind read back after a restart, e.g.:"]
    lines += [f"    {key}: {type(every[key]).__name__} {every[key]!r}"[:100] for key in SHOWN if ok]
    lines += [
        f"visits (increment, update): {out['batch'].get('visits')!r}",
        f"an hour later, 1-minute TTL: {out['token']!r}; 1-day TTL: {out['lasting']!r}",
        f"encrypted card: {'decrypted' if out['secret'] == SECRET else out['secret']!r}",
        f"edited by FileBackend: {out['file edit']!r}",
        f"edited by the flet-storage command: {out['cli edit']!r}",
    ]
    page.title = "flet-storage on the desktop client"
    page.add(
        ft.Text(f"flet-storage on the Flet {flet_version} desktop client", size=22),
        *(ft.Text(line, size=15, font_family="monospace") for line in lines),
    )
    page.update()


async def main(page: ft.Page) -> None:
    out: dict[str, Any] = {"flet": flet_version}
    now = float(os.environ["FLET_STORAGE_DESKTOP_NOW"])
    try:
        if os.environ["FLET_STORAGE_DESKTOP_PHASE"] == "write":
            await write(page, out, now)
        else:
            await read(page, out, now)
    except Exception as exc:
        out["crashed"] = f"{type(exc).__name__}: {exc}"
    result = Path(os.environ["FLET_STORAGE_DESKTOP_RESULT"])
    await asyncio.to_thread(result.write_bytes, pickle.dumps(out))
    await page.window.close()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    ft.run(main)

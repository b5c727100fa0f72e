"""The demo app (examples/demo.py) on the real client, screenshotted.

The pictures go to a temporary folder, so a test run leaves the work tree clean; with
``FLET_STORAGE_SCREENSHOTS=docs/img`` they refresh the ones the README and docs show.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import flet as ft
import pytest

from .harness import Client, FletServer, Profile
from .test_inspector import _wait_for_rows, _walk, table_rows

ROOT = Path(__file__).parents[2]
IMG = Path(os.environ.get("FLET_STORAGE_SCREENSHOTS") or tempfile.mkdtemp(prefix="demo-shots-"))
IMG.mkdir(parents=True, exist_ok=True)
VIEWPORT = {"width": 1360, "height": 1150}


def _texts(page: ft.Page) -> list[str]:
    return [str(c.value) for c in _walk(page.views[0]) if isinstance(c, ft.Text)]


async def _wait_for(
    client: Client, predicate: Callable[[list[str]], bool], timeout: float = 15
) -> list[str]:
    return await client.wait_until(_texts, predicate, timeout=timeout, what="the demo")


def _click(match: Callable[[Any], bool]) -> Callable[[ft.Page], Awaitable[None]]:
    """Click (as the client would) the one control of the page that ``match`` picks."""

    async def click(page: ft.Page) -> None:
        found = [c for c in _walk(page.views[0]) if isinstance(c, ft.Control) and match(c)]
        assert len(found) == 1, found
        await page.session.dispatch_event(found[0]._i, "click", None)

    return click


def _button(text: str) -> Callable[[Any], bool]:
    return lambda c: isinstance(c, ft.Button | ft.OutlinedButton) and c.content == text


def _tooltip(text: str) -> Callable[[Any], bool]:
    return lambda c: isinstance(c, ft.IconButton) and c.tooltip == text


async def _screenshot(client: Client, name: str) -> Path:
    """Screenshot the tab once the client has painted the app (not its loading screen)."""
    path = IMG / f"demo-{name}.png"
    await asyncio.sleep(1.0)  # let the client paint the last update

    async def shoot(pw_page: Any) -> int:
        return len(await pw_page.screenshot(path=str(path)))

    deadline = time.monotonic() + 60  # a wait for the client, generous on a busy machine
    while await client.in_browser(shoot) < 40_000:  # a blank or "Working..." page is small
        assert time.monotonic() < deadline, "the client never painted the demo"
        await asyncio.sleep(0.5)
    return path


async def _open(profile: Profile, server: FletServer) -> Client:
    client = await profile.open(server)

    async def size(pw_page: Any) -> None:
        await pw_page.set_viewport_size(VIEWPORT)

    await client.in_browser(size)
    return client


async def test_demo_shows_types_ttl_components_feed_and_survives_a_restart(
    profile: Profile, server: FletServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    demo = importlib.import_module("demo")
    client = await _open(profile, server)
    await client.run(demo.main)
    await _wait_for(client, lambda texts: "Visit #1: reload, it all comes back" in texts)
    assert (await _screenshot(client, "start")).exists()

    await client.run(_click(_button("Store new values")))
    await client.run(_click(_button("Start a session")))
    for tooltip in ("Like from the sidebar", "Like from the toolbar", "Like from the sidebar"):
        await client.run(_click(_tooltip(tooltip)))
    texts = await _wait_for(client, lambda texts: texts.count("3") >= 2 and "tuple" in texts)
    assert {"set", "datetime", "tuple"} <= set(texts)  # the types that came back
    assert "Signed in as ada" in texts
    await asyncio.sleep(2)  # the countdown moves
    texts = await _wait_for(client, lambda texts: any(t.endswith(" s left") for t in texts))
    (left,) = [t for t in texts if t.endswith(" s left")]
    assert 0 < float(left.split()[0]) < 20  # counting down from the 20 s TTL

    async def rows(page: ft.Page) -> dict[str, list[str]]:
        return table_rows(page)

    inspected = await client.run(rows, as_event=False)
    assert {k: v[0] for k, v in inspected.items()} == {
        "last_seen": "datetime",
        "likes": "int",
        "session": "dict",
        "tags": "set",
        "visits": "int",
        "window": "tuple",
    }
    assert (await _screenshot(client, "in-use")).exists()

    # a browser restart: a new session loads everything from the browser's storage
    await profile.restart()
    client = await _open(profile, server)
    await client.run(demo.main)
    texts = await _wait_for(
        client,
        lambda texts: "Visit #2: reload, it all comes back" in texts and texts.count("3") >= 2,
    )
    assert {"set", "datetime", "tuple"} <= set(texts)
    assert "Signed in as ada" in texts  # the session has not expired yet
    assert (await _screenshot(client, "after-restart")).exists()

    # the session expires by itself: the card, the change feed and the inspector follow
    texts = await _wait_for(
        client, lambda texts: "No session: it expired, or never started" in texts, timeout=30
    )
    assert "expire" in texts
    await _wait_for_rows(client, lambda rows: "session" not in rows and "tags" in rows)
    assert (await _screenshot(client, "expired")).exists()

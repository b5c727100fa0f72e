"""The demo app (examples/demo.py) on the real client: its claims after a reload, a new tab
and a browser restart; two tabs of one browser in step; every control found by role and
accessible name; screenshots at a phone's, a tablet's and a desktop's width, and of two tabs
side by side.

The pictures go to a temporary folder, so a test run leaves the work tree clean; with
``FLET_STORAGE_SCREENSHOTS=docs/img`` they refresh the ones the README and docs show.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import flet as ft
import pytest

from flet_storage import Codec

from .harness import DEFAULT_TIMEOUT, Client, FletServer, Profile
from .test_inspector import _wait_for_rows, _walk, table_rows

ROOT = Path(__file__).parents[2]
IMG = Path(os.environ.get("FLET_STORAGE_SCREENSHOTS") or tempfile.mkdtemp(prefix="demo-shots-"))
IMG.mkdir(parents=True, exist_ok=True)
DESKTOP = {"width": 1360, "height": 1400}
# A phone's and a tablet's width, tall enough that one picture shows the whole page.
WIDTHS = {390: 2300, 768: 1520, 1360: DESKTOP["height"]}
LIKES = "flutter.flet_storage_demo.likes"
"""The raw localStorage key of the demo's likes counter."""
SIDE_BY_SIDE = {"width": 680, "height": 2400}
"""A tab in half a desktop's width, tall enough to show the whole page."""
ADD = "Add 1 in this tab"
OTHER_TAB = "other tab"


def _demo(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    return importlib.import_module("demo")


def _texts(page: ft.Page) -> list[str]:
    return [str(c.value) for c in _walk(page.views[0]) if isinstance(c, ft.Text)]


async def _wait_for(
    client: Client, predicate: Callable[[list[str]], bool], timeout: float = 20
) -> list[str]:
    return await client.wait_until(_texts, predicate, timeout=timeout, what="the demo")


async def _resize(client: Client, width: int, height: int) -> None:
    async def size(pw_page: Any) -> None:
        await pw_page.set_viewport_size({"width": width, "height": height})

    await client.in_browser(size)


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


async def _open(profile: Profile, server: FletServer, demo: ModuleType) -> Client:
    """A new tab of ``profile`` running the demo (a new Flet session), its semantics on."""
    client = await profile.open(server)
    await _resize(client, **DESKTOP)
    await client.run(demo.main)
    await client.accessibility()
    return client


async def _click(client: Client, name: str) -> None:
    await client.click("button", name)


async def _countdowns(server: FletServer, settle: float = 0) -> dict[str, set[int]]:
    """The countdown tasks on the server, by card (ids; every tab's, so compare sets)."""
    tasks = (await server.pending_tasks(settle=settle)).items()
    kinds = {
        "session card": "use_ticker.<locals>.start.<locals>.loop",
        "inspector": "StorageInspector.<locals>.mount.<locals>.tick",
    }
    return {kind: {task for task, text in tasks if name in text} for kind, name in kinds.items()}


def _seconds_left(texts: list[str]) -> float:
    """The session card's countdown (0 when there is none)."""
    left = [text for text in texts if text.endswith(" s left")]
    return float(left[0].split()[0]) if left else 0.0


def _counts(texts: list[str], likes: int) -> bool:
    """Both like counters show ``likes``."""
    return texts.count(str(likes)) >= 2


def _feed(page: ft.Page) -> list[list[str]]:
    """The change feed's lines, newest first: each as its texts (time, kind, key, then
    ``"other tab"`` if another tab wrote it, then the value)."""
    icons = {icon for icon, _ in importlib.import_module("demo").KIND_STYLE.values()}
    return [
        [str(c.value) for c in _walk(row) if isinstance(c, ft.Text)]
        for row in _walk(page.views[0])
        if isinstance(row, ft.Row)
        and row.controls
        and isinstance(row.controls[0], ft.Icon)
        and row.controls[0].icon in icons
    ]


async def _wait_for_feed(
    client: Client, predicate: Callable[[list[list[str]]], bool]
) -> list[list[str]]:
    return await client.wait_until(_feed, predicate, timeout=20, what="the change feed")


async def _shows(client: Client, name: str, timeout: float = 20) -> None:
    """Wait until the tab shows a control with this exact accessible name (in the browser)."""

    async def shown(pw_page: Any) -> None:
        control = pw_page.get_by_text(name, exact=True)
        await control.wait_for(state="attached", timeout=timeout * 1000)

    await client.in_browser(shown, timeout + DEFAULT_TIMEOUT)


async def _press(client: Client, times: int) -> None:
    for _ in range(times):
        await _click(client, ADD)


async def _part(client: Client, top: str, bottom: str) -> bytes:
    """A screenshot of the page from the card titled ``top`` to the one titled ``bottom``."""
    await asyncio.sleep(1.0)  # let the client paint the last update

    async def shoot(pw_page: Any) -> bytes:
        start = await pw_page.get_by_text(top, exact=True).bounding_box()
        end = await pw_page.get_by_text(bottom, exact=True).bounding_box()
        y = start["y"] - 28  # the card's padding and border above its title
        clip = {"x": 0, "y": y, "width": SIDE_BY_SIDE["width"], "height": end["y"] - 28 - y}
        shot: bytes = await pw_page.screenshot(clip=clip)
        return shot

    return await client.in_browser(shoot)


async def _side_by_side(client: Client, shots: dict[str, bytes], name: str) -> Path:
    """Put the screenshots side by side under their captions, in a page of the browser."""
    figures = "".join(
        f'<figure><figcaption>{caption}</figcaption><img src="data:image/png;base64,'
        f'{base64.b64encode(shot).decode()}"></figure>'
        for caption, shot in shots.items()
    )
    html = (
        "<!DOCTYPE html><style>body{margin:0;padding:16px;display:flex;gap:16px;background:#F3F4FA;"
        "width:max-content}figure{margin:0}figcaption{font:600 20px sans-serif;color:#283593;"
        f"padding:0 0 8px 16px}}</style><body>{figures}</body>"
    )
    path = IMG / f"demo-{name}.png"

    async def compose(pw_page: Any) -> None:
        page = await pw_page.context.new_page()
        try:
            await page.set_content(html)
            await page.locator("body").screenshot(path=str(path))
        finally:
            await page.close()

    await client.in_browser(compose)
    return path


async def test_demo_claims_hold_after_a_reload_a_new_tab_and_a_browser_restart(
    profile: Profile, server: FletServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = _demo(monkeypatch)
    ttl = demo.SESSION_TTL
    elsewhere = await _countdowns(server)  # other tests' pages, if any
    client = await _open(profile, server, demo)
    texts = await _wait_for(client, lambda texts: "Visit #1" in texts)
    assert "Nothing yet: press a button." in texts
    assert (await _screenshot(client, "start")).exists()
    monkeypatch.setattr(demo, "SESSION_TTL", 900)  # outlives the steps below, however slow

    # every control by role and accessible name, clicked in the browser
    await _click(client, "Store new values")
    await _click(client, "Start a session")
    for name in ("Like from the sidebar", "Like from the toolbar", "Like from the sidebar"):
        await _click(client, name)
    texts = await _wait_for(client, lambda texts: _counts(texts, 3) and "tuple" in texts)
    assert {"set", "datetime", "tuple"} <= set(texts)  # the types that came back
    assert "Signed in as ada" in texts
    assert "likes" in texts  # the change feed heard the likes

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

    mounted = {kind: tasks - elsewhere[kind] for kind, tasks in (await _countdowns(server)).items()}
    assert all(len(tasks) == 1 for tasks in mounted.values()), mounted

    # A reload: Flet re-attaches the tab to its session, so main does not run (still visit
    # 1), and the cards mount again and read storage. Storage is changed behind the app's
    # back first, so the page can only show 7 likes if it read them from storage.
    raw = await client.local_storage()
    assert raw[LIKES] == json.dumps(Codec().encode(3))
    await client.evaluate(
        "([key, value]) => localStorage.setItem(key, value)",
        [LIKES, json.dumps(Codec().encode(7))],
    )
    assert not await client.reload(), "the reload got a new Flet session"
    await client.accessibility()
    texts = await _wait_for(client, lambda texts: "Reloads: 1" in texts and _counts(texts, 7))
    assert "Visit #1" in texts
    assert "Nothing yet: press a button." in texts  # the feed is this page's memory
    assert {"set", "datetime", "tuple", "Signed in as ada"} <= set(texts)
    await _wait_for_rows(client, lambda rows: rows.get("likes", ["", "", "", ""])[3] == "7")
    # The cards mounted before the reload are gone: their countdowns ended (a wait for the
    # cancelled tasks to finish, not a speed check), and one new one of each kind runs.
    after = await _countdowns(server, settle=5)
    for kind, tasks in after.items():
        assert len(tasks - elsewhere[kind]) == 1, kind
        assert not tasks & mounted[kind], kind

    # A new tab: a new session and a new visit, the same storage.
    second = await _open(profile, server, demo)
    texts = await _wait_for(second, lambda texts: "Visit #2" in texts and _counts(texts, 7))
    assert "Nothing yet: press a button." in texts
    assert not any(text.startswith("Reloads") for text in texts)
    assert {"set", "datetime", "tuple", "Signed in as ada"} <= set(texts)
    await _click(second, "Like from the toolbar")
    await _wait_for(second, lambda texts: _counts(texts, 8))

    # A browser restart: a new session loads everything from the browser's storage.
    await profile.restart()
    client = await _open(profile, server, demo)
    texts = await _wait_for(client, lambda texts: "Visit #3" in texts and _counts(texts, 8))
    assert {"set", "datetime", "tuple", "Signed in as ada"} <= set(texts)

    # The demo's own TTL from here on; the page at a phone's, a tablet's and a desktop's width.
    monkeypatch.setattr(demo, "SESSION_TTL", ttl)
    await _click(client, "Restart the session")
    await _wait_for(client, lambda texts: 0 < _seconds_left(texts) <= ttl)
    for width, height in WIDTHS.items():
        await _resize(client, width, height)
        name = "in-use" if width == DESKTOP["width"] else f"in-use-{width}"
        assert (await _screenshot(client, name)).exists()
    await _resize(client, **DESKTOP)

    # The session expires by itself: the card, the change feed and the inspector follow.
    texts = await _wait_for(
        client, lambda texts: "No session: it expired, or never started" in texts, timeout=60
    )
    assert "expire" in texts
    await _wait_for_rows(client, lambda rows: "session" not in rows and "tags" in rows)
    assert (await _screenshot(client, "expired")).exists()

    # Reset clears the namespace (the inspector's own buttons: tests/e2e/test_inspector.py).
    await _click(client, "Reset")
    await _wait_for_rows(client, lambda rows: not rows)


async def test_demo_keeps_two_tabs_of_a_browser_in_step(
    profile: Profile, server: FletServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = _demo(monkeypatch)
    first = await _open(profile, server, demo)
    await _wait_for(first, lambda texts: "Visit #1" in texts)
    second = await _open(profile, server, demo)  # the page opened again: a second tab
    await _wait_for(second, lambda texts: "Visit #2" in texts)
    for client in (first, second):
        await _resize(client, **SIDE_BY_SIDE)
    # The first tab heard the second count its visit, and marks it as the other tab's.
    feed = await _wait_for_feed(first, lambda feed: any(line[2] == "visits" for line in feed))
    assert [line[2:] for line in feed] == [["visits", OTHER_TAB, "2"]]

    # A press in the first tab moves the count in the second, whose feed marks it.
    await _shows(second, "Presses in all tabs: 0")
    await _click(first, ADD)
    await _shows(second, "Presses in all tabs: 1")
    feed = await _wait_for_feed(second, lambda feed: any(line[2] == "presses" for line in feed))
    assert [line[2:] for line in feed] == [["presses", OTHER_TAB, "1"]]
    feed = await _wait_for_feed(first, lambda feed: any(line[2] == "presses" for line in feed))
    assert [line[2:] for line in feed] == [["presses", "1"], ["visits", OTHER_TAB, "2"]]

    # And back; then both tabs press three times each, concurrently: every press counts,
    # and both tabs show every press.
    await _click(second, ADD)
    await _shows(first, "Presses in all tabs: 2")
    await asyncio.gather(_press(first, 3), _press(second, 3))
    for client in (first, second):
        await _shows(client, "Presses in all tabs: 8")
        feed = await _wait_for_feed(
            client, lambda feed: ["presses", "8"] in ([line[2], line[-1]] for line in feed)
        )
        # the five newest lines hold presses of both tabs: each tab made three of the last six
        assert {OTHER_TAB in line for line in feed if line[2] == "presses"} == {True, False}
    shots = {
        caption: await _part(client, "Live across tabs", "Inspector: this app's namespace")
        for caption, client in (("Tab A", first), ("Tab B: the same page in a second tab", second))
    }
    assert (await _side_by_side(first, shots, "two-tabs")).exists()

"""The StorageInspector on the real client: rows with types, live updates, deletion and
editing, every control found by its role and accessible name and used in the browser."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import flet as ft
from flet.components.component import Component

from flet_storage import Codec, FletStorage, StorageInspector
from flet_storage.inspector import PREVIEW, ROW

from .harness import Client


def _walk(control: Any) -> Iterator[Any]:
    """Every control under ``control`` (components, tables and rows included)."""
    yield control
    if isinstance(control, Component):
        children: Any = control._b
    else:
        children = getattr(control, "controls", None) or getattr(control, "content", None)
    if children is None:
        return
    for child in children if isinstance(children, list) else [children]:
        yield from _walk(child)


def _texts(control: Any) -> list[str]:
    return [str(c.value) for c in _walk(control) if isinstance(c, ft.Text)]


def table_rows(page: ft.Page) -> dict[str, list[str]]:
    """The inspector's rows: key -> the texts of the row's cells."""
    rows = {}
    for row in _walk(page.views[0]):
        if isinstance(row, ft.Container) and isinstance(row.data, tuple) and row.data[0] == ROW:
            texts = _texts(row)
            rows[texts[0]] = texts[1:]
    return rows


async def _wait_for_rows(
    client: Client, predicate: Callable[[dict[str, list[str]]], bool], timeout: float = 10
) -> dict[str, list[str]]:
    return await client.wait_until(table_rows, predicate, timeout=timeout, what="the inspector")


async def test_inspector_lists_types_and_follows_changes(client: Client, app_name: str) -> None:
    storage = FletStorage(app_name)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

    async def seed(page: ft.Page) -> None:
        await storage.set("tags", {"a", "b"})
        await storage.set("when", when)
        await storage.set("point", (1, 2))

    async def render(page: ft.Page) -> None:
        page.render(StorageInspector, storage)

    await client.run(seed)
    await client.run(render)
    rows = await _wait_for_rows(client, lambda rows: len(rows) == 3)
    assert [rows[k][0] for k in ("point", "tags", "when")] == ["tuple", "set", "datetime"]
    assert rows["point"][2] == "never"
    assert rows["point"][3] == "(1, 2)"
    assert rows["when"][3] == repr(when)
    assert len(rows["when"][3]) < PREVIEW

    # the stored size is the length of the stored text
    raw = await client.local_storage()
    assert int(rows["point"][1]) == len(json.loads(raw[f"flutter.{app_name}.point"]))

    # a write elsewhere on the page shows up, with its expiry counting down
    async def write(page: ft.Page) -> None:
        await FletStorage(app_name).set("session", {"user": "ada"}, ttl=3600)

    await client.run(write)
    rows = await _wait_for_rows(client, lambda rows: "session" in rows)
    assert rows["session"][0] == "dict"
    assert rows["session"][2] in ("59m 59s", "1h 00m")

    # delete through the row's button, found as a screen reader finds it
    await client.accessibility()
    await client.click("button", "Delete tags")
    rows = await _wait_for_rows(client, lambda rows: "tags" not in rows)
    assert sorted(rows) == ["point", "session", "when"]

    async def keys(page: ft.Page) -> list[str]:
        return sorted(await storage.get_keys())

    assert await client.run(keys) == ["point", "session", "when"]


async def test_inspector_edits_a_value_from_json(client: Client, app_name: str) -> None:
    storage = FletStorage(app_name)

    async def render(page: ft.Page) -> None:
        await storage.set("n", 1)
        await storage.set("note", "hi")
        page.render(StorageInspector, storage)

    await client.run(render)
    await _wait_for_rows(client, lambda rows: rows.get("n", [""])[0] == "int")
    await client.accessibility()

    def fields(page: ft.Page) -> dict[str, str]:
        return {
            str(c.label): str(c.value) for c in _walk(page.views[0]) if isinstance(c, ft.TextField)
        }

    async def type_in(label: str, text: str) -> None:
        from playwright.async_api import expect

        async def fill(pw_page: Any) -> None:
            field = pw_page.get_by_role("textbox", name=label, exact=True)
            await field.click()
            await expect(field).to_be_focused()  # Flutter's editing starts a moment later
            # typed over what is there: Flutter may still place the caret from the click after
            # the first Ctrl+A, so select again until the editing element holds all of it
            for _ in range(20):
                await pw_page.keyboard.press("ControlOrMeta+A")
                if await pw_page.evaluate(ALL_SELECTED):
                    break
            else:
                raise AssertionError(f"{label}: Ctrl+A never selected the text")
            await pw_page.keyboard.type(text)

        await client.in_browser(fill)
        await client.wait_until(fields, lambda seen: seen[label] == text, what="the editor")

    # a row's Edit loads its key and JSON into the editor
    await client.click("button", "Edit note")
    await client.wait_until(
        fields, lambda seen: seen == {"Key": "note", "Value (JSON)": '"hi"'}, what="the editor"
    )

    await type_in("Key", "prefs")
    await type_in("Value (JSON)", '{"dark": true, "size": 3}')
    await client.click("button", "Set")
    rows = await _wait_for_rows(client, lambda rows: "prefs" in rows)
    assert rows["prefs"][0] == "dict"

    async def read(page: ft.Page) -> Any:
        return await storage.get("prefs")

    assert await client.run(read) == {"dark": True, "size": 3}

    # Refresh re-reads what was written behind the inspector's back (not through storage)
    async def behind(page: ft.Page) -> None:
        await ft.SharedPreferences().set(f"{app_name}.raw", Codec().encode(5))

    await client.run(behind)
    await client.click("button", "Refresh")
    rows = await _wait_for_rows(client, lambda rows: "raw" in rows)
    assert rows["raw"][0] == "int"


ALL_SELECTED = """() => new Promise(done => setTimeout(() => {
    const e = document.activeElement;
    done(!!e && typeof e.value === "string"
        && e.selectionStart === 0 && e.selectionEnd === e.value.length);
}, 100))"""
"""Whether the focused editing element has all its text selected, 100 ms after asking (long
enough for Flutter's own selection from a click to have landed)."""


TICK = "StorageInspector.<locals>.mount.<locals>.tick"
"""The inspector's countdown task, as the server's task list shows it."""


async def test_inspector_stops_following_when_it_unmounts(client: Client, app_name: str) -> None:
    """Its ticker and subscription end with it, even after it rendered again (Flet 1.0.5
    forgets an effect's returned clean-up on a re-render: the inspector passes cleanup=)."""
    storage = FletStorage(app_name)
    setters: dict[str, Callable[[bool], None]] = {}

    @ft.component
    def Host() -> ft.Control:
        shown, set_shown = ft.use_state(True)
        setters["shown"] = set_shown
        return StorageInspector(storage) if shown else ft.Text("no inspector")

    async def ticks() -> set[int]:
        tasks = await client.server.pending_tasks(settle=0)
        return {task for task, text in tasks.items() if TICK in text}

    before = await ticks()

    async def render(page: ft.Page) -> None:
        await storage.set("a", 1)
        page.render(Host)

    await client.run(render)
    await _wait_for_rows(client, lambda rows: "a" in rows)

    async def write(page: ft.Page) -> None:
        await storage.set("b", 2)  # the inspector renders again

    await client.run(write)
    await _wait_for_rows(client, lambda rows: sorted(rows) == ["a", "b"])
    mine = await ticks() - before
    assert len(mine) == 1

    async def hide(page: ft.Page) -> None:
        setters["shown"](False)

    await client.run(hide)
    await client.wait_until(lambda page: _texts(page.views[0]), lambda t: t == ["no inspector"])
    # a wait for the cancelled task to finish (not a speed check): it never does if leaked
    still = await client.server.pending_tasks(settle=10)
    assert not mine & set(still)

"""A small settings + notes app that uses every FletStorage method.

Run it headless as a web app (prints its URL):  ./scripts/demo
or directly:                                  uv run python examples/demo.py
"""

from __future__ import annotations

import os

import flet as ft
from quickstart import main as quickstart  # examples/quickstart.py, beside this file

from flet_storage import FletStorage

APP = "flet_storage_demo"


async def main(page: ft.Page) -> None:
    page.title = "flet-storage demo"
    storage = FletStorage(app_name=APP)

    settings = await storage.get_or_default("settings", {"dark": False, "name": ""})
    notes: list[str] = await storage.get_or_default("notes", [])
    tags: set[str] = await storage.get_or_default("tags", set())
    visits = await storage.get_or_default("visits", 0) + 1
    await storage.set("visits", visits)
    page.theme_mode = ft.ThemeMode.DARK if settings["dark"] else ft.ThemeMode.LIGHT

    status = ft.Text()
    name = ft.TextField(label="Your name", value=settings["name"], width=300)
    note = ft.TextField(label="New note (#tags welcome)", width=300)
    note_list = ft.Column()

    async def show_status() -> None:
        keys = sorted(await storage.get_keys())
        has_notes = await storage.contains_key("notes")
        status.value = f"visit #{visits} · keys: {keys} · notes stored: {has_notes}"
        status.value += f" · tags: {sorted(tags)}"

    def render_notes() -> None:
        note_list.controls = [
            ft.Row([ft.Text(text), ft.IconButton(ft.Icons.DELETE, on_click=delete_note, data=i)])
            for i, text in enumerate(notes)
        ]

    async def save_settings(e: ft.Event[ft.Switch] | ft.Event[ft.TextField]) -> None:
        settings["dark"] = bool(dark.value)
        settings["name"] = name.value or ""
        await storage.set("settings", settings)
        page.theme_mode = ft.ThemeMode.DARK if settings["dark"] else ft.ThemeMode.LIGHT
        await show_status()

    async def add_note(e: ft.Event[ft.Button]) -> None:
        if not note.value:
            return
        notes.append(note.value)
        tags.update(word[1:] for word in note.value.split() if word.startswith("#"))
        await storage.set("notes", notes)
        await storage.set("tags", tags)  # a set, and it comes back as a set
        note.value = ""
        render_notes()
        await show_status()

    async def delete_note(e: ft.Event[ft.IconButton]) -> None:
        notes.pop(e.control.data)
        if notes:
            await storage.set("notes", notes)
        else:
            await storage.remove("notes")
        render_notes()
        await show_status()

    async def clear_all(e: ft.Event[ft.Button]) -> None:
        await storage.clear()  # only this app's namespace
        notes.clear()
        tags.clear()
        render_notes()
        await show_status()

    async def run_quickstart(e: ft.Event[ft.Button]) -> None:
        await quickstart(page)  # the spec's example, unchanged, in its own namespace

    dark = ft.Switch(label="Dark theme", value=settings["dark"], on_change=save_settings)
    name.on_blur = save_settings
    render_notes()
    await show_status()
    page.add(
        ft.Text("Settings", size=20),
        dark,
        name,
        ft.Text("Notes", size=20),
        ft.Row([note, ft.Button("Add", on_click=add_note)]),
        note_list,
        ft.Row(
            [
                ft.Button("Clear this app's data", on_click=clear_all),
                ft.Button("Run the quickstart example", on_click=run_quickstart),
            ]
        ),
        status,
    )


if __name__ == "__main__":
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    port = int(os.environ.get("DEMO_PORT", "8550"))
    os.environ.setdefault("FLET_FORCE_WEB_SERVER", "1")  # serve only; open no window
    os.environ.setdefault("FLET_WEB_NO_CDN", "1")  # the web client ships its own CanvasKit
    print(f"flet-storage demo: http://{host}:{port}/", flush=True)
    ft.run(main, host=host, port=port, view=ft.AppView.WEB_BROWSER, no_cdn=True)

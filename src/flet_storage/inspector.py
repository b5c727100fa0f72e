"""`StorageInspector`: a development-time view of one namespace, live.

Drop it into a declarative Flet app (one rendered with `page.render`) while you develop:

```python
import flet as ft
from flet_storage import FletStorage, StorageInspector

storage = FletStorage(app_name="my_app")


@ft.component
def App() -> ft.Control:
    return ft.Column([..., StorageInspector(storage)])


ft.run(lambda page: page.render(App))
```

It lists every key of the namespace with the value's Python type, its stored size (the
length of the stored text, TTL frame and encryption included), the time left before it
expires and a preview of the value, and follows every change through
[`subscribe`][flet_storage.FletStorage.subscribe]. A row's buttons load the value into
the editor (JSON in, `set` out) or delete it. It reads and writes through `storage` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import flet as ft

from ._errors import NoPageError, StorageError, StorageTimeoutError, logger
from ._events import StorageEvent

if TYPE_CHECKING:
    from ._storage import FletStorage

__all__ = ["StorageInspector"]

ROW = "flet_storage.inspector.row"
"""The `data` tag of each row's control: `(ROW, key)`."""

PREVIEW = 80
"""Characters of a value's `repr` shown before it is cut with an ellipsis."""

COMPACT = 600
"""Below this width (in pixels, the inspector's own) each row takes two lines, as on a phone."""


@dataclass(frozen=True)
class _Row:
    key: str
    type_name: str
    size: int
    expires_at: float | None
    preview: str
    json_text: str


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def _as_json(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return ""  # not JSON (a set, a datetime...): the editor starts empty


def _countdown(seconds: float) -> str:
    seconds = max(0, math.ceil(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


async def _rows(storage: FletStorage) -> list[_Row]:
    stored = await storage.key_info()
    keys = sorted(stored)
    try:
        values = await storage.get_many(keys)
    except StorageError:  # one bad value: read the others one by one
        values = {}
        for key in keys:
            try:
                values[key] = await storage.get(key)
            except StorageError as exc:
                values[key] = exc
    rows = []
    for key in keys:
        if key not in values:  # removed or expired between the two reads
            continue
        value = values[key]
        size, expires_at = stored[key]
        if isinstance(value, StorageError):
            type_name, preview, text = "error", str(value)[:PREVIEW], ""
        else:
            type_name, preview, text = type(value).__name__, _preview(value), _as_json(value)
        rows.append(_Row(key, type_name, size, expires_at, preview, text))
    return rows


@ft.component
def StorageInspector(storage: FletStorage, *, title: str = "Storage inspector") -> ft.Control:
    """Every key of `storage`'s namespace, with its type, stored size, expiry and value.

    A function component: use it inside an `@ft.component`, or render it alone with
    `page.render(StorageInspector, storage)`. It updates itself on every change the
    namespace's listeners hear, counts expiries down every second and re-reads when one
    runs out. The editor stores a JSON value under a key with
    [`set`][flet_storage.FletStorage.set].

    A development tool: on a storage with `encryption=` it shows the decrypted values to
    whoever sees the page (on web, the browser's user) and encrypts whatever is typed into
    it as authentic; never ship it in a production app.

    Args:
        storage: The namespace to inspect.
        title: The heading shown above the table.

    Returns:
        The inspector's control tree.
    """
    rows, set_rows = ft.use_state(list[_Row]())
    now, set_now = ft.use_state(storage.clock())
    key_text, set_key_text = ft.use_state("")
    json_text, set_json_text = ft.use_state("")
    message, set_message = ft.use_state("")
    compact, set_compact = ft.use_state(False)

    async def reload() -> bool:
        """Read the namespace again; False once the client no longer answers."""
        try:
            set_rows(await _rows(storage))
            set_now(storage.clock())
        except (StorageTimeoutError, NoPageError):
            return False  # the tab is gone (its session may live on): stop, log nothing
        except StorageError as exc:
            logger.exception("the inspector could not read %r", storage.app_name)
            set_message(f"could not read: {exc}")
        return True

    def mount() -> None:
        async def on_change(event: StorageEvent) -> None:
            await reload()

        async def tick() -> None:
            while True:
                await asyncio.sleep(1)
                moment = storage.clock()
                current = latest.current or []
                if any(r.expires_at is not None for r in current):
                    set_now(moment)
                expired = any(r.expires_at is not None and r.expires_at <= moment for r in current)
                if expired and not await reload():
                    return  # no client to count down for

        subscription = storage.subscribe(on_change)
        tasks = [asyncio.ensure_future(reload()), asyncio.ensure_future(tick())]

        def stop_following() -> None:
            subscription.cancel()
            for task in tasks:
                task.cancel()

        stop.current = stop_following

    def unmount() -> None:
        if stop.current is not None:
            stop.current()

    latest: ft.MutableRef[list[_Row]] = ft.use_ref()
    latest.current = rows  # what the ticker sees
    # cleanup= rather than a function mount returns: Flet 1.0.5 forgets that one once the
    # component renders again, and the subscription and the ticker would outlive it
    stop: ft.MutableRef[Callable[[], None] | None] = ft.use_ref()
    ft.use_effect(mount, dependencies=[storage.app_name], cleanup=unmount)

    async def save(e: ft.Event[ft.Button]) -> None:
        key = key_text.strip()
        if not key:
            set_message("a key is needed")
            return
        try:
            value = json.loads(json_text)
        except ValueError as exc:
            set_message(f"not JSON: {exc}")
            return
        try:
            await storage.set(key, value)
        except (StorageError, ValueError) as exc:
            set_message(str(exc))
            return
        set_message(f"set {key!r} to {_preview(value)}")

    def edit(row: _Row) -> Callable[[ft.Event[ft.IconButton]], None]:
        def handler(e: ft.Event[ft.IconButton]) -> None:
            set_key_text(row.key)
            set_json_text(row.json_text)
            set_message("" if row.json_text else f"{row.type_name} is not JSON: type a new value")

        return handler

    def delete(row: _Row) -> Callable[[ft.Event[ft.IconButton]], Any]:
        async def handler(e: ft.Event[ft.IconButton]) -> None:
            await storage.remove(row.key)
            set_message(f"removed {row.key!r}")

        return handler

    async def refresh(e: ft.Event[ft.IconButton]) -> None:
        # What was written behind flet-storage's back shows once the storage re-reads
        # the client (its read cache, or with sync its browser's mirror).
        with contextlib.suppress(StorageError):
            await storage.refresh()
        await reload()

    def text(value: str, **style: Any) -> ft.Text:
        return ft.Text(value, size=13, max_lines=1, overflow=ft.TextOverflow.ELLIPSIS, **style)

    def icon_button(
        icon: ft.IconData, name: str, tooltip: str, on_click: Any, **style: Any
    ) -> ft.IconButton:
        # The icon's semantics label is the button's accessible name (a tooltip is not).
        return ft.IconButton(
            ft.Icon(icon, semantics_label=name, **style), tooltip=tooltip, on_click=on_click
        )

    def line(cells: list[ft.Control], **style: Any) -> ft.Container:
        """One line of the table: fixed-width cells, and the value taking the rest."""
        widths = (150, 96, 64, 80, None, 80)
        return ft.Container(
            ft.Row(
                [
                    ft.Container(c, width=w, expand=w is None)
                    for c, w in zip(cells, widths, strict=True)
                ],
                spacing=12,
            ),
            padding=ft.Padding.symmetric(horizontal=8, vertical=4),
            border=ft.Border.only(bottom=ft.BorderSide(1, ft.Colors.OUTLINE_VARIANT)),
            **style,
        )

    def entry(row: _Row) -> ft.Container:
        """A key's line; in a narrow inspector two: key, type and buttons, then the rest."""
        key = text(row.key, weight=ft.FontWeight.W_600)
        type_chip = ft.Row(
            [
                ft.Container(
                    ft.Text(row.type_name, size=12, color=ft.Colors.ON_SECONDARY_CONTAINER),
                    bgcolor=ft.Colors.SECONDARY_CONTAINER,
                    border_radius=8,
                    padding=ft.Padding.symmetric(horizontal=8, vertical=2),
                )
            ],
            tight=True,
        )
        size = text(str(row.size), text_align=ft.TextAlign.RIGHT)
        expiry = text(
            "never" if row.expires_at is None else _countdown(row.expires_at - now),
            color=None if row.expires_at is None else ft.Colors.TERTIARY,
        )
        preview = text(row.preview, font_family="monospace")
        buttons = ft.Row(
            [
                icon_button(ft.Icons.EDIT_OUTLINED, f"Edit {row.key}", "Edit", edit(row), size=18),
                icon_button(
                    ft.Icons.DELETE_OUTLINE,
                    f"Delete {row.key}",
                    "Delete",
                    delete(row),
                    size=18,
                    color=ft.Colors.ERROR,
                ),
            ],
            spacing=0,
            tight=True,
        )
        if not compact:
            return line(
                [key, type_chip, size, expiry, preview, buttons],
                data=(ROW, row.key),
                key=f"key:{row.key}",  # what Flet's diff matches lines by
            )
        return ft.Container(
            ft.Column(
                [
                    ft.Row([ft.Container(key, expand=True), type_chip, buttons], spacing=8),
                    ft.Row(
                        [
                            ft.Row([size, ft.Text("·", size=13), expiry], spacing=4, tight=True),
                            ft.Container(preview, expand=True),
                        ],
                        spacing=12,
                    ),
                ],
                spacing=0,
            ),
            padding=ft.Padding.only(left=8, bottom=6),
            border=ft.Border.only(bottom=ft.BorderSide(1, ft.Colors.OUTLINE_VARIANT)),
            data=(ROW, row.key),
            key=f"key:{row.key}",
        )

    header = line(
        [
            text(
                label,
                weight=ft.FontWeight.W_600,
                text_align=ft.TextAlign.RIGHT if label == "Size" else None,
            )
            for label in ("Key", "Type", "Size", "Expires", "Value", "")
        ],
        height=36,
        key="header",
    )
    table = ft.Column([*([] if compact else [header]), *map(entry, rows)], spacing=0)
    key_field = ft.TextField(
        label="Key",
        value=key_text,
        dense=True,
        on_change=lambda e: set_key_text(e.control.value or ""),
        width=None if compact else 140,
        expand=compact,
    )
    value_field = ft.TextField(
        label="Value (JSON)",
        value=json_text,
        expand=True,
        dense=True,
        on_change=lambda e: set_json_text(e.control.value or ""),
    )
    set_button = ft.Button("Set", icon=ft.Icons.SAVE, on_click=save)
    editor: list[ft.Control] = (
        [ft.Row([key_field]), ft.Row([value_field, set_button])]
        if compact
        else [ft.Row([key_field, value_field, set_button])]
    )
    return ft.Column(
        [
            ft.Row(
                [
                    ft.Icon(ft.Icons.MANAGE_SEARCH, color=ft.Colors.PRIMARY),
                    ft.Column(
                        [
                            ft.Text(title, size=18, weight=ft.FontWeight.BOLD),
                            ft.Text(
                                f"{storage.app_name} · {len(rows)} "
                                f"key{'' if len(rows) == 1 else 's'}",
                                size=12,
                            ),
                        ],
                        spacing=0,
                        expand=True,
                    ),
                    icon_button(ft.Icons.REFRESH, "Refresh", "Refresh", refresh),
                ]
            ),
            table,
            *editor,
            ft.Text(message, size=12, italic=True),
        ],
        spacing=8,
        on_size_change=lambda e: set_compact(e.width < COMPACT),
        size_change_interval=100,
    )

"""flet-storage, shown off: what only this library does, in one declarative Flet app.

* Exact types come back: a set, a datetime, a tuple (plain JSON would give list, str, list).
* A value with a TTL counts down and expires by itself.
* Two components share one key through `use_storage` and move in step.
* Every tab of the browser sees every write at once (sync, on by default): open the page in a
  second tab and press "Add 1 in this tab" in either; the change feed marks the other tab's
  writes.
* A change feed hears every write through `subscribe`, this tab's and other tabs'.
* The `StorageInspector` shows the namespace live, beside it.
* Every card reads storage when it mounts, so what it shows survives a reload, a new tab and
  a browser restart. A new tab or a browser restart is a new Flet session: `main` runs again
  and counts a visit. A reload reconnects the tab to its session (Flet keeps the session id in
  the tab's sessionStorage), so `main` does not run again; `page.on_connect` mounts the cards
  again, and they read storage anew.

Run it headless as a web app (prints its URL):  ./scripts/demo
or directly:                                  uv run python examples/demo.py
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import flet as ft

from flet_storage import FletStorage, StorageEvent, StorageInspector

APP = "flet_storage_demo"
SESSION_TTL = 20  # seconds
ACCENT = ft.Colors.INDIGO
TAGS = ("python", "flet", "async", "typed", "fast", "web", "mobile", "desktop")
KIND_STYLE = {
    "set": (ft.Icons.EDIT_NOTE, ft.Colors.INDIGO),
    "remove": (ft.Icons.DELETE_OUTLINE, ft.Colors.RED_400),
    "clear": (ft.Icons.CLEANING_SERVICES_OUTLINED, ft.Colors.ORANGE_700),
    "expire": (ft.Icons.TIMER_OFF_OUTLINED, ft.Colors.TEAL_600),
}
OTHER_TAB = ft.Colors.PINK_600
"""The colour of what another tab did."""


# -- building blocks --------------------------------------------------------------------------


def card(
    title: str, subtitle: str, icon: ft.IconData, body: ft.Control, *, md: int = 6
) -> ft.Container:
    return ft.Container(
        ft.Column(
            [
                ft.Row(
                    [
                        ft.Container(
                            ft.Icon(icon, color=ACCENT, size=20),
                            bgcolor=ft.Colors.INDIGO_50,
                            border_radius=10,
                            padding=8,
                        ),
                        ft.Column(
                            [
                                ft.Text(title, size=16, weight=ft.FontWeight.W_600),
                                ft.Text(subtitle, size=12, color=ft.Colors.BLUE_GREY_500),
                            ],
                            spacing=0,
                            expand=True,
                        ),
                    ],
                    spacing=12,
                ),
                body,
            ],
            spacing=16,
        ),
        col={"xs": 12, "md": md},
        padding=20,
        bgcolor=ft.Colors.WHITE,
        border_radius=16,
        border=ft.Border.all(1, ft.Colors.BLUE_GREY_100),
        shadow=ft.BoxShadow(blur_radius=12, color=ft.Colors.with_opacity(0.06, ft.Colors.BLACK)),
    )


def chip(
    text: str, color: str = ACCENT, *, strong: bool = True, icon: ft.IconData | None = None
) -> ft.Container:
    label = ft.Text(text, size=12, color=color, weight=ft.FontWeight.W_600 if strong else None)
    return ft.Container(
        label if icon is None else ft.Row([ft.Icon(icon, size=14, color=color), label], spacing=4),
        bgcolor=ft.Colors.with_opacity(0.1, color),
        border_radius=20,
        padding=ft.Padding.symmetric(horizontal=10, vertical=3),
    )


def use_mount(start: Callable[[], Callable[[], object]]) -> None:
    """Run `start()` when the component mounts, and what it returned when it unmounts.

    Not `ft.use_effect(start, dependencies=[])` alone: Flet 1.0.5 forgets the function an
    effect returns once the component renders again, and it would never run.
    """
    stop: ft.MutableRef[Callable[[], object] | None] = ft.use_ref()

    def mount() -> None:
        stop.current = start()

    def unmount() -> None:
        if stop.current is not None:
            stop.current()

    ft.use_effect(mount, dependencies=[], cleanup=unmount)


def use_ticker(interval: float, tick: Callable[[], Awaitable[None]]) -> None:
    """Call `tick` every `interval` seconds while the component is mounted."""

    def start() -> Callable[[], object]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                await tick()

        return asyncio.ensure_future(loop()).cancel

    use_mount(start)


# -- the cards --------------------------------------------------------------------------------


@ft.component
def ExactTypes(storage: FletStorage) -> ft.Control:
    tags, _ = storage.use_storage("tags", None)
    seen, _ = storage.use_storage("last_seen", None)
    window, _ = storage.use_storage("window", None)

    async def write(e: ft.Event[ft.Button]) -> None:
        current = set(tags or ())
        current.add(random.choice([t for t in TAGS if t not in current] or TAGS))
        await storage.set_many(
            {
                "tags": current,
                "last_seen": datetime.now(timezone.utc).replace(microsecond=0),
                "window": (random.randrange(800, 1600, 40), random.randrange(600, 1000, 40)),
            }
        )

    def row(key: str, value: Any, json_type: str) -> ft.Control:
        kind = "—" if value is None else type(value).__name__
        return ft.Column(  # two lines: it fits a phone's width as well as a desktop's
            [
                ft.Row(
                    [
                        ft.Text(key, weight=ft.FontWeight.W_500, size=13, expand=True),
                        chip(
                            kind,
                            ft.Colors.GREEN_700 if value is not None else ft.Colors.BLUE_GREY_400,
                        ),
                        chip(f"JSON: {json_type}", ft.Colors.BLUE_GREY_400, strong=False),
                    ],
                    spacing=8,
                ),
                ft.Text(
                    "not stored yet" if value is None else repr(value),
                    size=12,
                    font_family="monospace",
                    max_lines=1,
                    overflow=ft.TextOverflow.ELLIPSIS,
                    color=ft.Colors.BLUE_GREY_700,
                ),
            ],
            spacing=2,
        )

    return card(
        "Exact types come back",
        "What you store is what you read: no list where you stored a set",
        ft.Icons.VERIFIED_OUTLINED,
        ft.Column(
            [
                row("tags", tags, "list"),
                row("last_seen", seen, "str"),
                row("window", window, "list"),
                ft.Row(
                    [
                        ft.FilledButton(
                            "Store new values", icon=ft.Icons.SAVE_OUTLINED, on_click=write
                        )
                    ]
                ),
            ],
            spacing=10,
        ),
    )


@ft.component
def ExpiringSession(storage: FletStorage) -> ft.Control:
    session, _ = storage.use_storage("session", None)
    now, set_now = ft.use_state(datetime.now(timezone.utc))
    latest: ft.MutableRef[dict[str, Any] | None] = ft.use_ref()
    latest.current = session  # what the ticker sees

    async def tick() -> None:
        moment = datetime.now(timezone.utc)
        set_now(moment)
        if latest.current is not None and latest.current["until"] <= moment:
            await storage.get_or_default("session")  # reads it as expired: the event follows

    use_ticker(0.25, tick)

    async def start(e: ft.Event[ft.Button]) -> None:
        until = datetime.now(timezone.utc) + timedelta(seconds=SESSION_TTL)
        await storage.set("session", {"user": "ada", "until": until}, ttl=SESSION_TTL)

    if session is None:
        status: ft.Control = ft.Row(
            [
                ft.Icon(ft.Icons.LOCK_OUTLINE, color=ft.Colors.BLUE_GREY_400),
                ft.Text("No session: it expired, or never started", color=ft.Colors.BLUE_GREY_500),
            ]
        )
        left = 0.0
    else:
        left = max(0.0, (session["until"] - now).total_seconds())
        status = ft.Row(
            [
                ft.Icon(ft.Icons.LOCK_OPEN, color=ft.Colors.TEAL_600),
                ft.Text(f"Signed in as {session['user']}", weight=ft.FontWeight.W_500),
                ft.Container(expand=True),
                ft.Text(
                    f"{left:4.1f} s left",
                    size=20,
                    weight=ft.FontWeight.BOLD,
                    color=ft.Colors.TEAL_700,
                    font_family="monospace",
                ),
            ]
        )
    return card(
        "A value that expires",
        f"set(..., ttl={SESSION_TTL}): gone by itself, in every tab, even while none is open",
        ft.Icons.TIMER_OUTLINED,
        ft.Column(
            [
                status,
                ft.ProgressBar(
                    value=left / SESSION_TTL,
                    color=ft.Colors.TEAL_400,
                    bgcolor=ft.Colors.BLUE_GREY_50,
                    border_radius=4,
                    bar_height=8,
                ),
                ft.Row(
                    [
                        ft.FilledButton(
                            "Start a session" if session is None else "Restart the session",
                            icon=ft.Icons.PLAY_ARROW_ROUNDED,
                            on_click=start,
                        ),
                        ft.Text(
                            "The inspector below counts it down too.",
                            size=12,
                            color=ft.Colors.BLUE_GREY_500,
                        ),
                    ],
                    spacing=16,
                    run_spacing=8,
                    wrap=True,  # the hint goes under the button in a narrow card
                ),
            ],
            spacing=12,
        ),
    )


@ft.component
def Counter(storage: FletStorage, label: str, icon: ft.IconData) -> ft.Control:
    count, _ = storage.use_storage("likes", 0)
    where = label.lower()

    async def like(e: ft.Event[ft.IconButton]) -> None:
        await storage.increment("likes")  # atomic; both counters re-render with the result

    return ft.Container(
        ft.Column(
            [
                ft.Row([ft.Icon(icon, size=16, color=ft.Colors.BLUE_GREY_400), ft.Text(label)]),
                ft.Row(
                    [
                        ft.Text(str(count), size=34, weight=ft.FontWeight.BOLD, color=ACCENT),
                        ft.IconButton(
                            # the icon's label names the button for screen readers
                            ft.Icon(
                                ft.Icons.FAVORITE,
                                color=ft.Colors.PINK_400,
                                semantics_label=f"Like from the {where}",
                            ),
                            tooltip=f"Like from the {where}",
                            on_click=like,
                        ),
                    ],
                    alignment=ft.MainAxisAlignment.SPACE_BETWEEN,
                ),
            ],
            spacing=4,
        ),
        expand=True,
        padding=14,
        border_radius=12,
        bgcolor=ft.Colors.INDIGO_50,
    )


@ft.component
def InStep(storage: FletStorage) -> ft.Control:
    return card(
        "Two components, one key",
        'Each calls storage.use_storage("likes", 0): a like in one shows in both',
        ft.Icons.SYNC_ALT,
        ft.Column(
            [
                ft.Row(
                    [
                        Counter(storage, "Sidebar", ft.Icons.VIEW_SIDEBAR_OUTLINED),
                        Counter(storage, "Toolbar", ft.Icons.VIEW_DAY_OUTLINED),
                    ],
                    spacing=12,
                ),
                ft.Text(
                    "The hearts call storage.increment(): atomic, so no like is ever lost.",
                    size=12,
                    color=ft.Colors.BLUE_GREY_500,
                ),
            ],
            spacing=10,
        ),
    )


@ft.component
def LiveAcrossTabs(storage: FletStorage) -> ft.Control:
    presses, _ = storage.use_storage("presses", 0)  # re-renders on any tab's write

    async def press(e: ft.Event[ft.Button]) -> None:
        await storage.increment("presses")  # atomic across tabs: no press is lost

    return card(
        "Live across tabs",
        "Every tab of this browser sees each write at once: sync is on by default",
        ft.Icons.TAB_OUTLINED,
        ft.Column(
            [
                ft.Container(
                    ft.Row(
                        [
                            ft.Column(
                                [
                                    ft.Text("Presses, all tabs"),
                                    ft.Text(
                                        str(presses),
                                        size=34,
                                        weight=ft.FontWeight.BOLD,
                                        color=ACCENT,
                                        semantics_label=f"Presses in all tabs: {presses}",
                                    ),
                                ],
                                spacing=0,
                                expand=True,
                            ),
                            ft.FilledButton("Add 1 in this tab", icon=ft.Icons.ADD, on_click=press),
                        ],
                        spacing=12,
                    ),
                    padding=14,
                    border_radius=12,
                    bgcolor=ft.Colors.INDIGO_50,
                ),
                ft.Row(
                    [
                        ft.Icon(ft.Icons.OPEN_IN_NEW, size=18, color=OTHER_TAB),
                        ft.Text(
                            "Open this page in a second tab and add 1 in either: both counts "
                            "move at once, and each change feed marks what the other tab wrote.",
                            size=12,
                            color=ft.Colors.BLUE_GREY_600,
                            expand=True,
                        ),
                    ],
                    spacing=8,
                    vertical_alignment=ft.CrossAxisAlignment.START,
                ),
            ],
            spacing=10,
        ),
    )


@ft.component
def ChangeFeed(storage: FletStorage) -> ft.Control:
    events, set_events = ft.use_state(list[tuple[str, StorageEvent]]())

    def listen() -> Callable[[], object]:
        def heard(event: StorageEvent) -> None:
            stamp = datetime.now().astimezone().strftime("%H:%M:%S")
            set_events(lambda old: [(stamp, event), *old][:5])

        return storage.subscribe(heard).cancel

    use_mount(listen)

    def line(stamp: str, event: StorageEvent) -> ft.Control:
        icon, color = KIND_STYLE[event.kind]
        value = "" if event.kind != "set" else repr(event.value)
        return ft.Row(
            [
                ft.Icon(icon, size=18, color=color),
                ft.Text(stamp, size=12, color=ft.Colors.BLUE_GREY_400, font_family="monospace"),
                chip(event.kind, color),
                ft.Text(event.key, size=13, weight=ft.FontWeight.W_600),
                *([chip("other tab", OTHER_TAB, icon=ft.Icons.TAB)] if event.remote else []),
                ft.Text(
                    value,
                    size=12,
                    expand=True,
                    max_lines=1,
                    overflow=ft.TextOverflow.ELLIPSIS,
                    font_family="monospace",
                    color=ft.Colors.BLUE_GREY_600,
                ),
            ],
            spacing=8,
        )

    body: ft.Control = (
        ft.Column([line(stamp, event) for stamp, event in events], spacing=6)
        if events
        else ft.Text("Nothing yet: press a button.", color=ft.Colors.BLUE_GREY_400, italic=True)
    )
    return card(
        "Change feed",
        "storage.subscribe(listener): every set, remove, clear and expiry this page hears, "
        "its own and other tabs' (kept in memory: it starts empty in a new tab and after a "
        "reload)",
        ft.Icons.PODCASTS,
        body,
        md=12,
    )


@ft.component
def Header(storage: FletStorage, visit: int, reloads: int) -> ft.Control:
    async def reset(e: ft.Event[ft.OutlinedButton]) -> None:
        await storage.clear()  # only this app's namespace

    white = ft.Colors.WHITE
    soft = ft.Colors.with_opacity(0.85, white)
    badges: list[ft.Control] = [
        chip(f"Visit #{visit}", white),
        *([chip(f"Reloads: {reloads}", white)] if reloads else []),
        ft.OutlinedButton(
            "Reset",
            icon=ft.Icons.RESTART_ALT,
            on_click=reset,
            style=ft.ButtonStyle(
                color=white, side=ft.BorderSide(1, ft.Colors.with_opacity(0.7, white))
            ),
        ),
    ]
    return ft.Container(
        ft.ResponsiveRow(  # one line on a wide page; the badges under the title on a phone
            [
                ft.Row(
                    [
                        ft.Icon(ft.Icons.INVENTORY_2_OUTLINED, color=white, size=36),
                        ft.Column(
                            [
                                ft.Text(
                                    "flet-storage", size=26, weight=ft.FontWeight.BOLD, color=white
                                ),
                                ft.Text(
                                    "Type-faithful, namespaced, live storage for Flet apps",
                                    color=soft,
                                ),
                            ],
                            spacing=0,
                            expand=True,
                        ),
                    ],
                    spacing=16,
                    col={"xs": 12, "lg": 7},
                ),
                ft.Row(
                    badges,
                    spacing=10,
                    run_spacing=8,
                    wrap=True,
                    alignment=ft.MainAxisAlignment.END,
                    col={"xs": 12, "lg": 5},
                ),
                ft.Text(
                    "Every card reads storage when it mounts. A new tab or a browser restart is "
                    "a new visit; a reload reconnects to this one, and the cards read storage "
                    "again. Other tabs' writes show here at once.",
                    size=12,
                    color=soft,
                ),
            ],
            spacing=16,
            run_spacing=10,
            vertical_alignment=ft.CrossAxisAlignment.CENTER,
        ),
        gradient=ft.LinearGradient(
            colors=[ft.Colors.INDIGO_700, ft.Colors.DEEP_PURPLE_400],
            begin=ft.Alignment.CENTER_LEFT,
            end=ft.Alignment.CENTER_RIGHT,
        ),
        border_radius=18,
        padding=ft.Padding.symmetric(horizontal=20, vertical=18),
    )


@ft.component
def Cards(storage: FletStorage, visit: int, reloads: int, key: str | None = None) -> ft.Control:
    # `key` is Flet's component identity (@ft.component takes it): a new key, a new mount
    return ft.Column(
        [
            Header(storage, visit, reloads),
            ft.ResponsiveRow(
                [
                    ExactTypes(storage),
                    ExpiringSession(storage),
                    InStep(storage),
                    LiveAcrossTabs(storage),
                    ChangeFeed(storage),
                    ft.Container(
                        StorageInspector(storage, title="Inspector: this app's namespace"),
                        col=12,
                        padding=20,
                        bgcolor=ft.Colors.WHITE,
                        border_radius=16,
                        border=ft.Border.all(1, ft.Colors.BLUE_GREY_100),
                    ),
                ],
                spacing=16,
                run_spacing=16,
            ),
        ],
        spacing=16,
    )


@ft.component
def App(storage: FletStorage, visit: int) -> ft.Control:
    """The cards, mounted again (so read from storage again) whenever the tab reloads."""
    reloads, set_reloads = ft.use_state(0)

    def listen() -> Callable[[], object]:
        page = ft.context.page
        earlier = page.on_connect

        async def read_again() -> None:
            # The tabs of a browser share one mirror of storage (sync): a reloaded client
            # has just read localStorage, so the mirror reloads from it, then the cards.
            await storage.refresh()
            set_reloads(lambda n: n + 1)

        def reconnected(e: ft.Event[ft.Page]) -> None:
            page.run_task(read_again)
            if earlier is not None:  # whoever listened before keeps hearing it
                cast(Callable[[ft.Event[ft.Page]], Any], earlier)(e)

        page.on_connect = reconnected

        def unmount() -> None:
            page.on_connect = earlier

        return unmount

    use_mount(listen)
    return Cards(storage, visit, reloads, key=str(reloads))  # a new key: a new mount


async def main(page: ft.Page) -> None:
    page.title = "flet-storage demo"
    page.theme_mode = ft.ThemeMode.LIGHT
    page.theme = ft.Theme(color_scheme_seed=ACCENT)
    page.bgcolor = "#F3F4FA"
    page.padding = ft.Padding.all(16)
    page.scroll = ft.ScrollMode.AUTO
    storage = FletStorage(app_name=APP)
    # main runs once per Flet session: a new tab or a browser restart, not a reload
    visit = await storage.increment("visits")
    page.render(App, storage, visit)


if __name__ == "__main__":
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    port = int(os.environ.get("DEMO_PORT", "8550"))
    os.environ.setdefault("FLET_FORCE_WEB_SERVER", "1")  # serve only; open no window
    os.environ.setdefault("FLET_WEB_NO_CDN", "1")  # the web client ships its own CanvasKit
    print(f"flet-storage demo: http://{host}:{port}/", flush=True)
    ft.run(main, host=host, port=port, view=ft.AppView.WEB_BROWSER, no_cdn=True)

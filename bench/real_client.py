"""The benchmark suite on the real Flutter web client, through the e2e harness."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft
from e2e.harness import find_chromium, running  # tests/e2e, put on sys.path by run.py
from suite import APP, Env, Row

from flet_storage import FletStorage

__all__ = ["run_on_real_client"]


def run_on_real_client(
    suite: Callable[[Env], Awaitable[list[Row]]], upstream: Any | None
) -> list[Row]:
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no Chromium found: set FLET_STORAGE_CHROMIUM or install chromium")

    async def in_page(page: ft.Page) -> list[Row]:
        # Count what actually goes to the client: every SharedPreferences call of every
        # contender is one invoke_method of the page's session.
        session = page.session
        original = session.invoke_method
        sent = 0

        async def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal sent
            sent += 1
            return await original(*args, **kwargs)

        session.invoke_method = counting  # type: ignore[method-assign]
        try:
            env = Env(
                name="real Flutter web client",
                raw=ft.SharedPreferences(),
                ours=lambda **kw: FletStorage(APP, **kw),
                upstream=(lambda: upstream.FletStorage(APP)) if upstream else None,
                calls=lambda: sent,
            )
            return await suite(env)
        finally:
            del session.invoke_method

    async def main(server: Any, browser: Any) -> list[Row]:
        profile = await browser.open_profile()
        try:
            client = await profile.open(server)
            rows: list[Row] = await client.run(in_page, timeout=900, as_event=False)
            return rows
        finally:
            await profile.close()

    with running(chromium) as (server, browser):
        return asyncio.run(main(server, browser))

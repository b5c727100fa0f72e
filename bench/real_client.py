"""The benchmark suite on the real Flutter web client, through the e2e harness.

Each run opens a fresh Chromium profile on the app: directly (loopback, ``rtt_ms`` 0) or
through a :class:`~proxy.LatencyProxy` adding ``rtt_ms / 2`` each way, so that the page and
its websocket see a real network's round-trip time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import flet as ft
from e2e.harness import Browser, FletServer, find_chromium, running  # tests/, on sys.path
from proxy import LatencyProxy
from suite import Env, Reps, RoundCounter, Row

from flet_storage import FletStorage

__all__ = ["RealRun", "run_on_real_client"]

Suite = Callable[[Env, Reps], Awaitable[list[Row]]]


@dataclass
class RealRun:
    rtt_ms: float  # 0: loopback, no proxy
    reps: Reps
    rows: list[Row] | None = None
    seconds: float = 0.0  # wall time of the run, page load included
    proxy_stats: str = ""


def run_on_real_client(suite: Suite, upstream: Any | None, runs: list[RealRun]) -> None:
    """Run ``suite`` once per run (filling in its rows), on one server and one browser."""
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no Chromium found: set FLET_STORAGE_CHROMIUM or install chromium")
    with running(chromium) as (server, browser):
        for run in runs:
            asyncio.run(_one_run(suite, upstream, run, server, browser))


async def _one_run(
    suite: Suite, upstream: Any | None, run: RealRun, server: FletServer, browser: Browser
) -> None:
    async def in_page(page: ft.Page) -> list[Row]:
        # Count what actually goes to the client: every SharedPreferences call of every
        # contender is one invoke_method of the page's session.
        session = page.session
        counter = RoundCounter()
        session.invoke_method = counter.wrap(session.invoke_method)  # type: ignore[method-assign]
        try:
            env = Env(
                name="real Flutter web client",
                raw=ft.SharedPreferences(),
                ours=lambda app, **kw: FletStorage(app, **kw),
                upstream=(lambda app: upstream.FletStorage(app)) if upstream else None,
                counter=counter,
            )
            return await suite(env, run.reps)
        finally:
            del session.invoke_method

    start = time.perf_counter()
    proxy = LatencyProxy(server.port, run.rtt_ms / 2000) if run.rtt_ms > 0 else None
    if proxy is not None:
        proxy.start()
    try:
        profile = await browser.open_profile()
        try:
            client = await profile.open(server, base_url=proxy.url if proxy else None, timeout=120)
            run.rows = await client.run(in_page, timeout=1800, as_event=False)
        finally:
            await profile.close()
        if proxy is not None:
            idle = await asyncio.to_thread(proxy.wait_idle)
            run.proxy_stats = (
                f"{proxy.accepted} connections through the proxy, "
                f"{proxy.closed_cleanly} closed cleanly both ways, {proxy.aborted} reset"
                + ("" if idle else ", some still open when the run ended")
            )
    finally:
        if proxy is not None:
            proxy.stop()
    run.seconds = time.perf_counter() - start

"""What the sync tests share: a hang guard for waits on other tabs and processes, and the
storage they use. Waits poll; nothing is timed."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

from flet_storage import FletStorage
from flet_storage.testing import FakeBrowser, FakeTab

HANG = 20.0
"""Seconds after which a wait counts as hung (never reached when things work)."""


async def until(check: Callable[[], Any], what: str) -> None:
    """Wait until `check()` (sync or async) is true: a hang guard, not a time bound."""
    for _ in range(int(HANG / 0.01)):
        if await check() if asyncio.iscoroutinefunction(check) else check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def storage(browser: FakeBrowser, sync: Any = True, **kwargs: Any) -> FletStorage:
    """Namespace "app" on `browser`'s tabs, with `sync`."""
    return FletStorage("app", backend=browser.backend, sync=sync, **kwargs)


async def reads(tab: FakeTab, storage: FletStorage, key: str, value: Any) -> None:
    """Wait until `key` reads `value` in `tab`."""

    async def check() -> bool:
        return bool(await tab.run(storage.get_or_default, key) == value)

    await until(check, f"{key} reads {value!r}")


class Spinning(Exception):
    """The event loop ran without a break (a busy loop: no await can time it out)."""


@contextlib.contextmanager
def no_spin(seconds: float = HANG) -> Iterator[None]:
    """Raise `Spinning` in whatever runs after `seconds` (a hang guard that also stops a
    loop with no await in it). Where there is no SIGALRM (Windows), a plain block."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def fire(signum: int, frame: object) -> None:
        raise Spinning(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


async def landed_then_slow(browser: FakeBrowser, tab: FakeTab, key: str, raw: Any) -> None:
    """Wait until `tab`'s round stored `raw` under storage key `key`, then make its client
    hold its answers (it is slow to take what it missed while joining)."""
    for _ in range(1000):  # not `until`: its polls take longer than the join
        if browser.local_storage.get(key) == raw:
            break
        await asyncio.sleep(0)
    tab.answering.clear()


def take_then_close(
    monkeypatch: Any, browser: FakeBrowser, tab: FakeTab, key: str
) -> asyncio.Event:
    """`tab`'s client applies a set of storage key `key` (localStorage too), then never
    answers again (its tab closed): the event is set once it took the set."""
    backend: Any = browser.backend
    real_set = type(backend).set
    closed = asyncio.Event()

    async def take_then_close(self: Any, k: str, value: Any) -> bool:
        if closed.is_set() and self._tab() is tab:
            await asyncio.Event().wait()
        answer = await real_set(self, k, value)
        if self._tab() is tab and k == key and not closed.is_set():
            closed.set()
            await asyncio.Event().wait()  # never answers
        return bool(answer)

    monkeypatch.setattr(type(backend), "set", take_then_close)
    return closed

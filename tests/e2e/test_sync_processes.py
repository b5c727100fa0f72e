"""Live sync across server processes, on the real client: two Flet server processes of one
app behind a loopback proxy that gives both one origin (so tabs of one browser served by
either share one localStorage), each with `FletStorage(..., sync=RedisSync(url))` on one real
`redis-server`. Tabs on different processes see each other's writes, `increment` stays
atomic across them, and a Redis restart mid-run loses nothing. With the in-process bus alone
(`sync=True`) a tab on the other process stays stale: the limit RedisSync lifts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from redis_server import RedisServer

from flet_storage import StorageEvent
from flet_storage.sync import BROWSER_KEY

from .app_process import (
    IN_PROCESS,
    AppProcess,
    client_copy,
    heard,
    listen,
    storage_call,
    storage_calls,
)
from .harness import Browser, Client, Profile
from .one_origin import OneOriginProxy

_WAIT = 30.0
"""Seconds a wait for something asynchronous may take (a hang guard, not a speed check)."""


class TwoProcesses:
    """Two app processes behind one origin, and one browser (profile) to open tabs in."""

    def __init__(self, processes: Sequence[AppProcess], profile: Profile) -> None:
        self.processes = processes
        self.profile = profile

    async def tabs(self, *where: int) -> list[Client]:
        """One new tab per index, on that process (opened side by side)."""
        opened = await asyncio.gather(*(self.profile.open(self.processes[i]) for i in where))
        return list(opened)


@contextlib.asynccontextmanager
async def _two_processes(browser: Browser, sync: str) -> AsyncIterator[TwoProcesses]:
    processes = [AppProcess(f"p{i}", sync=sync) for i in range(2)]
    with contextlib.ExitStack() as stack:  # stops everything started, in reverse order
        for process in processes:
            stack.callback(process.stop)
            process.spawn()
        for process in processes:  # runs first: they stop side by side
            stack.callback(process.request_stop)
        for process in processes:
            process.connect()
        proxy = OneOriginProxy({f"/{process.name}/": process.port for process in processes})
        proxy.start()
        stack.callback(proxy.stop)
        for process in processes:
            process.base_url = f"{proxy.url}{process.name}/"
        profile = await browser.open_profile()
        try:
            await _make_browser_id(profile, processes[0])
            yield TwoProcesses(processes, profile)
        finally:
            await profile.close()  # before the servers stop, so websockets close cleanly


@pytest.fixture
async def redis_processes(
    browser: Browser, redis_server: RedisServer
) -> AsyncIterator[TwoProcesses]:
    """Two processes, each with its own `RedisSync(redis_server.url)`."""
    async with _two_processes(browser, redis_server.url) as two:
        yield two


@pytest.fixture
async def in_process_processes(browser: Browser) -> AsyncIterator[TwoProcesses]:
    """Two processes, each with only its in-process bus (`sync=True`)."""
    async with _two_processes(browser, IN_PROCESS) as two:
        yield two


async def _make_browser_id(profile: Profile, process: AppProcess) -> None:
    """Have the browser's id made and stored before the tabs of a test open, as for a
    returning visitor. (Fresh tabs that all make it at once form groups that do not sync
    until they reload: a documented limit of live sync, not what these tests are about.)"""
    tab = await profile.open(process)
    await tab.run(storage_call("e2e_setup", "get_or_default", "k"))
    await _eventually(lambda: _has_browser_id(tab), True, what="the browser id in localStorage")
    await tab.close()


async def _has_browser_id(tab: Client) -> bool:
    return f"flutter.{BROWSER_KEY}" in await tab.local_storage()


def _stored(local_storage: dict[str, str], app_name: str, key: str) -> Any:
    """What localStorage holds for `key`: the codec text (Flutter stores it JSON-encoded)."""
    return json.loads(local_storage[f"flutter.{app_name}.{key}"])


async def _eventually(
    read: Callable[[], Awaitable[Any]], expected: Any, *, what: str, timeout: float = _WAIT
) -> None:
    """Poll `read()` until it gives `expected`; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    while (seen := await read()) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {seen!r}, expected {expected!r}")
        await asyncio.sleep(0.05)


async def _reads(tab: Client, app_name: str, key: str, value: Any) -> None:
    """Wait until `key` reads `value` in `tab` (a write on the other process reaches this
    one about a Redis round trip after it returned)."""

    async def read() -> Any:
        return await tab.run(storage_call(app_name, "get_or_default", key))

    await _eventually(read, value, what=f"{key} in a tab")


async def test_both_processes_serve_one_origin(
    in_process_processes: TwoProcesses, app_name: str
) -> None:
    a, b = await in_process_processes.tabs(0, 1)
    origins = {await tab.evaluate("() => location.origin") for tab in (a, b)}
    assert len(origins) == 1
    await a.run(storage_call(app_name, "set", "o", 1))
    assert _stored(await b.local_storage(), app_name, "o") == "1"
    await b.reload()
    assert await b.run(storage_call(app_name, "get", "o")) == 1


async def test_tabs_on_two_processes_see_each_others_writes(
    redis_processes: TwoProcesses, app_name: str
) -> None:
    a, b = await redis_processes.tabs(0, 1)
    for tab in (a, b):
        await tab.run(listen(app_name, "n"))

    async def reached(tab: Client, value: int) -> None:
        """Wait until the other process's write of `value` reached `tab`'s process (its
        listener heard it): only then must a read there see it."""
        event = StorageEvent(app_name, "n", "set", value, remote=True)
        await _eventually(lambda: _heard(tab, event), True, what=f"the write of {value}")

    await a.run(storage_call(app_name, "set", "n", 0))
    await reached(b, 0)
    steps = [await b.run(storage_call(app_name, "get", "n"))]
    steps.append(await a.run(storage_call(app_name, "increment", "n")))
    await reached(b, 1)
    steps.append(await b.run(storage_call(app_name, "get", "n")))  # 0 without RedisSync
    steps.append(await b.run(storage_call(app_name, "increment", "n")))  # 1 without it
    await reached(a, 2)
    for where in (0, 1):
        (c,) = await redis_processes.tabs(where)
        steps.append(await c.run(storage_call(app_name, "get", "n")))
    assert steps == [0, 1, 1, 2, 2, 2]
    assert _stored(await a.local_storage(), app_name, "n") == "2"


async def _heard(tab: Client, event: StorageEvent) -> bool:
    return event in await tab.run(heard())


async def test_a_listener_hears_a_write_made_on_the_other_process(
    redis_processes: TwoProcesses, app_name: str
) -> None:
    a, b = await redis_processes.tabs(0, 1)
    await b.run(listen(app_name, "k"))
    await a.run(storage_call(app_name, "set", "k", {"from": "a"}))
    expected = [StorageEvent(app_name, "k", "set", {"from": "a"}, remote=True)]
    await _eventually(lambda: b.run(heard()), expected, what="tab B's listener")


async def test_increments_from_tabs_on_two_processes_add_up(
    redis_processes: TwoProcesses, app_name: str
) -> None:
    tabs = await redis_processes.tabs(0, 0, 1, 1)
    results = await asyncio.gather(
        *(tab.run(storage_calls(app_name, 10, "increment", "m")) for tab in tabs)
    )
    assert sorted(n for result in results for n in result) == list(range(1, 41))
    for tab in tabs:  # once the last increment reached the tab's process
        await _reads(tab, app_name, "m", 40)
    for tab in tabs:  # every tab's own client copy converges on the last write
        assert await tab.run(client_copy(app_name, "m", "40")) == "40"
    assert _stored(await tabs[0].local_storage(), app_name, "m") == "40"


async def test_a_redis_restart_loses_nothing(
    redis_processes: TwoProcesses, redis_server: RedisServer, app_name: str
) -> None:
    a, b = await redis_processes.tabs(0, 1)
    await a.run(storage_call(app_name, "set", "before", 0))
    await _reads(b, app_name, "before", 0)

    redis_server.stop()
    # Both processes keep working: writes land in localStorage, reads answer.
    await a.run(storage_call(app_name, "set", "from_a", 1))
    await b.run(storage_call(app_name, "set", "from_b", 2))
    await a.run(storage_call(app_name, "increment", "before"))
    assert await a.run(storage_call(app_name, "get", "from_a")) == 1
    assert await b.run(storage_call(app_name, "get", "from_b")) == 2
    stored = await a.local_storage()
    assert [_stored(stored, app_name, k) for k in ("from_a", "from_b", "before")] == ["1", "2", "1"]

    redis_server.start()
    for process in redis_processes.processes:
        await _eventually(process.sync_connected, True, what=f"{process.name}'s Redis connection")
    # What each process wrote during the outage reaches the other's tabs.
    stored = await a.local_storage()
    expected = {"before": 1, "from_a": 1, "from_b": 2}
    for key, value in expected.items():
        assert _stored(stored, app_name, key) == str(value)
        for tab in (a, b):
            await _reads(tab, app_name, key, value)
            assert await tab.run(client_copy(app_name, key, str(value))) == str(value)
    for process in redis_processes.processes:
        warnings = [
            message
            for level, message in await process.log_records()
            if level == "WARNING" and message.startswith("Redis unreachable")
        ]
        assert len(warnings) == 1, f"{process.name} warned {warnings}"


async def test_without_redis_a_tab_on_the_other_process_stays_stale(
    in_process_processes: TwoProcesses, app_name: str
) -> None:
    a, b = await in_process_processes.tabs(0, 1)
    await a.run(storage_call(app_name, "set", "n", 0))
    assert await b.run(storage_call(app_name, "get", "n")) == 0  # B's client loads its copy
    assert await a.run(storage_call(app_name, "increment", "n")) == 1
    # The known limit RedisSync lifts: the in-process bus reaches the tabs of one process
    # only, and B's client keeps its copy of localStorage.
    assert await b.run(storage_call(app_name, "get", "n")) == 0
    assert _stored(await b.local_storage(), app_name, "n") == "1"

"""A Flet app server in a process of its own, driven from the test process.

Live sync across server processes can only be shown with real processes: each one here runs
a :class:`~e2e.harness.FletServer` (the harness's app, mounted at ``/NAME/``) whose storage
uses ``FletStorage(app_name, sync=SYNC)``, ``SYNC`` being one ``RedisSync(url)`` per process
or the in-process bus (``sync=True``). The test process holds an :class:`AppProcess` for each
and talks to it over a control connection (``multiprocessing.connection``, with a random
authkey): it runs a coroutine function ``fn(page)`` in a tab's page, as
:meth:`FletServer.run` does, and reads the records of the ``flet_storage`` logger and the
state of the sync. An :class:`AppProcess` stands in for the server it drives (it is an
:class:`~e2e.harness.AppServer`), so ``profile.open(process)`` and ``client.run(fn)`` work
as with a server in the test process; ``fn`` must be picklable: a module-level function, or
a :func:`functools.partial` of one (:func:`storage_call`, :func:`storage_calls`,
:func:`client_copy`, :func:`listen`, :func:`heard`)::

    process = AppProcess("p0", sync="redis://127.0.0.1:6379/0")
    process.start()
    client = await profile.open(process)
    await client.run(storage_call("app", "set", "k", 1))
    process.stop()

The child is ``python -m e2e.app_process`` (``tests`` on its path). It prints its two ports
as one JSON line, and stops when told to or when the control connection closes; it exits
when the test process's end of its stdin closes, so a test process that dies, even killed,
takes its servers with it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import json
import logging
import os
import pickle
import secrets
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Client as Connect
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any, TypeVar

import flet as ft

from flet_storage import FletStorage, StorageEvent, Subscription
from flet_storage.sync import RedisSync

from .harness import DEFAULT_TIMEOUT, FletServer, HarnessError, _Record

__all__ = [
    "IN_PROCESS",
    "AppProcess",
    "client_copy",
    "heard",
    "listen",
    "storage_call",
    "storage_calls",
]

T = TypeVar("T")

IN_PROCESS = "in-process"
"""``sync=`` of :class:`AppProcess` for ``FletStorage(..., sync=True)``; any other value is
a Redis URL for ``RedisSync``."""

_TESTS = Path(__file__).resolve().parent.parent
_ENV_NAME = "FLET_STORAGE_E2E_NAME"
_ENV_SYNC = "FLET_STORAGE_E2E_SYNC"
_ENV_AUTHKEY = "FLET_STORAGE_E2E_AUTHKEY"
_STOP_TIMEOUT = 15.0


class AppProcess:
    """One app server process (``name`` is its mount path) and its control connection."""

    def __init__(self, name: str, *, sync: str) -> None:
        self.name = name
        self.sync = sync
        self.host = "127.0.0.1"
        self.port = 0
        self.base_url = ""
        """Where tabs open the app; the server's own address unless set (e.g. a proxy's)."""
        self._authkey = secrets.token_bytes(32)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self._process: subprocess.Popen[bytes] | None = None
        self._connection: Connection | None = None
        self._send_lock = threading.Lock()
        self._ids = itertools.count()
        self._pending: dict[int, concurrent.futures.Future[Any]] = {}
        self._reader: threading.Thread | None = None
        self._gone: HarnessError | None = None
        self._stop_requested = False

    # -- lifecycle (blocking) ----------------------------------------------------------

    def spawn(self) -> None:
        """Start the process (:meth:`connect` then waits for it): spawn several, then
        connect to each, and they start side by side."""
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(_TESTS), os.environ.get("PYTHONPATH")])
            ),
            _ENV_NAME: self.name,
            _ENV_SYNC: self.sync,
            _ENV_AUTHKEY: self._authkey.hex(),
        }
        self._process = subprocess.Popen(
            [sys.executable, "-m", "e2e.app_process"],
            env=env,
            stdin=subprocess.PIPE,  # never written: its end tells the child we are alive
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )

    def connect(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait for the process's ports and open the control connection."""
        ports = json.loads(self._read_line(timeout))
        self.port = ports["http"]
        self.base_url = self.base_url or f"http://{self.host}:{self.port}/{self.name}/"
        self._connection = Connect((self.host, ports["control"]), authkey=self._authkey)
        self._reader = threading.Thread(target=self._read, name=f"{self.name}-control", daemon=True)
        self._reader.start()

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.spawn()
        self.connect(timeout)

    def _read_line(self, timeout: float) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        stdout = self._process.stdout
        line = b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                if time.monotonic() > deadline:
                    raise HarnessError(f"{self.name}: no ports within {timeout} s{self.stderr()}")
                if not selector.select(0.1):
                    continue
                byte = os.read(stdout.fileno(), 1)
                if not byte:
                    self._process.wait(_STOP_TIMEOUT)
                    raise HarnessError(
                        f"{self.name}: exited ({self._process.returncode}) on start{self.stderr()}"
                    )
                line += byte
        return line.decode()

    def stderr(self) -> str:
        """What the process wrote to stderr (its last 4000 characters), for an error."""
        if self._stderr.closed:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")[-4000:]
        return f"; its stderr:\n{text}" if text else ""

    def request_stop(self) -> None:
        """Ask the process to stop, without waiting (:meth:`stop` waits): ask several, then
        stop each, and they stop side by side."""
        if self._process is None or self._stop_requested:
            return
        self._stop_requested = True
        if self._connection is not None:
            with contextlib.suppress(OSError, ValueError), self._send_lock:
                self._connection.send((None, "stop", ()))
        elif self._process.stdin is not None:
            self._process.stdin.close()  # not connected yet: the child exits at once

    def stop(self, timeout: float = _STOP_TIMEOUT) -> None:
        """Stop the process: asked to, then terminated, then killed. Never raises."""
        self.request_stop()
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._connection is not None:
            self._connection.close()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
        self._stderr.close()

    # -- the control connection ---------------------------------------------------------

    def _read(self) -> None:
        assert self._connection is not None
        try:
            while True:
                request_id, ok, result = self._connection.recv()
                future = self._pending.pop(request_id)
                if future.done():  # cancelled by its caller
                    continue
                if ok:
                    future.set_result(result)
                else:
                    future.set_exception(result)
        except (EOFError, OSError):
            self._gone = HarnessError(f"{self.name}: the process went away{self.stderr()}")
            while self._pending:
                self._pending.popitem()[1].set_exception(self._gone)

    async def call(self, op: str, *args: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Run the control operation ``op(*args)`` in the process; its result, or what it
        raised (``TimeoutError`` after ``timeout`` seconds)."""
        if self._connection is None:
            raise HarnessError(f"{self.name}: not started")
        request_id = next(self._ids)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._pending[request_id] = future
        if self._gone is not None:  # checked after adding: the reader fails what it finds
            raise self._gone
        with self._send_lock:
            self._connection.send((request_id, op, args))
        done, _ = await asyncio.wait({asyncio.wrap_future(future)}, timeout=timeout)
        if not done:
            raise TimeoutError(f"{self.name}: {op} gave no result within {timeout} s")
        return future.result()

    # -- what a tab needs of its server (AppServer) -------------------------------------

    def url_for(self, token: str) -> str:
        return f"{self.base_url}?client={token}"

    async def wait_for(
        self, predicate: Callable[[_Record], bool], token: str, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """Wait until ``predicate(record of token)`` holds (polled: the process's record is
        copied here, its pages as placeholders)."""
        deadline = time.monotonic() + timeout
        while True:
            pages, events = await self.call("record", token)
            if predicate(_Record(token, [None] * pages, events)):  # type: ignore[list-item]
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: the wait for {token} ran out after {timeout} s")
            await asyncio.sleep(0.05)

    async def events(self, token: str) -> list[tuple[str, str]]:
        _, events = await self.call("record", token)
        return list(events)

    async def session_count(self, token: str) -> int:
        pages, _ = await self.call("record", token)
        return int(pages)

    async def flush(self, token: str, timeout: float = 2.0) -> None:
        await self.call("flush", token, timeout, timeout=timeout + DEFAULT_TIMEOUT)

    async def run(
        self,
        token: str,
        fn: Callable[[ft.Page], Awaitable[T]],
        *,
        session: int = -1,
        timeout: float = DEFAULT_TIMEOUT,
        as_event: bool = True,
    ) -> T:
        result: T = await self.call(
            "run", token, fn, session, timeout, as_event, timeout=timeout + DEFAULT_TIMEOUT
        )
        return result

    async def pending_tasks(self, settle: float = 1.0) -> dict[int, str]:
        tasks: dict[int, str] = await self.call(
            "pending_tasks", settle, timeout=settle + DEFAULT_TIMEOUT
        )
        return tasks

    async def log_records(self) -> list[tuple[str, str]]:
        """``(level name, message)`` of every record the ``flet_storage`` logger emitted."""
        records: list[tuple[str, str]] = await self.call("log_records")
        return records

    async def sync_connected(self) -> bool | None:
        """Whether the process's sync is connected to Redis (``None``: in-process bus)."""
        connected: bool | None = await self.call("sync_connected")
        return connected


# -- what runs in a tab (module-level: pickled by reference) -------------------------------


def storage_call(app_name: str, op: str, *args: Any) -> Callable[[ft.Page], Awaitable[Any]]:
    """``fn(page)`` running ``await FletStorage(app_name, sync=SYNC).op(*args)`` in a tab."""
    return functools.partial(_storage_call, app_name, op, args)


async def _storage_call(app_name: str, op: str, args: tuple[Any, ...], page: ft.Page) -> Any:
    return await getattr(_storage(app_name), op)(*args)


def storage_calls(
    app_name: str, times: int, op: str, *args: Any
) -> Callable[[ft.Page], Awaitable[list[Any]]]:
    """``fn(page)`` running ``times`` of :func:`storage_call` at once in a tab; their results."""
    return functools.partial(_storage_calls, app_name, times, op, args)


async def _storage_calls(
    app_name: str, times: int, op: str, args: tuple[Any, ...], page: ft.Page
) -> list[Any]:
    storage = _storage(app_name)
    return list(await asyncio.gather(*(getattr(storage, op)(*args) for _ in range(times))))


def client_copy(app_name: str, key: str, expected: str) -> Callable[[ft.Page], Awaitable[Any]]:
    """``fn(page)`` returning the raw value of ``key`` in the tab's own client copy (Flet's
    SharedPreferences), waiting up to 5 s for it to be ``expected``: forwarded writes reach
    a client in the background."""
    return functools.partial(_client_copy, app_name, key, expected)


async def _client_copy(app_name: str, key: str, expected: str, page: ft.Page) -> Any:
    await _storage(app_name).settle()
    for _ in range(100):
        raw = await ft.SharedPreferences().get(f"{app_name}.{key}")
        if raw == expected:
            break
        await asyncio.sleep(0.05)
    return raw


def listen(app_name: str, key: str | None = None) -> Callable[[ft.Page], Awaitable[None]]:
    """``fn(page)`` subscribing a listener in the tab; :func:`heard` returns what it heard."""
    return functools.partial(_listen, app_name, key)


async def _listen(app_name: str, key: str | None, page: ft.Page) -> None:
    events = _child.heard.setdefault(page.session.id, [])
    storage = _storage(app_name)
    _child.subscriptions.append(storage.subscribe(events.append, key=key))
    await storage.get_or_default(key or "")  # joins the browser, as any first operation does


def heard() -> Callable[[ft.Page], Awaitable[list[StorageEvent]]]:
    """``fn(page)`` returning the events the tab's :func:`listen` listeners heard so far."""
    return _heard


async def _heard(page: ft.Page) -> list[StorageEvent]:
    return list(_child.heard.get(page.session.id, []))


def _storage(app_name: str) -> FletStorage:
    return FletStorage(app_name, sync=_child.sync)


# -- the child process ------------------------------------------------------------------------


class _LogRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname, record.getMessage()))


class _Child:
    """The state of the child process: its sync, server and what its tabs' listeners heard."""

    def __init__(self) -> None:
        self.sync: Any = True
        self.server: FletServer | None = None
        self.logs = _LogRecords()
        self.heard: dict[str, list[StorageEvent]] = {}
        self.subscriptions: list[Subscription] = []


_child = _Child()


def _make_sync(spec: str) -> Any:
    if spec == IN_PROCESS:
        return True
    return RedisSync(spec)


async def _control(server: FletServer, connection: Connection) -> None:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def reply(request_id: int, ok: bool, result: Any) -> None:
        try:
            pickle.loads(pickle.dumps(result))  # what the test process could not load
        except Exception as exc:
            ok, result = False, HarnessError(f"cannot send back {result!r}: {exc!r}")
        with contextlib.suppress(OSError):  # the test process went away meanwhile
            connection.send((request_id, ok, result))

    async def handle(request_id: int, op: str, args: tuple[Any, ...]) -> None:
        try:
            result = await _OPS[op](server, *args)
        except BaseException as exc:
            reply(request_id, False, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            reply(request_id, True, result)

    while True:
        try:
            request_id, op, args = await loop.run_in_executor(None, connection.recv)
        except (EOFError, OSError):
            break  # the test process went away
        if op == "stop":
            break
        task = asyncio.ensure_future(handle(request_id, op, args))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _record(server: FletServer, token: str) -> tuple[int, list[tuple[str, str]]]:
    return await server.session_count(token), await server.events(token)


async def _flush(server: FletServer, token: str, timeout: float) -> None:
    await server.flush(token, timeout)


async def _run(
    server: FletServer,
    token: str,
    fn: Callable[[ft.Page], Awaitable[Any]],
    session: int,
    timeout: float,
    as_event: bool,
) -> Any:
    return await server.run(token, fn, session=session, timeout=timeout, as_event=as_event)


async def _pending_tasks(server: FletServer, settle: float) -> dict[int, str]:
    return await server.pending_tasks(settle)


async def _log_records(server: FletServer) -> list[tuple[str, str]]:
    return list(_child.logs.records)


async def _sync_connected(server: FletServer) -> bool | None:
    if _child.sync is True:
        return None
    return bool(_child.sync.bus.connected)


_OPS: dict[str, Callable[..., Awaitable[Any]]] = {
    "record": _record,
    "flush": _flush,
    "run": _run,
    "pending_tasks": _pending_tasks,
    "log_records": _log_records,
    "sync_connected": _sync_connected,
}


def _exit_with_parent() -> None:
    """Exit when the test process goes away (its end of our stdin closes), whatever we do."""
    while sys.stdin.buffer.read(1024):
        pass
    os._exit(1)


def main() -> None:
    """The child: serve the app, print the ports, obey the control connection."""
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    logging.getLogger("flet_storage").addHandler(_child.logs)
    logging.getLogger("flet_storage").setLevel(logging.DEBUG)
    _child.sync = _make_sync(os.environ[_ENV_SYNC])
    authkey = bytes.fromhex(os.environ[_ENV_AUTHKEY])
    server = FletServer(name=os.environ[_ENV_NAME])
    server.start()
    try:
        with Listener(("127.0.0.1", 0), authkey=authkey) as listener:
            address: tuple[str, int] = listener.address
            print(json.dumps({"http": server.port, "control": address[1]}), flush=True)
            with listener.accept() as connection:
                asyncio.run(_control(server, connection))
    finally:
        server.stop()


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy: the functions the test process sends
    # are pickled by reference to e2e.app_process, and must see its state.
    from e2e.app_process import main as imported_main

    imported_main()

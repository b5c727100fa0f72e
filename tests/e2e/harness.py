"""Real-client end-to-end harness: a Flet web app under uvicorn, driven by headless Chromium.

Free of pytest so that ``bench/`` can use it too. Three threads take part:

* the caller's thread and event loop (a pytest-asyncio test, or ``asyncio.run`` in a script);
* :class:`FletServer`: uvicorn serving a small Flet app on its own event loop and thread;
* :class:`Browser`: Playwright driving Chromium on its own event loop and thread.

Every public coroutine hands its work to the right thread with ``run_coroutine_threadsafe``
and awaits the result with a timeout, so the caller's loop never blocks, the server and browser
survive the function-scoped loops of pytest-asyncio, and nothing waits forever.

Each browser tab loads ``http://127.0.0.1:PORT/?client=TOKEN``; the app's ``main(page)``
registers the ``ft.Page`` under ``TOKEN``. :meth:`Client.run` then runs an arbitrary coroutine
``fn(page)`` on the server loop inside that page's Flet context, through ``page.run_task``
(which sets ``ft.context.page`` for the task), and finishes like a Flet event handler does
(``session.after_event``, which also drops unreferenced services)::

    server = FletServer(); server.start()
    browser = Browser(find_chromium()); browser.start()
    async def fn(page: ft.Page) -> object:
        return await FletStorage("app").get_or_default("k")
    profile = await browser.open_profile()
    client = await profile.open(server)
    value = await client.run(fn)
    ...
    browser.stop(); server.stop()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import gc
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import flet as ft
import uvicorn
from flet.controls.context import _context_page

__all__ = [
    "CHROMIUM_ARGS",
    "AppServer",
    "Browser",
    "CallCounter",
    "Client",
    "FletServer",
    "HarnessError",
    "Profile",
    "find_chromium",
]

T = TypeVar("T")

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
)

CHROMIUM_ENV = "FLET_STORAGE_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

TOKEN_PARAM = "client"

# Installed in every page before the Flutter client starts: records the client's WebSockets
# (so a test can drop the connection as a network failure would) and can hold back the
# messages the server sends (so a call stays in flight for as long as a test wants).
INIT_SCRIPT = """
(() => {
  const Native = window.WebSocket;
  const e2e = { sockets: [], held: [], hold: false };
  window.__e2e = e2e;
  class RecordedWebSocket extends Native {
    constructor(...args) {
      super(...args);
      e2e.sockets.push(this);
      this.addEventListener("message", (event) => {
        if (e2e.hold) {
          event.stopImmediatePropagation();
          e2e.held.push(event.data);
        }
      });
    }
  }
  window.WebSocket = RecordedWebSocket;
})();
"""
_DISCONNECT_WAIT = 10.0
"""Seconds :meth:`Client.reload` waits for the server to see the old connection go."""
DEFAULT_TIMEOUT = 30.0
"""Seconds any single harness operation may take (a client start takes about 2 s)."""


class HarnessError(RuntimeError):
    """The harness could not do what it was asked (browser or server misbehaving)."""


def find_chromium() -> str | None:
    """The Chromium to drive: ``$FLET_STORAGE_CHROMIUM``, else the first of
    ``chromium``, ``chromium-browser``, ``google-chrome`` on ``PATH``; ``None`` if none."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        found = shutil.which(configured)
        return found if found else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class _LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on this loop and block the calling thread for its result."""
        future = self.submit(coro)
        done, _ = concurrent.futures.wait({future}, timeout=timeout)
        if not done:
            future.cancel()
            raise TimeoutError(f"{self.name}: no result within {timeout} s")
        return future.result()

    async def acall(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on this loop and await its result from another loop."""
        future = asyncio.wrap_future(self.submit(coro))
        # Not wait_for: its TimeoutError could not be told from one raised by ``coro``
        # (StorageTimeoutError is a TimeoutError).
        done, _ = await asyncio.wait({future}, timeout=timeout)
        if not done:
            future.cancel()  # cancels the task on the other loop too
            raise TimeoutError(f"{self.name}: no result within {timeout} s")
        return future.result()

    def stop(self, timeout: float) -> None:
        if not self._thread.is_alive():
            if not self.loop.is_closed():
                self.loop.close()
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise HarnessError(f"{self.name}: loop thread did not stop within {timeout} s")


@dataclasses.dataclass
class _Record:
    """Everything the server saw of one token: its sessions' pages and their events."""

    token: str
    pages: list[ft.Page] = dataclasses.field(default_factory=list)
    events: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    """``(event, session_id)``: ``main``, ``connect``, ``disconnect``, ``close``."""


class AppServer(Protocol):
    """What tabs need of the server they run on: :class:`FletServer`, or a stand-in for
    one in another process (``app_process.AppProcess``)."""

    def url_for(self, token: str) -> str: ...

    async def wait_for(
        self, predicate: Callable[[_Record], bool], token: str, timeout: float = ...
    ) -> None: ...

    async def events(self, token: str) -> list[tuple[str, str]]: ...

    async def session_count(self, token: str) -> int: ...

    async def flush(self, token: str, timeout: float = ...) -> None: ...

    async def run(
        self,
        token: str,
        fn: Callable[[ft.Page], Awaitable[T]],
        *,
        session: int = ...,
        timeout: float = ...,
        as_event: bool = ...,
    ) -> T: ...

    async def pending_tasks(self, settle: float = ...) -> dict[int, str]: ...


class FletServer:
    """A small Flet app served by uvicorn on 127.0.0.1, on its own loop and thread.

    ``main(page)`` registers each session's page under the ``?client=TOKEN`` it was opened
    with; ``page.on_connect``/``on_disconnect``/``on_close`` are recorded as events.
    ``name`` mounts the app at ``/name/`` instead of ``/``.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, name: str = "") -> None:
        self.host = host
        self.name = name
        self._requested_port = port
        self.port = 0
        self._thread = _LoopThread("flet-server")
        self._server: uvicorn.Server | None = None
        self._serve: concurrent.futures.Future[None] | None = None
        self._records: dict[str, _Record] = {}
        self._changed: asyncio.Condition | None = None  # created on the server loop
        self._baseline_tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle (blocking, call from any thread) ---------------------------------------

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        os.environ.setdefault("FLET_WEB_NO_CDN", "1")  # CanvasKit from the package, not a CDN
        app = ft.run(self._main, name=self.name, export_asgi_app=True, no_cdn=True)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            ws="websockets-sansio",
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread.start()
        self._thread.call(self._init_loop(), timeout)
        self._serve = self._thread.submit(self._serve_on(sock))
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._serve.done():
                self._serve.result()  # raises what went wrong
                raise HarnessError("uvicorn stopped before it started")
            if time.monotonic() > deadline:
                raise HarnessError(f"uvicorn did not start within {timeout} s")
            time.sleep(0.01)
        self._baseline_tasks = self._thread.call(self._all_tasks(), timeout)

    async def _serve_on(self, sock: socket.socket) -> None:
        assert self._server is not None
        with sock:
            await self._server.serve(sockets=[sock])

    def stop(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Shut uvicorn down (closing every websocket) and stop the loop thread."""
        if self._server is not None and self._serve is not None:
            self._server.should_exit = True
            with contextlib.suppress(concurrent.futures.TimeoutError):
                self._serve.result(timeout)
        self._thread.stop(timeout)
        self._records.clear()

    @property
    def url(self) -> str:
        path = f"{self.name}/" if self.name else ""
        return f"http://{self.host}:{self.port}/{path}"

    def url_for(self, token: str) -> str:
        return f"{self.url}?{TOKEN_PARAM}={token}"

    # -- the Flet app ---------------------------------------------------------------------

    async def _init_loop(self) -> None:
        self._changed = asyncio.Condition()

    async def _main(self, page: ft.Page) -> None:
        # page.route is "/?client=TOKEN" (page.query is still empty while main runs).
        tokens = urllib.parse.parse_qs(urllib.parse.urlsplit(page.route or "").query)
        token = tokens[TOKEN_PARAM][0] if TOKEN_PARAM in tokens else None
        if token is None:
            page.add(ft.Text("flet-storage e2e: open with ?client=TOKEN"))
            return
        session_id = page.session.id

        def on_connect(e: ft.Event[ft.Page]) -> None:
            self._record(token, "connect", session_id)

        def on_disconnect(e: ft.Event[ft.Page]) -> None:
            self._record(token, "disconnect", session_id)

        def on_close(e: ft.Event[ft.Page]) -> None:
            self._record(token, "close", session_id)

        page.on_connect = on_connect
        page.on_disconnect = on_disconnect
        page.on_close = on_close
        page.add(ft.Text(f"flet-storage e2e client {token}"))
        self._record(token, "main", session_id, page)

    def _record(self, token: str, event: str, session_id: str, page: ft.Page | None = None) -> None:
        record = self._records.setdefault(token, _Record(token))
        if page is not None:
            record.pages.append(page)
        record.events.append((event, session_id))
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # -- waiting and running (coroutines: await them from any other loop) ------------------

    async def wait_for(
        self, predicate: Callable[[_Record], bool], token: str, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """Wait until ``predicate(record of token)`` holds (checked on the server loop)."""

        async def wait() -> None:
            assert self._changed is not None
            async with self._changed:
                await self._changed.wait_for(
                    lambda: predicate(self._records.setdefault(token, _Record(token)))
                )

        await self._thread.acall(wait(), timeout)

    async def events(self, token: str) -> list[tuple[str, str]]:
        """The ``(event, session_id)`` pairs recorded for ``token`` so far."""

        async def get() -> list[tuple[str, str]]:
            return list(self._records.setdefault(token, _Record(token)).events)

        return await self._thread.acall(get(), DEFAULT_TIMEOUT)

    async def session_count(self, token: str) -> int:
        async def get() -> int:
            return len(self._records.setdefault(token, _Record(token)).pages)

        return await self._thread.acall(get(), DEFAULT_TIMEOUT)

    async def flush(self, token: str, timeout: float = 2.0) -> None:
        """Wait until the connection of ``token``'s latest session has sent everything it
        queued (e.g. the patches of a run's ``after_event``), or ``timeout`` passes."""

        async def drained() -> None:
            records = self._records.get(token)
            connection = records.pages[-1].session.connection if records else None
            # flet-web's FletApp queues outgoing messages for its send loop (a private name).
            queue = getattr(connection, "_FletApp__send_queue", None)
            for _ in range(int(timeout / 0.01)):  # polled: the queue signals nothing
                if queue is None or queue.empty():
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # the last message taken from the queue goes out

        await self._thread.acall(drained(), timeout + DEFAULT_TIMEOUT)

    async def run(
        self,
        token: str,
        fn: Callable[[ft.Page], Awaitable[T]],
        *,
        session: int = -1,
        timeout: float = DEFAULT_TIMEOUT,
        as_event: bool = True,
    ) -> T:
        """Run ``fn(page)`` on the server loop in the Flet context of ``token``'s page.

        ``session`` picks the page when ``token`` had several sessions (default: the latest).
        The coroutine runs in a new task with the page bound to the Flet context, as
        ``page.run_task`` does, so ``ft.context.page`` is that page as in an event handler;
        with ``as_event`` it then finishes like a Flet event handler does
        (``session.after_event``: auto-update, then dropping services that nothing
        references any more). Raises what ``fn`` raises; ``TimeoutError`` (and the
        task is cancelled) after ``timeout`` seconds.
        """

        async def in_page() -> T:
            page = self._records[token].pages[session]

            async def handler() -> T:
                try:
                    return await fn(page)
                finally:
                    if as_event:
                        with contextlib.suppress(RuntimeError):  # session already gone
                            await page.session.after_event(None)

            # What page.run_task does: bind the page to the context, start a task (which
            # copies the context). page.run_task itself needs session.connection.loop, so it
            # fails once the client is gone, and these runs must work then too.
            cast("ContextVar[ft.Page | None]", _context_page).set(page)
            return await asyncio.ensure_future(handler())

        return await self._thread.acall(in_page(), timeout)

    async def pending_tasks(self, settle: float = 1.0) -> dict[int, str]:
        """Tasks on the server loop that are still running ``settle`` seconds from now and
        were not there right after start, e.g. a call that a timeout failed to cancel.

        Tasks of live connections (a websocket's receive and send loops) count too: close the
        other tabs first, or compare with a snapshot taken before. Returns ``{id: repr}``.
        """

        async def get() -> dict[int, str]:
            me = asyncio.current_task()
            tasks = {
                task
                for task in asyncio.all_tasks()
                if task is not me and task not in self._baseline_tasks
            }
            if tasks:
                _, tasks = await asyncio.wait(tasks, timeout=settle)
            return {id(task): repr(task) for task in tasks}

        return await self._thread.acall(get(), settle + DEFAULT_TIMEOUT)

    async def _all_tasks(self) -> set[asyncio.Task[Any]]:
        me = asyncio.current_task()
        return {task for task in asyncio.all_tasks() if task is not me}


class Browser:
    """Playwright driving Chromium, on its own loop and thread.

    Every :class:`Profile` is a persistent context (its own user-data-dir, so its own
    localStorage) — several can be open at once, e.g. two users.
    """

    def __init__(self, executable: str, *, args: tuple[str, ...] = CHROMIUM_ARGS) -> None:
        self.executable = executable
        self.args = args
        self._thread = _LoopThread("playwright")
        self._playwright: Any = None
        self._profiles: list[Profile] = []
        self._tmp = Path(tempfile.mkdtemp(prefix="flet-storage-e2e-"))

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._thread.start()
        self._thread.call(self._start(), timeout)

    async def _start(self) -> None:
        from playwright.async_api import async_playwright

        self._playwright = await async_playwright().start()

    def stop(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Close every profile gracefully, stop Playwright and delete the temporary profiles."""
        try:
            if self._playwright is not None:
                self._thread.call(self._stop(), timeout)
        finally:
            self._thread.stop(timeout)
            shutil.rmtree(self._tmp, ignore_errors=True)

    async def _stop(self) -> None:
        for profile in list(self._profiles):
            await profile._close()
        await self._playwright.stop()
        self._playwright = None

    async def call(self, fn: Callable[[], Awaitable[T]], timeout: float = DEFAULT_TIMEOUT) -> T:
        """Run ``fn()`` on the browser loop (where Playwright objects may be used)."""

        async def run() -> T:
            return await fn()

        return await self._thread.acall(run(), timeout)

    async def open_profile(self, user_data_dir: Path | None = None) -> Profile:
        """Launch Chromium with a persistent profile (a fresh temporary one by default)."""
        if user_data_dir is None:
            user_data_dir = Path(tempfile.mkdtemp(prefix="profile-", dir=self._tmp))
        profile = Profile(self, user_data_dir)
        await self.call(profile._launch)
        self._profiles.append(profile)
        return profile


class Profile:
    """One Chromium instance with one user-data-dir: one user's browser."""

    def __init__(self, browser: Browser, user_data_dir: Path) -> None:
        self.browser = browser
        self.user_data_dir = user_data_dir
        self._context: Any = None
        self.clients: list[Client] = []

    async def _launch(self) -> None:
        assert self.browser._playwright is not None
        self._context = await self.browser._playwright.chromium.launch_persistent_context(
            str(self.user_data_dir),
            executable_path=self.browser.executable,
            headless=True,
            args=list(self.browser.args),
        )
        await self._context.add_init_script(INIT_SCRIPT)

    async def _close(self) -> None:
        if self._context is not None:
            context, self._context = self._context, None
            await context.close()  # graceful: Chromium flushes localStorage to disk
        self.clients.clear()
        with contextlib.suppress(ValueError):
            self.browser._profiles.remove(self)

    async def close(self) -> None:
        """Close this browser gracefully (its localStorage is flushed to the user-data-dir)."""
        await self.browser.call(self._close)

    async def restart(self) -> None:
        """Close this browser gracefully and launch it again on the same user-data-dir."""
        await self.browser.call(self._close)
        await self.browser.call(self._launch)
        self.browser._profiles.append(self)

    async def open(
        self,
        server: AppServer,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        base_url: str | None = None,
    ) -> Client:
        """Open a tab on ``server`` with a new (or the given) token; wait for its session.

        ``base_url`` opens the app at another address than ``server.url`` that reaches the
        same server, e.g. a proxy in front of it (the token is appended as usual).
        """
        token = token or secrets.token_hex(6)
        sessions = await server.session_count(token)
        url = server.url_for(token) if base_url is None else f"{base_url}?{TOKEN_PARAM}={token}"

        async def goto() -> Any:
            page = await self._context.new_page()
            await page.goto(url)
            return page

        pw_page = await self.browser.call(goto, timeout)
        client = Client(self, server, token, pw_page)
        await server.wait_for(lambda r: len(r.pages) > sessions, token, timeout)
        self.clients.append(client)
        return client


class Client:
    """One browser tab connected to the Flet app, known to the server by ``token``."""

    def __init__(self, profile: Profile, server: AppServer, token: str, pw_page: Any) -> None:
        self.profile = profile
        self.server = server
        self.token = token
        self.pw_page = pw_page
        """The Playwright page: use it only inside :meth:`in_browser`."""

    async def run(
        self,
        fn: Callable[[ft.Page], Awaitable[T]],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        as_event: bool = True,
    ) -> T:
        """Run ``fn(page)`` on the server in this tab's (latest) session; see FletServer.run."""
        return await self.server.run(self.token, fn, timeout=timeout, as_event=as_event)

    async def wait_until(
        self,
        read: Callable[[ft.Page], T],
        done: Callable[[T], bool],
        *,
        timeout: float = 10,
        what: str = "the page",
    ) -> T:
        """Poll ``read(page)`` until ``done`` holds and return it; after ``timeout`` seconds
        fail with what was last seen (a wait for the client, not a speed check)."""

        async def fn(page: ft.Page) -> T:
            return read(page)

        deadline = time.monotonic() + timeout
        while True:
            seen = await self.run(fn, as_event=False)
            if done(seen):
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} never showed what was expected: {seen}")
            await asyncio.sleep(0.05)

    def submit(
        self,
        fn: Callable[[ft.Page], Awaitable[T]],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        as_event: bool = True,
    ) -> asyncio.Task[T]:
        """Start :meth:`run` as a task of the calling loop (e.g. to close the tab meanwhile)."""
        return asyncio.ensure_future(self.run(fn, timeout=timeout, as_event=as_event))

    async def in_browser(
        self, fn: Callable[[Any], Awaitable[T]], timeout: float = DEFAULT_TIMEOUT
    ) -> T:
        """Run ``fn(playwright_page)`` on the browser loop."""

        async def run() -> T:
            return await fn(self.pw_page)

        return await self.profile.browser.call(run, timeout)

    async def evaluate(self, expression: str, arg: Any = None) -> Any:
        """``page.evaluate(expression, arg)`` in this tab."""
        return await self.in_browser(lambda p: p.evaluate(expression, arg))

    async def local_storage(self) -> dict[str, str]:
        """The raw localStorage of this tab's origin."""
        result: dict[str, str] = await self.evaluate(
            "() => Object.fromEntries(Object.entries(localStorage))"
        )
        return result

    async def local_storage_keys(self) -> list[str]:
        keys: list[str] = await self.evaluate("() => Object.keys(localStorage)")
        return keys

    async def accessibility(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Turn on the Flutter client's semantics tree, as a screen reader does, so that
        controls can be found by role and accessible name (after each load of the page).

        Flutter's web client builds no accessibility tree until its placeholder button
        ("Enable accessibility", off screen) is pressed.
        """

        async def enable(pw_page: Any) -> None:
            placeholder = pw_page.locator("flt-semantics-placeholder")
            await placeholder.wait_for(state="attached", timeout=timeout * 1000)
            await placeholder.evaluate("(element) => element.click()")
            await pw_page.locator("flt-semantics-host flt-semantics").first.wait_for(
                state="attached", timeout=timeout * 1000
            )

        await self.in_browser(enable, timeout + DEFAULT_TIMEOUT)

    async def click(self, role: str, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Click, in the browser, the one control with this role and exact accessible name
        (call :meth:`accessibility` first)."""

        async def click(pw_page: Any) -> None:
            control = pw_page.get_by_role(role, name=name, exact=True)
            await control.click(timeout=timeout * 1000)

        await self.in_browser(click, timeout + DEFAULT_TIMEOUT)

    async def session_id(self) -> str:
        """The Flet session id of this tab's latest session."""
        return await self.run(_session_id, as_event=False)

    async def reload(self, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Reload the tab and wait until the app is back; return whether it got a new session.

        (Flet's web client either starts a new session, running ``main`` again, or
        reconnects to the old one, which fires ``page.on_connect``.)
        """
        before = await self.server.events(self.token)
        sessions = sum(1 for event, _ in before if event == "main")
        connects = sum(1 for event, _ in before if event == "connect")
        disconnects = sum(1 for event, _ in before if event == "disconnect")
        # Not page.reload(): the new client could register before the server has dropped the
        # old connection (likely on a busy machine), and Flet then starts a new session
        # (flet-web reuses a session only once it has no connection). Leave the page, let
        # the server see the connection go, then load the page again: the same tab, so the
        # same sessionStorage and Flet session id, as a reload.
        # And nothing may be sent while the socket closes: flet-web then skips dropping the
        # connection, and the session is never reused. Leaving the page makes the client send
        # lifecycle events, whose handling drops the services nothing references any more
        # (a patch to the client): drop them now, and let every patch go out first.
        await self.run(_collect_garbage)
        await self.server.flush(self.token)
        url: str = await self.evaluate("() => location.href")
        await self.in_browser(lambda p: p.goto("about:blank"), timeout)
        with contextlib.suppress(TimeoutError):  # then it is up to Flet
            await self.server.wait_for(
                lambda r: sum(1 for e, _ in r.events if e == "disconnect") > disconnects,
                self.token,
                _DISCONNECT_WAIT,
            )
        await self.in_browser(lambda p: p.goto(url), timeout)
        await self.server.wait_for(
            lambda r: (
                sum(1 for e, _ in r.events if e == "main") > sessions
                or sum(1 for e, _ in r.events if e == "connect") > connects
            ),
            self.token,
            timeout,
        )
        after = await self.server.events(self.token)
        return sum(1 for event, _ in after if event == "main") > sessions

    async def hold_messages(self, hold: bool = True) -> None:
        """Make the client ignore (``True``) every message the server sends from now on,
        so calls stay unanswered; ``False`` ends that (held messages are dropped)."""
        await self.evaluate("(hold) => { window.__e2e.hold = hold; }", hold)

    async def websocket_count(self) -> int:
        """How many WebSockets the client has opened so far (reconnects add one each)."""
        count: int = await self.evaluate("() => window.__e2e.sockets.length")
        return count

    async def drop_websocket(self, code: int | None = None) -> None:
        """Close the client's current WebSocket from the browser side (a dropped connection)."""
        await self.evaluate(
            "(code) => { const s = window.__e2e.sockets.at(-1);"
            " code === null ? s.close() : s.close(code); }",
            code,
        )

    async def reconnect(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Drop the websocket and wait until the client has reconnected to its session
        (the Flet client retries on its own, about 0.5 s later; ``page.on_connect`` fires)."""
        before = await self.server.events(self.token)
        connects = sum(1 for event, _ in before if event == "connect")
        sockets = await self.websocket_count()
        await self.drop_websocket()
        await self.server.wait_for(
            lambda r: sum(1 for e, _ in r.events if e == "connect") > connects,
            self.token,
            timeout,
        )
        if await self.websocket_count() <= sockets:
            raise HarnessError("the client reconnected without opening a new websocket")

    async def close(self) -> None:
        """Close the tab (the websocket drops; the server session waits for a reconnect)."""
        await self.in_browser(lambda p: p.close())
        with contextlib.suppress(ValueError):
            self.profile.clients.remove(self)


class CallCounter:
    """Counts what a page's session sends its client: ``invoke_method`` calls (service
    calls, each a round trip) and websocket messages of any kind (calls, patches).

    Install it inside ``fn(page)`` (``counter.install(page)``); it stays installed across
    runs on that session until ``counter.uninstall(page)``. The counting wrappers are
    instance attributes shadowing the session's method and the connection's, so a reconnect
    (a new connection object) drops the message count but not the call count.
    """

    def __init__(self) -> None:
        self.invocations: list[str] = []
        """The method names invoked, in order (``get``, ``set``, ...)."""
        self.messages = 0

    def reset(self) -> None:
        self.invocations.clear()
        self.messages = 0

    def install(self, page: ft.Page) -> None:
        session = page.session
        invoke = session.invoke_method
        connection = session.connection
        send = connection.send_message

        async def counted_invoke(
            control_id: int, method_name: str, args: Any, timeout: float | None = None
        ) -> Any:
            self.invocations.append(method_name)
            return await invoke(control_id, method_name, args, timeout)

        def counted_send(message: Any) -> Any:
            self.messages += 1
            return send(message)

        session.invoke_method = counted_invoke  # type: ignore[method-assign]
        connection.send_message = counted_send  # type: ignore[method-assign]
        self._installed = (session, connection)

    def uninstall(self, page: ft.Page) -> None:
        session, connection = self._installed
        vars(session).pop("invoke_method", None)
        vars(connection).pop("send_message", None)


async def _collect_garbage(page: ft.Page) -> None:
    """Run as an event: unreferenced services are collected, then dropped by after_event."""
    gc.collect()


async def _session_id(page: ft.Page) -> str:
    return str(page.session.id)


@contextlib.contextmanager
def running(chromium: str) -> Iterator[tuple[FletServer, Browser]]:
    """Start a server and a browser; stop both on exit (for scripts and benchmarks)."""
    server = FletServer()
    server.start()
    try:
        browser = Browser(chromium)
        browser.start()
        try:
            yield server, browser
        finally:
            browser.stop()
    finally:
        server.stop()

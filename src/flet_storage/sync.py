"""Live sync: every tab of a browser sees every write made through flet-storage in any other.

Flet's web client keeps a copy of localStorage per tab, loaded once and never reloaded, so on
its own a second tab reads stale values and never hears another tab's writes. The server
process sees every tab's operations, so it keeps what the tabs of one browser must share:

* A random 128-bit *browser id* under the reserved key `flet_storage:browser` (created by
  the first tab that needs it) tells which sessions are tabs of one browser (one
  localStorage). Only a hash of it is kept; the id itself is a bearer secret.
* The tabs of one browser share one *browser scope* in the store: the key locks (so
  `update`/`increment` are atomic across tabs) and one read mirror per namespace, loaded once
  from a tab's client and kept current by every write, which every read of every tab uses.
* Every write that lands is forwarded, in the background and in order, to the other tabs'
  clients, so their copies (and localStorage, which such a write rewrites) converge on the
  last write; a tab's own later write of a key supersedes what was still to be forwarded.
* Listeners stay per tab; a write is announced to every tab's listeners, in that tab's
  context, with `StorageEvent.remote` telling which came from another tab.

`FletStorage(..., sync=True)` (the default) uses the process's in-process bus; `sync=False`
turns it off; `sync=RedisSync(url)` extends it across server processes and hosts through
Redis (see `RedisSync`). Only `SharedPreferencesBackend` on a web page joins a browser: desktop and
mobile clients have one copy per device, and other backends nothing to sync.
See the guide "Several tabs and processes" and docs/sync-design.md.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import hashlib
import json
import re
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from ._errors import logger
from ._redis import RedisBus, RedisDown

if TYPE_CHECKING:
    from ._events import ChangeKind
    from .backends import RawValue

__all__ = ["BROWSER_KEY", "Browser", "InProcessSync", "RedisSync", "browser_tag"]

BROWSER_KEY = "flet_storage:browser"
"""Where the browser id is kept, under the reserved prefix no namespace can have."""

_ID = re.compile(r"[0-9a-f]{32}")
RECENT = 60.0
"""Seconds a browser remembers its writes for the tabs joining meanwhile (a join takes
one client round trip, bounded by the storage's timeout)."""


def browser_tag(browser_id: object) -> str | None:
    """The hash a browser is known by (never the id itself); None for no valid id (stored
    data is attacker-controlled: anything else found there counts as absent)."""
    if not isinstance(browser_id, str) or not _ID.fullmatch(browser_id):
        return None
    return hashlib.sha256(b"flet-storage/browser\0" + browser_id.encode()).hexdigest()[:32]


class Browser:
    """The tabs (pages) of one browser in this process. It is the store's scope for them:
    the store keeps the shared key locks and read mirrors on it."""

    def __init__(self, tag: str, sync: InProcessSync) -> None:
        self.tag = tag
        self.sync = sync
        """Whose hooks its writes call: a `RedisSync` once one serves it, else the default."""
        self.pages: weakref.WeakSet[Any] = weakref.WeakSet()
        self.recent: collections.OrderedDict[str, tuple[float, Any, int]] = (
            collections.OrderedDict()
        )
        """Storage key -> (`time.monotonic()`, raw, the `id` of the tab it came from) of the
        writes of the last `RECENT` seconds, oldest first: what a tab joining meanwhile may
        have missed."""
        self.link: _Link | None = None
        """Its part in a `RedisSync`: what other processes serving it sent and were sent."""

    def __repr__(self) -> str:
        return f"Browser({self.tag[:8]}…, {len(self.pages)} tabs)"


class Member:
    """One tab's part in its browser: the store that joined it (its calls reach the tab's
    client when run in `context`), what is still to be forwarded to its client (storage
    key -> raw value, None: removed; newest only, kept until its client took it) and what
    is on its way there. A mirror loaded from the tab's client adds both."""

    def __init__(
        self, browser: Browser, store: Any, context: contextvars.Context, since: float
    ) -> None:
        self.browser = browser
        self.store = store
        self.context = context
        self.since = since
        self.pending: dict[str, Any] = {}
        self.sending: dict[str, Any] = {}
        self.flight: asyncio.Future[None] | None = None
        """Done once the calls of what is `sending` have gone out to the client."""
        self.task: asyncio.Task[None] | None = None


class InProcessSync:
    """The in-process bus: the browsers whose tabs this process serves. One per process is
    what `sync=True` uses; the store does the rest. Its hooks, which `RedisSync` fills in,
    are called by the store with a browser's keys locked."""

    def __init__(self) -> None:
        self._browsers: weakref.WeakValueDictionary[str, Browser] = weakref.WeakValueDictionary()
        _SYNCS.add(self)

    def enter(self, page: Any, tag: str) -> Browser:
        """Add `page` to the browser known as `tag` (one a `RedisSync` of this process
        serves, if any: storages of one app may use either)."""
        browser = self._browsers.get(tag)
        if browser is None:
            found = (s._browsers.get(tag) for s in list(_SYNCS) if isinstance(s, RedisSync))
            browser = next((b for b in found if b is not None), None)
        if browser is None:
            browser = self._browsers[tag] = Browser(tag, self)
        browser.pages.add(page)
        return browser

    def serves(self, browser: Browser) -> bool:
        """Whether this sync takes part in `browser` (a page joins through the first
        storage it uses; a `RedisSync` storage used later on it must still take part)."""
        return True

    async def joined(self, member: Member, since: float) -> None:
        """`member` joined its browser; its client loaded storage at `since`
        (`time.monotonic()`) or later."""

    def exclusive(self, browser: Browser, keys: list[str]) -> AbstractAsyncContextManager[None]:
        """Held around an `update` of `keys` (their local locks held): in one process the
        local locks are all it takes."""
        return contextlib.nullcontext()

    def begin(self, browser: Browser, keys: Iterable[str]) -> None:
        """A write of `keys` is under way."""

    async def publish(
        self,
        browser: Browser,
        app_name: str,
        kind: ChangeKind | None,
        changes: list[Any],
        restore: bool = False,
    ) -> None:
        """A write of namespace `app_name` landed `changes` (`(key, raw)`, in order).
        `restore`: previous values put back after a failed write (nobody hears of them)."""

    def end(self, browser: Browser, keys: Iterable[str]) -> None:
        """The write of `keys` is over (landed, published, or failed)."""

    def __repr__(self) -> str:
        return "InProcessSync()"


_SYNCS: weakref.WeakSet[InProcessSync] = weakref.WeakSet()
"""Every sync of this process: a browser joined through one is found through the others."""

DEFAULT = InProcessSync()
"""The process's in-process bus: what `sync=True` means."""


# -- across processes: Redis -----------------------------------------------------------------

# Appends a message to the browser's stream (its recent history) and publishes it with its
# stream id and the id before it, so a receiver sees at once whether it missed one.
_PUBLISH = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = ''
if #last > 0 then prev = last[1][1] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'p', prev, 'm', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[1], id .. '\\n' .. prev .. '\\n' .. ARGV[1])
return id
"""

_StreamId = tuple[int, int]


def _stream_id(text: str) -> _StreamId:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class _Link:
    """One browser's part in a `RedisSync`.

    Every write that lands for the browser in any process is published on the browser's
    channel and appended to its stream; the bus's order (stream ids) is the order of the
    writes. `applier` applies what other processes sent, one message after another:
    a key's change is applied only if it is newer (a higher id) than the last change of it
    applied or written here; while a write of the key is under way here, it waits for that
    write's id (`deferred`)."""

    def __init__(self, tag: str) -> None:
        self.channel = f"flet_storage:sync:{tag}"
        self.browser: weakref.ref[Browser] | None = None
        self.last: _StreamId | None = None
        """The id of the last message applied (or skipped) in the bus's order."""
        self.seen: dict[str, _StreamId] = {}
        """Storage key -> the id of the newest change of it applied or written here."""
        self.prune_at = 256
        self.writing: dict[str, int] = {}
        self.deferred: dict[
            str, tuple[_StreamId, str, ChangeKind | None, RawValue | None, bool]
        ] = {}
        self.unsent: dict[str, tuple[str, RawValue | None]] = {}
        """Storage key -> (namespace, raw) written here while Redis was down."""
        self.inbox: asyncio.Queue[bytes | asyncio.Future[None]] = asyncio.Queue()
        self.applier: asyncio.Task[None] | None = None
        self.unsubscribe: Any = None
        loop = asyncio.get_running_loop()
        self.begun: asyncio.Future[str | None] = loop.create_future()
        """Where the first tab here needs the stream read from (None: nowhere)."""
        self.caught: asyncio.Future[None] = loop.create_future()
        """Set once that is applied: messages are applied only after it."""


class RedisSync(InProcessSync):
    """Live sync across server processes and hosts through Redis (extra `[redis]`).

    The tabs of one browser may be served by several processes (uvicorn workers, several
    hosts behind one origin). Each process keeps the in-process sync of `sync=True` for the
    tabs it serves; a `RedisSync` adds what crosses processes:

    * every write that lands is published to the other processes serving the browser, which
      keep their mirrors, forward it to their tabs' clients and announce it to their
      listeners (`StorageEvent.remote`); every process applies the writes of a key in one
      order (Redis's), so once quiet every tab reads the same value, the last one;
    * `update` and `increment` hold a Redis lock of the key (with a lease, renewed while
      held, so a process that dies cannot wedge it) and first apply every write published
      before they took it: N tabs x M increments add up to N x M across processes.

    Redis down or restarted: storage keeps working in every tab (writes land, reads answer),
    sync goes on within each process only, and one warning is logged; once Redis is back,
    each process applies what it missed (kept in a short history per browser) and
    publishes again what it wrote meanwhile. During the outage `update` is atomic within a
    process only.

    Create one per process, at module level if you like (it connects on first use, on the
    first event loop that uses it), and pass it to every `FletStorage`:

    ```python
    from flet_storage import FletStorage
    from flet_storage.sync import RedisSync

    SYNC = RedisSync("redis://localhost:6379/0")

    async def main(page):
        storage = FletStorage("my_app", sync=SYNC)
    ```

    What travels through Redis: the browser's tag (a hash of its id, never the id), the
    namespace, the storage keys written and their stored values: ciphertext for an
    encrypted namespace, the stored text otherwise. See the Security page.

    Args:
        url: A redis-py URL (`redis://`, `rediss://`, `unix://`); a password in it is never
            shown or logged.
        timeout: Seconds a Redis command may take before Redis counts as down.
        lock_ttl: Seconds a lock outlives a process that died holding it.
        history: About how many recent writes per browser Redis keeps for a process that
            missed some (a process further behind reloads what it mirrors from a tab).
        keep: Seconds a browser's history outlives its last write.

    Raises:
        ImportError: redis-py is not installed (`pip install flet-storage[redis]`).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 1.0,
        lock_ttl: float = 10.0,
        history: int = 10_000,
        keep: float = 86_400.0,
    ) -> None:
        super().__init__()
        self.bus: RedisBus = RedisBus(url, channel_prefix="", timeout=timeout)
        self.lock_ttl = lock_ttl
        self.history = history
        self.keep = keep
        self._origin = secrets.token_hex(8)
        """This process's messages say so: its own come back to it and are skipped."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.bus.on_reconnect(self._reconnected)

    def __repr__(self) -> str:
        return f"RedisSync({self.bus!r}, {len(self._browsers)} browsers)"

    async def aclose(self) -> None:
        """Close the connections to Redis (e.g. at shutdown); the object is unusable after."""
        for browser in list(self._browsers.values()):
            if browser.link is not None:
                _unlink(browser.link)
        await self.bus.aclose()

    # -- joining -------------------------------------------------------------------------------

    def enter(self, page: Any, tag: str) -> Browser:
        browser = self._browsers.get(tag)
        if browser is None:  # joined through a sync=True storage, perhaps: served from now
            found = (s._browsers.get(tag) for s in list(_SYNCS) if type(s) is InProcessSync)
            browser = next((b for b in found if b is not None and b.link is None), None)
        if browser is None:
            browser = Browser(tag, self)
        self._browsers[tag] = browser
        browser.pages.add(page)
        if browser.link is None:
            link = browser.link = _Link(tag)
            link.browser = weakref.ref(browser)
            link.unsubscribe = self.bus.subscribe(link.channel, link.inbox.put_nowait)
            weakref.finalize(browser, _unlink, link)
            # In a context of its own: it must not keep the first tab's page alive.
            loop = asyncio.get_running_loop()
            link.applier = contextvars.Context().run(loop.create_task, self._apply_all(link))
            browser.sync = self
        return browser

    def serves(self, browser: Browser) -> bool:
        return browser.link is not None

    async def joined(self, member: Member, since: float) -> None:
        link = member.browser.link
        if link is None or link.begun.done():
            return  # this process serves the browser already: its tabs hear every write
        # The first tab of the browser here: what landed after its client loaded storage
        # and before the subscription is read from the stream (by Redis's clock) before any
        # message is applied, and reaches the tab's client before the tab's first operation.
        start = None
        try:
            if await self.bus.ready():
                seconds, micros = await self.bus.execute("TIME")
                now = int(seconds) * 1000 + int(micros) // 1000
                start = f"{max(now - int((time.monotonic() - since) * 1000) - 1000, 0)}-0"
        except RedisDown:
            pass
        finally:
            if not link.begun.done():
                link.begun.set_result(start)
        await asyncio.shield(link.caught)  # the store then waits for its forwards to the tab

    # -- writing -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def exclusive(self, browser: Browser, keys: list[str]) -> AsyncIterator[None]:
        link = browser.link
        if link is None:
            yield
            return
        async with contextlib.AsyncExitStack() as stack:
            for key in sorted(keys):
                name = f"flet_storage:lock:{browser.tag}:{key}"
                await stack.enter_async_context(self.bus.lock(name, self.lock_ttl))
            # Every write published before the lock was taken is applied first.
            done = asyncio.get_running_loop().create_future()
            link.inbox.put_nowait(done)
            await done
            yield

    def begin(self, browser: Browser, keys: Iterable[str]) -> None:
        link = browser.link
        if link is not None:
            for key in keys:
                link.writing[key] = link.writing.get(key, 0) + 1

    async def publish(
        self,
        browser: Browser,
        app_name: str,
        kind: ChangeKind | None,
        changes: list[Any],
        restore: bool = False,
    ) -> None:
        link = browser.link
        if link is None or not changes:
            return
        # Seen through even if the writer is cancelled meanwhile: what landed must reach the
        # other processes, or be kept to be sent again.
        sending = asyncio.ensure_future(self._send(link, app_name, kind, changes, restore))
        cancelled = False
        while True:
            try:
                stream_id = await asyncio.shield(sending)
                break
            except asyncio.CancelledError:
                if sending.done():
                    raise
                cancelled = True
        if stream_id is None:  # Redis is down: sent again once it is back
            link.unsent.update((key, (app_name, raw)) for key, raw in changes)
        else:
            for key, _ in changes:
                link.unsent.pop(key, None)
                if stream_id > link.seen.get(key, (0, 0)):
                    link.seen[key] = stream_id
        if cancelled:
            raise asyncio.CancelledError

    def end(self, browser: Browser, keys: Iterable[str]) -> None:
        link = browser.link
        if link is None:
            return
        for key in keys:
            left = link.writing.get(key, 0) - 1
            if left > 0:
                link.writing[key] = left
                continue
            link.writing.pop(key, None)
            deferred = link.deferred.pop(key, None)
            if deferred is not None and deferred[0] > link.seen.get(key, (0, 0)):
                stream_id, app_name, kind, raw, restore = deferred
                link.seen[key] = stream_id
                _receive(browser, app_name, kind, [(key, raw)], not restore)

    async def _send(
        self,
        link: _Link,
        app_name: str,
        kind: ChangeKind | None,
        changes: list[Any],
        restore: bool = False,
    ) -> _StreamId | None:
        """Publish a write; its stream id, or None if Redis is down."""
        message: dict[str, Any] = {"o": self._origin, "n": app_name, "k": kind, "c": changes}
        if restore:
            message["r"] = 1
        body = json.dumps(message)
        try:
            answer = await self.bus.execute(
                "EVAL", _PUBLISH, 1, link.channel, body, self.history, int(self.keep * 1000)
            )
        except RedisDown:
            return None
        except Exception as exc:  # e.g. a read-only replica: the write landed all the same
            logger.warning("Redis refused a sync message (%s): sent again on reconnect", exc)
            return None
        return _stream_id(answer.decode() if isinstance(answer, bytes) else str(answer))

    # -- receiving -----------------------------------------------------------------------------

    async def _apply_all(self, link: _Link) -> None:
        """The browser's applier: what the first tab here missed, then what arrives, in
        the order it arrives."""
        try:
            start = await link.begun
            if start is not None:
                await self._catch_up(link, start)
        except Exception as exc:
            logger.debug("no catch-up: %s", type(exc).__name__)
        finally:
            link.caught.set_result(None)
        while True:
            item = await link.inbox.get()
            if isinstance(item, asyncio.Future):  # someone took a lock: catch up first
                try:
                    await self._catch_up(link)
                except Exception as exc:  # Redis down: the lock holder goes on regardless
                    logger.debug("no catch-up: %s", type(exc).__name__)
                finally:
                    if not item.done():
                        item.set_result(None)
                continue
            try:
                head, prev, body = _split(item)
                stream_id = _stream_id(head)
                if link.last is not None and not prev and stream_id <= link.last:
                    # A new history (Redis lost its data) whose clock is behind the old one.
                    link.last, link.seen = None, {}
                if link.last is not None and stream_id <= link.last:
                    continue  # applied already (by a catch-up)
                if link.last is not None and (not prev or _stream_id(prev) != link.last):
                    await self._catch_up(link)  # one or more went missing
                    continue
                self._apply(link, stream_id, body)
            except RedisDown:
                pass  # the reconnection catches up
            except Exception as exc:  # nothing must stop the applier
                logger.warning("a sync message from Redis was skipped: %s", type(exc).__name__)

    async def _catch_up(self, link: _Link, start: str | None = None) -> None:
        """Apply what the browser's stream holds after the last message applied."""
        if start is None:
            if link.last is None:
                return
            start = "({}-{}".format(*link.last)
        entries = await self.bus.execute("XRANGE", link.channel, start, "+")
        for head, fields in entries:
            stream_id = _stream_id(head.decode())
            if link.last is None or stream_id > link.last:
                self._apply(link, stream_id, bytes(fields[b"m"]))  # fields: a dict

    def _apply(self, link: _Link, stream_id: _StreamId, body: bytes) -> None:
        browser = link.browser() if link.browser is not None else None
        try:
            message = json.loads(body)
            origin = message["o"]
            app_name, kind, changes = _parse(message)
            restore = message.get("r") == 1  # previous values put back: nobody hears them
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # anyone who can write
            # Not ours: skipped, and its id not taken as the last (a next message names it
            # as its previous one, so the history is read again; it is skipped there too).
            logger.warning("a sync message from Redis was skipped: %s", type(exc).__name__)
            return
        link.last = stream_id
        if len(link.seen) > link.prune_at:  # ids at or below the last can matter no more
            link.seen = {k: i for k, i in link.seen.items() if i > stream_id}
            link.prune_at = max(256, 2 * len(link.seen))
        if browser is None or origin == self._origin:
            return
        now: list[tuple[str, RawValue | None]] = []
        for key, raw in changes:
            if stream_id <= link.seen.get(key, (0, 0)):
                continue  # a newer change of it was applied or written here
            if link.writing.get(key):
                link.deferred[key] = (stream_id, app_name, kind, raw, restore)
                continue
            link.seen[key] = stream_id
            link.unsent.pop(key, None)  # what was written here meanwhile came before this
            now.append((key, raw))
        if now:
            _receive(browser, app_name, kind, now, not restore)

    def _reconnected(self) -> None:
        for browser in list(self._browsers.values()):
            link = browser.link
            if link is not None:
                task = asyncio.get_running_loop().create_task(self._resend(browser, link))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _resend(self, browser: Browser, link: _Link) -> None:
        """Once Redis is back: apply what was missed, then publish what was written here
        meanwhile (a later write of a key here has sent it already)."""
        done = asyncio.get_running_loop().create_future()
        link.inbox.put_nowait(done)
        await done
        unsent, link.unsent = link.unsent, {}
        by_namespace: dict[str, list[tuple[str, RawValue | None]]] = {}
        for key, (app_name, raw) in unsent.items():
            by_namespace.setdefault(app_name, []).append((key, raw))
        for app_name, changes in by_namespace.items():
            keys = [key for key, _ in changes]
            self.begin(browser, keys)  # what arrives for them meanwhile waits for its id
            try:
                await self.publish(browser, app_name, None, changes)
            finally:
                self.end(browser, keys)


def _parse(message: Any) -> tuple[str, ChangeKind | None, list[tuple[str, RawValue | None]]]:
    """A message's namespace, kind and changes; ValueError if it is not one flet-storage
    sends (anyone who can write to Redis can send one: it is checked like stored data)."""
    from .backends._base import check_raw

    app_name, kind, changes = message["n"], message["k"], message["c"]
    if not isinstance(app_name, str) or kind not in (None, "clear", "expire"):
        raise ValueError("not a sync message")
    # Only the namespace's own keys: its values, expiry marks and registration.
    own = (f"{app_name}.", f"flet_storage:ttl:{app_name}.", f"flet_storage:ns:{app_name}")
    parsed: list[tuple[str, RawValue | None]] = []
    for key, raw in changes:
        if not isinstance(key, str) or not key.startswith(own):
            raise ValueError("not a sync message")
        parsed.append((key, None if raw is None else check_raw(raw)))
    return app_name, kind, parsed


def _split(payload: bytes) -> tuple[str, str, bytes]:
    head, prev, body = payload.split(b"\n", 2)
    return head.decode(), prev.decode(), body


def _unlink(link: _Link) -> None:
    """The browser's last tab in this process is gone (or the sync closed): stop listening
    for it."""
    if not link.begun.done():
        link.begun.set_result(None)
    if link.unsubscribe is not None:
        link.unsubscribe()
    if link.applier is not None:
        link.applier.cancel()


def _receive(
    browser: Browser,
    app_name: str,
    kind: ChangeKind | None,
    changes: list[tuple[str, Any]],
    announce: bool = True,
) -> None:
    from ._store import receive

    receive(browser, app_name, kind, changes, announce=announce)

"""RedisBus: the Redis transport of live sync across server processes (extra ``[redis]``).

Three things travel through Redis, and nothing else: messages on channels (pub/sub),
locks with a lease (``SET NX PX``, released by compare-and-delete) and the bus's own
liveness. :class:`RedisBus` knows nothing of storage: the sync layer decides what a payload
and a lock name are.

Redis may go away at any moment. The bus then degrades instead of failing the caller:
``publish`` answers ``False``, ``lock`` yields ``False`` (the caller goes on with its local
lock), one warning is logged per outage, and nothing waits on Redis again until the
subscriber task, retrying with a capped backoff, is connected and subscribed again; then
one info line is logged and every ``on_reconnect`` callback runs, so the caller can
resynchronise what it may have missed.

One bus belongs to one event loop: the first one it is used on (it can be created at
module level, with no loop running, and connects on first use).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from ._errors import logger

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = ["RedisBus", "RedisDown"]

_INSTALL = "RedisBus needs redis-py's asyncio client: pip install flet-storage[redis]"

# Deletes the lock only if it still holds our token (a lease that ran out may be someone
# else's lock by now).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# Extends the lease only while the lock still holds our token.
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_LOCK_POLL = (0.002, 0.05)
"""First and longest wait between two attempts to take a lock someone else holds."""


def _outage_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import ConnectionError, TimeoutError

    return (ConnectionError, TimeoutError, OSError)


def _safe_url(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    netloc = f"{user}:***@{host}{port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class RedisDown(ConnectionError):
    """Redis is unreachable: what :meth:`RedisBus.execute` raises instead of waiting."""


class RedisBus:
    """Pub/sub channels and leased locks on one Redis, for one event loop.

    Args:
        url: A redis-py URL (``redis://``, ``rediss://``, ``unix://``); a password in it
            is never shown by ``repr``.
        channel_prefix: Put before every channel name in Redis (lock names are used as
            given).
        timeout: Seconds any single Redis command may take (connecting included) before
            Redis counts as down.
        reconnect_delay: The first and the longest wait between two reconnection
            attempts (the wait doubles after each failure).

    Raises:
        ImportError: redis-py is not installed (``pip install flet-storage[redis]``).
    """

    def __init__(
        self,
        url: str,
        *,
        channel_prefix: str = "flet_storage:",
        timeout: float = 1.0,
        reconnect_delay: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        try:
            import redis.asyncio  # noqa: F401  (checked now, used on first use)
        except ImportError as exc:
            raise ImportError(_INSTALL) from exc
        self._url = url
        self._prefix = channel_prefix
        self._timeout = timeout
        self._delay_min, self._delay_max = reconnect_delay
        self._control = f"{channel_prefix}__bus__:{secrets.token_hex(8)}"
        """A channel of this bus alone: keeps the subscriber connection subscribed (and so
        watched) while no one else is."""
        self._callbacks: dict[str, list[Callable[[bytes], None]]] = {}
        self._confirmed: set[str] = set()
        self._reconnect_callbacks: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commands: Redis | None = None
        self._subscriber: Redis | None = None
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._up = True
        self._was_down = False
        self._closed = False
        self._changed = asyncio.Event()

    def __repr__(self) -> str:
        return f"RedisBus({_safe_url(self._url)!r}, channel_prefix={self._prefix!r})"

    # -- connection state ------------------------------------------------------------------

    def _start(self) -> None:
        """Bind to the running loop and start the subscriber task (once)."""
        if self._closed:
            raise RuntimeError("this RedisBus is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            self._loop = loop
            # No retries inside redis-py: a failure is an outage, handled here once.
            options: dict[str, Any] = {
                "socket_connect_timeout": self._timeout,
                "retry": Retry(NoBackoff(), 0),
            }
            self._commands = Redis.from_url(self._url, socket_timeout=self._timeout, **options)
            # The subscriber's reads wait for messages for as long as it takes.
            self._subscriber = Redis.from_url(self._url, **options)
        elif loop is not self._loop:
            raise RuntimeError("a RedisBus is used on one event loop: the first it ran on")
        if self._listener is None or self._listener.done():
            self._listener = loop.create_task(self._listen())

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _set_down(self, exc: BaseException, *, from_listener: bool = False) -> None:
        if self._up:
            self._up = False
            self._was_down = True
            logger.warning(
                "Redis unreachable (%s): sync goes on within this process only until it is back",
                type(exc).__name__,
            )
        self._notify()
        if not from_listener and self._pubsub is not None and not self._closed:
            # The subscriber may sit on a dead connection: start a new one.
            assert self._listener is not None
            self._listener.cancel()
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _set_up(self) -> None:
        self._up = True
        self._notify()
        if not self._was_down:
            return
        self._was_down = False
        assert self._commands is not None
        await self._commands.connection_pool.disconnect()  # connections to the old server
        logger.info("Redis reachable again: sync across processes resumed")
        for callback in list(self._reconnect_callbacks):
            try:
                callback()
            except Exception:
                logger.exception("an on_reconnect callback of RedisBus raised")

    async def ready(self) -> bool:
        """Wait until Redis has confirmed every channel subscribed so far.

        Returns:
            ``True`` once subscribed; ``False`` if Redis is (or goes) down meanwhile.
        """
        self._start()
        while True:
            changed = self._changed
            if not self._up:
                return False
            if self._pubsub is not None and self._callbacks.keys() <= self._confirmed:
                return True
            await changed.wait()

    @property
    def connected(self) -> bool:
        """Whether Redis counts as reachable (``False`` during an outage)."""
        return self._up

    # -- pub/sub -------------------------------------------------------------------------

    async def publish(self, channel: str, payload: bytes) -> bool:
        """Send ``payload`` to every subscriber of ``channel`` in every process.

        Returns:
            ``True`` if Redis took it; ``False`` (never an exception) while Redis is down.
        """
        try:
            await self.execute("PUBLISH", self._prefix + channel, payload)
        except RedisDown:
            return False
        return True

    async def execute(self, *args: Any) -> Any:
        """Run one Redis command (``EVAL``, ``XRANGE``, ...) and return its reply.

        Raises:
            RedisDown: Redis is down (now, or this command found it so).
        """
        self._start()
        if not self._up:
            raise RedisDown("Redis is unreachable")
        assert self._commands is not None
        try:
            return await self._commands.execute_command(*args)  # type: ignore[no-untyped-call]
        except _outage_errors() as exc:
            self._set_down(exc)
            raise RedisDown("Redis is unreachable") from None

    def subscribe(self, channel: str, callback: Callable[[bytes], None]) -> Callable[[], None]:
        """Call ``callback(payload)`` for each message on ``channel``, in the order sent.

        The callback runs in the subscriber task: it must not block (hand work to a task).
        It may be called before the subscription is confirmed by Redis: :meth:`ready`
        waits for that. Callable with or without a running loop.

        Returns:
            A function that ends this subscription (idempotent).
        """
        callbacks = self._callbacks.setdefault(channel, [])
        callbacks.append(callback)
        if len(callbacks) == 1:
            self._send_subscription("subscribe", channel)

        def unsubscribe() -> None:
            current = self._callbacks.get(channel)
            if current is None or callback not in current:
                return
            current.remove(callback)
            if not current:
                del self._callbacks[channel]
                self._confirmed.discard(channel)
                self._send_subscription("unsubscribe", channel)

        return unsubscribe

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` each time Redis is back after an outage (once resubscribed)."""
        self._reconnect_callbacks.append(callback)

    def _send_subscription(self, command: str, channel: str) -> None:
        if self._closed:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the subscriber subscribes every channel when it starts
        self._start()
        pubsub = self._pubsub
        if pubsub is None:
            return  # connecting: it subscribes every channel once connected
        self._notify()
        self._spawn(self._subscription(pubsub, command, channel))

    async def _subscription(self, pubsub: PubSub, command: str, channel: str) -> None:
        try:
            await getattr(pubsub, command)(self._prefix + channel)
        except _outage_errors() as exc:
            self._set_down(exc)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _listen(self) -> None:
        """The subscriber: connect, subscribe, deliver; on failure wait and start again."""
        assert self._subscriber is not None
        delay = self._delay_min
        while True:
            pubsub = self._subscriber.pubsub()
            try:
                self._confirmed.clear()
                channels = [self._prefix + channel for channel in self._callbacks]
                await pubsub.subscribe(self._control, *channels)
                self._pubsub = pubsub
                await self._deliver(pubsub)
            except _outage_errors() as exc:
                self._set_down(exc, from_listener=True)
            finally:
                if self._pubsub is pubsub:
                    self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            if not self._up:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._delay_max)
            else:
                delay = self._delay_min

    async def _deliver(self, pubsub: PubSub) -> None:
        control = self._control.encode()
        prefix = len(self._prefix)
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            kind = message["type"]
            name: bytes = message["channel"]
            if name == control:
                if kind == "subscribe":
                    await self._confirm(None)
                continue
            channel = name.decode()[prefix:]
            if kind == "message":
                for callback in list(self._callbacks.get(channel, ())):
                    try:
                        callback(message["data"])
                    except Exception:
                        logger.exception("a RedisBus subscriber raised")
            elif kind == "subscribe":
                await self._confirm(channel)

    async def _confirm(self, channel: str | None) -> None:
        if channel is not None and channel in self._callbacks:
            self._confirmed.add(channel)
        if self._callbacks.keys() <= self._confirmed or channel is None:
            self._notify()
        if not self._up and self._callbacks.keys() <= self._confirmed:
            await self._set_up()

    # -- locks ---------------------------------------------------------------------------

    def lock(self, name: str, ttl: float) -> AbstractAsyncContextManager[bool]:
        """Hold the Redis lock ``name`` (a key) for the ``async with`` block.

        Waits, polling with a capped backoff, until the lock is free. The lock expires
        ``ttl`` seconds after it was last renewed, so a process that dies holding it
        cannot wedge it; while held, a background task renews it every ``ttl / 2``.

        Yields:
            ``True`` when held through Redis; ``False`` when Redis is down (now or while
            waiting): the caller goes on with its local lock only.
        """
        if ttl <= 0:
            raise ValueError(f"ttl must be > 0 seconds, not {ttl}")
        return self._lock(name, ttl)

    @contextlib.asynccontextmanager
    async def _lock(self, name: str, ttl: float) -> AsyncIterator[bool]:
        self._start()
        assert self._commands is not None
        commands = self._commands
        token = secrets.token_hex(16)
        lease = max(1, round(ttl * 1000))
        wait = _LOCK_POLL[0]
        while True:
            if not self._up:
                yield False
                return
            try:
                if await commands.set(name, token, nx=True, px=lease):
                    break
            except _outage_errors() as exc:
                self._set_down(exc)
                continue
            await asyncio.sleep(wait)
            wait = min(wait * 2, _LOCK_POLL[1])
        renewal = asyncio.get_running_loop().create_task(self._renew(name, token, ttl))
        self._tasks.add(renewal)
        try:
            yield True
        finally:
            renewal.cancel()
            self._tasks.discard(renewal)
            if self._up and not self._closed:  # closed: its connections are gone for good
                try:
                    await commands.eval(_RELEASE, 1, name, token)
                except _outage_errors() as exc:
                    self._set_down(exc)  # the lease frees it

    async def _renew(self, name: str, token: str, ttl: float) -> None:
        assert self._commands is not None
        lease = max(1, round(ttl * 1000))
        while True:
            await asyncio.sleep(ttl / 2)
            if not self._up or self._closed:
                return
            try:
                extended = await self._commands.eval(_EXTEND, 1, name, token, lease)
            except _outage_errors() as exc:
                self._set_down(exc)
                return
            if not extended:
                logger.warning("a Redis lock's lease ran out before it could be renewed")
                return

    # -- closing -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the subscriber and renewals and close the connections (idempotent).

        Locks still held are not released: their leases run out, as if the process ended.
        """
        if self._closed:
            return
        self._closed = True
        tasks = [*self._tasks, *([self._listener] if self._listener is not None else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: redis-py's pubsub read can absorb a cancellation (seen with 8.2).
            await asyncio.wait(tasks, timeout=self._timeout)
        for client in (self._commands, self._subscriber):
            if client is not None:
                await client.aclose()
        self._notify()

"""A loopback TCP proxy that adds network latency, for benchmarking at a real network's RTT.

On loopback a round trip costs well under a millisecond, so the client's CPU hides how many
round trips an operation makes. :class:`LatencyProxy` listens on 127.0.0.1 and forwards every
connection to a server on 127.0.0.1, holding back each chunk it reads for ``delay`` seconds
before writing it on: ``delay`` each way, ``2 * delay`` per round trip.

It adds latency and nothing else: each chunk is due ``delay`` after it was *read*, however
many chunks are in flight, so the bandwidth is not throttled; chunks go out in the order they
were read, through one queue per direction per connection. An end of stream (a half-close)
travels the same way, ``delay`` behind the data before it, and a connection is closed once
both directions have ended (or at once, both ways, if either side fails or resets it).
``delay`` is a minimum: asyncio's timers wake up to about a millisecond late.

Only loopback: it binds to 127.0.0.1 and refuses any other target. It runs on its own event
loop and thread, so its timing does not depend on how busy the benchmark's loop is, and
:meth:`LatencyProxy.stop` (or leaving the ``with`` block) closes everything::

    with LatencyProxy(target_port=server.port, delay=0.025) as proxy:
        ...  # point the client at proxy.url

``uv run python bench/proxy.py [DELAY_MS]`` checks it against an echo server: the round trip,
a burst of pipelined chunks, a large transfer (not throttled) and an orderly close.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import threading
import time
from types import TracebackType
from typing import Any

__all__ = ["LOOPBACK", "LatencyProxy"]

LOOPBACK = "127.0.0.1"
CHUNK = 64 * 1024


class LatencyProxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target_port`` with ``delay`` s each way."""

    def __init__(
        self, target_port: int, delay: float = 0.025, *, target_host: str = LOOPBACK
    ) -> None:
        if not ipaddress.ip_address(target_host).is_loopback:
            raise ValueError(f"the proxy forwards to loopback only, not {target_host}")
        if delay < 0:
            raise ValueError(f"delay must be >= 0, not {delay}")
        self.target = (target_host, target_port)
        self.delay = delay
        self.port = 0
        self.accepted = 0
        """Connections accepted so far."""
        self.closed_cleanly = 0
        """Connections that ended with both directions' end of stream forwarded."""
        self.aborted = 0
        """Connections closed at once: a side failed or reset it, or the proxy stopped."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._pipes: set[asyncio.Future[None]] = set()
        self._closing = False

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/"

    @property
    def open_connections(self) -> int:
        return self.accepted - self.closed_cleanly - self.aborted

    # -- lifecycle (blocking: call from any thread but the proxy's) ------------------------

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every connection has closed; return whether they all did in time."""
        deadline = time.monotonic() + timeout
        while self.open_connections > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.open_connections == 0

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening, close every connection both ways and stop the loop thread."""
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            future.result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> LatencyProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            asyncio.set_event_loop(None)
            self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        for pipe in self._pipes:
            pipe.cancel()  # each handler then aborts its connection and returns
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- one connection --------------------------------------------------------------------

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        self.accepted += 1
        writers = [client_w]
        clean = False
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
            writers.append(server_w)
            if self._closing:
                return
            # Both directions at once. An orderly end of stream ends only its own direction
            # (a half-closed connection still drains the other way); a failure ends both.
            pipes = [
                asyncio.ensure_future(self._pipe(client_r, server_w)),
                asyncio.ensure_future(self._pipe(server_r, client_w)),
            ]
            self._pipes.update(pipes)
            try:
                done, _ = await asyncio.wait(pipes, return_when=asyncio.FIRST_EXCEPTION)
                clean = all(not t.cancelled() and t.exception() is None for t in done)
            finally:
                self._pipes.difference_update(pipes)
                await _cancel(*pipes)
        except OSError:
            pass  # the target refused: close the client's side at once
        finally:
            for writer in writers:
                if clean:
                    writer.close()  # both ends of stream were forwarded
                else:
                    writer.transport.abort()
            for writer in writers:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)
            if clean:
                self.closed_cleanly += 1
            else:
                self.aborted += 1
            self._handlers.discard(handler)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward ``reader`` to ``writer``, each chunk ``delay`` after it was read, then the
        end of stream (a half-close) ``delay`` after it was seen."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            while True:
                chunk = await reader.read(CHUNK)
                queue.put_nowait((loop.time() + self.delay, chunk))
                if not chunk:  # end of stream: queued like data; nothing more to read
                    return

        async def write() -> None:
            while True:
                due, chunk = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    # A peer already gone (reset) cannot be told; closing ends it anyway.
                    with contextlib.suppress(OSError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                writer.write(chunk)
                await writer.drain()

        reading = asyncio.ensure_future(read())
        writing = asyncio.ensure_future(write())
        try:
            done, _ = await asyncio.wait([reading, writing], return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a read or write error: the connection ends both ways
        finally:
            await _cancel(reading, writing)


async def _cancel(*tasks: asyncio.Future[None]) -> None:
    """Cancel whichever of ``tasks`` are still running and wait until they have ended."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _self_test(delay: float) -> None:
    """Echo server on loopback; everything measured directly and through the proxy."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        writer.write_eof()
        writer.close()
        await writer.wait_closed()

    async def measure(port: int) -> dict[str, float]:
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        trips = []
        for _ in range(20):
            start = time.perf_counter()
            writer.write(b"x" * 100)
            await reader.readexactly(100)
            trips.append(time.perf_counter() - start)
        start = time.perf_counter()  # 10 chunks 5 ms apart: each back one RTT after it left
        for _ in range(10):
            writer.write(b"y" * 1000)
            await asyncio.sleep(0.005)
        await reader.readexactly(10_000)
        burst = time.perf_counter() - start
        big = b"z" * 5_000_000
        start = time.perf_counter()
        writer.write(big)
        await reader.readexactly(len(big))
        bulk = time.perf_counter() - start
        start = time.perf_counter()
        writer.write_eof()
        if await reader.read() != b"":
            raise AssertionError("data after the end of stream")
        close = time.perf_counter() - start
        writer.close()
        await writer.wait_closed()
        return {
            "median round trip": sorted(trips)[len(trips) // 2] * 1000,
            "10 chunks sent over 50 ms, all back": burst * 1000,
            "5 MB there and back": bulk * 1000,
            "end of stream there and back": close * 1000,
        }

    async def main() -> None:
        server = await asyncio.start_server(echo, LOOPBACK, 0)
        port = server.sockets[0].getsockname()[1]
        direct = await measure(port)
        with LatencyProxy(port, delay) as proxy:
            proxied = await measure(proxy.port)
            await asyncio.to_thread(proxy.wait_idle)
            stats = (proxy.accepted, proxy.closed_cleanly, proxy.aborted)
        server.close()
        await server.wait_closed()
        print(f"one-way delay {delay * 1000:g} ms (RTT {2 * delay * 1000:g} ms)")
        for name, value in direct.items():
            print(f"  {name:40} direct {value:8.2f} ms   proxied {proxied[name]:8.2f} ms")
        print(f"  connections accepted, closed cleanly, reset: {stats}")

    asyncio.run(main())


if __name__ == "__main__":
    import sys

    _self_test(float(sys.argv[1]) / 1000 if len(sys.argv) > 1 else 0.025)

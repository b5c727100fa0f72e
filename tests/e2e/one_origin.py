"""A loopback proxy that gives several servers one origin, routed by path prefix.

Tabs of one browser share localStorage only within one origin (scheme, host and port). To
have two server processes serve tabs of one browser, as two workers behind a load balancer
do, this proxy listens on one port and sends ``/p0/...`` to one server and ``/p1/...`` to
another; each server mounts its app at its prefix, so the paths go through unchanged::

    proxy = OneOriginProxy({"/p0/": port_0, "/p1/": port_1})
    proxy.start()
    ... proxy.url + "p0/" ...
    proxy.stop()

Standard library only. A plain HTTP request is forwarded with ``Connection: close`` (one
request per connection, so no connection carries requests for two servers); a WebSocket
upgrade is forwarded as it is and then piped byte for byte both ways until either side
closes. It runs on its own loop and thread, like the harness's server and browser.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from .harness import DEFAULT_TIMEOUT, _LoopThread

__all__ = ["OneOriginProxy"]

_HOST = "127.0.0.1"
_CHUNK = 64 * 1024
# Headers that apply to one hop only: replaced, since each forwarded request gets its own
# connection.
_HOP_HEADERS = (b"connection", b"keep-alive", b"proxy-connection")


class OneOriginProxy:
    """Forwards ``http://127.0.0.1:PORT/PREFIX...`` to ``127.0.0.1:routes[PREFIX]``.

    Args:
        routes: Path prefix (``"/p0/"``) to the loopback port of the server that serves it.
            A request no prefix matches gets ``404``.
    """

    def __init__(self, routes: Mapping[str, int]) -> None:
        self.routes = dict(routes)
        self.port = 0
        self._thread = _LoopThread("one-origin-proxy")
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.port}/"

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._thread.start()
        self.port = self._thread.call(self._listen(), timeout)

    def stop(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Stop listening, close every connection (WebSockets too) and stop the thread."""
        with contextlib.suppress(RuntimeError):  # the loop is already gone
            self._thread.call(self._close(), timeout)
        self._thread.stop(timeout)

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._accept, _HOST, 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._forward(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # either side went away: nothing to forward any more
        finally:
            self._connections.discard(task)
            writer.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")  # at most the reader's 64 KiB limit
        port, head = self._route(head)
        if port is None:
            writer.write(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(_HOST, port)
        try:
            upstream_writer.write(head)
            await upstream_writer.drain()
            to_client = asyncio.ensure_future(_pipe(upstream_reader, writer))
            to_upstream = asyncio.ensure_future(_pipe(reader, upstream_writer, half_close=True))
            try:
                await to_client  # the server has answered (HTTP) or closed (WebSocket)
            finally:
                to_upstream.cancel()
                await asyncio.gather(to_upstream, return_exceptions=True)
        finally:
            upstream_writer.close()

    def _route(self, head: bytes) -> tuple[int | None, bytes]:
        """The port the request goes to and the head to send there."""
        request_line, *headers = head[:-4].split(b"\r\n")
        target = request_line.split(b" ")[1].decode("latin-1") if b" " in request_line else ""
        port = next((p for prefix, p in self.routes.items() if target.startswith(prefix)), None)
        names = {line.split(b":", 1)[0].strip().lower() for line in headers}
        if b"upgrade" in names:
            return port, head  # a WebSocket: its Connection: Upgrade must go through
        kept = [
            line for line in headers if line.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS
        ]
        return port, b"\r\n".join([request_line, *kept, b"Connection: close", b"", b""])


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, half_close: bool = False
) -> None:
    """Copy ``reader`` to ``writer`` until end of stream (then pass the end on if
    ``half_close``: the server may still answer)."""
    with contextlib.suppress(OSError):
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
        if half_close and writer.can_write_eof():
            writer.write_eof()

"""A real ``redis-server`` (the Debian package) on a free loopback port, for the tests.

Started with no persistence (``--save '' --appendonly no``); :meth:`RedisServer.stop` and
:meth:`RedisServer.start` again reuse the same port, as a restarted Redis would::

    server = RedisServer()
    server.start()  # waits until it answers PING
    ... server.url ...
    server.stop()
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time

__all__ = ["LOOPBACK", "RedisServer", "find_redis_server", "free_port"]

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 20.0
"""Seconds a start or stop may take (a hang guard: it takes milliseconds)."""


def find_redis_server() -> str | None:
    """The ``redis-server`` executable on ``PATH``, or ``None``."""
    return shutil.which("redis-server")


def free_port() -> int:
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1:port`` (a free port by default)."""

    def __init__(self, executable: str | None = None, port: int | None = None) -> None:
        found = executable or find_redis_server()
        if found is None:
            raise FileNotFoundError(
                "redis-server is not on PATH (Debian: apt install redis-server)"
            )
        self.executable = found
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="flet-storage-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        if self.running:
            return
        self._process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                LOOPBACK,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._pings():
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self._process.returncode}) on start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer within {START_TIMEOUT} s")
            time.sleep(0.01)

    def _pings(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (its data is gone: nothing is persisted); the port stays ours."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its working directory."""
        self.stop()
        with contextlib.suppress(OSError):
            self._dir.cleanup()

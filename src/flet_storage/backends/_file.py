"""A backend on a Flutter desktop `shared_preferences.json` file, and the file primitives it
shares with the `flet-storage` command: a lock across processes, and an atomic replace
that writes through a symlink and keeps the file's mode and owner."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ._base import BaseBackend, RawValue, check_raw

__all__ = [
    "FLUTTER_PREFIX",
    "FileBackend",
    "LocalStorageDump",
    "dump",
    "locked",
    "write_atomically",
]

FLUTTER_PREFIX = "flutter."
"""What Flutter's shared_preferences puts before every key it stores."""

T = TypeVar("T")


class FileBackend(BaseBackend):
    """The `shared_preferences.json` file of a Flutter desktop app (Linux, Windows).

    Flutter's shared_preferences stores a desktop app's preferences in one JSON object:
    every key prefixed `flutter.`, values as JSON strings, numbers, booleans and arrays of
    strings. This backend reads and writes that file with the semantics of
    `ft.SharedPreferences`, so `FletStorage("my_app", backend=FileBackend(path))` sees
    exactly what the app stored. A float stays a float (`2.0` is written `2.0`, which
    Flutter reads back as a `double`); an int stays an int.

    It is for scripts, tests and tools (such as the `flet-storage` command) **while the
    app is not running**: the Flutter client reads the file once, keeps its own copy in
    memory and rewrites the whole file on its next write, so changes made meanwhile are
    lost and the app does not see them.

    * The file is read again on every call, so edits made by others are seen; a missing
      file is an empty store, created on the first write.
    * Each write is a read-modify-write under a lock that other processes using
      FileBackend (or the `flet-storage` command) respect: an exclusive lock (`fcntl` on
      POSIX, `msvcrt` on Windows) on `shared_preferences.json.lock` beside the file,
      created on the first write and left there. The file is read again under the lock,
      so two processes (or threads, or FileBackend objects) writing one file lose none of
      each other's changes.
    * Each write replaces the file atomically (a temporary file in the same directory,
      then `os.replace`). A symlink is written through: its target is replaced, the link
      stays. The file keeps its mode, and its owner and group where the process may set
      them (as root does); a new file is created with mode `0600`.
    * Keys in the file without the `flutter.` prefix are kept as they are.
    * File I/O runs in a worker thread (`asyncio.to_thread`).

    Args:
        path: The `shared_preferences.json` file, e.g.
            `~/.local/share/{app id}/shared_preferences.json` on Linux.
        read_only: Never write the file: `set()` raises `PermissionError`, while
            `remove()` and `clear()` change nothing (and return `True`, as always). For
            tools that only read: FletStorage's reads remove expired keys in the
            background, and on a read-only FileBackend those removals are dropped, so
            the file stays byte for byte as it was.

    Raises:
        ValueError: (on a call) The file does not hold a JSON object, or a value there is
            not one SharedPreferences can hold.
        PermissionError: (on `set`) The backend is read-only.
    """

    _what = "a shared_preferences.json file"  # what the file should be, for messages

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only

    def __repr__(self) -> str:
        extra = ", read_only=True" if self.read_only else ""
        return f"{type(self).__name__}({str(self.path)!r}{extra})"

    # -- the file ------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        if not text.strip():
            return {}
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise ValueError(f"{self.path} is not {self._what}: {why}") from None
        if not isinstance(data, dict):
            raise ValueError(
                f"{self.path} is not {self._what}: it holds a {type(data).__name__}, not an object"
            )
        return data

    def _to_file(self, value: RawValue) -> object:
        """What the file holds for `value`."""
        return value

    def _from_file(self, key: str, stored: object) -> RawValue:
        """The value the file holds as `stored` under `key` (full key, prefix included)."""
        try:
            return check_raw(stored)  # a list is copied
        except ValueError as exc:
            raise ValueError(
                f"{self.path}: {key!r} holds no SharedPreferences value: {exc}"
            ) from None

    def read_all(self) -> dict[str, RawValue]:
        """Every key and value in the file now, each checked, as a tool reads a file before
        trusting it (a call only checks what it reads). It blocks: call it before the
        event loop runs, or through `asyncio.to_thread`.

        Returns:
            Key (as [`get`][flet_storage.Backend.get] takes it) to value.

        Raises:
            ValueError: The file is not a JSON object, or a value in it is not one this
                backend can read; the message names the key, never the value.
        """
        return {
            key[len(FLUTTER_PREFIX) :]: self._from_file(key, stored)
            for key, stored in self._load().items()
            if key.startswith(FLUTTER_PREFIX) and stored is not None
        }

    async def _read(self, fn: Callable[[dict[str, Any]], T]) -> T:
        data = await asyncio.to_thread(self._load)
        return fn(data)

    async def _change(self, fn: Callable[[dict[str, Any]], bool]) -> None:
        """Apply `fn` to the file's contents, read under the lock; write them back if it
        returns True."""
        if self.read_only:
            return

        def change() -> None:
            with locked(self.path):
                data = self._load()
                if fn(data):
                    write_atomically(self.path, dump(data))

        # The lock file serializes the writes of this process's threads too (each opens it
        # anew), so no asyncio.Lock, which would tie the backend to one event loop.
        await asyncio.to_thread(change)

    # -- the Backend methods -------------------------------------------------------------------

    async def set(self, key: str, value: RawValue) -> bool:
        value = check_raw(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"Unsupported value: {value!r}: JSON has no NaN or infinity")
        if self.read_only:
            raise PermissionError(f"{self!r} is read-only")
        stored = self._to_file(value)

        def put(data: dict[str, Any]) -> bool:
            data[FLUTTER_PREFIX + key] = stored
            return True

        await self._change(put)
        return True

    async def get(self, key: str) -> RawValue | None:
        full = FLUTTER_PREFIX + key

        def value(data: dict[str, Any]) -> RawValue | None:
            return None if data.get(full) is None else self._from_file(full, data[full])

        return await self._read(value)

    async def contains_key(self, key: str) -> bool:
        return await self._read(lambda data: FLUTTER_PREFIX + key in data)

    async def remove(self, key: str) -> bool:
        await self._change(lambda data: data.pop(FLUTTER_PREFIX + key, _GONE) is not _GONE)
        return True

    async def get_keys(self, key_prefix: str) -> list[str]:
        full = FLUTTER_PREFIX + key_prefix
        return await self._read(
            lambda data: [key[len(FLUTTER_PREFIX) :] for key in data if key.startswith(full)]
        )

    async def clear(self) -> bool:
        def wipe(data: dict[str, Any]) -> bool:
            keys = [key for key in data if key.startswith(FLUTTER_PREFIX)]
            for key in keys:
                del data[key]
            return bool(keys)

        await self._change(wipe)
        return True


class LocalStorageDump(FileBackend):
    """A web app's localStorage copied into a file (`JSON.stringify(localStorage)`): keys as
    in `shared_preferences.json`, but every value a string holding the JSON of what
    SharedPreferences stores, as the Flutter web client writes it. Everything else is as
    in [FileBackend][flet_storage.FileBackend]; other keys are kept as they are."""

    _what = "a localStorage dump"

    def _to_file(self, value: RawValue) -> object:
        return dump(value)

    def _from_file(self, key: str, stored: object) -> RawValue:
        try:
            if not isinstance(stored, str):
                raise ValueError(f"a {type(stored).__name__}, not a string")
            return check_raw(json.loads(stored))
        except (ValueError, RecursionError) as exc:
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise ValueError(f"{self.path}: {key!r} is not a localStorage value: {why}") from None


_GONE = object()


def dump(data: object) -> str:
    """JSON as Dart's `jsonEncode` writes it: compact, non-ASCII kept, no NaN."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the lock of `path` (through a symlink: of its target) against other processes.

    The lock is on `{name}.lock` beside the file, not on the file itself, because every
    write replaces the file: a lock on the old file would not stop a process that opened
    the new one (and Windows cannot replace a file that is open). The lock file is left
    in place: removing it would let two processes lock two different files.
    """
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    # Read-only is enough to lock, so a lock file someone else created still serves.
    fd = os.open(target.with_name(target.name + ".lock"), os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        _lock(fd)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        while True:  # LK_LOCK gives up after 10 tries, a second apart
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:
                continue

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text`: a temporary file in the same directory, then
    `os.replace`, so a reader sees the old file or the new one, never half of it.

    A symlink is written through (its target is replaced; the link stays). The file keeps
    its mode, and its owner and group where this process may set them; a new file gets
    mode 0600.
    """
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        before: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        before = None
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if before is not None:
            _keep_owner_and_mode(temp, before)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _keep_owner_and_mode(temp: str, before: os.stat_result) -> None:
    if hasattr(os, "chown") and (before.st_uid, before.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.chown(temp, before.st_uid, before.st_gid)  # root may; the owner may keep its group
        except PermissionError:
            with contextlib.suppress(PermissionError):
                os.chown(temp, -1, before.st_gid)
    os.chmod(temp, stat.S_IMODE(before.st_mode))

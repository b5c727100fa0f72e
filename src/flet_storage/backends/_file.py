"""A backend on a Flutter desktop `shared_preferences.json` file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ._base import BaseBackend, RawValue, check_raw

__all__ = ["FLUTTER_PREFIX", "FileBackend", "dump", "write_atomically"]

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
    * Each write replaces the file atomically (a temporary file in the same directory,
      then `os.replace`); the writes of one FileBackend are serialized. Keys in the file
      without the `flutter.` prefix are kept as they are.
    * File I/O runs in a worker thread (`asyncio.to_thread`).

    Args:
        path: The `shared_preferences.json` file, e.g.
            `~/.local/share/{app id}/shared_preferences.json` on Linux.

    Raises:
        ValueError: (on a call) The file does not hold a JSON object, or a value there is
            not one SharedPreferences can hold.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"FileBackend({str(self.path)!r})"

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
        except ValueError as exc:
            raise ValueError(f"{self.path} is not a shared_preferences.json file: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(
                f"{self.path} is not a shared_preferences.json file: it holds a "
                f"{type(data).__name__}, not an object"
            )
        return data

    def _save(self, data: dict[str, Any]) -> None:
        write_atomically(self.path, dump(data))

    async def _read(self, fn: Callable[[dict[str, Any]], T]) -> T:
        data = await asyncio.to_thread(self._load)
        return fn(data)

    async def _change(self, fn: Callable[[dict[str, Any]], bool]) -> None:
        """Apply `fn` to the file's contents; write them back if it returns True."""

        def change() -> None:
            data = self._load()
            if fn(data):
                self._save(data)

        async with self._lock:
            await asyncio.to_thread(change)

    # -- the Backend methods -------------------------------------------------------------------

    async def set(self, key: str, value: RawValue) -> bool:
        value = check_raw(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"Unsupported value: {value!r}: JSON has no NaN or infinity")

        def put(data: dict[str, Any]) -> bool:
            data[FLUTTER_PREFIX + key] = value
            return True

        await self._change(put)
        return True

    async def get(self, key: str) -> RawValue | None:
        return await self._read(lambda data: _raw(data.get(FLUTTER_PREFIX + key)))

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


_GONE = object()


def dump(data: object) -> str:
    """JSON as Dart's `jsonEncode` writes it: compact, non-ASCII kept, no NaN."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text`: a temporary file in the same directory, then
    `os.replace`, so a reader sees the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _raw(value: object) -> RawValue | None:
    if value is None:
        return None
    return check_raw(value)  # a list is copied

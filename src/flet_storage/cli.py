"""The `flet-storage` command: look at and edit a Flet app's stored data, offline.

```
flet-storage ls PATH [APP]
flet-storage get PATH APP KEY [--json]
flet-storage set PATH APP KEY JSON_VALUE
flet-storage rm PATH APP KEY...
flet-storage export PATH APP [-o FILE]
flet-storage import PATH APP FILE [--replace]
```

PATH is a Flutter desktop `shared_preferences.json`, or a JSON object copied from the
browser's localStorage (devtools console: `copy(JSON.stringify(localStorage))`); instead
of PATH, `--app-id ID` names the desktop app whose file to use. Everything goes through
[FletStorage][flet_storage.FletStorage], so values, expiry and marks are read and written
exactly as the app does. Exit status: 0 done, 1 key not found or nothing to do, 2 usage
error or unreadable file (nothing changed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, NoReturn

from ._codec import Codec, DecodeError
from ._crypto import Encryption
from ._errors import CorruptDataError, KeyNotFoundError, StorageError
from ._record import RESERVED, Records
from ._storage import FletStorage
from .backends import Backend, FileBackend, MemoryBackend
from .backends._base import RawValue, check_raw
from .backends._file import FLUTTER_PREFIX, dump, write_atomically

__all__ = ["main"]

Format = Literal["desktop", "web"]

OK, NOT_FOUND, USAGE = 0, 1, 2


class Failure(Exception):
    """Ends the command with `status` and a message on stderr."""

    def __init__(self, message: str, status: int = USAGE) -> None:
        super().__init__(message)
        self.status = status


# -- where the data is -----------------------------------------------------------------------


def default_path(app_id: str, platform: str = sys.platform) -> Path:
    """Where Flutter's shared_preferences keeps the desktop app `app_id`'s file."""
    if platform.startswith("linux"):
        base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
        return Path(base) / app_id / "shared_preferences.json"
    if platform in ("win32", "cygwin"):
        appdata = os.environ.get("APPDATA")
        if not appdata:
            raise Failure("--app-id: %APPDATA% is not set")
        return Path(appdata) / app_id / "shared_preferences.json"
    if platform == "darwin":
        raise Failure(
            "--app-id: on macOS, SharedPreferences live in NSUserDefaults (a plist), which "
            "flet-storage cannot read; export the data from the running app instead"
        )
    raise Failure(f"--app-id: no known shared_preferences location on {platform}")


class Target:
    """The file a command works on, loaded into a backend."""

    def __init__(self, path: Path, fmt: Format | None, *, create: bool = False) -> None:
        self.path = path
        self.format: Format
        self.storages: list[FletStorage] = []
        self._dump: dict[str, Any] = {}
        self._memory: MemoryBackend | None = None
        data = _read_json(path, missing_ok=create)
        if data is None:
            self.format = fmt or "desktop"
        else:
            self.format = fmt or _detect(path, data)
        self.backend: Backend
        if self.format == "desktop":
            self.backend = FileBackend(path)
        else:
            self._dump = data or {}
            self._memory = MemoryBackend(_from_local_storage(path, self._dump))
            self._loaded = dict(self._memory.data)
            self.backend = self._memory

    def save(self) -> None:
        """Write a localStorage dump back, in its format (a FileBackend already has)."""
        if self._memory is None or self._memory.data == self._loaded:
            return
        kept = {k: v for k, v in self._dump.items() if not k.startswith(FLUTTER_PREFIX)}
        for key, value in self._memory.data.items():
            kept[FLUTTER_PREFIX + key] = dump(value)
        write_atomically(self.path, json.dumps(kept, ensure_ascii=False, indent=None))


def _read_json(path: Path, *, missing_ok: bool = False) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise Failure(f"{path}: no such file") from None
    except OSError as exc:
        raise Failure(f"{path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text) if text.strip() or not missing_ok else None
    except ValueError as exc:
        raise Failure(f"{path}: not JSON: {exc}") from None


def _detect(path: Path, data: object) -> Format:
    """Desktop if any value is not a JSON text in a string (localStorage holds only
    strings, each the JSON of a value); else the file's name decides."""
    if not isinstance(data, dict):
        raise Failure(
            f"{path}: holds a {type(data).__name__}, not a JSON object of stored keys "
            "(shared_preferences.json, or JSON.stringify(localStorage))"
        )
    for key, value in data.items():
        if not key.startswith(FLUTTER_PREFIX):
            continue
        if not isinstance(value, str):
            return "desktop"
        try:
            json.loads(value)
        except ValueError:
            return "desktop"
    return "desktop" if path.name == "shared_preferences.json" else "web"


def _from_local_storage(path: Path, data: dict[str, Any]) -> dict[str, RawValue]:
    """The values of a localStorage dump, as SharedPreferences reads them."""
    values: dict[str, RawValue] = {}
    for key, raw in data.items():
        if not key.startswith(FLUTTER_PREFIX):
            continue
        try:
            if not isinstance(raw, str):
                raise ValueError("not a string")
            values[key[len(FLUTTER_PREFIX) :]] = check_raw(json.loads(raw))
        except ValueError as exc:
            raise Failure(f"{path}: {key!r} is not a localStorage value: {exc}") from None
    return values


# -- the commands ----------------------------------------------------------------------------


def _storage(target: Target, app: str) -> FletStorage:
    try:
        storage = FletStorage(app, backend=target.backend, timeout=None)
    except ValueError as exc:
        raise Failure(f"APP: {exc}") from None
    target.storages.append(storage)
    return storage


async def _run(target: Target, args: argparse.Namespace) -> int:
    """Run the command, then let the clean-ups it started finish (removing expired
    values and stale expiry marks, as the app does)."""
    try:
        return await COMMANDS[args.command](target, args)
    finally:
        for storage in target.storages:
            await storage.settle()


async def _namespaces(target: Target) -> dict[str, int]:
    """Every namespace (the text before the first dot of a key) and its live keys."""
    keys = await target.backend.get_keys("")
    apps = sorted({key.partition(".")[0] for key in keys if "." in key and _app_key(key)})
    counts = {}
    for app in apps:
        counts[app] = len(await _storage(target, app).get_keys())
    return {app: n for app, n in counts.items() if n}


def _app_key(key: str) -> bool:
    return not key.startswith(RESERVED)


async def cmd_ls(target: Target, args: argparse.Namespace) -> int:
    if args.app is None:
        namespaces = await _namespaces(target)
        if not namespaces:
            print(f"no namespaces in {target.path} ({target.format})", file=sys.stderr)
            return NOT_FOUND
        for app, n in namespaces.items():
            print(f"{app}\t{n} key{'' if n == 1 else 's'}")
        return OK
    storage = _storage(target, args.app)
    keys = sorted(await storage.get_keys())
    if not keys:
        print(f"no keys in namespace {args.app!r}", file=sys.stderr)
        return NOT_FOUND
    rows = [("KEY", "TYPE", "SIZE", "EXPIRES")]
    codec = Codec()
    for key in keys:
        raw = await target.backend.get(f"{args.app}.{key}")
        if raw is None:
            continue
        text, expires_at = Records.unseal(raw)
        rows.append((key, _type_of(codec, text), str(len(_stored(raw))), _when(expires_at)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[3]]))
    return OK


def _type_of(codec: Codec, text: RawValue) -> str:
    if not isinstance(text, str):
        return type(text).__name__
    if Encryption.is_encrypted(text):
        return "(encrypted)"
    try:
        value = codec.decode(text)
    except DecodeError:
        return "(corrupt)"
    return type(value).__name__


async def _encrypted(target: Target, app: str, key: str) -> bool:
    raw = await target.backend.get(f"{app}.{key}")
    text = None if raw is None else Records.unseal(raw)[0]
    return isinstance(text, str) and Encryption.is_encrypted(text)


def _stored(raw: RawValue) -> str:
    return raw if isinstance(raw, str) else json.dumps(raw)


def _when(expires_at: float | None) -> str:
    if expires_at is None:
        return "never"
    return datetime.fromtimestamp(expires_at, timezone.utc).isoformat(timespec="seconds")


async def cmd_get(target: Target, args: argparse.Namespace) -> int:
    try:
        value = await _storage(target, args.app).get(args.key)
    except KeyNotFoundError:
        print(f"key {args.key!r} not found in namespace {args.app!r}", file=sys.stderr)
        return NOT_FOUND
    except CorruptDataError:
        if await _encrypted(target, args.app, args.key):
            raise Failure(
                f"key {args.key!r} of namespace {args.app!r} is encrypted; the command has no "
                "key to decrypt it"
            ) from None
        raise
    if args.json:
        try:
            print(json.dumps(value, ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError):
            raise Failure(
                f"the value of {args.key!r} is a {type(value).__name__}, which JSON cannot "
                f"represent; without --json: {value!r}"
            ) from None
    else:
        print(repr(value))
    return OK


async def cmd_set(target: Target, args: argparse.Namespace) -> int:
    try:
        value = json.loads(args.value)
    except ValueError as exc:
        raise Failure(f"JSON_VALUE is not JSON ({exc}); a string is written '\"text\"'") from None
    await _storage(target, args.app).set(args.key, value)
    return OK


async def cmd_rm(target: Target, args: argparse.Namespace) -> int:
    storage = _storage(target, args.app)
    present = set(await storage.get_keys())
    removed = await storage.remove_many(args.keys)
    for key in args.keys:
        if key not in present:
            print(f"key {key!r} not found in namespace {args.app!r}", file=sys.stderr)
    return OK if removed else NOT_FOUND


async def cmd_export(target: Target, args: argparse.Namespace) -> int:
    try:
        document = await _storage(target, args.app).export()
    except CorruptDataError as exc:
        storage = _storage(target, args.app)
        keys = await storage.get_keys()
        if any([await _encrypted(target, args.app, key) for key in keys]):
            raise Failure(
                f"namespace {args.app!r} is encrypted; the command has no key to decrypt it "
                "(in Python: FletStorage(..., encryption=...).export(decrypted=True))"
            ) from None
        raise Failure(str(exc)) from None
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomically(Path(args.output), text)
        n = len(document["items"])
        print(f"exported {n} key{'' if n == 1 else 's'} to {args.output}", file=sys.stderr)
    return OK


async def cmd_import(target: Target, args: argparse.Namespace) -> int:
    document = _read_json(Path(args.file))
    try:  # every item is checked before anything is written
        n = await _storage(target, args.app).import_(document, replace=args.replace)
    except StorageError:
        raise
    except ValueError as exc:
        raise Failure(f"{args.file}: {exc}") from None
    print(f"imported {n} key{'' if n == 1 else 's'} into {args.app!r}", file=sys.stderr)
    return OK if n or args.replace else NOT_FOUND


COMMANDS = {
    "ls": cmd_ls,
    "get": cmd_get,
    "set": cmd_set,
    "rm": cmd_rm,
    "export": cmd_export,
    "import": cmd_import,
}


# -- the command line ------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise Failure(f"{message}\n{self.format_usage().rstrip()}")


def parser() -> argparse.ArgumentParser:
    """The argument parser of `flet-storage`."""
    main_parser = _Parser(
        prog="flet-storage",
        description="Look at and edit a Flet app's stored data while the app is not running.",
        epilog=(
            "PATH: a Flutter desktop shared_preferences.json, or a JSON object copied from "
            "the browser's localStorage (devtools: copy(JSON.stringify(localStorage))). "
            "--app-id ID in place of PATH uses the desktop app ID's file. "
            "Exit status: 0 done, 1 not found or nothing to do, 2 usage or file error."
        ),
    )
    main_parser.add_argument(
        "--format",
        choices=["desktop", "web"],
        help="the format of PATH (default: detected)",
    )
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("path", metavar="PATH", help="the file (or --app-id ID)")
        return sub

    ls = command("ls", "list the namespaces, or the keys of APP")
    ls.add_argument("app", metavar="APP", nargs="?")
    get = command("get", "print the value of KEY")
    get.add_argument("app", metavar="APP")
    get.add_argument("key", metavar="KEY")
    get.add_argument("--json", action="store_true", help="print it as JSON")
    set_ = command("set", "store a value given as JSON under KEY")
    set_.add_argument("app", metavar="APP")
    set_.add_argument("key", metavar="KEY")
    set_.add_argument("value", metavar="JSON_VALUE")
    rm = command("rm", "remove keys")
    rm.add_argument("app", metavar="APP")
    rm.add_argument("keys", metavar="KEY", nargs="+")
    export = command("export", "write APP's data as an export document (JSON)")
    export.add_argument("app", metavar="APP")
    export.add_argument("-o", "--output", metavar="FILE", help="default: standard output")
    import_ = command("import", "store the items of an export document")
    import_.add_argument("app", metavar="APP")
    import_.add_argument("file", metavar="FILE")
    import_.add_argument("--replace", action="store_true", help="clear APP first")
    return main_parser


def _resolve_app_id(argv: list[str]) -> list[str]:
    """`COMMAND --app-id ID ...` becomes `COMMAND PATH ...`, PATH the app's default file."""
    for i, arg in enumerate(argv):
        if arg == "--app-id" or arg.startswith("--app-id="):
            if "=" in arg:
                app_id, rest = arg.partition("=")[2], argv[i + 1 :]
            elif i + 1 < len(argv):
                app_id, rest = argv[i + 1], argv[i + 2 :]
            else:
                raise Failure("--app-id needs an ID")
            before = argv[:i]
            path = str(default_path(app_id))
            at = next((j + 1 for j, a in enumerate(before) if a in COMMANDS), None)
            if at is None:  # --app-id before the command: PATH goes right after it
                at = next((j + 1 for j, a in enumerate(rest) if a in COMMANDS), None)
                if at is None:
                    raise Failure("--app-id: no command given")
                return [*before, *rest[:at], path, *rest[at:]]
            return [*before[:at], path, *before[at:], *rest]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Run `flet-storage` with `argv` (default: `sys.argv[1:]`); return the exit status."""
    try:
        args = parser().parse_args(_resolve_app_id(list(sys.argv[1:] if argv is None else argv)))
        target = Target(Path(args.path), args.format, create=args.command in ("set", "import"))
        status = asyncio.run(_run(target, args))
        target.save()
        return status
    except Failure as exc:
        print(f"flet-storage: {exc}", file=sys.stderr)
        return exc.status
    except (StorageError, ValueError, TypeError, OSError) as exc:
        message = str(exc.__cause__ or exc) if isinstance(exc, StorageError) else str(exc)
        print(f"flet-storage: {message}", file=sys.stderr)
        return USAGE

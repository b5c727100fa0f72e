"""The `flet-storage` command: look at and edit a Flet app's stored data, offline.

```
flet-storage [--format desktop|web] COMMAND ...
flet-storage ls PATH [APP]
flet-storage get PATH APP KEY [--json] [--key-env NAME]
flet-storage set PATH APP KEY JSON_VALUE [--key-env NAME]
flet-storage rm PATH APP KEY...
flet-storage export PATH APP [-o FILE] [--key-env NAME]
flet-storage import PATH APP FILE [--replace] [--key-env NAME]
```

PATH is a Flutter desktop `shared_preferences.json`, or a JSON object copied from the
browser's localStorage (devtools console: `copy(JSON.stringify(localStorage))`); which one
is told from its content (or `--format`); instead of PATH, `--app-id ID` names the desktop
app whose file to use. Everything goes through [FletStorage][flet_storage.FletStorage], so
values, expiry and marks are read and written exactly as the app does. `ls`, `get` and
`export` never write PATH. Standard output carries data only; every message goes to
standard error, prefixed `flet-storage:`. Exit status: 0 done, 1 key or namespace not found
or nothing to do, 2 usage error or unreadable file (nothing changed).
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, NoReturn

from . import __version__
from ._codec import PREFIX as CODEC_PREFIX
from ._codec import Codec, DecodeError
from ._crypto import Encryption
from ._errors import CorruptDataError, KeyNotFoundError, StorageError
from ._record import RESERVED, TTL_PREFIX, Records
from ._storage import FletStorage
from .backends import FileBackend
from .backends._base import RawValue, check_raw
from .backends._file import FLUTTER_PREFIX, LocalStorageDump, write_atomically

__all__ = ["main"]

Format = Literal["desktop", "web"]

OK, NOT_FOUND, USAGE = 0, 1, 2

READS = ("ls", "get", "export")
"""The commands that never write PATH."""


class Failure(Exception):
    """Ends the command with `status` and a message on stderr."""

    def __init__(self, message: str, status: int = USAGE) -> None:
        super().__init__(message)
        self.status = status


def _say(message: str) -> None:
    print(f"flet-storage: {message}", file=sys.stderr)


def _shown(name: str) -> str:
    """`name` safe for a terminal: characters that are not printable (escape sequences,
    bidi controls) as Python escapes, e.g. `\\x1b`."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


def _json_text(value: object, indent: int | None = None) -> str:
    """JSON with non-ASCII text kept but every character that is not printable escaped
    (`\\u001b`): the same JSON value, safe for a terminal."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, indent=indent)
    return "".join(c if c.isprintable() or c == "\n" else json.dumps(c)[1:-1] for c in text)


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
    """The file a command works on, behind a backend of its format (read-only for `ls`,
    `get` and `export`)."""

    def __init__(self, path: Path, fmt: Format | None, command: str) -> None:
        self.path = path
        self.storages: list[FletStorage] = []
        data = _read_json(path, missing_ok=command in ("set", "import"))
        self.format: Format = fmt or detect(path, data, writing=command not in READS)
        kind = FileBackend if self.format == "desktop" else LocalStorageDump
        self.backend: FileBackend = kind(path, read_only=command in READS)
        try:  # every value checked up front; read again by every call
            self.values = self.backend.read_all()
        except ValueError as exc:
            raise Failure(str(exc)) from None

    def encrypted(self, app: str, key: str | None = None) -> bool:
        """Whether `key` of namespace `app` (None: any of its keys) holds an encrypted value,
        as the file was when the command started."""
        names = [f"{app}.{key}"] if key is not None else self._names(app)
        texts = [Records.unseal(self.values[name])[0] for name in names if name in self.values]
        return any(isinstance(text, str) and Encryption.is_encrypted(text) for text in texts)

    def _names(self, app: str) -> list[str]:
        return [name for name in self.values if name.startswith(f"{app}.")]


def _read_json(path: Path, *, missing_ok: bool = False) -> Any:
    """The JSON in `path`; None for a missing file (if `missing_ok`) or an empty one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise Failure(f"{path}: no such file") from None
    except OSError as exc:
        raise Failure(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # not UTF-8
        raise Failure(f"{path}: not a text file: {exc}") from None
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except RecursionError:
        raise Failure(f"{path}: not readable JSON: nested too deeply") from None
    except ValueError as exc:
        raise Failure(f"{path}: not JSON: {exc}") from None


# -- which format a file is in ---------------------------------------------------------------

_ONLY_DESKTOP, _DESKTOP, _WEB, _EITHER = "only desktop", "desktop", "web", None


def detect(path: Path, data: object, *, writing: bool = True) -> Format:
    """The format of a file's content (`data`: its JSON; None: missing or empty).

    A localStorage dump holds only strings, each the JSON of what SharedPreferences stores
    (for FletStorage: a codec text, a TTL frame or an encrypted value); a desktop file holds
    those values themselves. So a `flutter.` value that is not such a string means a desktop
    file. Otherwise each string whose JSON is itself a string votes: web if that string is
    what FletStorage stores, desktop if not. Numbers, booleans and lists (and values nested
    too deeply to parse) do not vote: FletStorage reads them the same either way, so with
    no votes at all a file is read as desktop, but not written (the formats write
    differently).

    Raises:
        Failure: `data` is not an object, or the content cannot decide (votes both ways,
            or no votes when `writing`): `--format` must.
    """
    if data is not None and not isinstance(data, dict):
        raise Failure(
            f"{path}: holds a {type(data).__name__}, not a JSON object of stored keys "
            "(shared_preferences.json, or JSON.stringify(localStorage))"
        )
    votes: set[str | None] = set()
    for key, value in (data or {}).items():
        # The library's own keys (expiry marks, the browser id) are stored alike in both.
        if key.startswith(FLUTTER_PREFIX) and not key.startswith(FLUTTER_PREFIX + RESERVED):
            vote = _vote(value)
            if vote == _ONLY_DESKTOP:
                return "desktop"
            votes.add(vote)
    votes.discard(_EITHER)
    if len(votes) == 1:
        return "web" if _WEB in votes else "desktop"
    if not votes and not writing:
        return "desktop"
    why = "both ways" if votes else "either way"
    raise Failure(
        f"{path}: cannot tell a desktop shared_preferences.json from a localStorage dump "
        f"(its values read {why}); say which with --format desktop|web"
    )


def _vote(value: object) -> str | None:
    if not isinstance(value, str):
        return _ONLY_DESKTOP  # localStorage holds strings only
    try:
        inner = check_raw(_loads(value))
    except RecursionError:
        return _EITHER
    except ValueError:  # not JSON, or not a value SharedPreferences holds
        return _ONLY_DESKTOP
    if not isinstance(inner, str):
        return _EITHER
    if inner.startswith((CODEC_PREFIX, TTL_PREFIX)) or Encryption.is_encrypted(inner):
        return _WEB
    try:
        _loads(inner)
    except RecursionError:
        return _EITHER
    except ValueError:
        return _DESKTOP
    return _WEB


def _loads(text: str) -> Any:
    """JSON, with every integer read as 0: only the shape matters here, and an integer
    of any length (beyond Python's 4300 digits) stays an integer instead of an error."""
    return json.loads(text, parse_int=lambda digits: 0)


# -- the commands ----------------------------------------------------------------------------


def _storage(target: Target, app: str, encryption: Encryption | None = None) -> FletStorage:
    try:
        storage = FletStorage(app, backend=target.backend, timeout=None, encryption=encryption)
    except ValueError as exc:
        raise Failure(f"APP: {exc}") from None
    target.storages.append(storage)
    return storage


def _encryption(args: argparse.Namespace) -> Encryption | None:
    """The Encryption of `--key-env NAME`: the keys in the environment variable NAME
    (comma-separated; the first encrypts, all decrypt), never from the command line."""
    name = getattr(args, "key_env", None)
    if name is None:
        return None
    keys = [key.strip() for key in os.environ.get(name, "").split(",") if key.strip()]
    if not keys:
        raise Failure(f"--key-env {name}: the environment variable {name} holds no key")
    try:
        return Encryption(*keys)
    except ImportError as exc:
        raise Failure(str(exc)) from None
    except (TypeError, ValueError) as exc:  # messages never hold key material
        raise Failure(f"--key-env {name}: {exc}") from None


async def _run(target: Target, args: argparse.Namespace) -> int:
    """Run the command, then let the clean-ups it started finish (removing expired
    values and stale expiry marks, as the app does; dropped by a read-only backend)."""
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


async def _no_namespace(target: Target, app: str) -> Failure:
    """The failure for a namespace with no keys, naming the namespaces there are."""
    namespaces = list(await _namespaces(target))
    message = f"no keys in namespace {app!r} of {target.path}"
    if not namespaces:
        return Failure(f"{message}, which holds no namespace", NOT_FOUND)
    close = difflib.get_close_matches(app, namespaces, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    shown = ", ".join(repr(name) for name in namespaces[:10])
    more = f" and {len(namespaces) - 10} more" if len(namespaces) > 10 else ""
    return Failure(f"{message} (namespaces: {shown}{more})", NOT_FOUND)


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


async def cmd_ls(target: Target, args: argparse.Namespace) -> int:
    if args.app is None:
        namespaces = await _namespaces(target)
        if not namespaces:
            raise Failure(f"no namespaces in {target.path} ({target.format})", NOT_FOUND)
        for app, n in namespaces.items():
            print(f"{_shown(app)}\t{_plural(n, 'key')}")
        return OK
    info = await _storage(target, args.app).key_info()
    if not info:
        raise await _no_namespace(target, args.app)
    rows = [("KEY", "TYPE", "SIZE", "EXPIRES")]
    codec = Codec()
    for key in sorted(info):
        raw = target.values.get(f"{args.app}.{key}")
        if raw is not None:
            text = Records.unseal(raw)[0]
            size, expires_at = info[key]
            rows.append((_shown(key), _type_of(codec, text), str(size), _when(expires_at)))
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
    except (DecodeError, RecursionError):
        return "(corrupt)"
    return type(value).__name__


def _when(expires_at: float | None) -> str:
    if expires_at is None:
        return "never"
    try:
        return datetime.fromtimestamp(expires_at, timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):  # beyond the calendar: say the seconds
        return f"{expires_at:g}s"


def _no_key(args: argparse.Namespace) -> Failure:
    return Failure(
        f"namespace {args.app!r} is encrypted; give its key with --key-env NAME, NAME an "
        "environment variable holding it"
    )


async def cmd_get(target: Target, args: argparse.Namespace) -> int:
    encryption = _encryption(args)
    storage = _storage(target, args.app, encryption)
    try:
        value = await storage.get(args.key)
    except KeyNotFoundError:
        if not await storage.get_keys():
            raise await _no_namespace(target, args.app) from None
        raise Failure(f"key {args.key!r} not found in namespace {args.app!r}", NOT_FOUND) from None
    except CorruptDataError:
        if encryption is None and target.encrypted(args.app, args.key):
            raise _no_key(args) from None
        raise
    if args.json:
        try:
            print(_json_text(value))
        except (TypeError, ValueError):
            raise Failure(
                f"the value of {args.key!r} is a {type(value).__name__}, which JSON cannot "
                "represent; leave out --json to see it"
            ) from None
    else:
        print(repr(value))
    return OK


def _writer(target: Target, args: argparse.Namespace) -> FletStorage:
    """APP's storage to write values with: encrypted with the key of `--key-env`; refused
    without one if APP holds encrypted values (the app would not read plaintext there)."""
    encryption = _encryption(args)
    if encryption is None and target.encrypted(args.app):
        raise _no_key(args)
    return _storage(target, args.app, encryption)


async def cmd_set(target: Target, args: argparse.Namespace) -> int:
    try:
        value = json.loads(args.value)
    except RecursionError:
        raise Failure("JSON_VALUE is nested too deeply") from None
    except ValueError as exc:
        raise Failure(f"JSON_VALUE is not JSON ({exc}); a string is written '\"text\"'") from None
    storage = _writer(target, args)
    existed = await storage.contains_key(args.key)
    await storage.set(args.key, value)
    change = "replaced its value" if existed else "a new key"
    _say(f"set {args.key!r} in namespace {args.app!r} ({change})")
    return OK


async def cmd_rm(target: Target, args: argparse.Namespace) -> int:
    storage = _storage(target, args.app)
    present = set(await storage.get_keys())
    keys = list(dict.fromkeys(args.keys))
    removed = [key for key in keys if key in present]
    if removed:
        await storage.remove_many(removed)
    for key in keys:
        if key in present:
            _say(f"removed {key!r} from namespace {args.app!r}")
        else:
            _say(f"key {key!r} not found in namespace {args.app!r}")
    if not present:
        raise await _no_namespace(target, args.app)
    return OK if removed else NOT_FOUND


async def cmd_export(target: Target, args: argparse.Namespace) -> int:
    encryption = _encryption(args)
    storage = _storage(target, args.app, encryption)
    try:
        document = await storage.export(decrypted=encryption is not None)
    except CorruptDataError as exc:
        if encryption is None and target.encrypted(args.app):
            raise _no_key(args) from None
        raise Failure(str(exc)) from None
    n = len(document["items"])
    if not n:
        raise await _no_namespace(target, args.app)
    text = _json_text(document, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomically(Path(args.output), text)
        _say(f"exported {_plural(n, 'key')} to {args.output}")
    if encryption is not None:
        _say("the document holds the values decrypted: keep it as safe as the key")
    return OK


async def cmd_import(target: Target, args: argparse.Namespace) -> int:
    document = _read_json(Path(args.file))
    storage = _writer(target, args)
    try:  # every item is checked before anything is written
        n = await storage.import_(document, replace=args.replace)
    except StorageError:
        raise
    except ValueError as exc:
        raise Failure(f"{args.file}: {exc}") from None
    except OverflowError:
        raise Failure(
            f"{args.file}: not a flet-storage export document: a number in it is out of range"
        ) from None
    _say(f"imported {_plural(n, 'key')} into {args.app!r}")
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
        usage = " ".join(self.format_usage().split())
        raise Failure(f"{message} ({usage})")


def parser() -> argparse.ArgumentParser:
    """The argument parser of `flet-storage`."""
    main_parser = _Parser(
        prog="flet-storage",
        description="Look at and edit a Flet app's stored data while the app is not running.",
        epilog=(
            "PATH: a Flutter desktop shared_preferences.json, or a JSON object copied from "
            "the browser's localStorage (devtools: copy(JSON.stringify(localStorage))), told "
            "apart by content. --app-id ID in place of PATH uses the desktop app ID's file. "
            "ls, get and export never write PATH. "
            "Exit status: 0 done, 1 not found or nothing to do, 2 usage or file error."
        ),
    )
    main_parser.add_argument("--version", action="version", version=f"flet-storage {__version__}")
    format_help = "the format of PATH (default: told from its content)"
    main_parser.add_argument("--format", choices=["desktop", "web"], help=format_help)
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, *, key: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("path", metavar="PATH", help="the file (or --app-id ID)")
        sub.add_argument(  # also after the command; SUPPRESS keeps one given before it
            "--format", choices=["desktop", "web"], default=argparse.SUPPRESS, help=format_help
        )
        if key:
            sub.add_argument(
                "--key-env",
                metavar="NAME",
                help="the environment variable holding the namespace's encryption key "
                "(several: comma-separated, the newest first)",
            )
        return sub

    ls = command("ls", "list the namespaces, or the keys of APP")
    ls.add_argument("app", metavar="APP", nargs="?")
    get = command("get", "print the value of KEY", key=True)
    get.add_argument("app", metavar="APP")
    get.add_argument("key", metavar="KEY")
    get.add_argument("--json", action="store_true", help="print it as JSON")
    set_ = command("set", "store a value given as JSON under KEY", key=True)
    set_.add_argument("app", metavar="APP")
    set_.add_argument("key", metavar="KEY")
    set_.add_argument("value", metavar="JSON_VALUE")
    rm = command("rm", "remove keys")
    rm.add_argument("app", metavar="APP")
    rm.add_argument("keys", metavar="KEY", nargs="+")
    export = command("export", "write APP's data as an export document (JSON)", key=True)
    export.add_argument("app", metavar="APP")
    export.add_argument("-o", "--output", metavar="FILE", help="default: standard output")
    import_ = command("import", "store the items of an export document", key=True)
    import_.add_argument("app", metavar="APP")
    import_.add_argument("file", metavar="FILE")
    import_.add_argument("--replace", action="store_true", help="clear APP first")
    return main_parser


def _resolve_app_id(argv: list[str]) -> tuple[list[str], bool]:
    """`COMMAND --app-id ID ...` becomes `COMMAND PATH ...`, PATH the app's default file;
    and whether it did."""
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
                return [*before, *rest[:at], path, *rest[at:]], True
            return [*before[:at], path, *before[at:], *rest], True
    return argv, False


def main(argv: Sequence[str] | None = None) -> int:
    """Run `flet-storage` with `argv` (default: `sys.argv[1:]`); return the exit status."""
    try:
        words, app_id = _resolve_app_id(list(sys.argv[1:] if argv is None else argv))
        try:
            args = parser().parse_args(words)
        except SystemExit as exc:  # --help, --version
            return exc.code if isinstance(exc.code, int) else OK
        fmt: Format | None = args.format
        if app_id:
            if fmt == "web":
                raise Failure("--app-id names a desktop file; --format web does not apply")
            fmt = "desktop"
        target = Target(Path(args.path), fmt, args.command)
        return asyncio.run(_run(target, args))
    except Failure as exc:
        _say(str(exc))
        return exc.status
    except RecursionError:
        _say("a stored value is nested too deeply to read")
        return USAGE
    except (StorageError, ValueError, TypeError, OverflowError, OSError) as exc:
        message = str(exc.__cause__ or exc) if isinstance(exc, StorageError) else str(exc)
        _say(message)
        return USAGE

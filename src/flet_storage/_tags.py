"""The built-in tags of the codec's tagged form: how each leaf type is written and read.

A leaf is stored as one JSON payload holding no nested values (but a `str` envelope for a
string JSON would misread, see `text_tree`). Each decoder accepts only the canonical
payload its encoder writes, so a read is exact or a DecodeError.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Callable, Collection, Hashable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from ._errors import DecodeError, EncodeError

__all__ = [
    "BUILTIN_TYPES",
    "DECODERS",
    "LEAVES",
    "TAG",
    "VAL",
    "has_split_pair",
    "refuse_hash_flood",
    "text_tree",
    "type_name",
    "unnamed_offset",
]

T = TypeVar("T")

TAG, VAL = "$fs", "v"  # the keys of an envelope {"$fs": tag, "v": payload}

_HEX = re.compile(r"-?[1-9a-f][0-9a-f]*")
# A high surrogate code point right before a low one. json.dumps escapes the two exactly as it
# escapes the one astral character they would pair to (U+D83D U+DE00 and U+1F600 are both
# "\\ud83d\\ude00"), and json.loads reads that character: only such a str needs an envelope.
_SPLIT_PAIR = re.compile(r"[\ud800-\udbff][\udc00-\udfff]")


def has_split_pair(text: str) -> bool:
    return not text.isascii() and _SPLIT_PAIR.search(text) is not None


def text_tree(text: str) -> object:
    """`text` as JSON reads it back: itself, or a `str` envelope of its pieces, cut
    between each high surrogate and the low one after it, that JSON keeps apart."""
    if not has_split_pair(text):
        return text
    return {TAG: "str", VAL: _split_pairs(text)}


def _split_pairs(text: str) -> list[str]:
    cuts = [match.start() + 1 for match in _SPLIT_PAIR.finditer(text)]
    return [text[start:end] for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def _decode_str(payload: Any) -> str:
    pieces = _list(payload, "str")
    if len(pieces) < 2 or any(type(piece) is not str for piece in pieces):
        raise DecodeError("str payload must be a list of two or more strings")
    text = "".join(pieces)
    if _split_pairs(text) != pieces:  # cut elsewhere, or a raw pair inside a piece
        raise DecodeError("non-canonical str payload")
    return text


def unnamed_offset(tz: tzinfo) -> bool:
    # isoformat() keeps a timezone's offset but not an explicit name, and fromisoformat()
    # of Python 3.11 drops an offset's microseconds: whole minutes are safe everywhere.
    if type(tz) is not timezone:
        return False
    args = _tz_args(tz)
    return len(args) == 1 and not args[0] % timedelta(minutes=1)


def _tz_args(tz: timezone) -> tuple[Any, ...]:
    args: tuple[Any, ...] = tz.__getinitargs__()  # type: ignore[attr-defined]
    return args  # (offset,) or (offset, name)


def type_name(t: type[Any]) -> str:
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _exact(
    cls: type[T], parse: Callable[[str], T], show: Callable[[Any], str]
) -> Callable[[Any], T]:
    def decode(payload: Any) -> T:
        if type(payload) is not str:
            raise DecodeError(f"{cls.__name__} payload must be a string")
        try:
            value = parse(payload)
        except (ValueError, TypeError, ArithmeticError, KeyError, OSError) as exc:
            raise DecodeError(f"bad {cls.__name__} payload ({type_name(type(exc))})") from None
        if type(value) is not cls or show(value) != payload:
            raise DecodeError(f"non-canonical {cls.__name__} payload")
        return value

    return decode


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


def _unhex(text: str) -> int:
    if not _HEX.fullmatch(text):
        raise ValueError("not lower-case hex")
    return int(text, 16)  # power-of-two bases: linear time, no digit limit


def _timedelta(payload: Any) -> timedelta:
    if len(_list(payload, "timedelta")) != 3 or any(type(x) is not int for x in payload):
        raise DecodeError("timedelta payload must be [days, seconds, microseconds]")
    days, seconds, micros = payload
    if not (0 <= seconds < 86400 and 0 <= micros < 1_000_000):
        raise DecodeError("non-canonical timedelta payload")
    return timedelta(days, seconds, micros)


def _timezone(payload: Any) -> timezone:
    if len(_list(payload, "timezone")) != 2 or type(payload[0]) is not int:
        raise DecodeError("timezone payload must be [offset in microseconds, name]")
    name = payload[1]
    if name is not None and type(name) is not str:
        raise DecodeError("timezone name must be a string or null")
    try:
        offset = timedelta(microseconds=payload[0])
        return timezone(offset) if name is None else timezone(offset, name)
    except (ValueError, OverflowError):
        raise DecodeError("timezone offset out of range") from None


def _timezone_payload(tz: timezone) -> list[object]:
    args = _tz_args(tz)
    return [args[0] // timedelta(microseconds=1), text_tree(args[1]) if len(args) > 1 else None]


def _zoneinfo_key(tz: ZoneInfo) -> str:
    if tz.key is None:
        raise EncodeError("", "unsupported zoneinfo.ZoneInfo without a key (from_file)")
    return tz.key


def _clock_decoder(cls: type[datetime] | type[time]) -> Callable[[Any], object]:
    from_text: Callable[[Any], datetime | time] = _exact(cls, cls.fromisoformat, _isoformat)

    def decode(payload: Any) -> object:
        if type(payload) is str:
            return from_text(payload)
        if type(payload) is not list or len(payload) != 3 or type(payload[1]) is not int:
            raise DecodeError(f"{cls.__name__} payload must be text or [text, fold, tzinfo]")
        text, fold, tz = payload
        value = from_text(text)
        if (
            value.tzinfo is not None
            or fold not in (0, 1)
            or not isinstance(tz, (tzinfo, type(None)))
        ):
            raise DecodeError(f"malformed {cls.__name__} payload")
        return value.replace(tzinfo=tz, fold=fold)

    return decode


def _isoformat(value: datetime | time) -> str:
    return value.isoformat()


def _list(payload: Any, what: str) -> list[Any]:
    if type(payload) is not list:
        raise DecodeError(f"{what} payload must be a list")
    return payload


_MOST_SHARING = 64
"""How many elements of one set or dict, itself included, an element may share its hash
value with, on average over the elements."""
_UNCHECKED = 128
"""Sets and dicts this small are not checked: even if all their elements share one hash,
they decode at about 0.04 s per MB (`bench/bench_codec.py`), as fast as plain sets of ints,
and the check would add up to a third to their decode time."""


def refuse_hash_flood(items: Collection[Hashable]) -> None:
    """DecodeError if `items` share hash values too often to be inserted in linear time.

    Inserting n elements of one hash value into a set or dict takes about n**2 / 2
    comparisons, and an attacker chooses hash values at will with ints (every
    `i * (2**61 - 1)` hashes to 0), and so with floats, Decimals, UUIDs and tuples or
    frozensets of them: a few hundred kB of such stored text would stall the event loop
    for seconds. (A str's hash is randomized per process: strs alone are not the attack.)
    Groups of g elements sharing a hash cost about g**2 / 2 comparisons: refusing a sum of
    g**2 over `_MOST_SHARING` times the number of elements keeps insertion linear, and
    accepts what real data shares (`hash(-1) == hash(-2)`; `hash(2**k)` repeats every 61
    powers of two).

    Costs nothing for containers of at most `_UNCHECKED` elements; otherwise one `hash()`
    per element into a set of ints, and a count per hash value only when two elements share
    one.
    """
    n = len(items)
    if n <= _UNCHECKED or len(set(map(hash, items))) == n:
        return
    if sum(g * g for g in Counter(map(hash, items)).values()) > _MOST_SHARING * n:
        raise DecodeError(
            "the elements or keys of a set or dict share hash values far more often than "
            "chance allows (equal elements, or crafted to collide as in hash flooding)"
        )


def _unique(
    cls: Callable[[list[Any]], Any], items: list[Any], keys: list[Any] | None = None
) -> Any:
    refuse_hash_flood(items if keys is None else keys)  # TypeError if unhashable: DecodeError
    value = cls(items)
    if len(value) != len(items):
        raise DecodeError("duplicate elements or keys")  # never written: not exact
    return value


def _decode_dict(payload: Any) -> dict[Any, Any]:
    if any(type(p) is not list or len(p) != 2 for p in _list(payload, "dict")):
        raise DecodeError("dict payload must be a list of [key, value] pairs")
    result: dict[Any, Any] = _unique(dict, payload, [key for key, _ in payload])
    return result


LEAVES: dict[type[Any], Callable[[Any], tuple[str, object]]] = {
    bytes: lambda b: ("bytes", _b64(b)),
    date: lambda d: ("date", d.isoformat()),
    timedelta: lambda d: ("timedelta", [d.days, d.seconds, d.microseconds]),
    timezone: lambda z: ("timezone", _timezone_payload(z)),
    ZoneInfo: lambda z: ("zoneinfo", _zoneinfo_key(z)),
    Decimal: lambda d: ("decimal", str(d)),
    UUID: lambda u: ("uuid", str(u)),
}

DECODERS: dict[str, Callable[[Any], object]] = {
    "str": _decode_str,
    "int": _exact(int, _unhex, lambda n: format(n, "x")),
    "tuple": lambda p: tuple(_list(p, "tuple")),
    "set": lambda p: _unique(set, _list(p, "set")),
    "frozenset": lambda p: _unique(frozenset, _list(p, "frozenset")),
    "dict": _decode_dict,
    "bytes": _exact(bytes, _unb64, _b64),
    "datetime": _clock_decoder(datetime),
    "time": _clock_decoder(time),
    "date": _exact(date, date.fromisoformat, date.isoformat),
    "timedelta": _timedelta,
    "timezone": _timezone,
    "zoneinfo": _exact(ZoneInfo, ZoneInfo, lambda z: str(z.key)),
    "decimal": _exact(Decimal, Decimal, str),
    "uuid": _exact(UUID, UUID, str),
}

BUILTIN_TYPES = frozenset(
    {str, int, float, bool, type(None), list, tuple, dict, set, frozenset, datetime, time}
    | set(LEAVES)
)

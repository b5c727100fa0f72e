"""Turning Python values into the text stored in SharedPreferences and back, types included.

Two stored forms (`docs/codec.md` has the format, examples and the collision argument):

* **Legacy JSON.** A value flet-storage 1.1.x stores and reads back unchanged (JSON with
  str-keyed dicts, plus sets of JSON scalars, and no dict whose `"__type__"` is `"set"`,
  no str with a high surrogate code point right before a low one, which JSON reads back as
  one astral character, no set of several NaNs, which json reads back as one shared NaN)
  is written byte for byte as 1.1.x writes it: `json.dumps(value)`, sets as
  `{"__type__": "set", "values": [...]}`. Text not starting with `PREFIX` is read
  exactly as 1.1.x reads it.
* **Tagged.** Anything else is `PREFIX` + JSON in which every object holding the key
  `"$fs"` is an envelope `{"$fs": tag, "v": payload}`. A user dict with non-str keys or
  a `"$fs"` key of its own becomes a `dict` envelope, so no user dict poses as an
  envelope; `json.dumps` never writes text starting with `PREFIX`, so no legacy text
  poses as tagged text. `"__type__"` means nothing in the tagged form.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from typing import Any, TypeVar

from ._errors import DecodeError, EncodeError
from ._tags import (
    BUILTIN_TYPES,
    DECODERS,
    LEAVES,
    TAG,
    VAL,
    has_split_pair,
    refuse_hash_flood,
    text_tree,
    type_name,
    unnamed_offset,
)

__all__ = ["MAX_DEPTH", "PREFIX", "Codec", "DecodeError", "EncodeError"]

T = TypeVar("T")

PREFIX = "fs2:"
"""Starts every tagged text. No JSON text starts so, hence nothing 1.1.x wrote."""

MAX_DEPTH = 200
"""Deepest nesting of containers encoded, so every stored text stays decodable by `json`."""

_TAG, _VAL, _EXT = TAG, VAL, "ext:"
# Ints this small have < 640 decimal digits, the lowest limit sys.set_int_max_str_digits
# accepts, so json writes and reads them in any process; bigger ones are stored as hex.
_INT_BITS = 2000
_MAX_DIGITS = 4300
"""Longest decimal integer decoded: Python's default `sys.get_int_max_str_digits()`. In a
process that lifted that limit, json would read longer ones in quadratic time."""
# The int() digit limit of this process; 0: none (as before Python 3.10.7, which lacks it).
_int_digits: Callable[[], int] = getattr(sys, "get_int_max_str_digits", lambda: 0)
_PLAIN, _SETS = 1, 2  # bit flags of the legacy check
_SCALARS = (str, int, float, bool, type(None))
_INLINE = (float, bool, type(None))  # JSON writes and reads these back exactly, as they are
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_PAIR_ESCAPE = re.compile(r"\\ud[89ab][0-9a-f]{2}\\ud[c-f]")  # json.dumps writes lower case
_TYPE_ESCAPE = re.compile(r"\\u00(?:5[fF]|7[049]|65)")  # an escaped letter of "__type__"


@dataclass(frozen=True)
class _Custom:
    tag: str
    encode: Callable[[Any], object]
    decode: Callable[[Any], object]


class Codec:
    """Encodes values to text and decodes them back with their exact types.

    Supported: `None`, `bool`, `int`, `float`, `str`, `list`, `tuple`, `dict` (keys of any
    supported hashable type), `set`, `frozenset`, `bytes`, `datetime`, `date`, `time`,
    `timedelta`, `datetime.timezone`, `zoneinfo.ZoneInfo`, `Decimal`, `UUID`, nested freely,
    and the types given to [`register`][flet_storage.Codec.register]. Types match exactly:
    a subclass (`IntEnum`, `OrderedDict`, a namedtuple, a `str` subclass, ...) is refused
    unless it is registered itself. Each instance has its own registry: give the codec to
    [FletStorage][flet_storage.FletStorage] with `codec=`. The stored format:
    [Stored format](../codec.md).

    Example:
        ```python
        codec = Codec()
        codec.register(Point, tag="point", encode=lambda p: [p.x, p.y], decode=lambda v: Point(*v))
        storage = FletStorage("my_app", codec=codec)
        ```
    """

    def __init__(self) -> None:
        self._by_type: dict[type[Any], _Custom] = {}
        self._by_tag: dict[str, _Custom] = {}

    def register(
        self,
        cls: type[T],
        *,
        tag: str,
        encode: Callable[[T], object],
        decode: Callable[[Any], T],
    ) -> None:
        """Store instances of exactly `cls` as `encode(obj)`; read them as `decode(v)`.

        Args:
            cls: The type; only exactly this type is matched, not its subclasses.
            tag: The name stored with each value (as `ext:<tag>`), so it must never change
                once data is stored.
            encode: Turns an instance into any value this codec supports, registered types
                included. If it raises, encoding fails naming the tag.
            decode: Gets that value back, decoded, and returns the instance. If it raises,
                decoding fails naming the tag.

        Raises:
            TypeError: `cls` is not a type.
            ValueError: `tag` is empty or holds surrogate code points, `cls` or `tag` is
                built in, or either is registered already.
        """
        if not isinstance(cls, type):
            raise TypeError(f"cls must be a type, not {type(cls).__name__}")
        if not isinstance(tag, str) or not tag:
            raise ValueError("tag must be a non-empty string")
        if _SURROGATE.search(tag):  # a tag is stored as is, where JSON may pair surrogates
            raise ValueError("tag must not contain surrogate code points")
        if cls in BUILTIN_TYPES or tag in DECODERS:
            raise ValueError(f"{type_name(cls)} and tag {tag!r}: built-in types are not registered")
        if cls in self._by_type or tag in self._by_tag:
            raise ValueError(f"{type_name(cls)} or tag {tag!r} is registered already")
        self._by_type[cls] = self._by_tag[tag] = _Custom(tag, encode, decode)

    def encode(self, value: object) -> str:
        """The text to store for `value`.

        Args:
            value: Any supported value.

        Returns:
            The text: exactly what flet-storage 1.1.x writes for plain JSON and sets of
            scalars, else `"fs2:"` followed by tagged JSON.

        Raises:
            TypeError: (`EncodeError`, with `path` and `reason` attributes) `value` or an
                element of it cannot be encoded: an unsupported type, a circular reference,
                or nesting deeper than 200 levels. The message names types, never values.
        """
        try:
            kind = _legacy_kind(value, 0)
        except RecursionError:  # called deep in a stack: the full encoder says where
            kind = 0
        if kind:
            text = json.dumps(value) if kind == _PLAIN else json.dumps(value, default=_legacy_set)
            # A str JSON misreads is written as an escaped high surrogate before a low one, as
            # an astral character is: only then look at the strs themselves.
            if "\\" not in text or not _PAIR_ESCAPE.search(text) or not _splits_pairs(value):
                return text
        try:
            tree = self._tree(value, 0, set())
        except RecursionError:
            raise EncodeError("", "nesting too deep") from None
        return PREFIX + json.dumps(tree, separators=(",", ":"), check_circular=False)

    def decode(self, text: str) -> Any:
        """The value `text` holds.

        Args:
            text: Text [`encode`][flet_storage.Codec.encode] returned, or that
                flet-storage 1.1.x wrote.

        Returns:
            The value, with its types.

        Raises:
            ValueError: (`DecodeError`, and nothing else) `text` is not something this codec
                or flet-storage 1.1.x wrote, or names a tag this codec does not know.
        """
        if not isinstance(text, str):
            raise DecodeError(f"stored data must be a str, not {type(text).__name__}")
        limit = _int_digits()
        bounded = 0 < limit <= _MAX_DIGITS  # else json's int() could take quadratic time
        parse_int = None if bounded else _parse_int
        try:
            if text.startswith(PREFIX):
                # parse_constant: a new float per NaN, as json's own shares one NaN object,
                # which a set or dict would hold once however many distinct NaNs it had.
                return json.loads(
                    text[len(PREFIX) :],
                    object_hook=self._unwrap,
                    parse_constant=float,
                    parse_int=parse_int,
                )
            if "__type__" not in text and ("\\" not in text or not _TYPE_ESCAPE.search(text)):
                # no key can be "__type__": skip the per-dict hook
                return json.loads(text, parse_int=parse_int)
            return json.loads(text, object_hook=_legacy_hook, parse_int=parse_int)
        except DecodeError:
            raise
        except json.JSONDecodeError as exc:
            raise DecodeError(f"not valid JSON: {exc.msg} at char {exc.pos}") from None
        except RecursionError:
            raise DecodeError("nested too deeply") from None
        except Exception as exc:  # e.g. 1.1.x's hook on a malformed set: KeyError, TypeError
            too_long = rf"[0-9]{{{limit + 1}}}"  # json's int() refuses such a number
            if bounded and isinstance(exc, ValueError) and re.search(too_long, text):
                raise DecodeError(f"an integer of more than {limit} decimal digits") from None
            raise DecodeError(f"malformed data ({type_name(type(exc))})") from exc

    def _tree(self, obj: Any, depth: int, active: set[int]) -> object:
        """`obj` as a JSON-ready tree of the tagged form."""
        t = type(obj)
        if t is str:
            return obj if obj.isascii() else text_tree(obj)
        if t is float or t is bool or obj is None:
            return obj
        if t is int:
            return obj if obj.bit_length() <= _INT_BITS else _env("int", format(obj, "x"))
        leaf = LEAVES.get(t)
        if leaf is not None:
            return _env(*leaf(obj))
        if depth >= MAX_DEPTH:
            raise EncodeError("", f"nested deeper than {MAX_DEPTH} levels")
        if id(obj) in active:
            raise EncodeError("", "circular reference")
        active.add(id(obj))
        depth += 1
        # The step from obj to the element being encoded, for error paths: a marker, or a
        # 1-tuple holding an index or key, formatted only if an error occurs.
        where: str | tuple[object] = ""
        try:
            if t is list or t is tuple:
                out = []
                for i, item in enumerate(obj):
                    kind = type(item)  # scalars inline: most elements are (big ints recurse)
                    if kind is str:
                        out.append(item if item.isascii() else text_tree(item))
                        continue
                    if kind in _INLINE or (kind is int and item.bit_length() <= _INT_BITS):
                        out.append(item)
                        continue
                    where = (i,)
                    out.append(self._tree(item, depth, active))
                result: object = out if t is list else _env("tuple", out)
            elif t is dict:
                result = self._dict(obj, depth, active)
            elif t is set or t is frozenset:
                where = "<element>"
                result = _env(t.__name__, [self._tree(item, depth, active) for item in obj])
            elif t is datetime or t is time:
                where = ".tzinfo"
                result = _env(t.__name__, self._clock(obj, depth, active))
            elif t in self._by_type:
                custom = self._by_type[t]
                payload = _call_encoder(custom, obj)
                where = f"<encoded {custom.tag!r}>"
                result = _env(_EXT + custom.tag, self._tree(payload, depth, active))
            else:
                raise EncodeError("", _unsupported(t, self._by_type))
        except EncodeError as exc:
            raise exc.under(where) from None
        active.discard(id(obj))
        return result

    def _dict(self, obj: dict[Any, Any], depth: int, active: set[int]) -> object:
        where: str | tuple[object] = ""
        try:
            if _TAG not in obj and all(type(key) is str and not has_split_pair(key) for key in obj):
                out = {}
                for key, item in obj.items():
                    where = (key,)
                    out[key] = self._tree(item, depth, active)
                return out
            pairs = []
            for key, item in obj.items():
                where = "<key>"
                encoded_key = self._tree(key, depth, active)
                where = (key,)
                pairs.append([encoded_key, self._tree(item, depth, active)])
            return _env("dict", pairs)
        except EncodeError as exc:
            raise exc.under(where) from None

    def _clock(self, obj: datetime | time, depth: int, active: set[int]) -> object:
        tz = obj.tzinfo
        if obj.fold == 0 and (tz is None or unnamed_offset(tz)):
            return obj.isoformat()  # keeps a fixed offset exactly, readable
        naive = obj.replace(tzinfo=None, fold=0).isoformat()
        return [naive, obj.fold, self._tree(tz, depth, active)]

    def _unwrap(self, dct: dict[str, Any]) -> object:
        """`object_hook` of the tagged form: JSON is parsed bottom-up, so `v` is decoded."""
        if _TAG not in dct:
            return dct
        tag = dct[_TAG]
        if type(tag) is not str or len(dct) != 2 or _VAL not in dct:
            raise DecodeError("malformed envelope")
        decoder = DECODERS.get(tag)
        if decoder is not None:
            return decoder(dct[_VAL])
        custom = self._by_tag.get(tag[len(_EXT) :]) if tag.startswith(_EXT) else None
        if custom is None:
            raise DecodeError(f"unknown type tag {tag[:100]!r}")
        try:
            return custom.decode(dct[_VAL])
        except Exception as exc:
            raise DecodeError(
                f"decoder of tag {custom.tag!r} raised {type_name(type(exc))}"
            ) from exc


def _legacy_kind(obj: Any, depth: int) -> int:
    """_PLAIN, or with _SETS, if 1.1.x writes `obj` and reads it back exactly; else 0.

    One pass of exact type checks: `json.dumps` also takes tuples, int/float/str subclasses
    and int/bool/None dict keys, which would come back as other types.
    """
    t = type(obj)
    if t is str or t is float or t is bool or obj is None:
        return _PLAIN
    if t is int:
        return _PLAIN if obj.bit_length() <= _INT_BITS else 0
    if depth >= MAX_DEPTH:
        return 0
    kind = _PLAIN
    if t is dict:
        items = obj.items()
    elif t is list:
        items = enumerate(obj)
    elif t is set:
        nans = 0
        for item in obj:
            if type(item) not in _SCALARS or _legacy_kind(item, depth) != _PLAIN:
                return 0
            nans += item != item
        # 1.1.x reads every NaN as one shared object: a set of distinct NaNs comes back as one.
        return _PLAIN | _SETS if nans < 2 else 0
    else:
        return 0
    for key, item in items:
        if t is dict and type(key) is not str:
            return 0
        i = type(item)  # scalars inline: this loop is the fast path's whole cost
        if i is str or i is float or i is bool or item is None:
            continue
        if i is int and item.bit_length() <= _INT_BITS:
            continue
        sub = _legacy_kind(item, depth + 1)
        if not sub:
            return 0
        kind |= sub
    # 1.1.x reads any dict whose "__type__" is "set" as a set (its values are plain here).
    return 0 if t is dict and obj.get("__type__") == "set" else kind


def _legacy_set(obj: object) -> object:
    if type(obj) is set:
        return {"__type__": "set", "values": list(obj)}  # 1.1.x's _set_default
    raise TypeError(f"unsupported type {type(obj).__name__}")  # unreachable after the check


def _splits_pairs(obj: Any) -> bool:
    """Whether a str in the legacy-form `obj`, keys included, has a pair JSON would join.

    One frame per level, as `_legacy_kind`, which has just walked `obj`.
    """
    t = type(obj)
    if t is str:
        return has_split_pair(obj)
    if t is dict:
        for key, item in obj.items():
            if has_split_pair(key) or _splits_pairs(item):
                return True
    elif t is list or t is set:
        for item in obj:
            if _splits_pairs(item):
                return True
    return False


def _legacy_hook(dct: dict[str, Any]) -> object:
    # 1.1.x's object_hook, quirks included, so its data reads as it always did.
    if dct.get("__type__") == "set":
        values = dct["values"]
        refuse_hash_flood(values)
        return set(values)
    return dct


def _parse_int(digits: str) -> int:
    """json's `parse_int` where int() has no digit limit (or a higher one than ours)."""
    if len(digits) - digits.startswith("-") > _MAX_DIGITS:
        raise DecodeError(f"an integer of more than {_MAX_DIGITS} decimal digits")
    return int(digits)


def _env(tag: str, payload: object) -> dict[str, object]:
    return {_TAG: tag, _VAL: payload}


def _call_encoder(custom: _Custom, obj: object) -> object:
    try:
        return custom.encode(obj)
    except Exception as exc:
        raise EncodeError(
            "", f"encoder of tag {custom.tag!r} raised {type_name(type(exc))}"
        ) from exc


def _unsupported(t: type[Any], registered: dict[type[Any], _Custom]) -> str:
    if issubclass(t, tzinfo):
        return f"unsupported type datetime.tzinfo subclass {type_name(t)}"
    base = next((b for b in t.__mro__[1:] if b in BUILTIN_TYPES or b in registered), None)
    if base is not None:
        return f"unsupported type {type_name(t)} (subclass of {type_name(base)}: register it)"
    return f"unsupported type {type_name(t)}"

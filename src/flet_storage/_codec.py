"""Turning Python values into the text stored in SharedPreferences and back.

Interim codec: JSON with sets stored the way flet-storage 1.1.x stores them
(``{"__type__": "set", "values": [...]}``). The type-faithful codec replaces the internals of
:class:`Codec`; the interface (``encode``/``decode`` and the two exceptions) stays.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["Codec", "DecodeError", "EncodeError"]


class EncodeError(TypeError):
    """A value cannot be encoded. ``path`` locates the bad element, e.g. ``["tags"][2]``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"value{path}: {reason}")
        self.path = path
        self.reason = reason


class DecodeError(ValueError):
    """Stored text is not something this codec wrote."""


class Codec:
    """Encodes values to text and decodes them back."""

    def encode(self, value: object) -> str:
        try:
            return json.dumps(value, default=_encode_set, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise EncodeError("", str(exc)) from None

    def decode(self, text: str) -> Any:
        try:
            return json.loads(text, object_hook=_decode_set)
        except (ValueError, RecursionError) as exc:
            raise DecodeError(str(exc)) from None


def _encode_set(obj: object) -> object:
    if isinstance(obj, set):
        return {"__type__": "set", "values": list(obj)}
    raise TypeError(f"unsupported type {type(obj).__name__}")


def _decode_set(dct: dict[str, Any]) -> object:
    if dct.get("__type__") == "set":
        return set(dct["values"])
    return dct

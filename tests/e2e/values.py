"""Values of every type flet-storage supports, an exact, type-strict comparison, and the
shared end-of-test check that clear() empties a namespace (the desktop tests use them too)."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import flet as ft

from flet_storage import FletStorage

if TYPE_CHECKING:  # the desktop tests use the values without the browser's harness
    from .harness import Client

__all__ = ["EVERY_TYPE", "assert_clear_empties", "assert_same"]


def _every_type() -> dict[str, Any]:
    return {
        "none": None,
        "true": True,
        "false": False,
        "int": 42,
        "negative_int": -7,
        "big_int": 2**100,
        "big_negative_int": -(2**70),
        "float": 1.5,
        "nan": math.nan,
        "inf": math.inf,
        "negative_inf": -math.inf,
        "negative_zero": -0.0,
        "str": 'héllo wörld ✓ 🐍 {"json": [1]} \x00 \u2028',
        "empty_str": "",
        "list": [1, "two", 3.0, None, [4]],
        "empty_list": [],
        "tuple": (1, "two", (3, 4)),
        "empty_tuple": (),
        "dict": {"a": 1, "b": [True, None]},
        "dict_non_str_keys": {1: "int one", "1": "str one", 1.5: "float", None: "none"},
        "dict_tuple_keys": {(1, 2): "pair", ("a", (True, None)): "nested"},
        "dict_looks_like_a_set": {"__type__": "set", "values": [1, 2]},
        "set": {1, 2, 3},
        "str_set": {"python", "flet", "async"},
        "empty_set": set(),
        "frozenset": frozenset({"a", 1, (2, 3)}),
        "bytes": b"\x00\xffbinary\n",
        "empty_bytes": b"",
        "naive_datetime": datetime(2024, 2, 29, 23, 59, 58, 123456),  # noqa: DTZ001
        "aware_datetime": datetime(
            2024, 2, 29, 12, 0, 1, 7, tzinfo=timezone(timedelta(hours=5, minutes=30))
        ),
        "utc_datetime": datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
        "date": date(2024, 2, 29),
        "time": time(13, 37, 0, 999),
        "timedelta": timedelta(days=-3, seconds=5, microseconds=17),
        "decimal": Decimal("3.14159265358979323846264338327950288419"),
        "decimal_exponent": Decimal("-1.50E+300"),
        "uuid": UUID("12345678-1234-5678-1234-567812345678"),
        "set_of_tuples": {(1, "a"), (2, "b"), ()},
        "list_of_sets": [{1, 2}, set(), {frozenset({3})}],
        "nested": {
            "users": [{"name": "Ada", "tags": {"x", "y"}, "born": date(1815, 12, 10)}],
            (0, 0): {b"k": [Decimal("1.0"), UUID(int=1), (timedelta(0),)]},
        },
    }


EVERY_TYPE: dict[str, Any] = _every_type()
"""One value of every supported type (and the awkward corners of each)."""


def assert_same(got: Any, expected: Any, path: str = "value") -> None:
    """Assert ``got`` equals ``expected`` with exactly the same types, recursively.

    NaN equals NaN here; -0.0 differs from 0.0; a dict's keys must match in type too (1 and
    "1" and True are different keys); set elements are matched by equality and type.
    """
    assert type(got) is type(expected), f"{path}: {type(got).__name__} != {type(expected)}"
    if isinstance(expected, float):
        if math.isnan(expected):
            assert math.isnan(got), f"{path}: {got!r} is not nan"
        else:
            assert got == expected, f"{path}: {got!r} != {expected!r}"
            assert math.copysign(1, got) == math.copysign(1, expected), f"{path}: sign of zero"
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), f"{path}: length {len(got)} != {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_same(g, e, f"{path}[{i}]")
    elif isinstance(expected, dict):
        assert _typed_keys(got) == _typed_keys(expected), f"{path}: keys differ"
        by_key = {(type(k), k): v for k, v in got.items()}
        for key, value in expected.items():
            assert_same(by_key[(type(key), key)], value, f"{path}[{key!r}]")
    elif isinstance(expected, (set, frozenset)):
        assert _typed_keys(got) == _typed_keys(expected), f"{path}: elements differ"
        by_element = {(type(e), e): e for e in got}
        for element in expected:
            assert_same(by_element[(type(element), element)], element, f"{path}{{{element!r}}}")
    elif isinstance(expected, datetime):
        assert got == expected, f"{path}: {got!r} != {expected!r}"
        assert got.utcoffset() == expected.utcoffset(), f"{path}: offset differs"
        assert (got.tzinfo is None) == (expected.tzinfo is None), f"{path}: tzinfo differs"
    elif isinstance(expected, Decimal):
        assert str(got) == str(expected), f"{path}: {got!r} != {expected!r}"  # exponent too
    else:
        assert got == expected, f"{path}: {got!r} != {expected!r}"


def _typed_keys(items: Any) -> set[tuple[type, Any]]:
    return {(type(item), _deep_key(item)) for item in items}


def _deep_key(item: Any) -> Any:
    """A hashable stand-in that tells 1 from True from 1.0 inside tuples too."""
    if isinstance(item, (tuple, frozenset)):
        inner = tuple(sorted((repr(type(i)), repr(_deep_key(i))) for i in item))
        return (type(item).__name__, inner)
    return item


async def assert_clear_empties(client: Client, app_name: str) -> None:
    """FletStorage.clear() on the real client leaves no key of the namespace, in its view
    and in the browser's localStorage."""

    async def clear(page: ft.Page) -> list[str]:
        storage = FletStorage(app_name)
        await storage.clear()
        return await storage.get_keys()

    assert await client.run(clear) == []
    assert not [k for k in await client.local_storage_keys() if app_name in k]

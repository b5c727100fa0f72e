"""Compatibility with flet-storage 1.1.3, the real package from PyPI, both ways.

1.1.3 runs with our MemoryBackend as its ``storage``; ours with ``backend=`` the same
backend. Nothing of 1.1.3 lives in this repository: ``bench/upstream.py`` installs it into a
cache directory at test time. Without network the tests fail under CI=true, else skip.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import math
import os
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flet_storage import CorruptDataError, FletStorage, MemoryBackend
from flet_storage._codec import PREFIX

ROOT = Path(__file__).resolve().parents[1]


def _helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_bench_upstream", ROOT / "bench" / "upstream.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def upstream() -> ModuleType:
    helper = _helper()
    try:
        module: ModuleType = helper.load_upstream()
    except helper.UpstreamUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"flet-storage 1.1.3 is needed for the compatibility tests: {exc}")
        pytest.skip(f"flet-storage 1.1.3 cannot be installed here (no network?): {exc}")
    return module


class Pair:
    """Our FletStorage and 1.1.3's FletStorage over one MemoryBackend, namespace 'app'."""

    def __init__(self, upstream: ModuleType) -> None:
        self.backend = MemoryBackend()
        self.ours = FletStorage("app", backend=self.backend)
        self.old = upstream.FletStorage("app")
        self.old.storage = self.backend  # replaces ft.SharedPreferences(), which needs a page

    def stored(self, key: str) -> Any:
        return self.backend.data[f"app.{key}"]

    def run(self, coroutine: Any) -> Any:
        return asyncio.run(coroutine)


def canon(value: Any) -> str:
    """Equal iff same value with the same types (nan == nan); enough for JSON and sets."""
    t = type(value)
    if t is float:
        return "float:" + ("nan" if math.isnan(value) else value.hex())
    if t is list:
        return "list[" + ",".join(map(canon, value)) + "]"
    if t is set:
        return "set{" + ",".join(sorted(map(canon, value))) + "}"
    if t is dict:
        return "dict{" + ",".join(sorted(f"{k!r}:{canon(v)}" for k, v in value.items())) + "}"
    return f"{t.__name__}:{value!r}"


LOOKALIKE_KEYS = st.sampled_from(["__type__", "values", "$fs", "v", "fs2:"])
# Any code points; surrogates drawn often, so that a high one right before a low one is common.
texts = st.text(max_size=6) | st.lists(
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
    | st.sampled_from(["a", "\U0001f600"]),
    max_size=4,
).map("".join)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**200), 2**200)
    | st.floats()
    | texts
    | st.sampled_from(["set", "tuple", "fs2:", "$fs"])
)
legacy_values = st.recursive(
    json_scalars | st.sets(json_scalars, max_size=4),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(texts | LOOKALIKE_KEYS, inner, max_size=4)
        | st.builds(lambda tag, v: {"__type__": tag, "values": v}, json_scalars, inner)
    ),
    max_leaves=20,
)


def has_set_marker(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get("__type__") == "set" or any(map(has_set_marker, value.values()))
    return isinstance(value, list) and any(map(has_set_marker, value))


def _nodes(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(key)
            yield from _nodes(item)
    elif isinstance(value, (list, set)):
        for item in value:
            yield from _nodes(item)


def misread_by_1_1(value: Any) -> bool:
    """1.1.x reads a high surrogate code point before a low one as one astral character, and
    any number of distinct NaNs in a set as one: such values are not its to store."""
    for node in _nodes(value):
        pairs = itertools.pairwise(node) if type(node) is str else ()
        if any("\ud800" <= a <= "\udbff" and "\udc00" <= b <= "\udfff" for a, b in pairs):
            return True
        if type(node) is set and sum(x != x for x in node) > 1:
            return True
    return False


def test_the_package_is_the_real_1_1_3_from_outside_the_repository(upstream: ModuleType) -> None:
    main = Path(str(upstream.__file__)).resolve()
    assert not main.is_relative_to(ROOT)
    metadata = main.parent.parent / "flet_storage-1.1.3.dist-info" / "METADATA"
    assert "Version: 1.1.3" in metadata.read_text(encoding="utf-8").splitlines()


@settings(max_examples=150, deadline=None)
@given(legacy_values)
def test_values_1_1_can_store_are_stored_byte_identically_and_read_both_ways(
    upstream: ModuleType, value: Any
) -> None:
    if has_set_marker(value):
        return  # a user dict 1.1.x itself misreads; see the next test
    pair = Pair(upstream)
    pair.run(pair.ours.set("new", value))
    if misread_by_1_1(value):
        assert pair.stored("new").startswith(PREFIX)
        assert canon(pair.run(pair.ours.get("new"))) == canon(value)
        return
    pair.run(pair.old.set("old", value))
    assert pair.stored("new") == pair.stored("old")
    assert canon(pair.run(pair.ours.get("old"))) == canon(value)
    assert canon(pair.run(pair.old.get("new"))) == canon(value)


@settings(max_examples=100, deadline=None)
@given(legacy_values)
def test_whatever_1_1_stored_reads_as_1_1_reads_it(upstream: ModuleType, value: Any) -> None:
    pair = Pair(upstream)
    pair.run(pair.old.set("k", value))
    try:
        expected = pair.run(pair.old.get("k"))
    except (KeyError, TypeError):  # its hook on a set marker it cannot rebuild
        with pytest.raises(CorruptDataError):
            pair.run(pair.ours.get("k"))
        return
    assert canon(pair.run(pair.ours.get("k"))) == canon(expected)


@pytest.mark.parametrize(
    "value",
    [
        {"__type__": "set", "values": [1, 2]},
        {"prefs": {"__type__": "set", "values": ["a"]}},
        (1, 2),
        {1: "a"},
        frozenset({1}),
        {(1, 2), (3, 4)},
        {"when": datetime(2024, 5, 1, tzinfo=timezone.utc), "day": date(2024, 5, 1)},
        b"bytes",
        10**1000,
        "\ud800\udfff",
        {"k": ["a\udbff\udc00"]},
        {"\ud83d\ude00": 1},
    ],
    ids=repr,
)
def test_values_only_2_0_can_store_round_trip_and_make_1_1_fail_loudly(
    upstream: ModuleType, value: Any
) -> None:
    pair = Pair(upstream)
    pair.run(pair.ours.set("k", value))
    assert pair.stored("k").startswith(PREFIX)
    got = pair.run(pair.ours.get("k"))
    assert got == value
    assert type(got) is type(value)
    with pytest.raises(ValueError, match="Invalid JSON"):  # never a wrong value
        pair.run(pair.old.get("k"))


def test_1_1_conversions_of_tuples_and_nan_read_as_they_did(upstream: ModuleType) -> None:
    pair = Pair(upstream)
    pair.run(pair.old.set("k", {"t": (1, 2), "n": float("nan"), 3: "int key", "s": {1, "a"}}))
    got = pair.run(pair.ours.get("k"))
    assert canon(got) == canon(pair.run(pair.old.get("k")))
    assert canon(got) == canon({"t": [1, 2], "n": float("nan"), "3": "int key", "s": {1, "a"}})
    assert json.loads(pair.stored("k"))["t"] == [1, 2]


@pytest.mark.parametrize(
    "value",
    [
        "\ud800",
        "\udfff\ud800",
        "\U0001f600",
        {"\udc00": ["a\ud83d", "\U0001f600"]},
        {"\udbff"},
        [float("nan"), float("nan")],
        {float("nan"), 1.5},
    ],
    ids=ascii,
)
def test_lone_surrogates_astral_text_and_nans_1_1_keeps_are_stored_as_it_stores_them(
    upstream: ModuleType, value: Any
) -> None:
    pair = Pair(upstream)
    pair.run(pair.old.set("old", value))
    pair.run(pair.ours.set("new", value))
    assert pair.stored("new") == pair.stored("old")
    assert canon(pair.run(pair.ours.get("old"))) == canon(value)
    assert canon(pair.run(pair.old.get("new"))) == canon(value)


@pytest.mark.parametrize("count", [2, 3])
def test_sets_of_distinct_nans_round_trip_and_make_1_1_fail_loudly(
    upstream: ModuleType, count: int
) -> None:
    pair = Pair(upstream)
    pair.run(pair.old.set("old", {float("nan") for _ in range(count)}))
    assert len(pair.run(pair.ours.get("old"))) == 1  # as 1.1.x reads what it stored
    value = {"s": {float("nan") for _ in range(count)}}
    pair.run(pair.ours.set("new", value))
    assert pair.stored("new").startswith(PREFIX)
    assert canon(pair.run(pair.ours.get("new"))) == canon(value)
    with pytest.raises(ValueError, match="Invalid JSON"):
        pair.run(pair.old.get("new"))

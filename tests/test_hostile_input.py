"""Stored text is attacker-controlled (the browser's user edits localStorage): whatever it
holds, decoding it ends in linear time with the value or a clear error, never a stall of
the event loop, a RecursionError or an unbounded int() conversion."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from flet_storage import Codec, CorruptDataError, FletStorage, MemoryBackend, StorageFullError
from flet_storage._codec import PREFIX
from flet_storage._errors import DecodeError

CODEC = Codec()
P61 = 2**61 - 1  # hash(i * P61) == 0 for every int i
N = 2000  # elements: enough for the old quadratic decode to succeed, just slowly
FLOODED = "share hash values far more often than chance allows"


def tagged(tag: str, payload: object) -> str:
    return PREFIX + json.dumps({"$fs": tag, "v": payload}, separators=(",", ":"))


def env(tag: str, payload: object) -> dict[str, object]:
    return {"$fs": tag, "v": payload}


def colliding_ints(n: int) -> list[int]:
    return [i * P61 for i in range(n)]


# Every text below holds N elements or keys of one hash value, in a form the codec reads.
COLLIDING = {
    "set of ints": tagged("set", colliding_ints(N)),
    "frozenset of ints": tagged("frozenset", colliding_ints(N)),
    "dict with int keys": tagged("dict", [[i, 0] for i in colliding_ints(N)]),
    "1.1.x set of ints": json.dumps({"__type__": "set", "values": colliding_ints(N)}),
    "set of big ints": tagged("set", [env("int", format(i, "x")) for i in colliding_ints(N)[1:]]),
    "set of Decimals": tagged("set", [env("decimal", str(i)) for i in colliding_ints(N)]),
    "set of UUIDs": tagged("set", [env("uuid", str(uuid.UUID(int=i))) for i in colliding_ints(N)]),
    "set of tuples": tagged("set", [env("tuple", [i, 1]) for i in colliding_ints(N)]),
    "dict with frozenset keys": tagged(
        "dict", [[env("frozenset", [i]), 0] for i in colliding_ints(N)]
    ),
    "set of floats and ints": tagged(  # hash 1: 2**-61 is 1 modulo P61
        "set", [2.0 ** (-61 * j) for j in range(1, 18)] + [1 + i for i in colliding_ints(N)]
    ),
}


def test_the_inputs_really_collide() -> None:
    for text in COLLIDING.values():
        json.loads(text.removeprefix(PREFIX))  # valid JSON
    assert {hash(uuid.UUID(int=i)) for i in colliding_ints(N)} == {0}
    assert {hash(Decimal(i)) for i in colliding_ints(N)} == {0}
    assert len({hash((i, 1)) for i in colliding_ints(N)}) == 1
    assert len({hash(frozenset([i])) for i in colliding_ints(N)}) == 1
    assert {hash(2.0 ** (-61 * j)) for j in range(1, 18)} == {1}


@pytest.mark.parametrize("text", COLLIDING.values(), ids=COLLIDING.keys())
def test_elements_crafted_to_collide_are_refused(text: str) -> None:
    with pytest.raises(DecodeError, match=FLOODED):
        CODEC.decode(text)


@pytest.mark.parametrize("where", ["top", "nested"])
async def test_through_the_storage_a_flood_is_corrupt_data_naming_the_key(where: str) -> None:
    backend = MemoryBackend()
    storage = FletStorage("app", backend=backend)
    inner = {"$fs": "set", "v": colliding_ints(N)}
    tree = inner if where == "top" else {"a": [1, {"b": inner}]}
    backend.data["app.k"] = PREFIX + json.dumps(tree)
    with pytest.raises(CorruptDataError, match=f"key 'k'.*{FLOODED}"):
        await storage.get("k")


def collisions_allowed() -> Iterator[tuple[str, Any]]:
    yield "128 ints of one hash (small sets are not checked)", set(colliding_ints(128))
    yield "many sets of 128 ints of one hash", [frozenset(colliding_ints(128))] * 20
    yield "powers of two up to 2**3000 (hashes repeat every 61)", {2**k for k in range(3001)}
    yield "-1 and -2 share a hash", set(range(-1000, 1000))
    yield "groups of 8 ints per hash", {g + i * P61 for g in range(500) for i in range(8)}
    yield "dict of 2000 int keys", {i: str(i) for i in range(2000)}
    yield "10000 strs", {f"tag-{i}" for i in range(10000)}


@pytest.mark.parametrize(("name", "value"), list(collisions_allowed()))
def test_what_real_data_shares_still_round_trips(name: str, value: Any) -> None:
    assert CODEC.decode(CODEC.encode(value)) == value


def test_from_129_elements_on_a_set_is_checked() -> None:
    assert CODEC.decode(tagged("set", colliding_ints(128))) == set(colliding_ints(128))
    with pytest.raises(DecodeError, match=FLOODED):
        CODEC.decode(tagged("set", colliding_ints(129)))


def test_equal_elements_are_still_refused() -> None:
    for n in (3, 1000):
        with pytest.raises(DecodeError):
            CODEC.decode(tagged("set", [7] * n))


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        "[" * 1_000_000,
        PREFIX + '{"$fs":"tuple","v":[' * 50_000 + "]}" * 50_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
    ],
    ids=["lists", "unclosed", "envelopes", "dicts"],
)
async def test_deep_nesting_is_a_clear_error(text: str) -> None:
    with pytest.raises(DecodeError, match="nested too deeply"):
        CODEC.decode(text)
    backend = MemoryBackend()
    backend.data["app.k"] = text
    with pytest.raises(CorruptDataError, match=r"key 'k'.*nested too deeply"):
        await FletStorage("app", backend=backend).get("k")


@pytest.fixture
def int_digit_limit() -> Iterator[None]:
    """Restores the process's int() digit limit a test changes."""
    limit = sys.get_int_max_str_digits()
    yield
    sys.set_int_max_str_digits(limit)


@pytest.mark.skipif(not hasattr(sys, "get_int_max_str_digits"), reason="Python < 3.10.7")
@pytest.mark.parametrize("limit", [None, 0, 100_000, 640])
@pytest.mark.parametrize("sign", ["", "-"])
@pytest.mark.usefixtures("int_digit_limit")
def test_integers_over_the_digit_limit_are_a_clear_error(limit: int | None, sign: str) -> None:
    if limit is not None:
        sys.set_int_max_str_digits(limit)  # 0: no limit, int() of n digits takes n**2 time
    allowed = 640 if limit == 640 else 4300
    fits = sign + "9" * allowed
    assert CODEC.decode(fits) == int(fits)
    for text in (sign + "9" * (allowed + 1), sign + "1" * 200_000):
        for stored in (text, f"[{text}]", PREFIX + f"[{text}]", f'{{"a": {text}}}'):
            with pytest.raises(DecodeError, match=f"an integer of more than {allowed} decimal"):
                CODEC.decode(stored)


def test_a_timezone_offset_out_of_range_is_a_clear_error() -> None:
    for offset in (86_400_000_000, 10**30):
        with pytest.raises(DecodeError, match="timezone offset out of range"):
            CODEC.decode(tagged("timezone", [offset, None]))


# -- whole documents and records: imports, expiry stamps, exception chains --------------------


def _document(items: dict[str, Any]) -> dict[str, Any]:
    return {"format": "flet-storage-export", "version": 1, "app_name": "app", "items": items}


@pytest.mark.parametrize(
    "item",
    [
        {"\ud800": {"value": "1", "expires_at": None}},  # a key no client can store
        {"k": {"value": '"\ud800"', "expires_at": None}},
        {"k": {"value": "1", "expires_at": 10**400}},  # OverflowError from float() before
        {"k": {"value": "1", "expires_at": float("inf")}},
    ],
)
async def test_an_import_the_client_would_refuse_writes_nothing(item: dict[str, Any]) -> None:
    backend = MemoryBackend({"app.old": "1"})
    storage = FletStorage("app", backend=backend)
    with pytest.raises(ValueError, match="not a flet-storage export document"):
        await storage.import_(_document({"fine": {"value": "2", "expires_at": None}, **item}))
    assert backend.data == {"app.old": "1"}


async def test_a_replacing_import_that_fails_keeps_the_old_data() -> None:
    backend = MemoryBackend({"app.old": '"kept"'}, quota=60)
    storage = FletStorage("app", backend=backend)
    big = {"value": json.dumps("x" * 100), "expires_at": None}
    with pytest.raises(StorageFullError):
        await storage.import_(_document({"big": big}), replace=True)
    assert await storage.get("old") == "kept"  # before, replace cleared first: it was gone


async def test_no_stored_value_is_reachable_through_the_exception_chain() -> None:
    class Token:
        pass

    def broken(payload: object) -> Token:
        raise ValueError(f"bad token {payload!r}")  # a decoder that quotes the value

    codec = Codec()
    codec.register(Token, tag="token", encode=lambda t: "s3cr3t", decode=broken)
    storage = FletStorage("app", backend=MemoryBackend(), codec=codec)
    await storage.set("t", Token())
    with pytest.raises(CorruptDataError) as caught:
        await storage.get("t")
    error: BaseException | None = caught.value
    while error is not None:
        assert "s3cr3t" not in str(error)
        error = error.__cause__ or error.__context__


async def test_an_encrypted_value_read_without_the_key_says_so() -> None:
    pytest.importorskip("cryptography")
    from flet_storage import Encryption

    backend = MemoryBackend()
    sealed = FletStorage("app", backend=backend, encryption=Encryption(Encryption.generate_key()))
    await sealed.set("card", "4111")
    with pytest.raises(CorruptDataError, match=r"encrypted: pass the key .*encryption="):
        await FletStorage("app", backend=backend).get("card")


async def test_reencrypt_never_makes_a_forged_far_future_expiry_authentic() -> None:
    pytest.importorskip("cryptography")
    from flet_storage import Encryption

    now = 1_700_000_000.0
    backend = MemoryBackend({"app.k": f'fst:{now + 1e12!r}:"forged"'})
    encryption = Encryption(Encryption.generate_key(), accept_plaintext=True)
    storage = FletStorage("app", backend=backend, encryption=encryption, clock=lambda: now)
    with pytest.raises(CorruptDataError, match="more than 100 years"):
        await storage.reencrypt()
    assert backend.data == {"app.k": f'fst:{now + 1e12!r}:"forged"'}

"""FletStorage(encryption=...): every tamper, move and edit of a stored value is refused,
nothing readable is stored, and encryption costs no round trip."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from conftest import FakeClock

from flet_storage import CorruptDataError, Encryption, FletStorage, MemoryBackend, StorageEvent
from flet_storage.testing import Call, ScriptedBackend, settle

KEY = Encryption.generate_key()
SECRET = {
    "plan": "free",
    "card": "4111 1111 1111 1111",
    "since": datetime(2026, 1, 2, tzinfo=timezone.utc),
}


@pytest.fixture
def encryption() -> Encryption:
    return Encryption(KEY)


@pytest.fixture
def storage(backend: MemoryBackend, encryption: Encryption, clock: FakeClock) -> FletStorage:
    return FletStorage("app", backend=backend, encryption=encryption, clock=clock)


def _refused(exc: CorruptDataError, key: str) -> None:
    message = str(exc)
    assert f"key {key!r} in namespace 'app'" in message
    for secret in ("free", "4111", "plan", "fse1:"):
        assert secret not in message


async def test_values_round_trip_and_nothing_readable_is_stored(
    storage: FletStorage, backend: MemoryBackend
) -> None:
    await storage.set("account", SECRET)
    await storage.set("tags", {"a", "b"}, ttl=60)
    assert await storage.get("account") == SECRET
    assert await storage.get("tags") == {"a", "b"}
    assert sorted(await storage.get_keys()) == ["account", "tags"]
    stored = " ".join(str(value) for value in backend.data.values())
    for plain in ("free", "4111", "plan", "2026", '"a"'):
        assert plain not in stored
    assert str(backend.data["app.account"]).startswith("fse1:")


async def test_every_character_of_a_stored_value_changed_is_refused(
    storage: FletStorage, backend: MemoryBackend
) -> None:
    await storage.set("k", SECRET)
    stored = str(backend.data["app.k"])
    for i in range(len(stored)):
        other = "A" if stored[i] != "A" else "B"
        backend.data["app.k"] = stored[:i] + other + stored[i + 1 :]
        with pytest.raises(CorruptDataError) as info:
            await storage.get("k")
        _refused(info.value, "k")
    for end in range(len(stored)):  # every truncation
        backend.data["app.k"] = stored[:end]
        with pytest.raises(CorruptDataError):
            await storage.get("k")


async def test_a_value_moved_to_another_key_or_namespace_is_refused(
    storage: FletStorage, backend: MemoryBackend, encryption: Encryption, clock: FakeClock
) -> None:
    await storage.set("plan", "free")
    await storage.set("admin", False)
    backend.data["app.admin"] = backend.data["app.plan"]  # copied to another key
    with pytest.raises(CorruptDataError) as info:
        await storage.get("admin")
    _refused(info.value, "admin")
    other = FletStorage("app2", backend=backend, encryption=encryption, clock=clock)
    backend.data["app2.plan"] = backend.data["app.plan"]  # copied to another namespace
    with pytest.raises(CorruptDataError):
        await other.get("plan")


async def test_an_edited_expiry_is_refused(
    storage: FletStorage, backend: MemoryBackend, clock: FakeClock
) -> None:
    await storage.set("trial", "pro", ttl=60)
    await storage.set("forever", "pro")
    framed = str(backend.data["app.trial"])
    stamp = framed.split(":")[1]
    later = repr(float(stamp) + 3600)
    backend.data["app.trial"] = framed.replace(stamp, later)  # TTL extended
    with pytest.raises(CorruptDataError):
        await storage.get("trial")
    backend.data["app.trial"] = framed.split(":", 2)[2]  # TTL removed
    with pytest.raises(CorruptDataError):
        await storage.get("trial")
    backend.data["app.forever"] = f"fst:{later}:{backend.data['app.forever']}"  # TTL added
    with pytest.raises(CorruptDataError):
        await storage.get("forever")
    # Shortened into the past it only looks expired: no more than deleting it.
    backend.data["app.trial"] = framed.replace(stamp, repr(clock() - 1))
    assert await storage.get_or_default("trial") is None


async def test_plaintext_is_refused_unless_accepted_then_reencrypted(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    backend.data["app.plan"] = '{"plan": "pro"}'  # injected, or written before encryption
    backend.data["app.visits"] = 3  # plain ft.SharedPreferences code
    strict = FletStorage("app", backend=backend, encryption=Encryption(KEY), clock=clock)
    with pytest.raises(CorruptDataError, match="unencrypted data in an encrypted namespace"):
        await strict.get("plan")
    with pytest.raises(CorruptDataError):
        await strict.reencrypt()  # nothing is rewritten from data it cannot trust
    assert backend.data["app.plan"] == '{"plan": "pro"}'

    migrating = FletStorage(
        "app", backend=backend, encryption=Encryption(KEY, accept_plaintext=True), clock=clock
    )
    assert await migrating.get("plan") == {"plan": "pro"}
    assert await migrating.reencrypt() == 2
    assert await migrating.reencrypt() == 0
    assert all(str(value).startswith("fse1:") for value in backend.data.values())
    assert await strict.get_many(["plan", "visits"]) == {"plan": {"plan": "pro"}, "visits": 3}


async def test_wrong_key_is_refused_and_rotation_rewrites_with_the_newest(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    old_key, new_key = Encryption.generate_key(), Encryption.generate_key()
    old = FletStorage("app", backend=backend, encryption=Encryption(old_key), clock=clock)
    await old.set_many({"a": 1, "b": (2, 3)})
    await old.set("c", "x", ttl=60)
    wrong = FletStorage("app", backend=backend, encryption=Encryption(new_key), clock=clock)
    with pytest.raises(CorruptDataError):
        await wrong.get("a")

    rotated = Encryption(new_key, old_key)
    storage = FletStorage("app", backend=backend, encryption=rotated, clock=clock)
    assert await storage.get_many(["a", "b", "c"]) == {"a": 1, "b": (2, 3), "c": "x"}
    assert await storage.reencrypt() == 3
    assert await storage.reencrypt() == 0
    assert await wrong.get_many(["a", "b", "c"]) == {"a": 1, "b": (2, 3), "c": "x"}
    clock.advance(61)
    assert await wrong.get_keys() == ["a", "b"]  # the TTL survived the rewrite


async def test_works_with_cache_listeners_update_migrate_and_batches(
    backend: MemoryBackend, encryption: Encryption, clock: FakeClock
) -> None:
    storage = FletStorage("app", backend=backend, encryption=encryption, clock=clock, cache=True)
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    await storage.set("cart", ["apple"], ttl=60)
    assert await storage.update("cart", lambda cart: [*cart, "pear"]) == ["apple", "pear"]
    assert await storage.increment("visits") == 1
    await storage.set_many({"a": datetime(2026, 1, 1, tzinfo=timezone.utc), "b": b"\x00"})
    assert await storage.migrate({2: lambda s: None}) == 2
    assert [(e.key, e.kind, e.value) for e in events][:2] == [
        ("cart", "set", ["apple"]),
        ("cart", "set", ["apple", "pear"]),
    ]
    fresh = FletStorage("app", backend=backend, encryption=encryption, clock=clock)
    assert await fresh.get("cart") == ["apple", "pear"]
    clock.advance(61)  # update kept the TTL
    assert await fresh.get_or_default("cart") is None
    await settle(fresh)
    assert "app.cart" not in backend.data
    assert await fresh.remove_many(["a", "b", "visits", "schema_version"]) == 4


async def test_encryption_adds_no_call_and_no_round_trip(encryption: Encryption) -> None:
    in_flight, rounds = [0], [0]

    async def count(call: Call) -> object:
        rounds[0] += not in_flight[0]
        in_flight[0] += 1
        try:
            return await call.proceed()
        finally:
            in_flight[0] -= 1

    plain_backend, secret_backend = ScriptedBackend(count), ScriptedBackend(count)
    plain = FletStorage("app", backend=plain_backend)
    secret = FletStorage("app", backend=secret_backend, encryption=encryption)
    spent = []
    for storage in (plain, secret):
        before = rounds[0]
        await storage.set("k", SECRET, ttl=60)
        await storage.get("k")
        await storage.get_keys()
        await storage.remove("k")
        await asyncio.gather(storage.set("x", 1), storage.contains_key("x"))
        spent.append(rounds[0] - before)
    assert spent == [6, 6]  # get_keys reads the key that has a TTL: its second round
    assert plain_backend.calls == secret_backend.calls


def test_encryption_must_be_an_encryption(backend: MemoryBackend) -> None:
    with pytest.raises(TypeError, match="encryption must be an Encryption"):
        FletStorage("app", backend=backend, encryption=KEY)  # type: ignore[arg-type]


async def test_reencrypt_needs_encryption(backend: MemoryBackend) -> None:
    with pytest.raises(ValueError, match="reencrypt"):
        await FletStorage("app", backend=backend).reencrypt()


# --- one key, many users: bind() ---------------------------------------------------------


async def test_a_value_copied_to_another_users_storage_is_refused(clock: FakeClock) -> None:
    encryption = Encryption(KEY)  # one server key for every user
    alice_backend, bob_backend = MemoryBackend(), MemoryBackend()  # two browsers
    alice = FletStorage("app", backend=alice_backend, encryption=encryption.bind("alice"))
    bob = FletStorage("app", backend=bob_backend, encryption=encryption.bind("bob"))
    unbound = FletStorage("app", backend=bob_backend, encryption=encryption, clock=clock)
    await alice.set("account", {"plan": "pro", "role": "admin"})
    await alice.set("trial", True, ttl=60)
    await bob.set("account", {"plan": "free", "role": "user"})
    for key in ("account", "trial"):
        bob_backend.data[f"app.{key}"] = alice_backend.data[f"app.{key}"]  # Bob's copy
        with pytest.raises(CorruptDataError) as info:
            await bob.get(key)
        _refused(info.value, key)
        with pytest.raises(CorruptDataError):
            await unbound.get(key)  # and under no binding
    await unbound.set("plan", "pro")  # and the other way round
    with pytest.raises(CorruptDataError):
        await bob.get("plan")
    assert await alice.get("account") == {"plan": "pro", "role": "admin"}


async def test_rotation_and_reencrypt_keep_the_binding(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    old_key, new_key = Encryption.generate_key(), Encryption.generate_key()
    old = FletStorage("app", backend=backend, encryption=Encryption(old_key).bind("alice"))
    await old.set_many({"a": 1, "b": (2, 3)})
    rotated = Encryption(new_key, old_key).bind("alice")
    storage = FletStorage("app", backend=backend, encryption=rotated, clock=clock)
    assert await storage.get_many(["a", "b"]) == {"a": 1, "b": (2, 3)}
    assert await storage.reencrypt() == 2
    retired = Encryption(new_key)
    alice = FletStorage("app", backend=backend, encryption=retired.bind("alice"), clock=clock)
    assert await alice.get_many(["a", "b"]) == {"a": 1, "b": (2, 3)}
    for other in (retired, retired.bind("bob"), Encryption(new_key, old_key).bind("bob")):
        with pytest.raises(CorruptDataError):
            await FletStorage("app", backend=backend, encryption=other).get("a")


async def test_plaintext_reencrypted_under_a_binding_is_bound(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    backend.data["app.plan"] = '"free"'  # written before encryption was turned on
    migrating = Encryption(KEY, accept_plaintext=True).bind("alice")
    storage = FletStorage("app", backend=backend, encryption=migrating, clock=clock)
    assert await storage.reencrypt() == 1
    alice = FletStorage("app", backend=backend, encryption=Encryption(KEY).bind("alice"))
    assert await alice.get("plan") == "free"
    with pytest.raises(CorruptDataError):
        await FletStorage("app", backend=backend, encryption=Encryption(KEY)).get("plan")

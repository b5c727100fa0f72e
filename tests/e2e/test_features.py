"""Requirements 8, 10 and 11 on the real client: the quickstart example, TTL, update and
increment, listeners, migrations, and the ``use_storage`` hook in real components."""

from __future__ import annotations

import ast
import asyncio
import importlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import flet as ft
import pytest
from flet.components.component import Component

from flet_storage import CorruptDataError, Encryption, FletStorage, KeyNotFoundError, StorageEvent
from flet_storage.testing import settle

from .harness import Client, FletServer, Profile

EXAMPLES = Path(__file__).parents[2] / "examples"


def _texts(control: Any) -> list[str]:
    """The values of the Text controls under ``control``, in order (components included)."""
    if isinstance(control, ft.Text):
        return [str(control.value)]
    if isinstance(control, Component):
        children: Any = control._b
    else:
        children = getattr(control, "controls", None) or getattr(control, "content", None)
    if children is None:
        return []
    if not isinstance(children, list):
        children = [children]
    return [text for child in children for text in _texts(child)]


async def _page_texts(page: ft.Page) -> list[str]:
    return _texts(page.views[0])


async def _wait_for_texts(
    client: Client, predicate: Callable[[list[str]], bool], timeout: float = 10
) -> list[str]:
    """Poll the page's Text values until ``predicate`` holds; return them."""
    return await client.wait_until(lambda page: _texts(page.views[0]), predicate, timeout=timeout)


# -- Requirement 8: the quickstart example, unchanged ----------------------------------------


async def test_quickstart_example_runs_unchanged(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    quickstart = importlib.import_module("quickstart")
    main: Callable[[ft.Page], Awaitable[None]] = quickstart.main

    async def run_example(page: ft.Page) -> tuple[list[str], list[str]]:
        await main(page)
        return await _page_texts(page), await FletStorage("my_awesome_app").get_keys()

    texts, keys = await client.run(run_example)
    assert texts[-2] == "Settings loaded: {'theme': 'dark', 'notifications': True}"
    prefix = "Tags loaded (type: set): "
    assert texts[-1].startswith(prefix)
    assert ast.literal_eval(texts[-1][len(prefix) :]) == {"python", "flet", "async"}
    assert keys == []  # the example clears its namespace
    assert not [k for k in await client.local_storage_keys() if "my_awesome_app" in k]


# -- Requirement 10: TTL, update/increment, listeners, migrate -------------------------------


async def test_ttl_expires_everywhere_and_survives_a_restart(
    profile: Profile, server: FletServer, app_name: str
) -> None:
    start = 1_000_000.0
    now = [start]
    storage = FletStorage(app_name, clock=lambda: now[0])
    short = ("e_get", "e_default", "e_contains", "e_keys")
    everything = sorted([*short, "long", "td", "e_purge", "forever"])

    async def raw_keys(client: Client) -> list[str]:
        prefix = f"flutter.{app_name}."
        return sorted(k[len(prefix) :] for k in await client.local_storage_keys() if prefix in k)

    async def write(page: ft.Page) -> dict[str, Any]:
        await storage.set("long", {"v": 1}, ttl=3600)
        for key in short:
            await storage.set(key, key, ttl=60)
        await storage.set("td", {1, 2}, ttl=timedelta(seconds=150))
        await storage.set_many({"e_purge": b"x"}, ttl=150.0)
        await storage.set("forever", "f")
        return await storage.get_many(everything)

    client = await profile.open(server)
    got = await client.run(write)
    assert got == {
        **{key: key for key in short},
        "long": {"v": 1},
        "td": {1, 2},
        "e_purge": b"x",
        "forever": "f",
    }
    raw = await client.local_storage()
    assert json.loads(raw[f"flutter.{app_name}.long"]) == f"fst:{start + 3600!r}:" + '{"v": 1}'
    assert json.loads(raw[f"flutter.{app_name}.forever"]) == '"f"'
    # Beside each value with a TTL, its expiry mark; none beside "forever".
    marks = sorted(k for k in raw if k.startswith(f"flutter.flet_storage:ttl:{app_name}."))
    expected = [f"flutter.flet_storage:ttl:{app_name}.{k}" for k in everything if k != "forever"]
    assert marks == sorted(expected)

    await profile.restart()
    client = await profile.open(server)
    now[0] = start + 30

    async def keys(page: ft.Page) -> list[str]:
        found = sorted(await storage.get_keys())
        await settle(storage)  # expired keys met are removed in the background
        return found

    assert await client.run(keys) == everything  # not expired: all survived the restart

    now[0] = start + 90  # the ttl=60 keys have expired

    async def expired_one_by_one(page: ft.Page) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with pytest.raises(KeyNotFoundError):
            await storage.get("e_get")
        out["default"] = await storage.get_or_default("e_default", "default")
        out["contains"] = await storage.contains_key("e_contains")
        out["get_many"] = await storage.get_many(["e_get", "e_default", "e_contains", "long"])
        await settle(storage)
        return out

    assert await client.run(expired_one_by_one) == {
        "default": "default",
        "contains": False,
        "get_many": {"long": {"v": 1}},
    }
    # each was removed from localStorage once read; e_keys, unread, is still there
    assert await raw_keys(client) == sorted(["e_keys", "long", "td", "e_purge", "forever"])
    assert await client.run(keys) == ["e_purge", "forever", "long", "td"]
    assert await raw_keys(client) == ["e_purge", "forever", "long", "td"]

    now[0] = start + 200  # td and e_purge have expired too

    async def purge_and_update(page: ft.Page) -> tuple[int, Any, list[str]]:
        purged = await storage.purge_expired()
        new = await storage.update("long", lambda v: {**v, "n": 2})  # keeps the TTL
        return purged, new, sorted(await storage.get_keys())

    assert await client.run(purge_and_update) == (2, {"v": 1, "n": 2}, ["forever", "long"])
    assert await raw_keys(client) == ["forever", "long"]
    raw = await client.local_storage()
    assert json.loads(raw[f"flutter.{app_name}.long"]).startswith(f"fst:{start + 3600!r}:")

    now[0] = start + 3600  # expiry is inclusive

    async def last(page: ft.Page) -> tuple[bool, list[str], Any]:
        found = (
            await storage.contains_key("long"),
            await storage.get_keys(),
            await storage.get("forever"),
        )
        await settle(storage)
        return found

    assert await client.run(last) == (False, ["forever"], "f")
    assert await raw_keys(client) == ["forever"]
    marks_left = [k for k in await client.local_storage_keys() if "flet_storage:ttl:" in k]
    assert marks_left == []  # each went with its value


async def test_increment_listeners_and_migrate(
    profile: Profile, server: FletServer, app_name: str
) -> None:
    a, b = await asyncio.gather(profile.open(server), profile.open(server))
    assert await a.session_id() != await b.session_id()

    async def increments(page: ft.Page) -> tuple[list[Any], Any]:
        one, two = FletStorage(app_name), FletStorage(app_name)
        results = await asyncio.gather(*(s.increment("hits") for s in [one, two] * 25))
        return sorted(results), await FletStorage(app_name).get("hits")

    assert await a.run(increments) == (list(range(1, 51)), 50)
    assert json.loads((await a.local_storage())[f"flutter.{app_name}.hits"]) == "50"

    events: list[tuple[str, str, Any]] = []
    only_x: list[tuple[str, str, Any]] = []

    def record(into: list[tuple[str, str, Any]]) -> Callable[[StorageEvent], None]:
        def listener(event: StorageEvent) -> None:
            assert event.app_name == app_name
            into.append((event.key, event.kind, event.value))

        return listener

    subscriptions: list[Any] = []

    async def subscribe(page: ft.Page) -> None:
        subscriptions.append(FletStorage(app_name).subscribe(record(events)))
        subscriptions.append(FletStorage(app_name).subscribe(record(only_x), key="x"))

    async def write_elsewhere_on_the_page(page: ft.Page) -> None:
        other = FletStorage(app_name)
        await other.set("x", {1})
        await other.set_many({"y": 2, "x": (3,)})
        await other.remove("x")
        await other.increment("hits")

    async def write_in_another_session(page: ft.Page) -> None:
        await FletStorage(app_name).set("x", "from tab b")
        await FletStorage(app_name).remove("y")

    async def unsubscribe(page: ft.Page) -> None:
        for subscription in subscriptions:
            subscription.cancel()
        await FletStorage(app_name).set("x", "after cancel")

    await a.run(subscribe)
    await a.run(write_elsewhere_on_the_page)
    await b.run(write_in_another_session)
    await a.run(unsubscribe)
    # Tab B's writes are heard in tab A too: its tabs are kept in step (sync, the default).
    assert events == [
        ("x", "set", {1}),
        ("y", "set", 2),
        ("x", "set", (3,)),
        ("x", "remove", None),
        ("hits", "set", 51),
        ("x", "set", "from tab b"),
        ("y", "remove", None),
    ]
    assert only_x == [
        ("x", "set", {1}),
        ("x", "set", (3,)),
        ("x", "remove", None),
        ("x", "set", "from tab b"),
    ]

    ran: list[int] = []

    def step(version: int) -> Callable[[FletStorage], Awaitable[None]]:
        async def migrate(storage: FletStorage) -> None:
            ran.append(version)
            await storage.set(f"migrated_{version}", True)

        return migrate

    async def migrate_twice(page: ft.Page) -> list[int]:
        steps = {2: step(2), 3: step(3)}
        return list(
            await asyncio.gather(
                FletStorage(app_name).migrate(steps), FletStorage(app_name).migrate(steps)
            )
        )

    assert await a.run(migrate_twice) == [3, 3]
    assert ran == [2, 3]  # each step once
    assert await a.reload() is False  # a fresh client, reading localStorage again

    async def migrate_again(page: ft.Page) -> tuple[int, Any, list[str]]:
        storage = FletStorage(app_name)
        version = await storage.migrate({2: step(2), 3: step(3), 4: step(4)})
        keys = sorted(k for k in await storage.get_keys() if k.startswith("migrated"))
        return version, await storage.get("schema_version"), keys

    assert await a.run(migrate_again) == (4, 4, ["migrated_2", "migrated_3", "migrated_4"])
    assert ran == [2, 3, 4]


# -- Requirement 11: use_storage in real @ft.component's -------------------------------------


async def test_use_storage_hook_in_real_components(
    client: Client, server: FletServer, app_name: str
) -> None:
    storage = FletStorage(app_name)
    setters: dict[str, Callable[[Any], Awaitable[None]]] = {}

    @ft.component
    def Counter(label: str) -> ft.Control:
        count, set_count = storage.use_storage("count", 0)
        setters[label] = set_count
        return ft.Text(f"{label}={count!r}")

    @ft.component
    def App() -> ft.Control:
        return ft.Column([Counter("a"), Counter("b")])

    async def seed(page: ft.Page) -> None:
        await storage.set("count", 2)

    async def render(page: ft.Page) -> None:
        page.render(App)

    await client.run(seed)
    await client.run(render)
    await _wait_for_texts(client, lambda texts: texts == ["a=2", "b=2"])  # loaded on mount

    async def set_through_a(page: ft.Page) -> None:
        await setters["a"](5)

    await client.run(set_through_a)
    await _wait_for_texts(client, lambda texts: texts == ["a=5", "b=5"])

    async def set_in_a_handler(page: ft.Page) -> Any:
        await FletStorage(app_name).set("count", {7})
        return await storage.get("count")

    assert await client.run(set_in_a_handler) == {7}
    await _wait_for_texts(client, lambda texts: texts == ["a={7}", "b={7}"])

    # a reload: the tab reconnects to its session, whose components keep their state and
    # keep working (their storage reaches the reconnected client)
    assert await client.reload() is False
    assert await client.run(_page_texts, as_event=False) == ["a={7}", "b={7}"]
    await client.run(set_through_a)
    await _wait_for_texts(client, lambda texts: texts == ["a=5", "b=5"])

    # a new session of the same browser: mounted there, the components load the value
    other = await client.profile.open(server)
    await other.run(render)
    await _wait_for_texts(other, lambda texts: texts == ["a=5", "b=5"])


# -- Security: encrypted values on the real client --------------------------------------------


async def test_encrypted_values_leave_nothing_readable_in_local_storage(
    profile: Profile, server: FletServer, app_name: str
) -> None:
    key = Encryption.generate_key()
    secret = {"plan": "free", "token": "s3cr3t-t0k3n", "tags": {"vip"}}

    def storage() -> FletStorage:
        return FletStorage(app_name, encryption=Encryption(key))

    async def write(page: ft.Page) -> Any:
        await storage().set("account", secret)
        await storage().set("session", "s3cr3t-t0k3n", ttl=3600)
        return await storage().get_many(["account", "session"])

    client = await profile.open(server)
    assert await client.run(write) == {"account": secret, "session": "s3cr3t-t0k3n"}
    raw = await client.local_storage()
    ours = {k: v for k, v in raw.items() if app_name in k}
    assert len(ours) == 3  # two values and the expiry mark of the one with a TTL
    for text in ours.values():
        for plain in ("free", "s3cr3t", "vip", "plan", "token"):
            assert plain not in text

    # The browser's user copies the session value over the account: refused, not misread.
    moved = raw[f"flutter.{app_name}.session"]
    await client.evaluate(
        "([k, v]) => localStorage.setItem(k, v)", [f"flutter.{app_name}.account", moved]
    )
    await profile.restart()
    client = await profile.open(server)

    async def read(page: ft.Page) -> tuple[str, Any]:
        with pytest.raises(CorruptDataError) as info:
            await storage().get("account")
        return str(info.value), await storage().get("session")

    message, session = await client.run(read)
    assert "'account'" in message
    assert "s3cr3t" not in message
    assert session == "s3cr3t-t0k3n"  # survived the restart, still decrypts

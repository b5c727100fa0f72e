"""SharedPreferencesBackend on the Flet clients that store text only (0.81 and 0.82).

Their clients fail any value but a `str` in the client ("type 'int' is not a subtype of type
'String'", measured on the real 0.81.0 and 0.82.2 desktop clients by tests/desktop): the
backend refuses such values before any I/O, and FletStorage, which writes text only, works.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import FakeClock

from flet_storage import (
    Encryption,
    FletStorage,
    MemoryBackend,
    NoPageError,
    SharedPreferencesBackend,
)
from flet_storage.backends import RawValue
from flet_storage.backends import _shared_preferences as module
from flet_storage.backends._flet_version import FLET_VERSION, at_least


@pytest.mark.parametrize(
    ("version", "newer"),
    [
        ("0.81.0", False),
        ("0.82.2", False),
        ("0.83.0", True),
        ("0.83.0.dev1", True),
        ("0.84.0", True),
        ("1.0.5", True),
        ("", True),  # a source checkout of Flet: not one of the old releases
    ],
)
def test_at_least(version: str, newer: bool) -> None:
    assert at_least(version, (0, 83, 0)) is newer


def test_the_installed_flet_decides() -> None:
    """0.81.0 in scripts/matrix's lowest environment, the locked Flet elsewhere."""
    release = tuple(int(n) for n in re.findall(r"\d+", FLET_VERSION)[:3])
    assert module.TYPED_VALUES is (release >= (0, 83, 0))


@pytest.fixture
def text_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "TYPED_VALUES", False)
    monkeypatch.setattr(module, "FLET_VERSION", "0.82.2")


@pytest.mark.usefixtures("text_only")
@pytest.mark.parametrize("value", [12345, 2.5, True, ["a", "b"]], ids=repr)
async def test_text_only_client_refuses_a_typed_value_before_any_io(value: RawValue) -> None:
    """Outside a page: a call that reached for the client would raise NoPageError."""
    with pytest.raises(ValueError, match="stores text") as info:
        await SharedPreferencesBackend().set("app.count", value)
    message = str(info.value)
    assert not isinstance(info.value, NoPageError)
    assert "'app.count'" in message
    assert f"the {type(value).__name__} under" in message
    assert "Flet 0.82.2" in message
    assert "Flet >= 0.83" in message
    assert "FletStorage" in message
    assert repr(value) not in message  # the key and the type, never the value


@pytest.mark.usefixtures("text_only")
async def test_text_only_client_takes_text() -> None:
    with pytest.raises(NoPageError):  # past the check: on to the page, which is missing here
        await SharedPreferencesBackend().set("app.name", "text")


@pytest.mark.usefixtures("text_only")
async def test_text_only_client_names_an_unsupported_value_as_the_others_do() -> None:
    with pytest.raises(ValueError, match="Unsupported value type"):
        await SharedPreferencesBackend().set("app.x", {"a": 1})  # type: ignore[arg-type]


async def test_typed_client_passes_every_raw_value_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "TYPED_VALUES", True)
    with pytest.raises(NoPageError):
        await SharedPreferencesBackend().set("app.count", 7)


class TextOnlyBackend(MemoryBackend):
    """MemoryBackend that fails a value that is not a `str`, as the 0.81/0.82 clients do."""

    async def set(self, key: str, value: RawValue) -> bool:
        if not isinstance(value, str):
            raise RuntimeError(f"type '{type(value).__name__}' is not a subtype of type 'String'")
        return await super().set(key, value)


async def test_flet_storage_writes_text_only() -> None:
    """Every feature of FletStorage that writes, but a TTL (below), works on a client that
    stores text only."""
    backend = TextOnlyBackend()
    storage = FletStorage("app", backend=backend)
    values = {"n": 7, "f": 2.5, "b": True, "none": None, "tags": {"a"}, "list": ["x", 1]}
    for key, value in values.items():
        await storage.set(key, value)
    await storage.set_many({"x": 1, "y": [2.0]})
    assert await storage.increment("visits") == 1
    assert await storage.update("n", lambda n: n + 1) == 8

    async def step(storage: FletStorage) -> None:
        await storage.set("migrated", True)

    assert await storage.migrate({2: step}) == 2
    await FletStorage("copy", backend=backend).import_(await storage.export())
    secret = FletStorage("s", backend=backend, encryption=Encryption(Encryption.generate_key()))
    await secret.set("k", {"deep": [1, 2]})
    assert await storage.get_many(["f", "tags", "list"]) == {
        "f": 2.5,
        "tags": {"a"},
        "list": ["x", 1],
    }
    assert await secret.get("k") == {"deep": [1, 2]}
    assert await FletStorage("copy", backend=backend).get("migrated") is True
    assert all(isinstance(value, str) for value in backend.data.values())


async def test_ttl_on_a_text_only_client(clock: FakeClock) -> None:
    storage = FletStorage("app", backend=TextOnlyBackend(), clock=clock)
    await storage.set("token", "t", ttl=timedelta(seconds=60))
    assert await storage.get("token") == "t"
    clock.advance(61)
    assert not await storage.contains_key("token")

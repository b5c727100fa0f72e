"""SecureStorageBackend on a faithful fake of the Flet client's SecureStorage service.

The fake replaces what the client does (``SecureStorage._invoke_method``), so the real
``flet_secure_storage.SecureStorage`` class builds every call. Its semantics are those
measured on the real web client by ``tests/e2e/test_secure_storage.py``: values are ``str``
only (anything else fails with the client's "Runtime type check failed"), ``set``,
``remove`` and ``clear`` answer ``None``, a missing key reads ``None``, ``get_all`` answers
every key and value, and each ``WebOptions.public_key`` is a store of its own.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from typing import Any

import flet as ft
import pytest
from conftest import FakeClock
from flet_secure_storage import SecureStorage, WebOptions
from hypothesis import given
from hypothesis import strategies as st

from flet_storage import FletStorage, NoPageError, SecureStorageBackend, SharedPreferencesBackend
from flet_storage.backends import RawValue
from flet_storage.backends import _page as page_module
from flet_storage.backends._secure import MARK, decode, encode
from flet_storage.testing import BackendContract, settle

TYPE_CHECK_FAILED = "Runtime type check failed (details omitted due to --minify)"


class FakeSession:
    """What ``ft.Page`` needs of a session; ``connection`` changes on a reconnect."""

    def __init__(self) -> None:
        self.connection: object | None = object()


class FakeClient:
    """The Flet client's side of every SecureStorage service: one store per public key."""

    def __init__(self) -> None:
        self.stores: dict[str, dict[str, str]] = {}
        self.calls: list[tuple[int, str]] = []  # (service id, method)

    def store(self, service: SecureStorage) -> dict[str, str]:
        return self.stores.setdefault(service.web_options.public_key, {})

    async def invoke(
        self,
        service: SecureStorage,
        method_name: str,
        arguments: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        self.calls.append((id(service), method_name))
        args = arguments or {}
        store = self.store(service)
        if method_name == "set":
            if not isinstance(args["value"], str):
                raise RuntimeError(TYPE_CHECK_FAILED)
            store[args["key"]] = args["value"]
            return None
        if method_name == "get":
            return store.get(args["key"])
        if method_name == "get_all":
            return dict(store)
        if method_name == "contains_key":
            return args["key"] in store
        if method_name == "remove":
            store.pop(args["key"], None)
            return None
        if method_name == "clear":
            store.clear()
            return None
        if method_name == "get_availability":
            return None
        raise RuntimeError(f"Unknown SecureStorage method: {method_name}")


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient()

    async def invoke(service: SecureStorage, *args: Any, **kwargs: Any) -> Any:
        return await client.invoke(service, *args, **kwargs)

    monkeypatch.setattr(SecureStorage, "_invoke_method", invoke)
    return client


@pytest.fixture
def fake_session() -> FakeSession:
    return FakeSession()  # the page refers to it weakly: the fixture keeps it alive


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch, client: FakeClient, fake_session: FakeSession) -> ft.Page:
    """A real ``ft.Page`` (of a fake session) that every backend takes for the current one."""
    page = ft.Page(sess=fake_session)  # type: ignore[arg-type]
    monkeypatch.setattr(page_module, "context_page", lambda: page)
    return page


class TestContract(BackendContract):
    @pytest.fixture
    def backend(self, page: ft.Page) -> SecureStorageBackend:
        return SecureStorageBackend()


class TestContractWithOptions(BackendContract):
    @pytest.fixture
    def backend(self, page: ft.Page) -> SecureStorageBackend:
        return SecureStorageBackend(web_options=WebOptions(public_key="other"))


# -- the stored text ------------------------------------------------------------------------

raw_values: st.SearchStrategy[RawValue] = st.one_of(
    st.text(),
    st.text().map(lambda text: MARK + text),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.text()),
)


@given(raw_values)
def test_every_raw_value_round_trips_with_its_type(value: RawValue) -> None:
    text = encode(value)
    assert isinstance(text, str)
    back = decode(text)
    assert back == value
    assert type(back) is type(value)


def test_nan_and_signed_zero_round_trip() -> None:
    nan = decode(encode(math.nan))
    assert isinstance(nan, float)
    assert math.isnan(nan)
    zero = decode(encode(-0.0))
    assert zero == 0.0
    assert isinstance(zero, float)
    assert math.copysign(1, zero) == -1


def test_stored_text() -> None:
    assert encode("plain") == "plain"
    assert encode("") == ""
    assert encode('fs2:{"a": 1}') == 'fs2:{"a": 1}'  # what FletStorage writes: stored as is
    assert encode(MARK + "x") == MARK + "s" + MARK + "x"
    assert encode(-42) == MARK + "i-42"
    assert encode(1_700_000_000.5) == MARK + "f1700000000.5"  # an expiry mark
    assert encode(True) == MARK + "b1"
    assert encode(False) == MARK + "b0"
    assert encode(["a", "ü", "\ud800"]) == MARK + 'l["a", "\\u00fc", "\\ud800"]'


@pytest.mark.parametrize("bad", [{"a": 1}, [1, 2], ("a",), None, b"x", object()])
def test_encode_rejects_what_shared_preferences_rejects(bad: Any) -> None:
    with pytest.raises(ValueError, match="Unsupported value type"):
        encode(bad)


@given(st.text())
def test_text_is_read_as_itself_unless_it_is_exactly_an_encoding(text: str) -> None:
    value = decode(text)
    assert value == text or encode(value) == text  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        MARK,
        MARK + "s",  # "s" only escapes text that starts with MARK
        MARK + "sabc",
        MARK + "i",
        MARK + "i007",
        MARK + "i1_000",
        MARK + "i 1",
        MARK + "f2.50",
        MARK + "fnope",
        MARK + "b",
        MARK + "btrue",
        MARK + "l",
        MARK + "l[1]",
        MARK + 'l["a",  "b"]',
        MARK + 'l"a"',
        MARK + "l" + "[" * 100_000,
        MARK + "x1",
    ],
)
def test_foreign_text_starting_with_the_mark_reads_as_itself(text: str) -> None:
    assert decode(text) == text


def test_decode_of_missing_is_none() -> None:
    assert decode(None) is None


# -- the backend on the fake service ----------------------------------------------------------


async def test_values_are_stored_as_text_a_plain_secure_storage_reads(
    page: ft.Page, client: FakeClient
) -> None:
    backend = SecureStorageBackend()
    await backend.set("s", "text")
    await backend.set("n", 3)
    await backend.set("l", ["x"])
    stored = client.stores["FletSecureStorage"]
    assert stored == {"s": "text", "n": MARK + "i3", "l": MARK + 'l["x"]'}
    assert await SecureStorage().get("s") == "text"
    client.stores["FletSecureStorage"]["foreign"] = "written elsewhere"
    assert await backend.get("foreign") == "written elsewhere"


async def test_one_service_per_page_connection_and_options(
    page: ft.Page, fake_session: FakeSession
) -> None:
    a, b = SecureStorageBackend(), SecureStorageBackend()
    assert a.service() is b.service()
    assert a.scope() is b.scope()
    other = SecureStorageBackend(web_options=WebOptions(public_key="other"))
    assert other.service() is not a.service()
    assert other.scope() is not a.scope()
    assert other.service().web_options.public_key == "other"

    # Not the page: the page is SharedPreferencesBackend's scope, another store.
    scopes: list[object] = [a.scope(), SharedPreferencesBackend().scope()]
    assert scopes[0] is not scopes[1]

    scope, service, generation = a.scope(), a.service(), a.generation()
    assert generation is fake_session.connection
    a.on_timeout()
    assert a.service() is not service  # a fresh service after a call got no answer
    assert a.scope() is scope  # the same store: cache, listeners and locks stay
    service = a.service()
    fake_session.connection = object()  # the client reconnected
    assert a.generation() is not generation
    assert a.service() is not service
    assert a.scope() is scope


async def test_options_are_copied(page: ft.Page, client: FakeClient) -> None:
    options = WebOptions(public_key="mine")
    backend = SecureStorageBackend(web_options=options)
    options.public_key = "changed"
    assert backend.service().web_options.public_key == "mine"
    assert backend.service().web_options is not options
    await backend.set("k", "v")
    assert client.stores == {"mine": {"k": "v"}}


async def test_stores_of_other_options_are_separate(page: ft.Page, client: FakeClient) -> None:
    a = FletStorage("app", backend=SecureStorageBackend())
    b = FletStorage("app", backend=SecureStorageBackend(web_options=WebOptions(public_key="b")))
    await a.set("k", "in a")
    assert await b.get_or_default("k", None) is None
    await b.clear()
    assert await a.get("k") == "in a"


def test_no_page_outside_a_page_context(client: FakeClient) -> None:
    backend = SecureStorageBackend()
    for call in (backend.scope, backend.generation, backend.service):
        with pytest.raises(NoPageError, match="SecureStorage"):
            call()
    backend.on_timeout()  # nothing to forget


async def test_fletstorage_on_secure_storage(
    page: ft.Page, client: FakeClient, clock: FakeClock
) -> None:
    backend = SecureStorageBackend()
    storage = FletStorage("app", backend=backend, clock=clock)
    value = {"token": "secret", "scopes": {"read", "write"}, "n": 1.5}
    await storage.set("auth", value)
    await storage.set("session", "s3cr3t", ttl=60)
    assert await storage.get("auth") == value
    assert sorted(await storage.get_keys()) == ["auth", "session"]
    stored = client.stores["FletSecureStorage"]
    # FletStorage's own text is stored as is, its expiry mark (text too) included.
    assert not any(text.startswith(MARK) for text in stored.values())
    marks = [text for key, text in stored.items() if not key.startswith("app.")]
    assert marks == [repr(clock.now + 60)]
    clock.advance(61)
    assert await storage.get_or_default("session", "expired") == "expired"
    await settle(storage)
    assert sorted(stored) == ["app.auth"]
    await storage.clear()
    assert client.stores["FletSecureStorage"] == {}


async def test_cached_storage_lists_keys_with_get_all(page: ft.Page, client: FakeClient) -> None:
    storage = FletStorage("app", backend=SecureStorageBackend(), cache=True)
    await storage.set("a", 1)
    await storage.set("b", [1, 2])
    client.calls.clear()
    assert await storage.get("a") == 1
    assert await storage.get("b") == [1, 2]
    assert [method for _, method in client.calls].count("get_all") <= 2
    assert "get_keys" not in [method for _, method in client.calls]


def test_import_flet_storage_without_the_extra() -> None:
    """``import flet_storage`` works without flet-secure-storage; the backend says what to
    install."""
    code = (
        "import sys\n"
        "sys.modules['flet_secure_storage'] = None  # as if not installed\n"
        "import flet_storage\n"
        "from flet_storage import SecureStorageBackend\n"
        "try:\n"
        "    SecureStorageBackend()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert 'pip install "flet-storage[secure]"' in out.stdout
    assert "flet-secure-storage" in out.stdout


async def test_encryption_on_secure_storage(page: ft.Page, client: FakeClient) -> None:
    """FletStorage's own encryption (a key kept by the server) stores text: as is here."""
    from flet_storage import Encryption

    storage = FletStorage(
        "app", backend=SecureStorageBackend(), encryption=Encryption(Encryption.generate_key())
    )
    await storage.set("token", "s3cr3t")
    assert await storage.get("token") == "s3cr3t"
    text = client.stores["FletSecureStorage"]["app.token"]
    assert "s3cr3t" not in text
    assert not text.startswith(MARK)


def test_flet_before_1_0_5_is_refused_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    """flet-secure-storage before 1.0.5 (pinned to the Flet of its version) is not what the
    backend is tested on: the constructor says what to upgrade, not a traceback later."""
    from flet_storage.backends import _secure

    monkeypatch.setattr(_secure, "FLET_VERSION", "0.82.2")
    with pytest.raises(ImportError, match=r"needs flet-secure-storage >= 1\.0\.5") as info:
        SecureStorageBackend()
    assert "Flet 0.82.2" in str(info.value)
    assert 'pip install -U "flet-storage[secure]" "flet>=1.0.5"' in str(info.value)
    monkeypatch.setattr(_secure, "FLET_VERSION", "1.0.5")
    SecureStorageBackend()

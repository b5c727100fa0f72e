"""Flet's SecureStorage service (flet-secure-storage) and SecureStorageBackend on the real
web client.

First what the prebuilt client (flet-web's ``main.dart.js``) does with the plain service,
measured here and relied on by the backend and by the fake in ``tests/test_secure_backend.py``;
then the backend contract and FletStorage end to end.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import flet as ft
import flet_web
import pytest
from flet_secure_storage import SecureStorage, WebOptions

from flet_storage import BackendError, FletStorage, SecureStorageBackend

from .harness import CHROMIUM_ARGS, Browser, Client, FletServer

KEY = "FletSecureStorage"  # WebOptions.public_key: the AES key's name, and the items' prefix

# An app-supplied AES key (base64) that wraps the storage key: localStorage alone then does
# not decrypt the values. Its own public key: a store's key is either wrapped or not.
WRAPPED = WebOptions(
    public_key="wrapped",
    wrap_key=base64.b64encode(bytes(range(32))).decode(),
    wrap_key_iv=base64.b64encode(bytes(12)).decode(),
)

# -- the service on the prebuilt client -------------------------------------------------------


def test_prebuilt_client_includes_the_extension() -> None:
    """flet-web's prebuilt client binds the control type "SecureStorage" to a service."""
    js = (Path(flet_web.__file__).parent / "web" / "main.dart.js").read_text("utf-8")
    assert 'case"SecureStorage":return new ' in js
    assert "Unknown SecureStorage method: " in js
    assert "FlutterSecureStorageWeb only works in secure contexts" in js


async def test_service_answers(client: Client) -> None:
    async def fn(page: ft.Page) -> dict[str, Any]:
        s = SecureStorage()
        return {
            "get_missing": await s.get("k"),
            "contains_missing": await s.contains_key("k"),
            "set": await s.set("k", "héllo ✓"),
            "get": await s.get("k"),
            "contains": await s.contains_key("k"),
            "set_empty": await s.set("app.e", ""),
            "get_empty": await s.get("app.e"),
            "get_all": await s.get_all(),
            "remove": await s.remove("k"),
            "remove_missing": await s.remove("k"),
            "get_removed": await s.get("k"),
            "availability": await s.get_availability(),  # iOS and macOS only
        }

    assert await client.run(fn) == {
        "get_missing": None,
        "contains_missing": False,
        "set": None,
        "get": "héllo ✓",
        "contains": True,
        "set_empty": None,
        "get_empty": "",
        "get_all": {"k": "héllo ✓", "app.e": ""},
        "remove": None,
        "remove_missing": None,
        "get_removed": None,
        "availability": None,
    }


async def test_web_stores_ciphertext_and_its_key_in_local_storage(client: Client) -> None:
    async def fn(page: ft.Page) -> None:
        await SecureStorage().set("token", "s3cr3t-value")

    await client.run(fn)
    stored = await client.local_storage()
    # The AES-GCM key, raw, base64 (32 bytes), sits beside the values it encrypts.
    assert len(stored[KEY]) == 44
    iv, ciphertext = stored[f"{KEY}.token"].split(".")  # AES-GCM: a 12-byte IV, base64
    assert len(iv) == 16
    assert len(ciphertext) == 40  # 12 bytes of text + a 16-byte tag, base64
    assert "s3cr3t" not in json.dumps(stored)

    # Anyone who can read localStorage decrypts it with WebCrypto: the key is right there.
    plain = await client.evaluate(
        """async ([keyName, item]) => {
            const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
            const [iv, data] = localStorage.getItem(item).split(".");
            const key = await crypto.subtle.importKey(
                "raw", b64(localStorage.getItem(keyName)), "AES-GCM", false, ["decrypt"]);
            const plain = await crypto.subtle.decrypt(
                {name: "AES-GCM", iv: b64(iv)}, key, b64(data));
            return new TextDecoder().decode(plain);
        }""",
        [KEY, f"{KEY}.token"],
    )
    assert plain == "s3cr3t-value"


async def test_web_wrap_key_stores_the_key_wrapped(client: Client) -> None:
    async def fn(page: ft.Page) -> object:
        backend = SecureStorageBackend(web_options=WRAPPED)
        await backend.set("token", "s3cr3t-value")
        return await backend.get("token")

    assert await client.run(fn) == "s3cr3t-value"
    stored = await client.local_storage()
    assert len(stored["wrapped"]) == 64  # the 32-byte key + a 16-byte AES-GCM tag, base64
    assert KEY not in stored


@pytest.mark.parametrize("value", [42, 2.5, True, ["a", "b"]])
async def test_service_takes_only_str(client: Client, value: Any) -> None:
    async def fn(page: ft.Page) -> None:
        await SecureStorage().set("typed", value)

    with pytest.raises(RuntimeError, match="Runtime type check failed"):
        await client.run(fn)


async def test_web_needs_a_secure_context(chromium: str, server: FletServer) -> None:
    """Over plain http from a host that is not the local machine (here a name Chromium maps
    to 127.0.0.1), writes fail: WebCrypto is only there in secure contexts."""
    rule = "--host-resolver-rules=MAP insecure.test 127.0.0.1"
    browser = Browser(chromium, args=(*CHROMIUM_ARGS, rule))
    browser.start()
    try:
        profile = await browser.open_profile()
        client = await profile.open(server, base_url=f"http://insecure.test:{server.port}/")
        assert await client.evaluate("() => window.isSecureContext") is False

        async def fn(page: ft.Page) -> dict[str, object]:
            s = SecureStorage()
            out: dict[str, object] = {"contains": await s.contains_key("k")}
            try:
                out["set"] = await s.set("k", "v")
            except RuntimeError as exc:
                out["set"] = str(exc)
            out["get"] = await s.get("k")
            try:
                await FletStorage("app", backend=SecureStorageBackend()).set("k", 1)
            except BackendError as exc:
                out["FletStorage.set"] = type(exc).__name__
            return out

        out = await client.run(fn)
    finally:
        browser.stop()
    assert out == {
        "contains": False,
        "set": "Unsupported operation: FlutterSecureStorageWeb only works in secure contexts "
        "Refer to the documentation for more information: "
        "https://pub.dev/packages/flutter_secure_storage#configure-web-version",
        "get": None,
        "FletStorage.set": "BackendError",
    }


async def test_undecryptable_value(client: Client) -> None:
    """A value that no longer decrypts (written under another key, or tampered with) is in
    ``contains_key``, and ``get`` and ``get_all`` fail with WebCrypto's ``OperationError``
    until it is removed."""

    async def write(page: ft.Page) -> None:
        await SecureStorage().set("k", "v")

    await client.run(write)
    await client.evaluate(
        "(item) => localStorage.setItem(item, 'AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA==')",
        f"{KEY}.k",
    )

    async def read(page: ft.Page) -> dict[str, object]:
        s = SecureStorage()
        out: dict[str, object] = {"contains": await s.contains_key("k")}
        for name, call in (("get", s.get("k")), ("get_all", s.get_all())):
            try:
                out[name] = await call
            except RuntimeError as exc:
                out[name] = f"RuntimeError: {exc}"
        await s.remove("k")
        out["get_all_after_remove"] = await s.get_all()
        return out

    assert await client.run(read) == {
        "contains": True,
        "get": "RuntimeError: OperationError",
        "get_all": "RuntimeError: OperationError",
        "get_all_after_remove": {},
    }


async def test_secure_storage_and_shared_preferences_are_separate(client: Client) -> None:
    async def fn(page: ft.Page) -> dict[str, Any]:
        secure, prefs = SecureStorage(), ft.SharedPreferences()
        await secure.set("same", "secure")
        await prefs.set("same", "prefs")
        out = {"prefs_keys": await prefs.get_keys(""), "secure_all": await secure.get_all()}
        await secure.clear()
        out["prefs_after_secure_clear"] = await prefs.get("same")
        await secure.set("same", "secure")
        await prefs.clear()
        out["secure_after_prefs_clear"] = await secure.get("same")
        return out

    assert await client.run(fn) == {
        "prefs_keys": ["same"],
        "secure_all": {"same": "secure"},
        "prefs_after_secure_clear": "prefs",
        "secure_after_prefs_clear": "secure",
    }


# -- FletStorage on SecureStorageBackend ------------------------------------------------------


async def test_fletstorage_end_to_end(client: Client, app_name: str) -> None:
    value = {"token": "s3cr3t", "scopes": {"read", "write"}, "expires": 1.5, "n": 3}

    async def write(page: ft.Page) -> dict[str, Any]:
        storage = FletStorage(app_name, backend=SecureStorageBackend())
        await storage.set("auth", value)
        await storage.set("short", "gone soon", ttl=60)
        await storage.set("count", 0)
        await asyncio.gather(*(storage.increment("count") for _ in range(5)))
        return {
            "auth": await storage.get("auth"),
            "keys": sorted(await storage.get_keys()),
            "count": await storage.get("count"),
            "prefs": await FletStorage(app_name).get_keys(),
        }

    assert await client.run(write) == {
        "auth": value,
        "keys": ["auth", "count", "short"],
        "count": 5,
        "prefs": [],  # SharedPreferences of the same namespace: another store
    }
    stored = await client.local_storage()
    items = {key for key in stored if key.startswith(f"{KEY}.")}
    assert f"{KEY}.{app_name}.auth" in items
    assert not any(key.startswith(f"flutter.{app_name}") for key in stored)
    assert "s3cr3t" not in json.dumps(stored)

    await client.reload()  # a new session or the same one reconnected: either way a new client

    async def read(page: ft.Page) -> tuple[object, object, list[str], list[str]]:
        storage = FletStorage(app_name, backend=SecureStorageBackend())
        auth = await storage.get("auth")
        raw = await SecureStorage().get(f"{app_name}.count")  # FletStorage's own text, as is
        keys = sorted(await storage.get_keys())
        await storage.clear()
        return auth, raw, keys, await storage.get_keys()

    assert await client.run(read) == (value, "5", ["auth", "count", "short"], [])


async def test_backend_after_a_reconnect_and_a_reload(client: Client, app_name: str) -> None:
    """A reconnected client never answers a service registered before (flet-dev/flet#6412),
    and a reloaded one re-reads storage: the backend registers a fresh service per connection
    and a cache of another connection is dropped, as with SharedPreferencesBackend."""

    async def load_then_write_behind_its_back(page: ft.Page) -> tuple[object, object]:
        cached = FletStorage(app_name, backend=SecureStorageBackend(), cache=True)
        await cached.set("k", "before")
        await cached.get("k")  # the first read loads the cache
        await SecureStorage().set(f"{app_name}.k2", '"raw"')  # not through FletStorage
        return await cached.get("k"), await cached.get_or_default("k2")

    async def read_write(page: ft.Page) -> tuple[object, object, object]:
        cached = FletStorage(app_name, backend=SecureStorageBackend(), cache=True, timeout=5)
        k2 = await cached.get_or_default("k2")
        await cached.set("k", "after")
        return await cached.get("k"), k2, await SecureStorage().get(f"{app_name}.k")

    assert await client.run(load_then_write_behind_its_back) == ("before", None)
    await client.reconnect()
    assert await client.run(read_write) == ("after", "raw", '"after"')
    await client.reload()
    assert await client.run(read_write) == ("after", "raw", '"after"')

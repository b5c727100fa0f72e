"""Requirement 7: the backend contract (``flet_storage.testing.CONTRACT``) holds on the real
client, for plain ``ft.SharedPreferences``, ``SharedPreferencesBackend`` and
``SecureStorageBackend`` (with the web options that change where and how it stores).

All checks share one tab of a profile of their own: ``check_clear`` wipes that profile's
whole localStorage, so the two ``check_clear`` runs come last.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import flet as ft
import pytest
import pytest_asyncio
from flet_secure_storage import WebOptions

from flet_storage import SecureStorageBackend, SharedPreferencesBackend
from flet_storage.backends import Backend
from flet_storage.testing import CONTRACT

from .harness import Browser, Client, FletServer
from .test_secure_storage import WRAPPED

Check = Callable[[Backend], Awaitable[None]]

BACKENDS: dict[str, Callable[[], Backend]] = {
    "ft.SharedPreferences": ft.SharedPreferences,
    "SharedPreferencesBackend": SharedPreferencesBackend,
    "SecureStorageBackend": SecureStorageBackend,
    "SecureStorageBackend-public_key": lambda: SecureStorageBackend(
        web_options=WebOptions(public_key="other")
    ),
    "SecureStorageBackend-session_storage": lambda: SecureStorageBackend(
        web_options=WebOptions(use_session_storage=True)
    ),
    "SecureStorageBackend-wrap_key": lambda: SecureStorageBackend(web_options=WRAPPED),
}

CASES = [(kind, check) for check in CONTRACT for kind in BACKENDS]
assert CASES[-1][1].__name__ == "check_clear"  # CONTRACT keeps the wiping check last


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def contract_client(browser: Browser, server: FletServer) -> AsyncIterator[Client]:
    """One tab, in a profile no other test uses, for every check."""
    profile = await browser.open_profile()
    try:
        yield await profile.open(server)
    finally:
        await profile.close()


@pytest.mark.parametrize(
    ("kind", "check"), CASES, ids=[f"{kind}-{check.__name__}" for kind, check in CASES]
)
async def test_contract(contract_client: Client, kind: str, check: Check) -> None:
    async def fn(page: ft.Page) -> None:
        await check(BACKENDS[kind]())

    await contract_client.run(fn)

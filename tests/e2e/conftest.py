"""Fixtures for the real-client end-to-end tests: one server and one browser per session.

Every test in this directory gets the ``e2e`` marker (deselect with ``-m "not e2e"``).
Without Chromium the tests are skipped, except on CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from .harness import (
    CHROMIUM_ENV,
    CHROMIUM_NAMES,
    Browser,
    Client,
    FletServer,
    Profile,
    find_chromium,
)

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the Chromium to drive; skips (fails on CI) when there is none."""
    path = find_chromium()
    if path is None:
        reason = (
            f"no Chromium for the e2e tests: set ${CHROMIUM_ENV} or put one of "
            f"{', '.join(CHROMIUM_NAMES)} on PATH"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def server() -> Iterator[FletServer]:
    """The Flet app under uvicorn on 127.0.0.1 (one port for the whole session)."""
    server = FletServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser(chromium: str, server: FletServer) -> Iterator[Browser]:
    """Playwright with Chromium (closed before the server, so websockets close cleanly)."""
    browser = Browser(chromium)
    browser.start()
    yield browser
    browser.stop()


@pytest.fixture
async def profile(browser: Browser) -> AsyncIterator[Profile]:
    """A fresh Chromium profile (own user-data-dir, so own localStorage) for one test."""
    profile = await browser.open_profile()
    yield profile
    await profile.close()


@pytest.fixture
async def client(profile: Profile, server: FletServer) -> Client:
    """A tab of ``profile`` connected to the app: run code in its page with ``client.run``."""
    return await profile.open(server)


@pytest.fixture
def app_name(request: pytest.FixtureRequest) -> str:
    """A namespace no other test uses."""
    return f"e2e_{request.node.name}_{secrets.token_hex(3)}".replace("[", "_").replace("]", "")

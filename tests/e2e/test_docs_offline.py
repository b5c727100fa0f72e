"""The documentation site opened from disk (file://) in Chromium: the navigation lands on
pages, and the search starts and finds what it should (docs/javascripts/file-worker.js and
scripts/mkdocs_hooks.py make that possible); the home page shows the demo; Getting
started's code fits its blocks on a desktop's width."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .harness import CHROMIUM_ARGS

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("material", reason="the docs dependency group is not installed")
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=True,
        timeout=600,
    )
    return site


async def test_the_site_works_from_disk_navigation_and_search(chromium: str, site: Path) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=list(CHROMIUM_ARGS)
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto((site / "index.html").as_uri())
            demo = page.get_by_role("img", name="The demo app", exact=False)
            assert await demo.evaluate("(img) => img.complete && img.naturalWidth") > 1000

            # the navigation opens a page, not a directory listing
            await page.get_by_role("link", name="Getting started", exact=True).first.click()
            assert page.url == (site / "guides" / "getting-started.html").as_uri()
            await expect(page).to_have_title("Getting started - flet-storage")
            overflowing = await page.evaluate(
                "() => [...document.querySelectorAll('pre > code')]"
                ".filter((code) => code.scrollWidth > code.clientWidth)"
                ".map((code) => code.innerText.slice(0, 60))"
            )
            assert overflowing == []  # no line hidden behind a scroll bar

            # the search starts and finds the Security page's rotation section first
            search = page.get_by_role("textbox", name="Search")
            await search.click()
            await search.press_sequentially("reencrypt")
            first = page.locator(".md-search-result__item").first
            await expect(first).to_contain_text("Rotating keys: reencrypt()")
            await first.get_by_role("link").first.click()
            assert page.url.startswith((site / "security.html").as_uri())
            assert errors == []
        finally:
            await browser.close()

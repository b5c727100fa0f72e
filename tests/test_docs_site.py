"""The documentation site builds with `mkdocs build --strict`, so a broken link or
cross-reference fails it; its API reference shows every public name with its docstring; it
loads nothing from elsewhere; and it works opened from disk (file://): every link names a
file, and the search has its index as a script. (tests/e2e/test_docs_offline.py opens it from
disk in Chromium and searches it.)

Needs the `docs` dependency group (a default group: `uv sync` installs it). Without it these
tests are skipped, except under CI=true, where they fail.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent
TOOLCHAIN = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "griffe")


def _missing_toolchain() -> list[str]:
    missing = []
    for module in TOOLCHAIN:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # the parent package of a dotted name is missing
            found = False
        if not found:
            missing.append(module)
    return missing


@pytest.fixture(scope="module", autouse=True)
def _docs_toolchain() -> None:
    missing = _missing_toolchain()
    if not missing:
        return
    reason = f"the docs dependency group is not installed ({', '.join(missing)}): uv sync"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Build:
    returncode: int
    output: str
    site: Path


def _build(config: Path, site: Path) -> Build:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
        check=False,
    )
    return Build(result.returncode, result.stdout + result.stderr, site)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return _build(ROOT / "mkdocs.yml", tmp_path_factory.mktemp("site"))


def test_site_builds_strictly(build: Build) -> None:
    assert build.returncode == 0, build.output
    assert "WARNING" not in build.output, build.output
    assert (build.site / "index.html").is_file()
    assert (build.site / "img" / "results.png").is_file()


def test_every_docs_page_is_built(build: Build) -> None:
    """Every page is in the nav (strict mode refuses omitted ones) and becomes a page.html
    (not page/index.html, which a browser shows as a directory listing from disk)."""
    pages = sorted((ROOT / "docs").rglob("*.md"))
    assert len(pages) >= 20
    for page in pages:
        built = build.site / page.relative_to(ROOT / "docs").with_suffix(".html")
        assert built.is_file(), page


def test_every_link_names_a_file_so_the_site_works_from_disk(build: Build) -> None:
    """Opened from disk, a link to a directory shows a listing: every local link and
    resource of every page must name a file that exists."""
    assert build.returncode == 0, build.output
    checked = 0
    for page in build.site.rglob("*.html"):
        if page.name == "404.html":  # a server's page for a missing one: absolute links
            continue
        source = page.read_text()
        for target in re.findall(r'<(?:a|link|script|img)\b[^>]*?(?:href|src)="([^"]*)"', source):
            if re.match(r"[a-z]+:|#|//", target):  # elsewhere, or on the same page
                continue
            path = html.unescape(target).split("#")[0].split("?")[0]
            resolved = (page.parent / path).resolve()
            assert resolved.is_file(), f"{page.relative_to(build.site)} links to {target}"
            checked += 1
    assert checked > 1000


def test_the_search_has_what_it_needs_from_disk(build: Build) -> None:
    """From file:// Material loads the index as search/search_index.js (a fetch of the
    JSON is refused), and every page loads the worker stand-in before Material's script."""
    index = (build.site / "search" / "search_index.json").read_text()
    script = (build.site / "search" / "search_index.js").read_text()
    assert script == f"var __index = {index}"
    for page in build.site.rglob("*.html"):
        source = page.read_text()
        if "assets/javascripts/bundle." not in source:  # e.g. a redirect page
            continue
        worker = source.find("javascripts/file-worker.js")
        assert 0 <= worker < source.find("assets/javascripts/bundle."), page


def _search_tokens(index: dict[str, Any], text: str) -> set[str]:
    """The words lunr indexes in ``text``: split at the index's separator, trimmed of
    non-word characters at both ends (lunr's trimmer), lower-cased."""
    words = re.split(index["config"]["separator"], html.unescape(re.sub(r"<[^>]+>", " ", text)))
    return {re.sub(r"^\W+|\W+$", "", word).lower() for word in words} - {""}


def test_search_finds_reencrypt_on_the_security_page(build: Build) -> None:
    """ "reencrypt" is a word of the Security page's rotation heading, not only part of
    `storage.reencrypt()`, so a search for it lands there."""

    index = json.loads((build.site / "search" / "search_index.json").read_text())
    titles = {
        doc["location"]: _search_tokens(index, doc["title"])
        for doc in index["docs"]
        if doc["location"].startswith("security.html")
    }
    assert any("reencrypt" in words for words in titles.values()), titles
    (rotation,) = [
        d for d in index["docs"] if d["location"] == "security.html#how-encryption-works"
    ]
    assert "reencrypt" in _search_tokens(index, rotation["text"])  # storage.reencrypt(): split


def _text(page: Path) -> str:
    """The page's visible text without whitespace (tags may split or join words)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", "", page.read_text(), flags=re.DOTALL)
    return re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", body)))


def _plain(markdown: str) -> str:
    """A line of docstring Markdown as `_text` shows it: no links, code marks or spaces."""
    text = re.sub(r"\[([^\]]*)\]\[[^\]]*\]", r"\1", markdown)
    return re.sub(r"\s+", "", text.replace("`", "").replace("*", ""))


def _public_objects() -> list[tuple[list[str], Any]]:
    """Each public name with the reference anchors that may document it, and its griffe
    object. A name re-exported by `flet_storage` may be documented under either path."""
    import griffe

    package = griffe.load("flet_storage", search_paths=[str(ROOT / "src")])
    import flet_storage
    import flet_storage.backends
    import flet_storage.testing

    found: list[tuple[list[str], Any]] = [
        ([f"flet_storage.{name}"], package[name]) for name in flet_storage.__all__
    ]
    for module in (flet_storage.backends, flet_storage.testing):
        short = module.__name__.removeprefix("flet_storage.")
        for name in module.__all__:
            anchors = [f"{module.__name__}.{name}"]
            if name in flet_storage.__all__:
                anchors.append(f"flet_storage.{name}")
            found.append((anchors, package[f"{short}.{name}"]))
    return found


def test_reference_shows_every_public_name_with_its_docstring(build: Build) -> None:
    assert build.returncode == 0, build.output
    pages = {page: page.read_text() for page in (build.site / "reference").rglob("*.html")}
    checked = 0
    for anchors, obj in _public_objects():
        where = [page for page, source in pages.items() for a in anchors if f'id="{a}"' in source]
        assert where, f"{anchors[0]} has no entry in the API reference"
        assert obj.docstring is not None, f"{anchors[0]} has no docstring"
        first_line = _plain(obj.docstring.value.splitlines()[0])
        assert any(first_line in _text(page) for page in where), (anchors[0], first_line)
        checked += 1
    assert checked >= 25


def test_module_docstrings_are_shown(build: Build) -> None:
    import flet_storage
    import flet_storage.backends
    import flet_storage.testing

    text = " ".join(_text(page) for page in (build.site / "reference").rglob("*.html"))
    for module in (flet_storage, flet_storage.backends, flet_storage.testing):
        assert module.__doc__ is not None
        assert _plain(module.__doc__.splitlines()[0]) in text, module.__name__


def test_site_loads_nothing_from_elsewhere(build: Build) -> None:
    """No web fonts or scripts from a CDN: the site works offline and tells no one."""
    assert build.returncode == 0, build.output
    for page in build.site.rglob("*"):
        if page.suffix not in (".html", ".css", ".js"):
            continue
        source = page.read_text(errors="replace")
        assert "fonts.googleapis" not in source, page
        assert "fonts.gstatic" not in source, page
        if page.suffix == ".html":
            external = re.findall(r'<(?:link|script|img)\b[^>]*(?:href|src)="(https?:)?//', source)
            assert not external, page


def test_a_broken_link_or_reference_fails_the_build(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    page = docs / "guides" / "cleanup.md"
    page.write_text(
        page.read_text()
        + "\nSee [the missing page](missing.md) and [Nothing][flet_storage.Nothing].\n"
    )
    config = (ROOT / "mkdocs.yml").read_text()
    for setting, absolute in (
        ("docs_dir: docs", f"docs_dir: '{docs.as_posix()}'"),
        ("paths: [src]", f"paths: ['{(ROOT / 'src').as_posix()}']"),
        ("- scripts/mkdocs_hooks.py", f"- '{(ROOT / 'scripts' / 'mkdocs_hooks.py').as_posix()}'"),
    ):
        assert setting in config
        config = config.replace(setting, absolute)
    (tmp_path / "mkdocs.yml").write_text(config)
    broken = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert broken.returncode != 0
    assert "missing.md" in broken.output
    assert "flet_storage.Nothing" in broken.output

"""The agent skill, skills/flet-storage/SKILL.md: Agent Skills front matter, every Python
block runs, and it names everything a user calls.

tests/test_docs.py runs the skill's scripts (blocks with `asyncio.run(...)`) and test modules
with the docs' examples. Here the rest:

* every block is one of those, or a Flet app (a block that ends in `ft.run(...)`): no
  fragment that only compiles;
* an app runs with `ft.run` replaced by a stand-in and the default backend's SharedPreferences
  service by a MemoryBackend (no Flet page exists here): `main(page)` is awaited with a
  stand-in page that records what it shows; a component app (`page.render(App)`) is built
  with Flet's own `Renderer`, but not mounted, so a component's body and hooks run only on
  the real client (use_storage: tests/e2e/test_features.py).
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from typing import Any

import flet as ft
import pytest
from flet.components.component import Renderer
from test_docs import BLOCKS, ROOT, SCRIPTS, SKILL, TEST_MODULES

import flet_storage
from flet_storage import FletStorage, MemoryBackend, SharedPreferencesBackend

FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def front_matter() -> dict[str, str]:
    """The YAML front matter's fields: `key: value` lines, and folded (`>-`) scalars, whose
    indented lines are joined with spaces."""
    match = FRONT_MATTER.match(SKILL.read_text())
    assert match, "SKILL.md does not start with --- front matter ---"
    fields: dict[str, str] = {}
    key = ""
    for line in match.group(1).splitlines():
        if line.startswith("  ") and key:
            fields[key] = f"{fields[key]} {line.strip()}".strip()
        else:
            key, _, value = line.partition(":")
            fields[key] = "" if value.strip() == ">-" else value.strip()
    return fields


def test_front_matter_follows_the_agent_skills_format() -> None:
    fields = front_matter()
    assert set(fields) == {"name", "description", "license"}
    assert fields["name"] == SKILL.parent.name == "flet-storage"
    assert NAME.fullmatch(fields["name"])
    assert len(fields["name"]) <= 64
    assert 0 < len(fields["description"]) < 1024
    assert "Use it when" in fields["description"]  # says when to use it
    assert fields["license"] == "MIT"  # the project's (pyproject.toml)


# -- every block runs --------------------------------------------------------------------------

WHERE = SKILL.relative_to(ROOT).as_posix()
SKILL_BLOCKS = [code for where, code in BLOCKS if where.startswith(f"{WHERE}:")]
APPS = [code for code in SKILL_BLOCKS if re.search(r"^ft\.run\(", code, re.M)]


def test_every_block_runs() -> None:
    """A script or a test module (run by tests/test_docs.py), or an app (run below)."""
    assert len(SKILL_BLOCKS) >= 10
    ran = {code for where, code in SCRIPTS + TEST_MODULES if where.startswith(f"{WHERE}:")}
    fragments = [code for code in SKILL_BLOCKS if code not in ran and code not in APPS]
    assert not fragments
    assert APPS


class StandInPage:
    """What a Flet app's `main` uses of its page."""

    def __init__(self) -> None:
        self.controls: list[ft.Control] = []
        self.rendered: list[Any] = []

    def add(self, *controls: ft.Control) -> None:
        self.controls.extend(controls)

    def update(self) -> None:
        pass

    def render(self, component: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        renderer = Renderer()  # type: ignore[no-untyped-call]
        self.rendered.append(renderer.render(component, *args, **kwargs))


@pytest.fixture
def client_store(monkeypatch: pytest.MonkeyPatch) -> MemoryBackend:
    """The default backend's store, where no page exists: a MemoryBackend."""
    store = MemoryBackend()
    monkeypatch.setattr(SharedPreferencesBackend, "service", lambda self: store)
    monkeypatch.setattr(SharedPreferencesBackend, "scope", lambda self: store)
    monkeypatch.setattr(SharedPreferencesBackend, "generation", lambda self: None)
    return store


@pytest.mark.parametrize("code", APPS, ids=[f"app{n}" for n in range(1, len(APPS) + 1)])
def test_app_runs(code: str, client_store: MemoryBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    pages: list[StandInPage] = []

    def run(main: Callable[[StandInPage], Any], **options: Any) -> None:
        page = StandInPage()
        pages.append(page)
        result = main(page)
        if inspect.isawaitable(result):
            asyncio.run(result)  # type: ignore[arg-type]

    monkeypatch.setattr(ft, "run", run)
    exec(compile(code, "<SKILL.md>", "exec"), {"__name__": "__main__"})
    [page] = pages
    assert page.controls or page.rendered
    if page.controls:  # main(page) ran to its end, on the stand-in store
        assert client_store.data


def test_quickstart_stores_through_the_default_backend(client_store: MemoryBackend) -> None:
    """The stand-in is what the apps above write to: the quickstart's values land there."""
    storage = FletStorage("my_awesome_app")
    assert isinstance(storage.backend, SharedPreferencesBackend)
    asyncio.run(storage.set("user_settings", {"theme": "dark"}))
    assert client_store.data == {"my_awesome_app.user_settings": '{"theme": "dark"}'}


# -- it names what a user calls ----------------------------------------------------------------


def mentioned(name: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}\b", SKILL.read_text()) is not None


@pytest.mark.parametrize("name", [n for n in flet_storage.__all__ if n != "__version__"])
def test_names_every_public_name(name: str) -> None:
    assert mentioned(name), f"SKILL.md does not mention flet_storage.{name}"


METHODS = [
    name
    for name, member in vars(FletStorage).items()
    if not name.startswith("_") and (callable(member) or isinstance(member, property))
]


@pytest.mark.parametrize("name", METHODS)
def test_names_every_method_of_flet_storage(name: str) -> None:
    """Each method in the table of methods (with what it raises), each property by name."""
    text = SKILL.read_text()
    if isinstance(vars(FletStorage)[name], property):
        assert f"`{name}`" in text, f"SKILL.md does not mention FletStorage.{name}"
    else:
        assert re.search(rf"^\| `(await )?{name}\(", text, re.M), (
            f"SKILL.md's table of methods lacks FletStorage.{name}"
        )

"""Every Python example in the README, on the docs site, in the agent skill and in the public
API's docstrings is at least valid Python (top-level await allowed), and the complete ones run:

* a block with a top-level `asyncio.run(...)` line is a script: it runs, as `__main__`;
* a block that defines `test_` functions is a test module: pytest runs it;
* any other block (a fragment, or a Flet app ending in `ft.run(...)`) is compiled only.

The API reference (docs/reference/*.md) documents every public name.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest

import flet_storage
import flet_storage.backends
import flet_storage.testing

ROOT = Path(__file__).parent.parent
SKILL = ROOT / "skills" / "flet-storage" / "SKILL.md"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), SKILL]
# Fenced at any indentation (inside a list item, say), closed at the same indentation.
BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.DOTALL | re.MULTILINE)


# -- the public API, which docs/reference/*.md documents ------------------------------------

MODULES = (flet_storage.backends, flet_storage.testing)
DIRECTIVE = re.compile(r"^::: (\S+)", re.MULTILINE)


def documented() -> set[str]:
    """The objects the reference pages render with mkdocstrings' `::: path`."""
    return {
        name
        for page in (ROOT / "docs" / "reference").glob("*.md")
        for name in DIRECTIVE.findall(page.read_text())
    }


def public_names() -> list[tuple[str, object]]:
    """Every public name, by the paths a reader would look for, with its object."""
    names = [(f"flet_storage.{name}", getattr(flet_storage, name)) for name in flet_storage.__all__]
    for module in MODULES:
        names += [(f"{module.__name__}.{name}", getattr(module, name)) for name in module.__all__]
    return names


def _blocks() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        name = path.relative_to(ROOT).as_posix()
        for n, match in enumerate(BLOCK.finditer(path.read_text()), 1):
            found.append((f"{name}:{n}", textwrap.dedent(match.group(2))))
    return found


def _docstring_blocks() -> list[tuple[str, str]]:
    """The Python examples in the public API's docstrings, as the API reference shows them."""
    found = []
    seen: set[int] = set()
    modules = [(module.__name__, module) for module in (flet_storage, *MODULES)]
    for path, obj in [*modules, *public_names()]:
        members = [(path, obj)]
        if inspect.isclass(obj):
            members += [
                (f"{path}.{name}", member)
                for name, member in vars(obj).items()
                if not name.startswith("_") and callable(member)
            ]
        for where, member in members:
            if id(member) in seen:  # a backend is public in two modules
                continue
            seen.add(id(member))
            doc = inspect.getdoc(member) if not isinstance(member, str) else None
            for n, match in enumerate(BLOCK.finditer(doc or ""), 1):
                found.append((f"{where}:{n}", textwrap.dedent(match.group(2))))
    return found


BLOCKS = _blocks() + _docstring_blocks()
SCRIPTS = [(where, code) for where, code in BLOCKS if re.search(r"^asyncio\.run\(", code, re.M)]
TEST_MODULES = [
    (where, code) for where, code in BLOCKS if re.search(r"^(async )?def test_", code, re.M)
]


def test_docs_have_examples() -> None:
    assert len(BLOCKS) >= 40
    assert len(SCRIPTS) >= 20
    assert len(TEST_MODULES) >= 3
    assert not {where for where, _ in SCRIPTS} & {where for where, _ in TEST_MODULES}


def test_every_docs_page_is_found() -> None:
    """Nested docs directories are covered too."""
    names = {path.relative_to(ROOT).as_posix() for path in DOCS}
    assert {
        "docs/guides/getting-started.md",
        "docs/security.md",
        "README.md",
        "skills/flet-storage/SKILL.md",
    } <= names


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[where for where, _ in BLOCKS])
def test_example_compiles(code: str) -> None:
    compile(code, "<docs>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


@pytest.mark.parametrize("code", [code for _, code in SCRIPTS], ids=[where for where, _ in SCRIPTS])
def test_example_script_runs(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs in this process (no event loop is running in a sync test); its asserts hold.
    Examples read an encryption key from `FLET_STORAGE_KEY`, as an app would."""
    monkeypatch.setenv("FLET_STORAGE_KEY", flet_storage.Encryption.generate_key())
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, "<docs>", "exec"), {"__name__": "__main__"})


def _module_name(where: str) -> str:
    return "test_" + re.sub(r"\W", "_", where)


@pytest.fixture(scope="module")
def test_module_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Runs every test-module example in one pytest process (imports are slow); returns
    the outcomes of each module's tests: "passed", "failed", "error" or "skipped"."""
    root = tmp_path_factory.mktemp("doc_tests")
    for where, code in TEST_MODULES:
        (root / f"{_module_name(where)}.py").write_text(code)
    (root / "pytest.ini").write_text(
        "[pytest]\n"
        "asyncio_mode = auto\n"
        "asyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
        "addopts = -p no:cacheprovider\n"
    )
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--junitxml=results.xml"],
        capture_output=True,
        cwd=root,
        timeout=600,
        check=False,
    )
    outcomes: dict[str, list[str]] = {}
    for case in ElementTree.parse(root / "results.xml").iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        module = case.get("classname", "").split(".")[0]
        outcomes.setdefault(module, []).append(kinds[0] if kinds else "passed")
    return outcomes


@pytest.mark.parametrize("where", [where for where, _ in TEST_MODULES])
def test_example_test_module_passes(where: str, test_module_results: dict[str, list[str]]) -> None:
    outcomes = test_module_results.get(_module_name(where))
    assert outcomes, f"no test of {where} ran"
    assert set(outcomes) == {"passed"}, outcomes


def test_readme_quickstart_is_the_tested_example() -> None:
    """examples/quickstart.py runs on the real client in the e2e suite; the README and the
    getting-started guide show it."""
    example = (ROOT / "examples" / "quickstart.py").read_text()
    body = example[example.index("async def main") : example.index("\n\nif __name__")]
    body = body.replace("  # type: ignore[no-untyped-def]", "").replace("  # noqa: F841", "")
    assert body in (ROOT / "README.md").read_text()
    assert body in (ROOT / "docs" / "guides" / "getting-started.md").read_text()


async def test_features_example_runs() -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from features import main
    finally:
        sys.path.remove(str(ROOT / "examples"))
    log = await main()
    assert "token after an hour: expired" in log
    assert "visits: 10, cart: ['apple']" in log
    assert "schema version: 2, settings: {'ui': {'theme': 'dark'}}" in log
    assert log[0] == "set session_token"
    assert "expire session_token" in log


def test_reference_documents_every_public_name() -> None:
    pages = documented()
    by_object = {id(obj): path for path, obj in public_names() if path in pages}
    missing = [
        path
        for path, obj in public_names()
        # a backend re-exported by flet_storage is documented once, under that shorter path
        if path not in pages and id(obj) not in by_object
    ]
    assert not missing, f"not in docs/reference/*.md: {missing}"
    assert {"flet_storage", "flet_storage.backends", "flet_storage.testing"} <= pages


def test_readme_links_resolve() -> None:
    """The README's relative links (to the guides, examples, bench) name files that exist;
    the docs site's own links are checked by its strict build (tests/test_docs_site.py)."""
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    relative = [target for target in targets if not re.match(r"[a-z]+:", target)]
    assert len(relative) >= 15
    missing = [target for target in relative if not (ROOT / target).exists()]
    assert not missing, missing

"""The Python examples in the docs are at least valid Python (top-level await allowed)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", ROOT / "docs" / "codec.md", ROOT / "docs" / "secure-storage.md"]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)

blocks = [
    pytest.param(code, id=f"{path.name}:{n}")
    for path in DOCS
    for n, code in enumerate(BLOCK.findall(path.read_text()), 1)
]


def test_docs_have_examples() -> None:
    assert len(blocks) >= 10


@pytest.mark.parametrize("code", blocks)
def test_example_compiles(code: str) -> None:
    compile(code, "<docs>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_readme_quickstart_is_the_tested_example() -> None:
    """examples/quickstart.py runs on the real client in the e2e suite; the README shows it."""
    example = (ROOT / "examples" / "quickstart.py").read_text()
    readme = (ROOT / "README.md").read_text()
    body = example[example.index("async def main") : example.index("\n\nif __name__")]
    body = body.replace("  # type: ignore[no-untyped-def]", "").replace("  # noqa: F841", "")
    assert body in readme


async def test_features_example_runs() -> None:
    import sys

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

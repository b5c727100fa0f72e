"""What the shell scripts need to know from pyproject.toml, printed as ``NAME=value`` lines.

Used by scripts/matrix (``eval "$(python scripts/project_info.py)"``), so the matrix follows
the declared floors and Python versions instead of repeating them:

* ``OLDEST_PYTHON``, ``NEWEST_PYTHON``: the lowest and highest ``Programming Language ::
  Python :: 3.X`` classifiers;
* ``LOWEST_PINS``: ``name==floor`` for each ``>=`` floor of ``[project].dependencies`` and
  of the ``crypto`` extra (``flet==0.81 cryptography==42``);
* ``TEST_REQUIREMENTS``: the dev group's pytest, pytest-asyncio and hypothesis specifiers;
* ``FLET_FLOOR`` (``0.81``) and ``E2E_REQUIREMENTS`` (the dev group's playwright), for the
  e2e suite on the lowest Flet with typed values (``scripts/matrix --floor-e2e``).

Runs on the project's own Python (3.11+, for tomllib).
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest and mypy bring tomli there
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

ROOT = Path(__file__).resolve().parent.parent
TEST_TOOLS = ("pytest", "pytest-asyncio", "hypothesis")
E2E_TOOLS = ("playwright",)
EXTRAS_IN_LOWEST = ("crypto", "redis")
_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")


def _split(requirement: str) -> tuple[str, str]:
    match = _REQUIREMENT.match(requirement.strip())
    if match is None:
        raise SystemExit(f"cannot read the requirement {requirement!r}")
    return match.group(1).lower(), match.group(3).strip()


def _floor(requirement: str) -> str:
    """``name==X`` for ``name>=X`` (the only form of floor the project declares)."""
    name, specifier = _split(requirement)
    match = re.fullmatch(r">=\s*([0-9][0-9a-z.]*)", specifier)
    if match is None:
        raise SystemExit(f"{requirement!r}: expected name>=version, to test its floor")
    return f"{name}=={match.group(1)}"


def info() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    meta = project["project"]
    minors = sorted(
        int(match.group(1))
        for classifier in meta["classifiers"]
        if (match := re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", classifier))
    )
    if not minors:
        raise SystemExit("pyproject.toml lists no 'Programming Language :: Python :: 3.X'")
    floors = [_floor(r) for r in meta["dependencies"]]
    for extra in EXTRAS_IN_LOWEST:
        floors += [_floor(r) for r in meta["optional-dependencies"][extra]]
    dev = {_split(r)[0]: r for r in project["dependency-groups"]["dev"]}
    missing = [tool for tool in (*TEST_TOOLS, *E2E_TOOLS) if tool not in dev]
    if missing:
        raise SystemExit(f"the dev group lacks {', '.join(missing)}")
    return {
        "OLDEST_PYTHON": f"3.{minors[0]}",
        "NEWEST_PYTHON": f"3.{minors[-1]}",
        "LOWEST_PINS": " ".join(floors),
        "LOWEST_EXTRAS": ",".join(EXTRAS_IN_LOWEST),
        "TEST_REQUIREMENTS": " ".join(dev[tool] for tool in TEST_TOOLS),
        "FLET_FLOOR": next(f for f in floors if f.startswith("flet==")).removeprefix("flet=="),
        "E2E_REQUIREMENTS": " ".join(dev[tool] for tool in E2E_TOOLS),
    }


def main() -> None:
    for name, value in info().items():
        sys.stdout.write(f"{name}={shlex.quote(value)}\n")


if __name__ == "__main__":
    main()

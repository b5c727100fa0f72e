"""Check what the built sdist and wheel contain: ``python scripts/check_dist.py DIST_DIR``.

Called by scripts/check_package after ``uv build``. Fails (exit 1, every problem listed) if

* either archive is missing, or there is more than one of a kind;
* the sdist lacks pyproject.toml, PKG-INFO, README.md, LICENSE, CHANGELOG.md, py.typed, the
  agent skill (skills/flet-storage/SKILL.md),
  any file of the package that git tracks under src/ (when run from a git checkout) or a file
  the README links to, or carries anything that is no source: caches, virtualenvs, a built
  site, the benchmark chart and scripts, build output, bytecode;
* the wheel lacks py.typed, any module of the package, the license file or its metadata,
  carries anything outside the package and its .dist-info, or declares another version than
  ``__version__`` or other dependencies than pyproject.toml.
"""

from __future__ import annotations

import ast
import email.parser
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest and mypy bring tomli there
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "flet_storage"

SDIST_REQUIRED = (
    "pyproject.toml",
    "PKG-INFO",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
    f"src/{PACKAGE}/__init__.py",
    f"src/{PACKAGE}/py.typed",
    "skills/flet-storage/SKILL.md",  # the agent skill: shipped for assistants (README)
)
# Path parts that mark what is no source (the sdist is built from the work tree, where all of
# these may exist).
SDIST_FORBIDDEN_PARTS = {
    ".cache",
    ".venv",
    ".git",
    ".e2e",
    ".hypothesis",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "__pycache__",
    "site",
    "dist",
    "build",
}
# Paths of what is no source either: the benchmark chart and scripts (the README links only
# bench/results.md), bytecode, the lock file.
SDIST_FORBIDDEN_PATHS = re.compile(r"^bench/(?!upstream\.py$|results\.md$)|\.py[cod]$|^uv\.lock$")
# The README's relative links, which must name files the sdist has.
README_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _version() -> str:
    tree = ast.parse((ROOT / "src" / PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise SystemExit(f"no __version__ = '...' in src/{PACKAGE}/__init__.py")


def _tracked_package_files() -> set[str] | None:
    """Files git tracks under src/ (None outside a git checkout)."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "-z", "src"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return {name for name in done.stdout.split("\0") if name}


def _one(dist: Path, pattern: str, problems: list[str]) -> Path | None:
    found = sorted(dist.glob(pattern))
    if len(found) != 1:
        problems.append(f"expected one {pattern} in {dist}, found {[p.name for p in found]}")
        return None
    return found[0]


def check_sdist(path: Path, version: str, problems: list[str]) -> None:
    with tarfile.open(path) as archive:
        names = [m.name for m in archive.getmembers() if m.isfile()]
    top = f"{PACKAGE}-{version}/"
    outside = [n for n in names if not n.startswith(top)]
    if outside:
        problems.append(f"sdist: files outside {top}: {outside[:5]}")
    files = {n[len(top) :] for n in names if n.startswith(top)}
    for required in SDIST_REQUIRED:
        if required not in files:
            problems.append(f"sdist: {required} is missing")
    tracked = _tracked_package_files()
    if tracked is not None:
        for name in sorted(tracked - files):
            problems.append(f"sdist: {name} (tracked by git) is missing")
    for name in sorted(files):
        directories = PurePosixPath(name).parts[:-1]
        if SDIST_FORBIDDEN_PARTS.intersection(directories) or SDIST_FORBIDDEN_PATHS.search(name):
            problems.append(f"sdist: {name} should not be shipped")
    folders = {str(parent) for name in files for parent in PurePosixPath(name).parents}
    for target in README_LINK.findall((ROOT / "README.md").read_text()):
        if re.match(r"[a-z]+:", target):  # a URL
            continue
        target = target.rstrip("/")
        if target not in files and target not in folders:
            problems.append(f"sdist: {target}, which the README links to, is missing")
    print(f"    sdist {path.name}: {len(files)} files")


def check_wheel(path: Path, version: str, problems: list[str]) -> None:
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        info = f"{PACKAGE}-{version}.dist-info"
        metadata_name = f"{info}/METADATA"
        metadata = (
            email.parser.Parser().parsestr(archive.read(metadata_name).decode())
            if metadata_name in names
            else None
        )
    modules = {
        f"{PACKAGE}/{p.relative_to(ROOT / 'src' / PACKAGE).as_posix()}"
        for p in (ROOT / "src" / PACKAGE).rglob("*")
        if p.is_file() and (p.suffix == ".py" or p.name == "py.typed")
    }
    for required in sorted(modules | {f"{info}/licenses/LICENSE", f"{info}/RECORD"}):
        if required not in names:
            problems.append(f"wheel: {required} is missing")
    for name in sorted(names):
        if not name.startswith((f"{PACKAGE}/", f"{info}/")):
            problems.append(f"wheel: {name} is outside the package")
        elif name.endswith((".pyc", ".pyo")) or "__pycache__" in name:
            problems.append(f"wheel: {name} is bytecode")
    if metadata is None:
        problems.append(f"wheel: {metadata_name} is missing")
    else:
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        if metadata["Version"] != version:
            problems.append(f"wheel: Version {metadata['Version']}, __version__ {version}")
        declared = {r.replace(" ", "") for r in project["dependencies"]}
        requires = {r.replace(" ", "") for r in metadata.get_all("Requires-Dist") or []}
        shipped = {r for r in requires if "extra==" not in r}
        if declared != shipped:
            problems.append(f"wheel: Requires-Dist {sorted(shipped)}, declared {sorted(declared)}")
        if metadata["Requires-Python"] != project["requires-python"]:
            problems.append(f"wheel: Requires-Python {metadata['Requires-Python']}")
    print(f"    wheel {path.name}: {len(names)} files")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: {sys.argv[0]} DIST_DIR")
    dist = Path(sys.argv[1])
    version = _version()
    problems: list[str] = []
    sdist = _one(dist, "*.tar.gz", problems)
    wheel = _one(dist, "*.whl", problems)
    if sdist is not None:
        check_sdist(sdist, version, problems)
    if wheel is not None:
        check_wheel(wheel, version, problems)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    if problems:
        raise SystemExit(1)
    print(f"    contents OK (version {version})")


if __name__ == "__main__":
    main()

"""Load the real flet-storage 1.1.3 from PyPI next to ours, for compatibility tests and benchmarks.

Its import name ``flet_storage`` clashes with ours, so it is installed (without dependencies)
into a cache directory outside the project and its ``main.py`` is loaded under another module
name. None of its code is kept in this repository.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

__all__ = ["UPSTREAM_VERSION", "UpstreamUnavailable", "load_upstream"]

UPSTREAM_VERSION = "1.1.3"


class UpstreamUnavailable(RuntimeError):
    """flet-storage 1.1.3 could not be installed (typically: no network)."""


def _cache_dir(version: str) -> Path:
    root = os.environ.get("FLET_STORAGE_UPSTREAM_CACHE") or tempfile.gettempdir()
    return Path(root) / f"flet-storage-upstream-{version}"


def _install(version: str, target: Path) -> None:
    """Install into a fresh sibling directory, then rename: concurrent runs never see half."""
    requirement = f"flet-storage=={version}"
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    args = ["install", "--no-deps", "--target", str(staging), requirement]
    uv = shutil.which("uv")
    commands = [[uv, "pip", *args]] if uv else []
    commands.append([sys.executable, "-m", "pip", "-q", *args])  # where uv is missing
    errors = []
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode == 0 and (staging / "flet_storage" / "main.py").is_file():
            try:
                staging.rename(target)
            except OSError:  # another run won the race; its copy is as good
                shutil.rmtree(staging, ignore_errors=True)
            return
        errors.append(f"{command[0]}: {(done.stderr or done.stdout).strip()[-500:]}")
    shutil.rmtree(staging, ignore_errors=True)
    raise UpstreamUnavailable(f"cannot install {requirement}: " + " | ".join(errors))


def load_upstream(version: str = UPSTREAM_VERSION) -> ModuleType:
    """The module ``flet_storage.main`` of flet-storage ``version``, as ``flet_storage_<v>``.

    Raises:
        UpstreamUnavailable: it is not cached and cannot be installed.
    """
    name = "flet_storage_" + version.replace(".", "_")
    if name in sys.modules:
        return sys.modules[name]
    target = _cache_dir(version)
    main = target / "flet_storage" / "main.py"
    if not main.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        _install(version, target)
    spec = importlib.util.spec_from_file_location(name, main)
    if spec is None or spec.loader is None:
        raise UpstreamUnavailable(f"cannot load {main}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

"""The Flet release this process runs, for what its client can do.

The client always comes with the Python package of the same release (flet-web serves it,
flet-desktop starts it, `flet build` bundles it), so the package's version is the client's.
"""

from __future__ import annotations

import re

from flet.version import flet_version

__all__ = ["FLET_VERSION", "at_least"]

FLET_VERSION: str = flet_version
"""The version of the installed `flet` package, e.g. `"0.82.2"`."""


def at_least(version: str, minimum: tuple[int, int, int]) -> bool:
    """Whether `version` is `minimum` or newer. A version without three leading numbers (a
    source checkout of Flet) counts as newer: it is not one of the old releases."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    if match is None:
        return True
    return (int(match[1]), int(match[2]), int(match[3])) >= minimum

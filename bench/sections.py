"""Sections of bench/results.md that one script writes and another keeps.

bench/run.py writes the file whole; bench/bench_sync.py writes the live-sync sections. Each
replaces only its own sections (a section: a ``## `` heading and what follows it, up to the
next ``## `` heading), so neither loses what the other wrote.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["replace_section", "split_sections"]


def split_sections(text: str) -> list[tuple[str, str]]:
    """``(heading, body)`` of every ``## `` section, in order; what precedes the first is
    left out."""
    found: list[tuple[str, str]] = []
    for part in ("\n" + text).split("\n## ")[1:]:
        heading, _, body = part.partition("\n")
        found.append(("## " + heading, body))
    return found


def replace_section(path: Path, heading: str, body: str) -> None:
    """Put ``heading`` and ``body`` in the file, in place of a section of that heading, or
    at its end."""
    text = path.read_text() if path.exists() else ""
    old = dict(split_sections(text))
    block = f"{heading}\n\n{body.strip()}\n\n"
    if heading in old:
        start = text.index(f"{heading}\n")
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + block + (text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text.rstrip("\n") + "\n")

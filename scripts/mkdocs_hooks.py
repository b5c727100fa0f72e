"""mkdocs hooks (mkdocs.yml `hooks:`): the site search works from disk (file://) too.

Opened from disk, Material for MkDocs loads the search index from `search/search_index.js`
(a script, which file:// allows) instead of fetching `search_index.json` (which it does not);
this writes that script next to the index. docs/javascripts/file-worker.js runs the search
worker, which Chromium does not start from file://.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig


def on_post_build(config: MkDocsConfig) -> None:
    index = Path(config.site_dir) / "search" / "search_index.json"
    if index.is_file():
        script = index.with_suffix(".js")
        script.write_text(f"var __index = {index.read_text(encoding='utf-8')}", encoding="utf-8")

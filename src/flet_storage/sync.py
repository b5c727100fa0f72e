"""Live sync: every tab of a browser sees every write made through flet-storage in any other.

Flet's web client keeps a copy of localStorage per tab, loaded once and never reloaded, so on
its own a second tab reads stale values and never hears another tab's writes. The server
process sees every tab's operations, so it keeps what the tabs of one browser must share:

* A random 128-bit *browser id* under the reserved key `flet_storage:browser` (created by
  the first tab that needs it) tells which sessions are tabs of one browser (one
  localStorage). Only a hash of it is kept; the id itself is a bearer secret.
* The tabs of one browser share one *browser scope* in the store: the key locks (so
  `update`/`increment` are atomic across tabs) and one read mirror per namespace, loaded once
  from a tab's client and kept current by every write, which every read of every tab uses.
* Every write that lands is forwarded, in the background and in order, to the other tabs'
  clients, so their copies (and localStorage, which such a write rewrites) converge on the
  last write; a tab's own later write of a key supersedes what was still to be forwarded.
* Listeners stay per tab; a write is announced to every tab's listeners, in that tab's
  context, with `StorageEvent.remote` telling which came from another tab.

`FletStorage(..., sync=True)` (the default) uses the process's in-process bus; `sync=False`
turns it off. Only `SharedPreferencesBackend` on a web page joins a browser: desktop and
mobile clients have one copy per device, and other backends nothing to sync.
See the guide "Several tabs and processes" and docs/sync-design.md.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import re
import weakref
from typing import Any

__all__ = ["BROWSER_KEY", "Browser", "InProcessSync", "browser_tag"]

BROWSER_KEY = "flet_storage:browser"
"""Where the browser id is kept, under the reserved prefix no namespace can have."""

_ID = re.compile(r"[0-9a-f]{32}")


def browser_tag(browser_id: object) -> str | None:
    """The hash a browser is known by (never the id itself); None for no valid id (stored
    data is attacker-controlled: anything else found there counts as absent)."""
    if not isinstance(browser_id, str) or not _ID.fullmatch(browser_id):
        return None
    return hashlib.sha256(b"flet-storage/browser\0" + browser_id.encode()).hexdigest()[:32]


class Browser:
    """The tabs (pages) of one browser in this process. It is the store's scope for them:
    the store keeps the shared key locks and read mirrors on it."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.pages: weakref.WeakSet[Any] = weakref.WeakSet()

    def __repr__(self) -> str:
        return f"Browser({self.tag[:8]}…, {len(self.pages)} tabs)"


class Member:
    """One tab's part in its browser: the context its forwarded writes run in, and what is
    still to be forwarded to its client (storage key -> raw value, None: removed), newest
    only."""

    def __init__(self, browser: Browser, context: contextvars.Context) -> None:
        self.browser = browser
        self.context = context
        self.pending: dict[str, Any] = {}
        self.task: asyncio.Task[None] | None = None


class InProcessSync:
    """The in-process bus: the browsers whose tabs this process serves. One per process is
    what `sync=True` uses; the store does the rest."""

    def __init__(self) -> None:
        self._browsers: weakref.WeakValueDictionary[str, Browser] = weakref.WeakValueDictionary()

    def enter(self, page: Any, tag: str) -> Browser:
        """Add `page` to the browser known as `tag`."""
        browser = self._browsers.get(tag)
        if browser is None:
            browser = self._browsers[tag] = Browser(tag)
        browser.pages.add(page)
        return browser

    def __repr__(self) -> str:
        return f"InProcessSync({len(self._browsers)} browsers)"


DEFAULT = InProcessSync()
"""The process's in-process bus: what `sync=True` means."""

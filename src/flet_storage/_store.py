"""The store: raw values on one backend, sent in rounds of pipelined calls.

It knows storage keys and raw values only: what is stored around the codec's text, and the
key locks, are the record layer's (a write reaches the store with its keys locked). What
the FletStorage objects of one backend scope share lives in `ScopeState`: the key locks and
the log of writes, for every namespace at once (nested app names share keys); what those of
one namespace share lives in `NamespaceState`: the read cache, the listeners and the
background clean-ups.

* A round's calls go out together; the client answers them in order. The timeout bounds
  silence, not work: a round ends when no call has answered for `timeout` seconds, so a
  batch of any size completes on a live client, and one that stops answering fails.
* A read sees every write that returned before it started, and either the old or the new
  value of a write still under way.
* A write is a list of groups: a value and what must not outlive it (its expiry mark).
  Each group's first key is read in the same round (or from a loaded cache) and returned
  as its previous value. A group that fails in part gets that value back (the one undo
  path): the client keeps a write it could not persist (quota) in its memory, and a value
  must never stay without its expiry mark.
* A cache is loaded without locks and kept only if no write landed meanwhile; every write
  keeps the caches that cover its key current, and a failed or cancelled write drops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ._errors import StorageError, StorageFullError, StorageTimeoutError, logger, map_error
from ._events import ChangeKind, Listeners, announce_remote
from ._locks import KeyLocks, holding_nothing
from .backends import Backend, BaseBackend, RawValue, SharedPreferencesBackend
from .sync import BROWSER_KEY, RECENT, Browser, InProcessSync, Member, browser_tag

__all__ = [
    "Change",
    "NamespaceState",
    "Outcome",
    "ScopeState",
    "Store",
    "first_error",
    "raise_first",
    "receive",
]

Change: TypeAlias = tuple[str, "RawValue | None"]
"""A write of one storage key: `(key, raw value)`, or `(key, None)` to remove it."""
Outcome: TypeAlias = tuple["RawValue | StorageError | None", "StorageError | None"]
"""What a group of changes did: its first key's previous value (or why it could not be
read), and the group's first error (None: every change landed)."""
_Op: TypeAlias = tuple[Literal["get", "set", "remove", "keys"], str, "RawValue | None"]

_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+


@dataclass(eq=False)
class ScopeState:
    """What every FletStorage of one backend scope shares, whatever its namespace."""

    locks: KeyLocks = field(default_factory=KeyLocks)
    version: int = 0
    """Counts write rounds (failed ones too): a load is kept only if it did not change."""
    written: dict[str, int] = field(default_factory=dict)
    """Storage key -> the version of its last write: what a clean-up compares."""
    unknown: int = 0
    """The version when what the backend holds last became unknown."""
    namespaces: dict[str, NamespaceState] = field(default_factory=dict)
    browser: Browser | None = None
    """For a browser's scope, the browser whose tabs share it (see `flet_storage.sync`)."""
    member: Member | None = None
    """For a page that joined a browser, its part in it."""
    joining: asyncio.Lock | None = None
    alone: bool = False
    """A page that joins no browser (not on web)."""

    def note(self, key: str, raw: RawValue | None) -> None:
        """A write the backend confirmed: keep every cache that covers `key` current."""
        for state in self.namespaces.values():
            if state.cache is not None and key.startswith(state.prefixes):
                if raw is None:
                    state.cache.pop(key, None)
                else:
                    state.cache[key] = raw

    def landed(self, changes: Iterable[Change]) -> None:
        """Writes that landed together (elsewhere, or before the scope knew of them): one
        version, and every cache that covers their keys kept current."""
        self.version += 1
        for key, raw in changes:
            self.written[key] = self.version
            self.note(key, raw)

    def invalidate(self) -> None:
        """What the backend holds is unknown (a call failed or was cancelled)."""
        self.version += 1
        self.unknown = self.version
        for state in self.namespaces.values():
            state.cache = None

    def untouched(self, keys: Iterable[str], since: int) -> bool:
        """Whether no write of `keys` landed after version `since`, and nothing became
        unknown."""
        return self.unknown <= since and all(self.written.get(k, 0) <= since for k in keys)


class _Late:
    """The locks a tab yet to join its browser holds on its `page` (see `Store.locked`):
    the browser's are added to `stack` once it joined."""

    def __init__(self, names: list[str], exclusive: bool, page: object) -> None:
        self.names = names
        self.exclusive = exclusive
        self.page = page
        self.stack = contextlib.AsyncExitStack()
        self.scope: ScopeState | None = None
        """The browser's, once its locks are held."""
        self.open = True


_late: contextvars.ContextVar[_Late | None] = contextvars.ContextVar(
    "flet_storage_late", default=None
)
_handing: set[asyncio.Task[None]] = set()
"""Hand-overs under way (see `Store._hand_over`): referenced until done."""


def _detached() -> contextvars.Context:
    """A copy of the caller's context (its Flet page) holding no lock: for a task it starts
    and does not wait for."""
    context = holding_nothing()
    context.run(_late.set, None)
    return context


class _Writing:
    """A write of the keys of `groups` under way in `state` (`with`): what other processes
    send for them waits for it (see `InProcessSync.begin`), and if it fails, what the
    backend holds is unknown."""

    __slots__ = ("browser", "keys", "scope")

    def __init__(self, state: NamespaceState, groups: Sequence[Sequence[Change]]) -> None:
        self.scope = scope = state.scope
        self.browser = browser = scope.browser
        self.keys = [key for group in groups for key, _ in group] if browser is not None else []

    def __enter__(self) -> None:
        if self.browser is not None:
            self.browser.sync.begin(self.browser, self.keys)

    def __exit__(self, kind: object, exc: BaseException | None, trace: object) -> None:
        if exc is not None:
            self.scope.invalidate()
        if self.browser is not None:
            self.browser.sync.end(self.browser, self.keys)


@dataclass(eq=False)
class NamespaceState:
    """What every FletStorage of one namespace in one backend scope shares."""

    scope: ScopeState
    prefixes: tuple[str, ...]
    cache: dict[str, RawValue] | None = None
    """Storage key -> raw value under `prefixes`, once a cached store loaded it."""
    generation: object = None
    """The backend's generation the cache was loaded in (see `BaseBackend.generation`)."""
    loading: asyncio.Future[None] | None = None
    listeners: Listeners = field(default_factory=Listeners)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    registered: bool = False
    """Whether the namespace registered itself on this scope's client (see `_record`)."""
    """Clean-ups nobody awaits."""


class Store:
    """Rounds of calls for the storage keys under `prefixes` of namespace `app_name`."""

    def __init__(
        self,
        backend: Backend,
        app_name: str,
        prefixes: tuple[str, ...],
        timeout: float | None,
        cached: bool,
        sync: InProcessSync | None = None,
    ) -> None:
        self.backend = backend
        self.app_name = app_name
        self.prefixes = prefixes
        self.timeout = timeout
        self.cached = cached
        self._base = backend if isinstance(backend, BaseBackend) else None
        # Only the tabs of a browser, each with its own client, have something to sync.
        self._tabs = isinstance(backend, SharedPreferencesBackend)
        self._sync = sync if self._tabs else None
        # A scope that is the backend itself never changes: look its state up once.
        self._static: NamespaceState | None = None
        if self._base is None or type(self._base).scope is BaseBackend.scope:
            self._static = _namespace_state(backend, app_name, prefixes)

    def state(self) -> NamespaceState:
        """The namespace's shared state: its browser's once the page joined one."""
        if self._static is not None:
            return self._static
        assert self._base is not None
        scope = self._base.scope()
        if self._sync is not None:
            member = _scope_state(scope).member
            scope = scope if member is None else member.browser
        return _namespace_state(scope, self.app_name, self.prefixes)

    def page_state(self) -> NamespaceState:
        """The namespace's state on the caller's page (its listeners live there)."""
        if self._sync is None:
            return self.state()
        assert self._base is not None
        return _namespace_state(self._base.scope(), self.app_name, self.prefixes)

    def audiences(self) -> list[tuple[Listeners, bool]]:
        """Whose listeners hear a change made here: this page's, and those of every other
        tab of its browser (`True`: remote)."""
        here = self.page_state()
        member = here.scope.member if self._sync is not None else None
        if member is None:
            return [(here.listeners, False)]
        browser = member.browser
        page = self._base.scope() if self._base is not None else None
        return [
            (_namespace_state(tab, self.app_name, self.prefixes).listeners, tab is not page)
            for tab in list(browser.pages)
        ]

    async def join(self) -> None:
        """Join the caller's page to its browser, once per page (web pages only): the
        browser id is read, or made and stored, in a round of its own. An operation joins
        in its own first round instead (`_round`, `_first_write`, `locked`)."""
        if self._sync is not None and self._base is not None:
            await self._joining([])

    def _unjoined(self) -> bool:
        """Whether the caller's page has yet to join its browser (a round reads the id)."""
        if self._sync is None or self._base is None:
            return False
        page = self._base.scope()
        scope = _scope_state(page)
        if scope.member is None and not scope.alone and not getattr(page, "web", False):
            scope.alone = True  # not on web: one copy per device, nothing to share
        return scope.member is None and not scope.alone

    async def _round(self, ops: Sequence[_Op]) -> list[Any]:
        """A round of reads: on a page yet to join its browser, the id is read in it too."""
        if self._sync is None or self._base is None:
            return await self._send(ops)
        return await self._joining(ops)

    async def _joining(self, ops: Sequence[_Op]) -> list[Any]:
        """Send `ops` (reads) in a round that also joins the page, if it has yet to."""
        assert self._sync is not None
        assert self._base is not None
        page = self._base.scope()
        scope = _scope_state(page)
        if self._unjoined():
            if scope.joining is None:
                scope.joining = asyncio.Lock()
            async with scope.joining:
                if scope.member is None:
                    since = time.monotonic()
                    browser_id, *results = await self._send([("get", BROWSER_KEY, None), *ops])
                    raise_first([browser_id])
                    await self._enter(page, scope, browser_id, since)
                    return results
        member = scope.member
        if member is not None and not self._sync.serves(member.browser):
            self._sync.enter(page, member.browser.tag)  # a RedisSync used after another
            await self._sync.joined(member, time.monotonic())
        return await self._send(ops) if ops else []

    async def _enter(
        self, page: object, scope: ScopeState, browser_id: object, since: float
    ) -> None:
        """Join `page` to the browser `browser_id` names (made and stored if there is none):
        its client loaded storage at `since` or later."""
        assert self._sync is not None
        tag = browser_tag(browser_id)
        if tag is None:  # the first tab of this browser (or the id was tampered with)
            browser_id = secrets.token_hex(16)
            raise_first(await self._send([("set", BROWSER_KEY, browser_id)]))
            tag = browser_tag(browser_id)
        assert tag is not None
        browser = self._sync.enter(page, tag)
        shared = _scope_state(browser)
        shared.browser = browser
        # A new session's client has just loaded localStorage: the freshest copy there is.
        # The mirrors reload from the next tab that reads, so what was written outside
        # flet-storage (or while no tab was open) shows.
        shared.invalidate()
        member = scope.member = Member(browser, self, _detached(), since)
        # What landed since this tab's client loaded storage reaches it before its next
        # operation (a mirror may be loaded from its client next).
        missed = [(k, raw) for k, (t, raw, _) in browser.recent.items() if t >= since]
        _send_to(member, missed)
        # Listeners the page has already (a component subscribed, then read) hear them too.
        for app_name, namespace in list(scope.namespaces.items()):
            if missed and namespace.listeners:
                announce_remote([namespace.listeners], app_name, None, missed, {})
        await self._sync.joined(member, since)
        if member.task is not None:
            await asyncio.wait([member.task])  # not cancelled with the caller

    # -- reads ---------------------------------------------------------------------------------

    async def read(self, keys: Sequence[str]) -> list[RawValue | None]:
        """The raw values of `keys` (None: missing), in one round or from the cache."""
        if _late.get() is not None:  # read under the caller's locks: the browser's, once joined
            await self._relock()
        cache = await self._reads_cache()
        if cache is not None:
            return [cache.get(key) for key in keys]
        raws = await self._round([("get", key, None) for key in keys])
        raise_first(raws)
        if await self._relock():
            # The round joined the page under the caller's locks (an update's read): what
            # landed since its client loaded storage is newer than its answers.
            member = self.page_state().scope.member
            browser = self.state().scope.browser
            assert member is not None
            assert browser is not None
            recent = browser.recent
            raws = [
                recent[key][1] if key in recent and recent[key][0] >= member.since else raw
                for key, raw in zip(keys, raws, strict=True)
            ]
        return raws

    async def keys(self) -> list[str]:
        """Every storage key under `prefixes`: one listing call, or the cache."""
        cache = await self._reads_cache()
        if cache is not None:
            return list(cache)
        return await self._list()

    async def _reads_cache(self) -> dict[str, RawValue] | None:
        """The cache reads use (`cached=True`, or a browser's mirror once joined), loaded on
        first use; None: read the backend (and join the browser in that round)."""
        if self._unjoined():
            return None
        await self.join()  # e.g. a RedisSync storage on a page another sync joined
        state = self.state()
        return await self._cache(state) if self.cached or state.scope.browser else None

    async def _list(self) -> list[str]:
        (listed,) = answer = await self._round([("keys", "", None)])
        raise_first(answer)
        # Filtered here: a backend's listing never leaks the keys of another namespace.
        return [key for key in listed if key.startswith(self.prefixes)]

    # -- writes --------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def locked(self, names: list[str], exclusive: bool = False) -> AsyncIterator[None]:
        """Hold the locks of storage keys `names` until the block ends: the browser's, for a
        tab that joined one. `exclusive`: across processes too (an update, which reads what
        it writes). On a tab yet to join, the block's first round joins it (`read`,
        `write`): the page's locks are held until then, and the browser's from then on."""
        if self._unjoined():
            assert self._base is not None
            late = _Late(names, exclusive, self._base.scope())
            token = _late.set(late)
            try:
                async with self.state().scope.locks.hold(names), late.stack:
                    yield
            finally:
                late.open = False
                _late.reset(token)
            return
        # A block inside another holds its own locks: the outer one's late locks are not its.
        outer = _late.set(None) if _late.get() is not None else None
        try:
            await self.join()
            state = self.state()
            async with state.scope.locks.hold(names):
                browser = state.scope.browser
                if not exclusive or browser is None:
                    yield
                    return
                async with browser.sync.exclusive(browser, names):
                    yield
        finally:
            if outer is not None:
                _late.reset(outer)

    async def _relock(self) -> bool:
        """Once the caller's page joined its browser: hold the browser's locks of what the
        caller locked on the page before (see `locked`). Whether it took them now."""
        late = _late.get()
        if late is None or not late.open or self._base is None:
            return False
        scope = self.state().scope
        browser = scope.browser
        if late.scope is scope or browser is None or self._base.scope() is not late.page:
            return False
        late.scope = scope
        await late.stack.enter_async_context(scope.locks.hold(late.names))
        if late.exclusive:
            await late.stack.enter_async_context(browser.sync.exclusive(browser, late.names))
        return True

    async def write(
        self,
        groups: Sequence[Sequence[Change]],
        previous: bool = True,
        kind: ChangeKind | None = None,
    ) -> list[Outcome]:
        """Apply the groups in one round; each group's outcome, in order. The caller holds
        the locks of every key written (`locked`). `previous=False`: read nothing first
        (each previous value is then None, and nothing is put back). `kind`: how other
        processes announce a removal (None: "remove", or "expire" if it had expired)."""
        if self._sync is not None:
            if self._unjoined():
                first = await self._first_write(groups, previous, kind)
                if first is not None:
                    return first
            await self.join()
            await self._relock()
        state = self.state()
        with _Writing(state, groups):
            _, outcomes, applied, changed = await self._write(state, groups, previous)
            if applied and (state.scope.browser is not None or self._tabs):
                await self._spread(state, applied, changed, kind)
            return outcomes

    async def _first_write(
        self, groups: Sequence[Sequence[Change]], previous: bool, kind: ChangeKind | None
    ) -> list[Outcome] | None:
        """A write on a page yet to join its browser: the browser id is read in its round,
        the page joins, and what landed then goes to the browser like any write, after
        whatever landed elsewhere meanwhile (None: another task joined the page first)."""
        assert self._base is not None
        page = self._base.scope()
        scope = _scope_state(page)
        if scope.joining is None:
            scope.joining = asyncio.Lock()
        async with scope.joining:
            if scope.member is not None:
                return None
            since = time.monotonic()
            try:
                head, outcomes, applied, changed = await self._write(
                    self.state(), groups, previous, [("get", BROWSER_KEY, None)]
                )
            except BaseException:
                scope.invalidate()
                raise
            try:
                raise_first(head)
                await self._enter(page, scope, head[0], since)
            except BaseException:
                self._hand_over(since, applied, kind)
                raise
        try:
            await self._relock()
        except BaseException:
            self._hand_over(since, applied, kind)
            raise
        state = self.state()
        with _Writing(state, groups):
            return await self._adopt(
                state, groups, previous, since, outcomes, applied, changed, kind
            )

    async def _adopt(
        self,
        state: NamespaceState,
        groups: Sequence[Sequence[Change]],
        previous: bool,
        since: float,
        outcomes: list[Outcome],
        applied: list[Change],
        changed: list[Change],
        kind: ChangeKind | None,
        handing: bool = False,
    ) -> list[Outcome]:
        """What a tab's first write landed before the tab joined (at `since` or later)
        becomes the browser's (its locks held). A write of its keys that landed elsewhere
        meanwhile comes first: each previous value is that write's, and this write is sent
        to this tab's client again (one round) so that it is last everywhere. `handing`:
        this is the hand-over (no second one if it fails)."""
        browser = state.scope.browser
        assert browser is not None
        assert self._base is not None
        scope = state.scope
        here = id(self._base.scope())
        # What landed since: this tab's own writes came after this one (they went through
        # its client later, e.g. once the tab joined, before this write held the browser's
        # locks), and supersede it; other tabs' (and processes') came first.
        since_then = [
            (k, raw, origin) for k, (t, raw, origin) in browser.recent.items() if t >= since
        ]
        later = {k for k, _, tab in since_then if tab == here}
        recent = {k: raw for k, raw, tab in since_then if tab != here}
        if any(error is not None for _, error in outcomes):
            scope.invalidate()  # what the tab's client holds for a failed group is unknown
        if previous:
            outcomes = [
                (recent[group[0][0]], error) if group[0][0] in recent else (before, error)
                for group, (before, error) in zip(groups, outcomes, strict=True)
            ]
        if later:
            applied = [change for change in applied if change[0] not in later]
            changed = [change for change in changed if change[0] not in later]
        if any(key in recent for key, _ in applied):
            try:
                _, again, _, _ = await self._write(state, [applied], previous=False)
                raise_first(error for _, error in again)
            except BaseException:
                if not handing:
                    self._hand_over(since, applied, kind)
                raise
            changed = applied
        else:
            member = self.page_state().scope.member
            if member is not None:
                _supersede(member, [key for key, _ in applied])
            scope.landed(applied)
        if applied:
            await self._spread(state, applied, changed, kind)
        return outcomes

    def _hand_over(self, since: float, applied: list[Change], kind: ChangeKind | None) -> None:
        """A tab's first write landed, but its caller stopped (cancelled, or a later step
        failed) before the write reached the browser: that is finished in the background,
        so the other tabs, the mirror and other processes still get it, and the other
        tabs' listeners hear it."""
        if applied:
            task = _detached().run(
                asyncio.get_running_loop().create_task, self._handed(since, applied, kind)
            )
            _handing.add(task)
            task.add_done_callback(_handing.discard)

    async def _handed(self, since: float, applied: list[Change], kind: ChangeKind | None) -> None:
        try:
            await self.join()
            state = self.state()
            if state.scope.browser is None:
                return
            async with state.scope.locks.hold([key for key, _ in applied]):
                with _Writing(state, [applied]):
                    await self._adopt(
                        state, [applied], False, since, [(None, None)], applied, applied, kind, True
                    )
                others = [listeners for listeners, remote in self.audiences() if remote]
                announce_remote(others, self.app_name, kind, applied, {})
        except Exception as exc:  # e.g. the tab's client stopped answering
            logger.warning(
                "a write that landed in one tab could not reach its other tabs: %s",
                type(exc).__name__,
            )

    async def _spread(
        self,
        state: NamespaceState,
        applied: list[Change],
        changed: list[Change],
        kind: ChangeKind | None,
    ) -> None:
        """Send what landed here (`applied`, not empty) to the browser's other tabs, and what
        of it changed (`changed`) to other processes."""
        page = self._base.scope() if self._base is not None else None
        browser = state.scope.browser
        if browser is not None:
            _forward(browser, applied, page)
            await browser.sync.publish(browser, self.app_name, kind, changed)
        elif self._sync is None and page is not None:
            # sync=False on a page that joined a browser through other storages: the
            # browser's mirror must still hold what this tab wrote.
            member = _scope_state(page).member
            if member is not None:
                receive(member.browser, self.app_name, None, applied, page, announce=False)

    async def _write(
        self,
        state: NamespaceState,
        groups: Sequence[Sequence[Change]],
        previous: bool,
        head: Sequence[_Op] = (),
    ) -> tuple[list[Any], list[Outcome], list[Change], list[Change]]:
        """Send `head` (reads), each group's first key's read and the groups in one round:
        `(head's answers, each group's outcome, what landed, what of it changed)`."""
        firsts = [group[0][0] for group in groups] if previous else []
        ops = _calls(change for group in groups for change in group)
        # (a sync=False storage of a tab that joined its browser through others writes its
        # client too: the forwards to it still pending are superseded as well)
        member = self.page_state().scope.member if state.scope.browser or self._tabs else None
        if member is not None:  # this tab's own write supersedes what it was still to be sent
            keys = {key for group in groups for key, _ in group}
            await _after_forwards(member, keys)
            _supersede(member, keys)
        # A write uses the cache if loaded, never loads it: it must not wait for a load.
        cache = self._loaded(state)
        start = state.scope.version
        if cache is None:
            answers = await self._send([*head, *(("get", key, None) for key in firsts), *ops])
            heads, answers = (answers[: len(head)], answers[len(head) :]) if head else ([], answers)
            befores, results = answers[: len(firsts)], answers[len(firsts) :]
        else:
            answers = await self._send([*head, *ops])
            heads, results = answers[: len(head)], answers[len(head) :]
            befores = [cache.get(key) for key in firsts]
        if not previous:
            befores = [None] * len(groups)
        # All the bookkeeping first, with no await: a read meanwhile sees it whole.
        scope = state.scope
        version = scope.version = scope.version + 1
        outcomes: list[Outcome] = []
        undo: list[Change] = []
        rollback: list[Change] = []
        applied: list[Change] = []  # the groups that landed whole: what other tabs get
        changed: list[Change] = []  # of those, what other processes hear of
        answers_left = iter(results)
        for group, before in zip(groups, befores, strict=True):
            error: StorageError | None = None
            first: object = None
            silent = False  # a call of the group got no answer: the client went silent
            # Nothing else wrote the group's first key meanwhile (e.g. sync=False storages,
            # which take no browser lock): its previous value is still the one to put back.
            untouched = scope.written.get(group[0][0], 0) <= start
            for i, (key, raw) in enumerate(group):
                result = next(answers_left)
                scope.written[key] = version
                if raw is not None and not isinstance(result, StorageError) and not result:
                    result = self._map(RuntimeError("the backend did not store it"), "set", key)
                if isinstance(result, StorageError):
                    error = error or result
                    silent = silent or isinstance(result, StorageTimeoutError)
                else:
                    scope.note(key, raw)
                first = result if i == 0 else first
            if error is not None:
                # The first key goes back if it landed, or if the client kept it (quota).
                landed = not isinstance(first, StorageError) or isinstance(first, StorageFullError)
                known = previous and not isinstance(before, StorageError)
                if known and silent and scope.browser:
                    # This tab's client went silent (e.g. its tab closed): the write may be in
                    # localStorage or not. The previous value is put back through every tab
                    # (not through the silent client alone, which would wait out its timeout),
                    # unless a newer write of the key landed meanwhile.
                    if untouched:
                        rollback.append((group[0][0], before))
                    else:
                        scope.invalidate()
                elif landed and known:
                    undo.append((group[0][0], before))
                else:
                    scope.invalidate()
            else:
                applied.extend(group)
                if not (previous and before is None and all(r is None for _, r in group)):
                    changed.extend(group)  # not the removal of what was not there
            outcomes.append((before, error))
        if rollback and scope.browser is not None:
            # To every tab's client, this one's too (it may still take calls), and so to
            # localStorage: each client's copy, localStorage and the mirror agree again.
            # Other processes too (their tabs' clients write localStorage where this
            # process may have no other tab), as a write nobody hears of.
            receive(scope.browser, self.app_name, None, rollback, announce=False)
            await scope.browser.sync.publish(scope.browser, self.app_name, None, rollback, True)
        if undo:
            await self._restore(state, undo)
        return heads, outcomes, applied, changed

    async def _restore(self, state: NamespaceState, changes: list[Change]) -> None:
        results = await self._send(_calls(changes))
        scope = state.scope
        scope.version += 1
        for (key, raw), result in zip(changes, results, strict=True):
            scope.written[key] = scope.version
            if isinstance(result, StorageError) or not result:
                scope.invalidate()
                logger.warning("could not restore %s: %s", self._name(key), result)
            else:
                scope.note(key, raw)

    # -- calls ---------------------------------------------------------------------------------

    async def _send(
        self, ops: Sequence[_Op], sent: asyncio.Future[None] | None = None
    ) -> list[Any]:
        """Send `ops` as one round; each result or its error, in order. `sent` is resolved
        once every call has gone out (a call goes out when it starts)."""
        if len(ops) == 1:  # the common case: no task per call
            if sent is not None:
                sent.set_result(None)  # its waiters wake after this call has started
            try:
                results = [await self._one(self._call(ops[0]))]
            except Exception as exc:
                results = [exc]
        else:
            results = await self._gather([*map(self._call, ops)], sent)
        for i, (op, result) in enumerate(zip(ops, results, strict=True)):
            if isinstance(result, Exception):
                result = results[i] = self._map(result, op[0], op[1])
                if isinstance(result, StorageTimeoutError) and self._base is not None:
                    self._base.on_timeout()  # e.g. a reconnected client needs a fresh service
        return results

    async def _one(self, call: Coroutine[Any, Any, Any]) -> Any:
        if self.timeout is None:
            return await call
        if _timeout is None:  # Python 3.10
            return await asyncio.wait_for(call, self.timeout)
        async with _timeout(self.timeout):  # no task per call, unlike wait_for
            return await call

    async def _gather(
        self, calls: list[Coroutine[Any, Any, Any]], sent: asyncio.Future[None] | None = None
    ) -> list[Any]:
        """Run `calls` at once; each result or exception (a call cut short by silence:
        `TimeoutError`). Calls still running when it ends (or is cancelled) are cancelled
        and awaited: none is left behind."""
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(call) for call in calls]
        if sent is not None:  # after each task's first step, which sends its call
            loop.call_soon(_resolve, sent)
        last_answer = loop.time()

        def answered(_: object) -> None:
            nonlocal last_answer
            last_answer = loop.time()

        for task in tasks:
            task.add_done_callback(answered)
        pending = set(tasks)
        try:
            while pending:
                silence = (
                    None if self.timeout is None else self.timeout - (loop.time() - last_answer)
                )
                if silence is not None and silence <= 0:
                    break
                _, pending = await asyncio.wait(pending, timeout=silence)
        finally:
            await _cancel(pending)
            for task in tasks:  # every failure read, so asyncio never logs one (with data)
                if not task.cancelled():
                    task.exception()
        results: list[Any] = []
        for task in tasks:
            exc = asyncio.TimeoutError() if task.cancelled() else task.exception()
            if exc is None:
                results.append(task.result())
            elif isinstance(exc, Exception):
                results.append(exc)
            else:  # KeyboardInterrupt, SystemExit
                raise exc
        return results

    def _call(self, op: _Op) -> Coroutine[Any, Any, Any]:
        method, key, raw = op
        if method == "get":
            return self.backend.get(key)
        if method == "set":
            assert raw is not None
            return self.backend.set(key, raw)
        if method == "remove":
            return self.backend.remove(key)
        return self.backend.get_keys(key)

    def _name(self, key: str) -> str:
        """How messages name a storage key: by the key without its namespace."""
        prefix = next((p for p in self.prefixes if key.startswith(p)), "")
        what = "key" if prefix == self.prefixes[0] else "the expiry mark of key"
        return f"{what} {key[len(prefix) :]!r} in namespace {self.app_name!r}"

    def _map(self, exc: Exception, method: str, key: str) -> StorageError:
        """`exc` as our error, naming the call by the key, e.g. `get('theme') in
        namespace 'app'`."""
        prefix = next((p for p in self.prefixes if key.startswith(p)), None)
        if method == "keys" or prefix is None:
            what = "get_keys()" if method == "keys" else f"{method}({key!r})"
        elif prefix == self.prefixes[0]:
            what = f"{method}({key[len(prefix) :]!r})"
        else:
            what = f"{method} mark({key[len(prefix) :]!r})"
        return map_error(exc, f"{what} in namespace {self.app_name!r}", self.timeout)

    # -- the read cache ------------------------------------------------------------------------

    def _loaded(self, state: NamespaceState) -> dict[str, RawValue] | None:
        """The cache if it is loaded and of the backend's current generation."""
        base = self._base
        if (
            state.cache is not None
            and base is not None
            and state.scope.browser is None  # a browser's mirror is kept by its tabs' writes
            and state.generation is not base.generation()
        ):
            state.cache = None  # e.g. the page reloaded: its client re-read storage
        return state.cache

    async def _cache(self, state: NamespaceState) -> dict[str, RawValue] | None:
        """The namespace's cache, loaded on first use; None when a load could not be kept
        (a write landed meanwhile) or failed: then the backend is read."""
        if self._loaded(state) is None:
            if state.loading is not None:
                await asyncio.wait([state.loading])  # the load under way (our cancel spares it)
            else:
                await self.load()
        return state.cache

    async def load(self) -> None:
        """Load the cache, even if loaded; keep it if no write landed meanwhile, else drop
        it (the next read loads again)."""
        await self.join()
        state = self.state()
        generation = None if self._base is None else self._base.generation()
        loading = state.loading = asyncio.get_running_loop().create_future()
        version = state.scope.version
        member = self.page_state().scope.member if state.scope.browser is not None else None
        # What the tab's client has yet to take from other tabs, as the load starts (a
        # write landing meanwhile drops the load: nothing newer can come).
        owed = {} if member is None else {**member.sending, **member.pending}
        try:
            keys = await self._list()
            raws = await self._send([("get", key, None) for key in keys])
            raise_first(raws)
            if state.scope.version == version:
                cache = {k: v for k, v in zip(keys, raws, strict=True) if v is not None}
                if state.scope.browser is not None:
                    # A browser's mirror: not tied to the tab it was loaded from, and with
                    # what that tab's client has yet to take from other tabs.
                    generation = None
                    for key, raw in owed.items():
                        if not key.startswith(self.prefixes):
                            continue
                        if raw is None:
                            cache.pop(key, None)
                        else:
                            cache[key] = raw
                state.cache = cache
                state.generation = generation
            else:
                state.cache = None
        finally:
            if state.loading is loading:
                state.loading = None
            loading.set_result(None)

    async def refresh(self) -> None:
        """Reload the cache; without one, drop the caches of the scope (cached stores of
        other objects reload on next use)."""
        if self.cached:
            await self.load()
        else:
            self.state().scope.invalidate()


# -- sync: the tabs of a browser (see `flet_storage.sync`) ---------------------------------------


def _forward(browser: Browser, changes: list[Change], here: object = None) -> None:
    """Send `changes` to the clients of the browser's tabs but `here`, in the background and
    in order, newest value of a key only."""
    now, recent, origin = time.monotonic(), browser.recent, id(here)
    for key, raw in changes:
        recent.pop(key, None)
        recent[key] = (now, raw, origin)
    while recent and next(iter(recent.values()))[0] < now - RECENT:
        recent.popitem(last=False)
    for tab in list(browser.pages):
        member = _scope_state(tab).member
        if tab is not here and member is not None:
            _send_to(member, changes)


def _send_to(member: Member, changes: list[Change]) -> None:
    if not changes:
        return
    member.pending.update(changes)
    if member.task is None or member.task.done():
        drain = _drain(member)
        member.task = member.context.run(asyncio.get_running_loop().create_task, drain)


async def _drain(member: Member) -> None:
    """Runs in the tab's own context, so its store's calls reach that tab's client. What
    its client did not take stays pending: sent again with the next forward to it."""
    while member.pending:
        sending = member.sending = dict(member.pending)  # the tab's own writes pop from it
        batch = list(sending.items())
        member.pending.clear()
        flight = member.flight = asyncio.get_running_loop().create_future()
        try:
            results = await member.store._send(_calls(batch), flight)
        finally:
            member.sending = {}
            _resolve(flight)
        failed = [c for c, r in zip(batch, results, strict=True) if _failed(r)]
        if failed:  # e.g. a closed tab, or one whose connection dropped
            for key, raw in failed:
                if key in sending and key not in member.pending:  # nothing newer since
                    member.pending[key] = raw
            logger.debug("%d writes could not reach another tab yet", len(failed))
            return


async def _after_forwards(member: Member, keys: set[str]) -> None:
    """Wait until the forward of `keys` to the member's client under way has gone out (not
    for its answers: the client takes calls in order). The forward's calls go out from
    tasks of their own: the tab's own write of those keys, sent before them, would be
    undone by them, there and in localStorage."""
    while member.flight is not None and not member.flight.done():
        if keys.isdisjoint(member.sending):
            return
        await asyncio.wait([member.flight])


def _supersede(member: Member, keys: Iterable[str]) -> None:
    """The tab's own write of `keys` landed (or is going out) after what was still to be
    forwarded to its client: that is not sent, nor sent again if it failed."""
    for key in keys:
        member.pending.pop(key, None)
        member.sending.pop(key, None)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _failed(result: object) -> bool:
    return isinstance(result, StorageError)


def receive(
    browser: Browser,
    app_name: str,
    kind: ChangeKind | None,
    changes: list[Change],
    here: object = None,
    announce: bool = True,
) -> None:
    """Changes of namespace `app_name` landed for `browser` elsewhere (another process, or
    a `sync=False` storage of tab `here`), in their order: keep the browser's mirrors, send
    them to its tabs but `here`, and announce them to their listeners (remote for all)."""
    scope = _scope_state(browser)
    mirror = scope.namespaces.get(app_name)
    cache = mirror.cache if mirror is not None else None
    previous = {key: cache.get(key) for key, _ in changes} if cache is not None else {}
    scope.landed(changes)
    _forward(browser, changes, here)
    if not announce:
        return
    audiences = []
    for tab in list(browser.pages):
        namespace = _scope_state(tab).namespaces.get(app_name)
        if namespace is not None and namespace.listeners:
            audiences.append(namespace.listeners)
    if audiences:
        announce_remote(audiences, app_name, kind, changes, previous)


def _calls(changes: Iterable[Change]) -> list[_Op]:
    return [("remove", key, None) if raw is None else ("set", key, raw) for key, raw in changes]


def first_error(results: Iterable[object]) -> StorageError | None:
    return next((r for r in results if isinstance(r, StorageError)), None)


def raise_first(results: Iterable[object]) -> None:
    """Raise the first [StorageError][flet_storage.StorageError] among `results`, if any."""
    error = first_error(results)
    if error is not None:
        raise error


async def _cancel(tasks: set[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait for them, even when cancelled again meanwhile."""
    for task in tasks:
        task.cancel()
    cancelled = False
    while tasks:
        try:
            await asyncio.wait(tasks)
            break
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


# -- one ScopeState per backend scope, one NamespaceState per namespace in it -----------------

_ATTRIBUTE = "_flet_storage_scope"
_weak: weakref.WeakKeyDictionary[object, ScopeState] = weakref.WeakKeyDictionary()
_pinned: dict[object, ScopeState] = {}


def _namespace_state(scope: object, app_name: str, prefixes: tuple[str, ...]) -> NamespaceState:
    state = _scope_state(scope)
    namespace = state.namespaces.get(app_name)
    if namespace is None:
        namespace = state.namespaces[app_name] = NamespaceState(state, prefixes)
    return namespace


def _scope_state(scope: object) -> ScopeState:
    # Kept on the scope itself where it can be (a Flet page): a listener that refers to the
    # page then makes a cycle the garbage collector frees with the page, where a dict keyed
    # by the page would keep it. A scope that takes neither attributes nor weak references
    # (a str, a class with __slots__) is kept for the life of the process.
    state: ScopeState | None = getattr(scope, _ATTRIBUTE, None)
    if state is None:
        state = ScopeState()
        try:
            setattr(scope, _ATTRIBUTE, state)
        except (AttributeError, TypeError):
            try:
                state = _weak.setdefault(scope, state)
            except TypeError:
                state = _pinned.setdefault(scope, state)
    return state

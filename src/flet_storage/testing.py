"""Test helpers for apps and backends built on flet-storage (needs `pytest`).

App tests need no helper: `FletStorage("my_app", backend=MemoryBackend())`.

To script what the store answers (errors, hangs, writes that land and then fail, calls held
until the test lets them through), use [ScriptedBackend][flet_storage.testing.ScriptedBackend]:
a backend that works like a [MemoryBackend][flet_storage.MemoryBackend] but hands every
call to a `handler` first:

```python
import asyncio

from flet_storage import BackendError, FletStorage
from flet_storage.testing import Call, ScriptedBackend


async def main() -> None:
    lost = asyncio.Event()

    async def handler(call: Call) -> object:
        if call.method == "set" and call.key == "app.note" and lost.is_set():
            raise RuntimeError("connection lost")  # fault injection
        return await call.proceed()  # what MemoryBackend answers

    backend = ScriptedBackend(handler)
    storage = FletStorage("app", backend=backend)
    await storage.set("note", "draft")
    lost.set()
    try:
        await storage.set("note", "final")
    except BackendError:
        pass
    assert await storage.get("note") == "draft"
    assert ("set", "app.note") in [(call.method, call.key) for call in backend.log]


asyncio.run(main())
```

The backend contract is what every backend must do to stand in for `ft.SharedPreferences`.
Run it against your own backend by subclassing
[BackendContract][flet_storage.testing.BackendContract]:

```python
import pytest

from flet_storage.testing import BackendContract


class TestMyBackend(BackendContract):
    @pytest.fixture
    def backend(self) -> MyBackend:
        return MyBackend()
```

Each check is also a plain coroutine function in [CONTRACT][flet_storage.testing.CONTRACT]
(`await check(backend)`), so it can run where pytest fixtures cannot reach, e.g. on a live
Flet page.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeAlias, TypeVar, cast

import pytest

from ._errors import NoPageError
from ._storage import FletStorage
from .backends import (
    Backend,
    BaseBackend,
    MemoryBackend,
    RawValue,
    SharedPreferencesBackend,
)
from .backends._base import check_raw

__all__ = [
    "CONTRACT",
    "BackendContract",
    "Call",
    "FakeBrowser",
    "FakeTab",
    "Handler",
    "ScriptedBackend",
    "settle",
]

T = TypeVar("T")


async def settle(storage: FletStorage) -> None:
    """Wait until the background clean-ups of `storage`'s namespace have finished.

    A read that meets an expired key answers "missing" at once and removes the key in the
    background; await this before asserting what the backend holds.

    Args:
        storage: The storage whose namespace (on its backend's scope) to wait for.
    """
    await storage.settle()


# Checks use keys under this prefix and never touch others, except check_clear.
_P = "contract."


async def check_get_missing_is_none(backend: Backend) -> None:
    assert await backend.get(_P + "missing") is None
    assert await backend.contains_key(_P + "missing") is False


async def check_round_trips_every_value_type(backend: Backend) -> None:
    values: dict[str, RawValue] = {
        "str": 'héllo wörld ✓ {"json": [1]}',
        "empty": "",
        "int": -42,
        "big_int": 2**52,
        "float": 2.5,
        "true": True,
        "false": False,
        "list": ["a", "", "ü"],
        "empty_list": [],
    }
    for name, value in values.items():
        assert await backend.set(_P + name, value) is True
    for name, value in values.items():
        got = await backend.get(_P + name)
        assert got == value, name
        assert type(got) is type(value), name
        await backend.remove(_P + name)


async def check_set_overwrites(backend: Backend) -> None:
    await backend.set(_P + "k", "first")
    await backend.set(_P + "k", "second")
    assert await backend.get(_P + "k") == "second"
    await backend.remove(_P + "k")


async def check_contains_and_remove(backend: Backend) -> None:
    await backend.set(_P + "k", "v")
    assert await backend.contains_key(_P + "k") is True
    assert await backend.remove(_P + "k") is True
    assert await backend.contains_key(_P + "k") is False
    assert await backend.get(_P + "k") is None
    # The real client answers True for a key that is not there, too.
    assert await backend.remove(_P + "k") is True


async def check_get_keys_is_a_prefix_filter(backend: Backend) -> None:
    keys = [_P + "app.a", _P + "app.b.c", _P + "app2.d", _P + "app_b.e", _P + "other.app.f"]
    for key in keys:
        await backend.set(key, "x")
    assert sorted(await backend.get_keys(_P + "app.")) == [_P + "app.a", _P + "app.b.c"]
    assert sorted(await backend.get_keys(_P + "app")) == sorted(keys[:4])
    assert set(keys) <= set(await backend.get_keys(""))
    for key in keys:
        await backend.remove(key)


async def check_rejects_unsupported_values(backend: Backend) -> None:
    for bad in ({"a": 1}, [1, 2], ("a",), None, b"x"):
        with pytest.raises(ValueError, match="Unsupported value type"):
            await backend.set(_P + "bad", bad)  # type: ignore[arg-type]
    assert await backend.contains_key(_P + "bad") is False


async def check_stored_lists_are_not_aliased(backend: Backend) -> None:
    value = ["a", "b"]
    await backend.set(_P + "list", value)
    value.append("c")
    got = await backend.get(_P + "list")
    assert got == ["a", "b"]
    assert isinstance(got, list)
    got.append("d")
    assert await backend.get(_P + "list") == ["a", "b"]
    await backend.remove(_P + "list")


async def check_concurrent_calls(backend: Backend) -> None:
    keys = [f"{_P}c{i}" for i in range(20)]
    assert all(await asyncio.gather(*(backend.set(key, key) for key in keys)))
    assert await asyncio.gather(*(backend.get(key) for key in keys)) == keys
    await asyncio.gather(*(backend.remove(key) for key in keys))
    assert await backend.get_keys(_P + "c") == []


async def check_clear(backend: Backend) -> None:
    await backend.set(_P + "a", "x")
    await backend.set("elsewhere", 1)
    assert await backend.clear() is True
    assert await backend.get_keys("") == []


async def check_hooks(backend: Backend) -> None:
    """A [BaseBackend][flet_storage.backends.BaseBackend]'s hooks: `scope()` and `generation()`
    answer the same object while nothing changes, and after `on_timeout()` the backend still works.
    (A backend that is no BaseBackend has no hooks: FletStorage never looks for them.)"""
    if not isinstance(backend, BaseBackend):
        return
    assert backend.scope() is backend.scope()
    assert backend.generation() is backend.generation()
    assert backend.on_timeout() is None  # type: ignore[func-returns-value]
    assert await backend.set(_P + "after_timeout", "x") is True
    assert await backend.get(_P + "after_timeout") == "x"
    await backend.remove(_P + "after_timeout")


CONTRACT: tuple[Callable[[Backend], Awaitable[None]], ...] = (
    check_get_missing_is_none,
    check_round_trips_every_value_type,
    check_set_overwrites,
    check_contains_and_remove,
    check_get_keys_is_a_prefix_filter,
    check_rejects_unsupported_values,
    check_stored_lists_are_not_aliased,
    check_concurrent_calls,
    check_hooks,
    check_clear,
)
"""Every contract check, in a safe order (`check_clear` wipes the whole backend last)."""


class BackendContract:
    """Subclass it and define a `backend` fixture to run the whole contract.

    Each check of [CONTRACT][flet_storage.testing.CONTRACT] is one test, on a fresh backend
    from the fixture. The checks use keys starting with `"contract."`, except the last,
    which clears the whole backend.
    """

    @pytest.fixture
    def backend(self) -> Backend:
        raise NotImplementedError("define a `backend` fixture returning a fresh backend")

    @pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__)
    async def test_contract(
        self, backend: Backend, check: Callable[[Backend], Awaitable[None]]
    ) -> None:
        await check(backend)


# -- fault injection -------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One call a [ScriptedBackend][flet_storage.testing.ScriptedBackend] received."""

    method: Literal["set", "get", "contains_key", "remove", "get_keys", "clear"]
    """The [Backend][flet_storage.Backend] method called."""
    key: str
    """The key; for `get_keys` the prefix; `""` for `clear`."""
    value: RawValue | None
    """The value `set` was given (lists copied); None for the other methods."""
    proceed: Callable[[], Awaitable[RawValue | None]] = field(repr=False, compare=False)
    """`await call.proceed()` performs the call on the in-memory store and returns its
    answer (or raises what it raises); the handler may do so once, twice, or never."""


Handler: TypeAlias = Callable[[Call], object]
"""Answers a [Call][flet_storage.testing.Call]: returns the caller's result, or an awaitable
of it, or raises."""


class ScriptedBackend(BaseBackend):
    """A [MemoryBackend][flet_storage.MemoryBackend] (its `store`) whose every call goes
    through `handler(call)` first.

    The handler's result (awaited if awaitable) is what the caller gets, unchecked; what it
    raises, the caller gets. It may `await call.proceed()` to let the store answer, raise
    instead (a fault), await an `asyncio.Event` first (a hang, or a call held until
    the test lets it through), or proceed and then raise (a write that was applied although
    the caller saw an error). No handler (the default, or `handler = None` later): every
    call proceeds, and the backend behaves exactly like the store. `handler` may be
    replaced at any time, e.g. to break the backend once test data is in place.

    Args:
        handler: Answers each [Call][flet_storage.testing.Call]; `None`: every call
            proceeds.
        data: What the store holds at first (see [MemoryBackend][flet_storage.MemoryBackend]).
        quota: The store's quota (see [MemoryBackend][flet_storage.MemoryBackend]).
        latency: Seconds awaited when a call proceeds.
        scope: Called by [`scope()`][flet_storage.backends.BaseBackend.scope] for its
            answer, e.g. `weakref.ref(page)`; `None`: the backend itself.

    Attributes:
        handler: As given; may be replaced at any time.
        store: The [MemoryBackend][flet_storage.MemoryBackend] that answers the calls
            that proceed; `store.calls` counts only those.
        log: Every [Call][flet_storage.testing.Call], in the order received.
        calls: How many calls each method received, like `MemoryBackend.calls`;
            `calls["on_timeout"]` counts how often FletStorage reported a call unanswered.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        data: dict[str, RawValue] | None = None,
        quota: int | None = None,
        latency: float = 0.0,
        scope: Callable[[], object] | None = None,
    ) -> None:
        self.handler = handler
        self.store = MemoryBackend(data, latency=latency, quota=quota)
        self.log: list[Call] = []
        self.calls: Counter[str] = Counter()
        self._scope = scope

    @property
    def data(self) -> dict[str, RawValue]:
        """The store's contents (`store.data`), to read or change behind the backend."""
        return self.store.data

    async def _handle(self, call: Call) -> object:
        self.log.append(call)
        self.calls[call.method] += 1
        if self.handler is None:
            return await call.proceed()
        result = self.handler(call)
        return await result if inspect.isawaitable(result) else result

    async def set(self, key: str, value: RawValue) -> bool:
        if isinstance(value, list):
            value = list(value)
        store_set = partial(self.store.set, key, value)
        return cast(bool, await self._handle(Call("set", key, value, store_set)))

    async def get(self, key: str) -> RawValue | None:
        store_get = partial(self.store.get, key)
        return cast("RawValue | None", await self._handle(Call("get", key, None, store_get)))

    async def contains_key(self, key: str) -> bool:
        store_contains = partial(self.store.contains_key, key)
        return cast(bool, await self._handle(Call("contains_key", key, None, store_contains)))

    async def remove(self, key: str) -> bool:
        store_remove = partial(self.store.remove, key)
        return cast(bool, await self._handle(Call("remove", key, None, store_remove)))

    async def get_keys(self, key_prefix: str) -> list[str]:
        store_keys = partial(self.store.get_keys, key_prefix)
        return cast("list[str]", await self._handle(Call("get_keys", key_prefix, None, store_keys)))

    async def clear(self) -> bool:
        return cast(bool, await self._handle(Call("clear", "", None, self.store.clear)))

    def scope(self) -> object:
        """The `scope` given, called; else this backend (the default)."""
        return self if self._scope is None else self._scope()

    def on_timeout(self) -> None:
        """FletStorage's notice that a call got no answer: counted, nothing else."""
        self.calls["on_timeout"] += 1


# -- a browser with tabs, for sync -------------------------------------------------------------

_tab: contextvars.ContextVar[FakeTab | None] = contextvars.ContextVar("fake_tab", default=None)


class FakeTab:
    """A tab of a [FakeBrowser][flet_storage.testing.FakeBrowser]: a web page whose client
    holds its own copy of localStorage, loaded at its first SharedPreferences call and never
    reloaded (as Flet's web client does). Run code in it with
    [`run`][flet_storage.testing.FakeTab.run].

    Attributes:
        copy: The tab's client copy (`flutter.`-less storage keys to raw values); None until
            its first call.
        answering: Cleared, the tab's client stops answering (a closed tab whose session
            lives on); set again, it answers what was held.
    """

    web = True  # what flet_storage.sync looks at on a page

    def __init__(self, browser: FakeBrowser) -> None:
        self.browser = browser
        self.copy: dict[str, RawValue] | None = None
        self.answering = asyncio.Event()
        self.answering.set()

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await `fn(*args)` as a task of this tab (its page context), like an event
        handler of the tab."""
        context = contextvars.copy_context()
        context.run(_tab.set, self)
        task: asyncio.Task[T] = context.run(asyncio.ensure_future, fn(*args))
        return await task

    async def _answer(self) -> dict[str, RawValue]:
        """The client's copy, once it answers (loaded at the first call)."""
        if self.copy is None:
            self.copy = dict(self.browser.local_storage)
        await self.answering.wait()
        await asyncio.sleep(0)  # an answer takes a turn of the loop; calls answer in order
        return self.copy


class FakeBrowser:
    """One browser profile for unit tests of sync: one localStorage, tabs that each keep
    their own copy of it (see [FakeTab][flet_storage.testing.FakeTab]), and `backend`, a
    [SharedPreferencesBackend][flet_storage.SharedPreferencesBackend] that reaches the
    client of the tab it is called from, as the real one reaches the current page's.

    ```python
    browser = FakeBrowser()
    a, b = browser.open_tab(), browser.open_tab()
    storage = FletStorage("app", backend=browser.backend)
    await a.run(storage.set, "n", 1)
    assert await b.run(storage.get, "n") == 1  # sync: B reads A's write
    ```

    Attributes:
        local_storage: What localStorage holds (storage keys to raw values).
        backend: The backend to give FletStorage.
    """

    def __init__(self, local_storage: dict[str, RawValue] | None = None) -> None:
        self.local_storage: dict[str, RawValue] = dict(local_storage or {})
        self.backend: SharedPreferencesBackend = _TabBackend()

    def open_tab(self) -> FakeTab:
        """A new tab: its client copy is what localStorage holds at its first call."""
        return FakeTab(self)


class _TabBackend(SharedPreferencesBackend):
    def _tab(self) -> FakeTab:
        tab = _tab.get()
        if tab is None:
            raise NoPageError("not in a FakeTab: use await tab.run(...)")
        return tab

    def scope(self) -> Any:
        return self._tab()

    def generation(self) -> object:
        return self._tab()

    def on_timeout(self) -> None:
        pass

    async def set(self, key: str, value: RawValue) -> bool:
        tab = self._tab()
        value = check_raw(value)
        copy = await tab._answer()
        copy[key] = tab.browser.local_storage[key] = value
        return True

    async def get(self, key: str) -> RawValue | None:
        return (await self._tab()._answer()).get(key)

    async def contains_key(self, key: str) -> bool:
        return key in await self._tab()._answer()

    async def remove(self, key: str) -> bool:
        tab = self._tab()
        (await tab._answer()).pop(key, None)
        tab.browser.local_storage.pop(key, None)
        return True

    async def get_keys(self, key_prefix: str) -> list[str]:
        return [key for key in await self._tab()._answer() if key.startswith(key_prefix)]

    async def clear(self) -> bool:
        tab = self._tab()
        (await tab._answer()).clear()
        tab.browser.local_storage.clear()
        return True

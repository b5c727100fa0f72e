"""The record layer (`_record.Records`): the stored form around the codec's text, and the
clean-ups it runs in the background."""

from __future__ import annotations

import contextvars

import pytest

from flet_storage import CorruptDataError, FletStorage, MemoryBackend
from flet_storage._record import Records
from flet_storage.backends import BaseBackend, RawValue


@pytest.mark.parametrize("stamp", ["1796000000.0", "1e+20", "0.5", "-3.0"])
def test_an_expiry_stamp_as_written_is_read(stamp: str) -> None:
    assert Records.unseal(f"fst:{stamp}:1") == ("1", float(stamp))


@pytest.mark.parametrize(
    "stamp", ["+1796000000.0", " 1796000000.0\t", "1796000000.0e0", "1796000000", "inf", "nan", ""]
)
async def test_an_expiry_stamp_not_as_written_is_corrupt(stamp: str) -> None:
    raw = f"fst:{stamp}:1"
    assert Records.unseal(raw) == (raw, None)
    storage = FletStorage("app", backend=MemoryBackend({"app.k": raw}))
    with pytest.raises(CorruptDataError, match="key 'k' in namespace 'app'"):
        await storage.get("k")


_page: contextvars.ContextVar[str | None] = contextvars.ContextVar("page", default=None)


class _PageBound(MemoryBackend):
    """Reachable only where the caller's context names a page, as SharedPreferencesBackend."""

    def scope(self) -> object:
        return BaseBackend.scope(self)

    async def remove(self, key: str) -> bool:
        assert _page.get() == "page", "called outside the page's context"
        return await super().remove(key)

    async def set(self, key: str, value: RawValue) -> bool:
        assert _page.get() == "page", "called outside the page's context"
        return await super().set(key, value)


async def test_a_clean_up_runs_in_its_callers_context_holding_no_key() -> None:
    now = [1000.0]
    backend = _PageBound()
    storage = FletStorage("app", backend=backend, clock=lambda: now[0])
    _page.set("page")
    await storage.set("k", 1, ttl=5)
    now[0] += 10

    async def fn(value: int) -> int:  # holds "k": the clean-up it starts must not
        return value + 1

    assert await storage.update("k", fn, default=0) == 1
    await storage.settle()
    assert backend.data == {"app.k": "1"}
    await storage.set("k", 2, ttl=5)
    now[0] += 10
    assert await storage.get_or_default("k") is None  # starts the removal of "k"
    await storage.settle()
    assert backend.data == {}  # removed, value and mark, from the page's context

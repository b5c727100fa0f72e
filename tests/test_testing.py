"""ScriptedBackend: the fault-injecting backend of flet_storage.testing."""

from __future__ import annotations

import asyncio
import weakref

import pytest

import flet_storage.testing
from flet_storage import MemoryBackend
from flet_storage.backends import Backend, RawValue
from flet_storage.testing import BackendContract, Call, ScriptedBackend


class TestScriptedBackendWithoutHandler(BackendContract):
    @pytest.fixture
    def backend(self) -> ScriptedBackend:
        return ScriptedBackend()


def test_is_a_backend() -> None:
    assert isinstance(ScriptedBackend(), Backend)


async def test_logs_and_counts_every_call_in_order() -> None:
    backend = ScriptedBackend(data={"a": "1"})
    assert await backend.set("b", ["x"]) is True
    assert await backend.get("a") == "1"
    assert await backend.contains_key("b") is True
    assert await backend.get_keys("") == ["a", "b"]
    assert await backend.remove("a") is True
    assert await backend.clear() is True
    assert [(c.method, c.key, c.value) for c in backend.log] == [
        ("set", "b", ["x"]),
        ("get", "a", None),
        ("contains_key", "b", None),
        ("get_keys", "", None),
        ("remove", "a", None),
        ("clear", "", None),
    ]
    assert backend.calls == backend.store.calls
    assert backend.calls == {
        "set": 1,
        "get": 1,
        "contains_key": 1,
        "get_keys": 1,
        "remove": 1,
        "clear": 1,
    }


async def test_the_handler_answers_instead_of_the_store() -> None:
    backend = ScriptedBackend(lambda call: "scripted", data={"k": "stored"})
    assert await backend.get("k") == "scripted"
    assert await backend.set("k", "new") == "scripted"  # type: ignore[comparison-overlap]
    assert backend.data == {"k": "stored"}  # nothing proceeded
    assert backend.store.calls == {}
    assert backend.calls == {"get": 1, "set": 1}


async def test_an_async_handler_is_awaited_and_may_proceed() -> None:
    async def upper(call: Call) -> RawValue | None:
        result = await call.proceed()
        return result.upper() if isinstance(result, str) else result

    backend = ScriptedBackend(upper, data={"k": "v"})
    assert await backend.get("k") == "V"
    assert await backend.get("missing") is None


async def test_what_the_handler_raises_reaches_the_caller() -> None:
    def refuse(call: Call) -> object:
        raise ConnectionResetError(call.key)

    backend = ScriptedBackend(refuse)
    with pytest.raises(ConnectionResetError, match="k"):
        await backend.set("k", 1)
    assert backend.data == {}
    assert [c.method for c in backend.log] == ["set"]


async def test_applied_then_error() -> None:
    async def applied_then_lost(call: Call) -> object:
        await call.proceed()
        raise RuntimeError("connection lost")

    backend = ScriptedBackend(applied_then_lost)
    with pytest.raises(RuntimeError, match="connection lost"):
        await backend.set("k", 1)
    assert backend.data == {"k": 1}


async def test_a_gated_call_waits_for_the_test() -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def gate(call: Call) -> object:
        arrived.set()
        await release.wait()
        return await call.proceed()

    backend = ScriptedBackend(gate)
    task = asyncio.ensure_future(backend.set("k", "v"))
    await arrived.wait()
    assert backend.data == {}  # held
    release.set()
    assert await task is True
    assert backend.data == {"k": "v"}


async def test_the_handler_can_be_replaced_and_removed() -> None:
    backend = ScriptedBackend()
    await backend.set("k", 1)
    backend.handler = lambda call: False
    assert await backend.set("k", 2) is False
    backend.handler = None
    assert await backend.get("k") == 1


async def test_proceed_uses_the_store_semantics() -> None:
    backend = ScriptedBackend(quota=10)
    with pytest.raises(RuntimeError, match="QuotaExceededError"):
        await backend.set("k", "x" * 20)
    with pytest.raises(ValueError, match="Unsupported value type"):
        await backend.set("k", {"a": 1})  # type: ignore[arg-type]
    assert backend.calls["set"] == 2


async def test_a_set_list_is_logged_as_sent() -> None:
    backend = ScriptedBackend()
    value = ["a"]
    await backend.set("k", value)
    value.append("b")
    assert backend.log[0].value == ["a"]
    assert backend.data == {"k": ["a"]}


async def test_latency_is_awaited_when_a_call_proceeds() -> None:
    backend = ScriptedBackend(latency=0.01)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await backend.get("k")
    assert loop.time() - start >= 0.01


def test_scope_and_on_timeout() -> None:
    class Page:
        pass

    page = Page()
    assert ScriptedBackend(scope=weakref.ref(page)).scope() is page
    backend = ScriptedBackend()
    assert backend.scope() is backend  # like a backend without scope()
    backend.on_timeout()
    assert backend.calls == {"on_timeout": 1}


def test_store_is_a_memory_backend_with_the_given_data() -> None:
    backend = ScriptedBackend(data={"k": "v"}, quota=100, latency=0.5)
    assert isinstance(backend.store, MemoryBackend)
    assert (backend.store.quota, backend.store.latency) == (100, 0.5)
    assert backend.data is backend.store.data
    assert backend.data == {"k": "v"}


def test_module_docstring_example_runs() -> None:
    doc = flet_storage.testing.__doc__ or ""
    start = doc.index("first:\n\n```python\n") + len("first:\n\n```python\n")
    code = doc[start : doc.index("```", start)]
    assert "asyncio.run(main())" in code
    exec(compile(code, "<testing docstring>", "exec"), {})


def test_public_names() -> None:
    assert flet_storage.testing.__all__ == [
        "CONTRACT",
        "BackendContract",
        "Call",
        "FakeBrowser",
        "FakeTab",
        "Handler",
        "ScriptedBackend",
        "settle",
    ]

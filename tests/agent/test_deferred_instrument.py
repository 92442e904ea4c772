"""``Instrument(on_first_call=True)``: a contrib instrumentor applied at the first call of
what it replaces, not when the library is imported (httpx's contrib module imports more than
an app that only imports httpx2 does)."""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest

from llm_instrument.agent.plugin import DidNotEnable
from llm_instrument.agent.wrapping import Instrument, Wrapping

LIBRARY = "deferred_fake_library"


class Transport:
    def send(self, request: str) -> str:
        return f"sent {request}"


class FakeInstrumentor:
    """Stands in for a contrib ``BaseInstrumentor``: wraps ``Transport.send``."""

    built = 0
    applied = 0
    fail = False
    is_instrumented_by_opentelemetry = False

    def __init__(self) -> None:
        type(self).built += 1

    def instrument(self, **kwargs: Any) -> None:
        if type(self).fail:
            raise RuntimeError("contrib broke")
        type(self).applied += 1
        type(self).is_instrumented_by_opentelemetry = True
        original = Transport.__dict__["send"]

        def traced(self: Transport, request: str) -> str:
            return "traced " + original(self, request)

        traced.__wrapped__ = original  # type: ignore[attr-defined]
        Transport.send = traced  # type: ignore[method-assign]

    def uninstrument(self) -> None:
        Transport.send = Transport.__dict__["send"].__wrapped__  # type: ignore[method-assign]
        type(self).is_instrumented_by_opentelemetry = False


@pytest.fixture
def library() -> Iterator[types.ModuleType]:
    module = types.ModuleType(LIBRARY)
    module.Transport = Transport  # type: ignore[attr-defined]
    original = Transport.__dict__["send"]
    sys.modules[LIBRARY] = module
    FakeInstrumentor.built = FakeInstrumentor.applied = 0
    FakeInstrumentor.fail = FakeInstrumentor.is_instrumented_by_opentelemetry = False
    yield module
    Transport.send = original  # type: ignore[method-assign]
    del sys.modules[LIBRARY]


def _wrapping(precheck: Any = None) -> Wrapping:
    row = Instrument(
        LIBRARY,
        f"{__name__}:FakeInstrumentor",
        replaces=("Transport.send",),
        on_first_call=True,
        precheck=precheck,
    )
    return Wrapping((row,))


def test_nothing_is_built_at_import_and_the_first_call_is_already_traced(
    library: types.ModuleType,
) -> None:
    wrapping = _wrapping()
    wrapping.patch(library)
    assert FakeInstrumentor.built == 0
    assert Transport().send("a") == "traced sent a"
    assert Transport().send("b") == "traced sent b"
    assert FakeInstrumentor.applied == 1


def test_unpatched_before_any_call_restores_the_original_and_applies_nothing(
    library: types.ModuleType,
) -> None:
    original = Transport.__dict__["send"]
    wrapping = _wrapping()
    wrapping.patch(library)
    alias = Transport.send  # captured while deferred
    wrapping.unpatch(library)
    assert Transport.__dict__["send"] is original
    assert alias(Transport(), "a") == "sent a"
    assert FakeInstrumentor.built == 0


def test_applied_then_unpatched_restores_the_original(library: types.ModuleType) -> None:
    original = Transport.__dict__["send"]
    wrapping = _wrapping()
    wrapping.patch(library)
    Transport().send("a")
    wrapping.unpatch(library)
    assert Transport.__dict__["send"] is original
    assert Transport().send("b") == "sent b"


def test_a_failing_instrumentor_leaves_the_call_untraced_not_broken(
    library: types.ModuleType,
) -> None:
    FakeInstrumentor.fail = True
    wrapping = _wrapping()
    wrapping.patch(library)
    assert Transport().send("a") == "sent a"
    assert Transport().send("b") == "sent b"
    assert FakeInstrumentor.built == 1  # tried once, not at every call


def test_concurrent_first_calls_apply_it_once(library: types.ModuleType) -> None:
    wrapping = _wrapping()
    wrapping.patch(library)
    results: list[str] = []
    start = threading.Barrier(8)

    def call(n: int) -> None:
        start.wait()
        results.append(Transport().send(str(n)))

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert FakeInstrumentor.applied == 1
    assert sorted(results) == [f"traced sent {n}" for n in range(8)]


def test_a_precheck_reports_the_row_skipped_at_import(library: types.ModuleType) -> None:
    def too_old() -> None:
        raise DidNotEnable("the contrib is too old")

    original = Transport.__dict__["send"]
    with pytest.raises(DidNotEnable, match="too old"):
        _wrapping(too_old).patch(library)
    assert Transport.__dict__["send"] is original

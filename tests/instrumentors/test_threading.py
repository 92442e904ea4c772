"""The threading plugin's wrappers: context follows submitted work, and work that already
carries a copy of its submitter's context (or a pool's worker thread) is not wrapped again."""

from __future__ import annotations

import concurrent.futures.thread
import contextvars
import functools
import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from llm_instrument.instrumentors import threading as plugin

tracer = TracerProvider().get_tracer("test")


def _handed_over(fn: Any) -> Any:
    """What ``_wrap_submit`` hands the real ``submit`` for ``fn``."""
    seen: list[Any] = []
    plugin._wrap_submit(lambda f, *a, **k: seen.append(f), None, (fn,), {})
    return seen[0]


def test_a_plain_callable_runs_under_the_submitters_span() -> None:
    with tracer.start_as_current_span("request") as span:
        run = _handed_over(trace.get_current_span)
    assert run is not trace.get_current_span
    assert run() is span


def test_a_callable_in_a_copied_context_is_handed_over_as_it_is() -> None:
    with tracer.start_as_current_span("request") as span:
        copied = functools.partial(contextvars.copy_context().run, trace.get_current_span)
        bound = contextvars.copy_context().run
        assert _handed_over(copied) is copied
        assert _handed_over(bound) is bound
    assert copied() is span


def test_a_pool_worker_thread_keeps_no_starters_context() -> None:
    started: list[threading.Thread] = []

    def start(thread: threading.Thread) -> None:
        plugin._wrap_start(lambda *a, **k: started.append(thread), thread, (), {})

    worker = threading.Thread(target=concurrent.futures.thread._worker)
    plain = threading.Thread(target=print)
    with tracer.start_as_current_span("request"):
        start(worker)
        start(plain)
    assert "run" not in vars(worker)  # left as the class's run: no context of its own
    assert "run" in vars(plain)  # wrapped: runs under the starter's context

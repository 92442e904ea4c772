"""Threads and thread pools: the submitting code's trace context follows the work.

Without this, a span opened in a request handler is lost as soon as the handler hands
work to ``ThreadPoolExecutor.submit`` or a ``threading.Thread`` (LangChain's batch and
``RunnableParallel``, a streamer-driven ``generate()`` in a background thread): the
work's spans start new traces. Wrapped: ``ThreadPoolExecutor.submit`` (the callable runs
under the context current at ``submit``, unless it already runs in a copy of that context)
and ``Thread.start`` (the thread's ``run`` runs under the context current at ``start``;
a pool's worker threads excepted, whose tasks each bring their own). No spans are created
here.
"""

from __future__ import annotations

import contextvars
import functools
import sys
from collections.abc import Callable
from typing import Any

from opentelemetry import context

from llm_instrument.agent.guard import guard
from llm_instrument.agent.plugin import Plugin
from llm_instrument.agent.wrapping import Wrap, Wrapping


def _run_in(ctx: context.Context, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        token = context.attach(ctx)
        try:
            return fn(*args, **kwargs)
        finally:
            context.detach(token)

    return run


def _runs_in_a_copied_context(fn: Any) -> bool:
    """``functools.partial(ctx.run, ...)`` or ``ctx.run`` itself: the callable carries a copy
    of the submitter's whole context already (LangChain's ``ContextThreadPoolExecutor``,
    ``asyncio.to_thread``), the trace context included."""
    if isinstance(fn, functools.partial):
        fn = fn.func
    return isinstance(getattr(fn, "__self__", None), contextvars.Context)


def _wrap_submit(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run the submitted callable under the submitter's context."""
    if args and not _runs_in_a_copied_context(args[0]):
        args = (_run_in(context.get_current(), args[0]), *args[1:])
    return wrapped(*args, **kwargs)


def _is_pool_worker(thread: Any) -> bool:
    """A ``ThreadPoolExecutor`` worker: each of its tasks runs in its own submitter's
    context, so the thread keeps none of the first submitter's."""
    pool = sys.modules.get("concurrent.futures.thread")
    worker = getattr(pool, "_worker", None)
    return worker is not None and getattr(thread, "_target", None) is worker


def _wrap_start(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run the thread's body (``run`` overrides included) under the starter's context."""
    with guard("threading: carrying context into a thread"):
        if not _is_pool_worker(instance):
            instance.run = _run_in(context.get_current(), instance.run)
    return wrapped(*args, **kwargs)


# context is carried even under suppress_instrumentation: it creates no telemetry itself
_WRAPPING = Wrapping(
    (
        Wrap("threading", "Thread.start", _wrap_start),
        Wrap("concurrent.futures.thread", "ThreadPoolExecutor.submit", _wrap_submit),
    ),
    honour_suppression=False,
)

patch = _WRAPPING.patch
unpatch = _WRAPPING.unpatch

PLUGIN = Plugin.from_wrapping(
    "threading",
    _WRAPPING,
    distribution=None,
    supported="",
    description="trace context carried into threads and thread pools",
)

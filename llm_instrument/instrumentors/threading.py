"""Threads and thread pools: the submitting code's trace context follows the work.

Without this, a span opened in a request handler is lost as soon as the handler hands
work to ``ThreadPoolExecutor.submit`` or a ``threading.Thread`` (LangChain's batch and
``RunnableParallel``, a streamer-driven ``generate()`` in a background thread): the
work's spans start new traces. Wrapped: ``ThreadPoolExecutor.submit`` (the callable runs
under the context current at ``submit``) and ``Thread.start`` (the thread's ``run`` runs
under the context current at ``start``). No spans are created here.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import wrapt
from opentelemetry import context

from llm_instrument.agent.guard import guard
from llm_instrument.agent.plugin import Plugin

_originals: dict[tuple[str, str], Any] = {}


def _run_in(ctx: context.Context, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        token = context.attach(ctx)
        try:
            return fn(*args, **kwargs)
        finally:
            context.detach(token)

    return run


def _wrap_submit(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run the submitted callable under the submitter's context."""
    if args:
        args = (_run_in(context.get_current(), args[0]), *args[1:])
    return wrapped(*args, **kwargs)


def _wrap_start(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run the thread's body (``run`` overrides included) under the starter's context."""
    with guard("threading: carrying context into a thread"):
        instance.run = _run_in(context.get_current(), instance.run)
    return wrapped(*args, **kwargs)


_WRAPS: dict[str, tuple[tuple[str, str, Callable[..., Any]], ...]] = {
    "concurrent.futures.thread": (("ThreadPoolExecutor", "submit", _wrap_submit),),
    "threading": (("Thread", "start", _wrap_start),),
}


def patch(module: ModuleType) -> None:
    for owner, attribute, wrapper in _WRAPS.get(module.__name__, ()):
        key = (f"{module.__name__}.{owner}", attribute)
        if key in _originals:
            continue
        parent, name, original = wrapt.resolve_path(module, f"{owner}.{attribute}")
        _originals[key] = (parent, name, original)
        wrapt.apply_patch(parent, name, wrapt.FunctionWrapper(original, wrapper))


def unpatch(module: ModuleType) -> None:
    for owner, attribute, _ in _WRAPS.get(module.__name__, ()):
        saved = _originals.pop((f"{module.__name__}.{owner}", attribute), None)
        if saved is not None:
            parent, name, original = saved
            setattr(parent, name, original)


PLUGIN = Plugin(
    name="threading",
    hooks=("threading", "concurrent.futures.thread"),
    distribution=None,
    supported="",
    patch=patch,
    unpatch=unpatch,
    description="trace context carried into threads and thread pools",
)

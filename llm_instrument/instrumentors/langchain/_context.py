"""Making LangChain runs' spans current, so HTTP calls (and other spans) made inside nest.

Callbacks only observe a run; the work happens in the caller's frames. Three wraps make the
run's span the current OpenTelemetry context while its work runs:

- ``runnables.config._set_config_context``: LangChain runs every child runnable and tool
  body in a copied ``contextvars.Context`` it discards afterwards; we attach the parent
  run's context inside that copy (no detach needed). Covers chains, lambdas, tools,
  ``RunnableParallel`` and batch (thread pools copy the context too).
- ``BaseChatModel._generate_with_cache``/``_agenerate_with_cache`` and
  ``BaseLLM._generate_helper``/``_agenerate_helper``: the model's own run is current around
  the provider call (one run per call; a multi-prompt legacy batch keeps its chain's span).
- ``BaseChatModel``/``BaseLLM`` ``stream``/``astream`` and ``BaseRetriever``
  ``invoke``/``ainvoke``: a ``Slot`` is opened around each call or stream step; the start
  callback attaches its span there and the wrapper detaches it when the step returns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context

from llm_instrument.agent.guard import guarded
from llm_instrument.instrumentors.langchain._runs import SLOT, Slot, runs


@guarded("langchain: detaching a context")
def _detach(token: Any) -> None:
    otel_context.detach(token)


@guarded("langchain: attaching a run's context")
def _attach_parent_run(config: Any) -> None:
    callbacks = config.get("callbacks") if isinstance(config, dict) else None
    ctx = runs.context(getattr(callbacks, "parent_run_id", None))
    if ctx is not None:
        otel_context.attach(ctx)


def _wrap_set_config_context(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Inside LangChain's copied context, make the parent run's span current."""
    result = wrapped(*args, **kwargs)
    if args:
        _attach_parent_run(args[0])
    return result


def _run_context(run_manager: Any) -> otel_context.Context | None:
    return runs.context(getattr(run_manager, "run_id", None)) if run_manager is not None else None


def _model_call(ctx: otel_context.Context | None, call: Callable[[], Any], is_async: bool) -> Any:
    if ctx is None:
        return call()
    if is_async:

        async def run() -> Any:
            token = otel_context.attach(ctx)
            try:
                return await call()
            finally:
                _detach(token)

        return run()
    token = otel_context.attach(ctx)
    try:
        return call()
    finally:
        _detach(token)


def _wrap_generate_with_cache(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The chat model's run is current while the provider is called."""
    ctx = _run_context(kwargs.get("run_manager"))
    return _model_call(ctx, lambda: wrapped(*args, **kwargs), False)


def _wrap_agenerate_with_cache(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Async twin of ``_wrap_generate_with_cache``."""
    ctx = _run_context(kwargs.get("run_manager"))
    return _model_call(ctx, lambda: wrapped(*args, **kwargs), True)


def _helper_context(args: tuple[Any, ...], kwargs: dict[str, Any]) -> otel_context.Context | None:
    managers = kwargs.get("run_managers", args[2] if len(args) > 2 else None)
    if isinstance(managers, list) and len(managers) == 1:
        return _run_context(managers[0])
    return None


def _wrap_generate_helper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The LLM's run is current while the provider is called (single-prompt calls)."""
    return _model_call(_helper_context(args, kwargs), lambda: wrapped(*args, **kwargs), False)


def _wrap_agenerate_helper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Async twin of ``_wrap_generate_helper``."""
    return _model_call(_helper_context(args, kwargs), lambda: wrapped(*args, **kwargs), True)


def _close_slot(slot: Slot, token: Any) -> None:
    if slot.token is not None:
        _detach(slot.token)
        slot.token = None
    SLOT.reset(token)


def _wrap_retriever_invoke(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The retriever's run is current while it searches."""
    slot = Slot("retriever")
    token = SLOT.set(slot)
    try:
        return wrapped(*args, **kwargs)
    finally:
        _close_slot(slot, token)


def _wrap_retriever_ainvoke(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Async twin of ``_wrap_retriever_invoke``."""

    async def run() -> Any:
        slot = Slot("retriever")
        token = SLOT.set(slot)
        try:
            return await wrapped(*args, **kwargs)
        finally:
            _close_slot(slot, token)

    return run()


@contextmanager
def _stream_step(ctx: otel_context.Context | None) -> Iterator[Slot]:
    """One step of a model stream: the model's run (known after the first step) is current
    while the step runs, and the slot tells which run that was."""
    slot = Slot("llm", ctx)
    token = SLOT.set(slot)
    outer = otel_context.attach(ctx) if ctx is not None else None
    try:
        yield slot
    finally:
        _close_slot(slot, token)
        if outer is not None:
            _detach(outer)


def _activating_stream(stream: Iterator[Any]) -> Iterator[Any]:
    """Each step of a model stream runs with the model's span current."""
    ctx: otel_context.Context | None = None
    try:
        while True:
            with _stream_step(ctx) as slot:
                try:
                    chunk = next(stream)
                except StopIteration:
                    return
            ctx = slot.context
            yield chunk
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


async def _activating_astream(stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Async twin of ``_activating_stream``."""
    ctx: otel_context.Context | None = None
    try:
        while True:
            with _stream_step(ctx) as slot:
                try:
                    chunk = await stream.__anext__()
                except StopAsyncIteration:
                    return
            ctx = slot.context
            yield chunk
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _wrap_stream(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The model's span is current during every step of ``stream``."""
    return _activating_stream(wrapped(*args, **kwargs))


def _wrap_astream(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The model's span is current during every step of ``astream``."""
    return _activating_astream(wrapped(*args, **kwargs))

"""One GenAI operation in flight: its span, its timings, its facts; ends exactly once.

The typed entry points in ``operations`` open the span and return a ``Handle``. Every
method is idempotent and never raises: a failure inside is reported once through ``guard``
and the application carries on. ``finish``/``fail`` end the span and record the metrics;
later calls do nothing.

Nesting (a model span inside a model span of the same call, e.g. LangChain's
``ChatHuggingFace`` over transformers' ``generate``): the inner handle is an ordinary child
span that hands its usage, first-chunk time, model and finish reasons up; only the outermost
span carries ``gen_ai.usage.*`` and records the metrics (``nesting``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Span

from llm_instrument.agent.guard import guarded
from llm_instrument.genai import content, names, nesting, spans
from llm_instrument.genai.facts import Document, Usage, model_label

# the innermost open model handle of each kind, in the context (so a nested one finds it)
MODEL_KEYS = {
    kind: otel_context.create_key(f"llm_instrument.genai.{kind}") for kind in names.MODEL_KINDS
}


class Handle:
    """A started GenAI operation. Build it with ``start()``."""

    __slots__ = (
        "_before_end",
        "_carried_usage",
        "_chunks",
        "_context",
        "_ended",
        "_first_ns",
        "_inner",
        "_kind",
        "_labels",
        "_name",
        "_outer",
        "_reasons",
        "_server",
        "_start_ns",
        "_token",
        "_usage",
        "span",
    )

    def __init__(
        self,
        span: Span,
        kind: str,
        ctx: otel_context.Context,
        labels: dict[str, Any],
        outer: Handle | None,
        name: str | None = None,
    ) -> None:
        self.span = span
        self._kind = kind
        self._name = name
        self._context = ctx
        self._labels = labels
        self._outer = outer
        self._start_ns = time.perf_counter_ns()
        self._first_ns: int | None = None
        self._chunks = 0
        self._usage: Usage | None = None
        self._inner: nesting.Inner | None = None
        self._reasons: tuple[str, ...] = ()
        self._carried_usage = False
        self._ended = False
        self._token: object | None = None
        self._server: tuple[float | None, float | None] | None = None
        self._before_end: list[Callable[[], None]] | None = None

    # -- facts during the operation ---------------------------------------------------------
    @property
    def context(self) -> otel_context.Context:
        """A context with this span current, for children or for activating it."""
        return self._context

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def chunks(self) -> int:
        """Chunks counted so far with ``chunk()``."""
        return self._chunks

    def first_chunk(self, at: int | None = None) -> None:
        """Mark the first chunk (or token) now, or at ``at`` (a ``perf_counter_ns`` value)."""
        if self._first_ns is None:
            self._first_ns = time.perf_counter_ns() if at is None else at

    def chunk(self, at: int | None = None) -> None:
        """Count one streamed chunk; the first one also marks the time to first chunk."""
        self._chunks += 1
        if self._first_ns is None:
            self._first_ns = time.perf_counter_ns() if at is None else at

    def set_usage(self, usage: Usage) -> None:
        """Token usage as reported by the provider or counted by the tokenizer."""
        if usage.known:
            self._usage = usage

    def server_timing(self, first_token_s: float | None, per_output_token_s: float | None) -> None:
        """Model-server timings of an in-process model, recorded as ``gen_ai.server.*`` by this
        handle itself when it finishes successfully (never adopted, so never counted twice)."""
        self._server = (first_token_s, per_output_token_s)

    def before_outer_ends(self, callback: Callable[[], None]) -> None:
        """Have ``callback`` run just before the enclosing model handle ends, so an inner
        handle whose facts arrive asynchronously (a CUDA readback) can still hand them up."""
        outer = self._outer
        if outer is not None and not outer._ended:
            if outer._before_end is None:
                outer._before_end = []
            outer._before_end.append(callback)

    def _run_before_end(self) -> None:
        callbacks, self._before_end = self._before_end, None
        for callback in callbacks or ():
            _run_callback(callback)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Non-content facts learned during the operation (response model, device, ...)."""
        if not self._ended:
            _set_attributes(self.span, attributes)

    def set_inputs(self, inputs: Any) -> None:
        """Inputs known only later (LangChain streams report a chain's input at its end)."""
        if not self._ended and inputs is not None and self.span.is_recording():
            _set_inputs(self.span, self._kind, inputs)

    # -- ending ------------------------------------------------------------------------------
    def finish(
        self,
        outputs: Any = None,
        finish_reasons: Sequence[str] | None = None,
        documents: Sequence[Document] | None = None,
        response_model: str | None = None,
    ) -> None:
        """End the operation successfully (once; later calls do nothing)."""
        if self._ended:
            return
        if self._before_end:
            self._run_before_end()
        self._ended = True
        if not _finish(self, outputs, finish_reasons, documents, response_model):
            _end_quietly(self.span)
        self._leave_context()

    def fail(self, exc: BaseException) -> None:
        """End the operation with ``exc`` recorded and status ERROR (once)."""
        if self._ended:
            return
        if self._before_end:
            self._run_before_end()
        self._ended = True
        if not _fail(self, exc):
            _end_quietly(self.span)
        self._leave_context()

    def _leave_context(self) -> None:
        """A model handle's context names the handle itself (``MODEL_KEYS``, for the calls
        nested in it): handle and context are a reference cycle, which only the garbage
        collector could free, with the span and all it holds (~35 objects per model call,
        a young collection every ~20 LangChain invokes and the odd full one). Once ended,
        the handle keeps its span's context with the enclosing call there instead; contexts
        captured while it ran still name it, so calls nested in it find it as before."""
        key = MODEL_KEYS.get(self._kind)
        if key is not None and otel_context.get_value(key, self._context) is self:
            self._context = otel_context.set_value(key, self._outer, self._context)

    def _close(self) -> None:
        nesting.close(self, time.perf_counter_ns())

    # -- context manager ---------------------------------------------------------------------
    def __enter__(self) -> Handle:
        self._token = otel_context.attach(self._context)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is not None:
            _detach(token)
        if exc is not None:
            self.fail(exc)
        else:
            self.finish()


@guarded("genai: finishing a span", default=False)
def _finish(
    handle: Handle,
    outputs: Any,
    finish_reasons: Sequence[str] | None,
    documents: Sequence[Document] | None,
    response_model: str | None,
) -> bool:
    reasons = tuple(str(r) for r in finish_reasons or ()) or nesting.inner_reasons(handle)
    handle._reasons = reasons
    if handle.span.is_recording():
        spans.write_outputs(handle.span, handle._kind, outputs, reasons, documents, response_model)
    if response_model:
        handle._labels[names.RESPONSE_MODEL] = model_label(response_model)
    handle._close()
    return True


@guarded("genai: failing a span", default=False)
def _fail(handle: Handle, exc: BaseException) -> bool:
    error_type = type(exc).__qualname__
    if handle.span.is_recording():
        spans.write_error(handle.span, exc, error_type)
    handle._labels[names.ERROR_TYPE] = error_type
    handle._close()
    return True


@guarded("genai: settling an inner operation")
def _run_callback(callback: Callable[[], None]) -> None:
    callback()


@guarded("genai: ending a span")
def _end_quietly(span: Span) -> None:
    span.end()


@guarded("genai: set_attributes")
def _set_attributes(span: Span, attributes: Mapping[str, Any]) -> None:
    span.set_attributes(spans.clean(attributes))


@guarded("genai: set_inputs")
def _set_inputs(span: Span, kind: str, inputs: Any) -> None:
    spans.write_inputs(span, kind, inputs, content.policy())


@guarded("genai: leaving a span")
def _detach(token: Any) -> None:
    otel_context.detach(token)

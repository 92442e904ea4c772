"""One GenAI operation in flight: its span, its timings, its facts; ends exactly once.

The typed entry points in ``operations`` open the span and return a ``Handle``. Every
method is idempotent and never raises: a failure inside is reported once through ``guard``
and the application carries on. ``finish``/``fail`` end the span and record the metrics;
later calls do nothing.

Nesting rule (a model span inside a model span, e.g. LangChain's ``HuggingFacePipeline``
LLM span with transformers' ``generate`` span beneath it): the inner handle is an ordinary
child span. When it finishes while the outer handle of the same kind (LLM or EMBEDDING) is
still open, it hands its token usage, first-chunk time and chunk count up instead of
recording metrics itself. The outer handle uses the usage its own provider reported if any,
else the adopted one (first-chunk time likewise), and records the metrics once for the
pair. An inner handle whose outer has already ended records its own metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Span

from llm_instrument.agent.guard import guarded
from llm_instrument.genai import content, names, spans
from llm_instrument.genai import metrics as genai_metrics
from llm_instrument.genai.facts import Document, Usage, model_label

MODEL_KEYS = {
    names.SpanKind.LLM: otel_context.create_key("llm_instrument.genai.llm"),
    names.SpanKind.EMBEDDING: otel_context.create_key("llm_instrument.genai.embedding"),
}


class Handle:
    """A started GenAI operation. Build it with ``start()``."""

    __slots__ = (
        "_adopted",
        "_before_end",
        "_chunks",
        "_context",
        "_ended",
        "_first_ns",
        "_kind",
        "_labels",
        "_outer",
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
    ) -> None:
        self.span = span
        self._kind = kind
        self._context = ctx
        self._labels = labels
        self._outer = outer
        self._start_ns = time.perf_counter_ns()
        self._first_ns: int | None = None
        self._chunks = 0
        self._usage: Usage | None = None
        self._adopted: tuple[Usage | None, int | None, int, str | None] | None = None
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

    def fail(self, exc: BaseException) -> None:
        """End the operation with ``exc`` recorded and status ERROR (once)."""
        if self._ended:
            return
        if self._before_end:
            self._run_before_end()
        self._ended = True
        if not _fail(self, exc):
            _end_quietly(self.span)

    def _adopt(
        self, usage: Usage | None, first_ns: int | None, chunks: int, model: str | None
    ) -> None:
        """Fold in an inner model call: usage summed over several inner calls (a pipeline or
        a LangChain LLM that generates more than once), the earliest first chunk."""
        if self._adopted is not None:
            before_usage, before_first, before_chunks, before_model = self._adopted
            usage = before_usage + usage if before_usage and usage else before_usage or usage
            firsts = [ns for ns in (before_first, first_ns) if ns is not None]
            first_ns = min(firsts) if firsts else None
            chunks += before_chunks
            model = before_model or model
        self._adopted = (usage, first_ns, chunks, model)

    def _close(self) -> None:
        end_ns = time.perf_counter_ns()
        usage, first_ns, chunks = self._usage, self._first_ns, self._chunks
        span = self.span
        if self._adopted is not None:
            inner_usage, inner_first, inner_chunks, inner_model = self._adopted
            if usage is None:
                usage = inner_usage
            if first_ns is None:
                first_ns, chunks = inner_first, inner_chunks
            if inner_model and not self._labels.keys() & {
                names.REQUEST_MODEL,
                names.RESPONSE_MODEL,
            }:
                # a wrapper that does not name its model (ChatHuggingFace) is named by
                # the model that actually ran beneath it
                self._labels[names.RESPONSE_MODEL] = inner_model
                span.set_attribute(names.RESPONSE_MODEL, inner_model)
                span.update_name(f"{self._labels[names.OPERATION]} {inner_model}")
        if span.is_recording():
            if usage is not None:
                span.set_attributes(spans.usage_attributes(usage))
            if first_ns is not None:
                span.set_attribute(
                    names.RESPONSE_TIME_TO_FIRST_CHUNK, (first_ns - self._start_ns) / 1e9
                )
        span.end()
        if self._server is not None and names.ERROR_TYPE not in self._labels:
            genai_metrics.record_server_timing(self._labels, *self._server)
        if self._kind not in MODEL_KEYS:
            return
        outer = self._outer
        if outer is not None and not outer._ended and outer._kind == self._kind:
            outer._adopt(usage, first_ns, chunks, self._labels.get(names.REQUEST_MODEL))
            return
        genai_metrics.record_operation(
            self._labels, self._start_ns, end_ns, usage, first_ns, chunks
        )

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
    if handle.span.is_recording():
        spans.write_outputs(
            handle.span, handle._kind, outputs, finish_reasons, documents, response_model
        )
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

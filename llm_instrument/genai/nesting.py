"""One model call, one usage: what a nested model span hands up, and which span counts it.

A model call is often several nested model spans of the same kind: LangChain's
``ChatHuggingFace`` over transformers' pipeline over ``generate()``, or LangChain's
``HuggingFaceEmbeddings`` over ``SentenceTransformer.encode``. Every viewer sums
``gen_ai.usage.*`` over spans (Phoenix per trace and project, Jaeger UI's trace summary), so
exactly one span of the call may carry it: the outermost. It is the call as the application
made it (its messages, its model), it is open the longest, so every inner count reaches it,
and it is where the metrics are recorded, once for the call.

So an inner span that ends while its outer of the same kind is open writes its counts under
``llm_instrument.usage.*`` and hands them up (with its first-chunk time, chunk count, model
and finish reasons). The outer uses its own provider's usage if it has any, else the sum of
what it was handed. An inner span that ends after its outer (a stream drained late) counts
its usage itself only if the outer carried none; otherwise it too keeps ``llm_instrument.*``.
A CUDA ``generate()`` whose counts arrive late settles before its outer ends
(``Handle.before_outer_ends``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llm_instrument.genai import metrics as genai_metrics
from llm_instrument.genai import names, spans
from llm_instrument.genai.facts import Usage

if TYPE_CHECKING:
    from llm_instrument.genai.handle import Handle


@dataclass(slots=True)
class Inner:
    """What the inner model spans of one outer span handed up, summed."""

    usage: Usage | None = None
    first_ns: int | None = None
    chunks: int = 0
    model: str | None = None
    reasons: list[str] = field(default_factory=list)

    def add(
        self,
        usage: Usage | None,
        first_ns: int | None,
        chunks: int,
        model: str | None,
        reasons: tuple[str, ...],
    ) -> None:
        """Fold in one inner call: usage summed over several (a pipeline or a LangChain LLM
        that generates more than once), the earliest first chunk, the first model."""
        if usage is not None:
            self.usage = usage if self.usage is None else self.usage + usage
        if first_ns is not None and (self.first_ns is None or first_ns < self.first_ns):
            self.first_ns = first_ns
        self.chunks += chunks
        self.model = self.model or model
        self.reasons.extend(reasons)


def _same_call(handle: Handle) -> Handle | None:
    outer = handle._outer
    return outer if outer is not None and outer._kind == handle._kind else None


def close(handle: Handle, end_ns: int) -> None:
    """Write the usage and timing attributes, end the span, hand up or record the metrics."""
    usage, first_ns, chunks = handle._usage, handle._first_ns, handle._chunks
    span, labels, inner = handle.span, handle._labels, handle._inner
    attrs: dict[str, Any] = {}  # handed to the span at once
    if inner is not None:
        usage = usage or inner.usage
        if first_ns is None:
            first_ns, chunks = inner.first_ns, inner.chunks
        if inner.model and names.REQUEST_MODEL not in labels:
            # a wrapper that does not name its model (ChatHuggingFace) is named by the model
            # that actually ran beneath it: Jaeger's model pill reads gen_ai.request.model.
            # Not as gen_ai.response.model: no response said so, and Phoenix would show it
            # as the span's output ({"model": ...}) in its span list
            labels[names.REQUEST_MODEL] = attrs[names.REQUEST_MODEL] = inner.model
            span.update_name(f"{labels[names.OPERATION]} {inner.model}")
    if names.REQUEST_MODEL not in labels and handle._kind in names.MODEL_KINDS:
        # still no model: the response's, else the name the caller gave (a fake or custom
        # model class), so that every model span shows one where Jaeger reads it
        fallback = labels.get(names.RESPONSE_MODEL) or handle._name
        if fallback:
            labels[names.REQUEST_MODEL] = attrs[names.REQUEST_MODEL] = fallback
    outer = _same_call(handle)
    hand_up = outer is not None and not outer._ended
    carrier = not hand_up and not (outer is not None and outer._carried_usage)
    if span.is_recording():
        if usage is not None:
            attrs.update(spans.usage_attributes(usage, counted=carrier))
        if first_ns is not None:
            attrs[names.RESPONSE_TIME_TO_FIRST_CHUNK] = (first_ns - handle._start_ns) / 1e9
        if attrs:
            span.set_attributes(attrs)
    handle._carried_usage = carrier and usage is not None
    span.end()
    if handle._server is not None and names.ERROR_TYPE not in labels:
        genai_metrics.record_server_timing(labels, *handle._server)
    if handle._kind not in names.MODEL_KINDS:
        return
    if outer is not None and hand_up:
        if outer._inner is None:
            outer._inner = Inner()
        outer._inner.add(usage, first_ns, chunks, labels.get(names.REQUEST_MODEL), handle._reasons)
        return
    if outer is not None:
        # the outer call ended first and recorded the operation: only tokens it did not
        # count are left to record
        if carrier:
            genai_metrics.record_tokens(labels, usage)
        return
    genai_metrics.record_operation(labels, handle._start_ns, end_ns, usage, first_ns, chunks)


def inner_reasons(handle: Handle) -> tuple[str, ...]:
    """The finish reasons the inner calls reported (for an outer that has none of its own)."""
    return tuple(handle._inner.reasons) if handle._inner is not None else ()

"""OTLP spans written as they end, so the span queue holds bytes instead of span objects.

Why: a queued ``ReadableSpan`` is about a dozen objects the garbage collector tracks (the
span, its ``BoundedAttributes``, two ``BoundedList``\\ s and their deques, its contexts, its
status) until its batch is full. The application's collections scan them and promote them,
and every few thousand promoted spans trigger a full collection of the application's whole
heap: ~100 us per LangChain invoke with OTLP (``bench/PROFILE.md``). A span written when it
ends is one ``(int, bytes)`` tuple, which the collector stops tracking at its first pass,
and its weight in the queue's byte bound is its real size.

What runs at the end of a span, in the application's thread, is what the export thread
did before: the content policy (``content_policy.exporter.safe``, the same one every span
passes) and ``otlp_encoding.encode_span``. Only for spans where that is cheap. The GenAI
core's spans are: the core applied the policy when it wrote them, so the policy's pass is
one loop over their values, and their content is already cut to the span budget. Any other
span with more than ``EARLY_LIMIT_CHARS`` characters of string values (the policy scans each
for secrets), any span with events (exception stack traces), and any the writer does not
take, stays a span and is handled by the export thread as before, so the application's
thread never pays for scanning a large span.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace.export import SpanExportResult

from llm_instrument.agent.finished_span import plain_attributes
from llm_instrument.content_policy.attributes import CORE_SCOPE
from llm_instrument.content_policy.exporter import safe
from llm_instrument.content_policy.policy import policy
from llm_instrument.exporters.otlp_encoding import (
    EncodedSpan,
    encode_request,
    encode_span,
    encode_spans,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from llm_instrument.exporters.otlp import OTLPSpanExporter

EARLY_LIMIT_CHARS = 4096
"""Spans not from the GenAI core with more characters of string attribute values are left to
the export thread (redacting 4096 characters takes ~100 us)."""


def _cheap(span: ReadableSpan) -> bool:
    """Whether the policy and the writer take little time for ``span``: no events, and a
    GenAI core span or string values within ``EARLY_LIMIT_CHARS`` (every value is cut before
    it is scanned, but a span of many long values still takes a while)."""
    if span.events:
        return False
    scope = span.instrumentation_scope
    if scope is not None and scope.name == CORE_SCOPE:
        return True
    chars = 0
    for value in (plain_attributes(span) or {}).values():
        if type(value) is str:
            chars += len(value)
    return chars <= EARLY_LIMIT_CHARS


class EarlyEncoding:
    """The ``span_queue.EarlyEncoder`` for OTLP over HTTP: policy and writer at the end of
    each span; one request per batch for what was written and what was left."""

    def __init__(self, exporter: OTLPSpanExporter) -> None:
        self.exporter = exporter

    def encode(self, span: ReadableSpan) -> EncodedSpan | None:
        if not _cheap(span):
            return None
        return encode_span(safe(span, policy()))

    def export(self, items: Sequence[EncodedSpan | ReadableSpan]) -> SpanExportResult:
        rules = policy()
        encoded = [item for item in items if isinstance(item, tuple)]
        left = [safe(item, rules) for item in items if not isinstance(item, tuple)]
        body = encode_request(encoded) if encoded else b""
        if left:
            body += encode_spans(left)
        return self.exporter.post(body)

"""Sketch behind PROFILE.md item 2: OTLP span encoding straight to protobuf bytes.

    .venv/bin/python bench/results/otlp_encoder_sketch.py

Not used by the agent. It builds ~500 SDK spans shaped like one request of
``http_overhead.py`` (a FastAPI server span and the chain, retrieval, embedding and chat
spans with their attribute counts and sizes), encodes them with the SDK's
``encode_spans(...).SerializePartialToString()`` and with the direct writer below, checks
that both decode to the same spans (the SDK also writes an empty ``status {}``, 2 bytes a
span), and prints the CPU per span of each. Events, links and trace state are not written
here; a real encoder must add them.
"""

from __future__ import annotations

import statistics
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, set_span_in_context

_MESSAGES = '[{"role": "user", "parts": [{"type": "text", "content": "How long do cats sleep?"}]}]'
SHAPES: tuple[tuple[str, str, SpanKind, dict[str, Any]], ...] = (
    ("opentelemetry.instrumentation.fastapi", "POST /ask", SpanKind.SERVER, {
        "http.request.method": "POST", "url.scheme": "http", "server.address": "127.0.0.1",
        "server.port": 8000, "network.peer.address": "127.0.0.1", "network.peer.port": 50000,
        "network.protocol.version": "1.1", "url.path": "/ask", "http.route": "/ask",
        "user_agent.original": "Python-urllib/3.11", "client.address": "127.0.0.1",
        "http.response.status_code": 200,
    }),
    ("llm_instrument.genai", "chain RunnableSequence", SpanKind.INTERNAL, {
        "llm_instrument.span.kind": "CHAIN", "gen_ai.operation.name": "chain",
        "llm_instrument.input": "How long do cats sleep? 1", "llm_instrument.output": "Cats.",
    }),
    ("llm_instrument.genai", "retrieval InMemoryVectorStore", SpanKind.CLIENT, {
        "llm_instrument.span.kind": "RETRIEVER", "gen_ai.operation.name": "retrieval",
        "gen_ai.data_source.id": "InMemoryVectorStore", "gen_ai.retrieval.query.text": "q 1",
        "llm_instrument.retrieval.documents": '[{"id": "d3", "content": "Fact 3."}]' * 2,
    }),
    ("llm_instrument.genai", "embeddings DeterministicFakeEmbedding", SpanKind.CLIENT, {
        "llm_instrument.span.kind": "EMBEDDING", "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "langchain", "gen_ai.request.batch_size": 1,
        "llm_instrument.input": "How long do cats sleep? 1",
        "gen_ai.embeddings.dimension.count": 16,
    }),
    ("llm_instrument.genai", "chat fake-chat-1", SpanKind.CLIENT, {
        "llm_instrument.span.kind": "LLM", "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "fake-chat", "gen_ai.request.model": "fake-chat-1",
        "gen_ai.system_instructions": '[{"type": "text", "content": "Answer from: ..."}]',
        "gen_ai.input.messages": _MESSAGES, "gen_ai.output.messages": _MESSAGES,
        "gen_ai.response.model": "fake-chat-1", "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 4,
    }),
)  # fmt: skip


def make_spans(requests: int = 100) -> Sequence[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-http"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for _ in range(requests):
        ctx = None
        for scope, name, kind, attributes in SHAPES:
            span = provider.get_tracer(scope, "0.1").start_span(
                name, context=ctx, kind=kind, attributes=attributes
            )
            ctx = set_span_in_context(span)
            span.end()
    return memory.get_finished_spans()


# -- the direct writer -----------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return tag + _varint(len(payload)) + payload


_KEYS: dict[str, bytes] = {}
_DOUBLE = struct.Struct("<d").pack
_TIMES = struct.Struct("<BQBQ").pack
_FIXED32 = struct.Struct("<I").pack


def _any_value(value: Any) -> bytes:
    if isinstance(value, str):
        return _field(b"\x0a", value.encode())
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    if isinstance(value, tuple | list):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _any_value(v)) for v in value))
    raise TypeError(type(value))


def _attributes(tag: bytes, attributes: Mapping[str, Any]) -> bytes:
    parts = []
    for key, value in attributes.items():
        encoded = _KEYS.get(key)
        if encoded is None:
            encoded = _KEYS[key] = _field(b"\x0a", key.encode())
        parts.append(_field(tag, encoded + _field(b"\x12", _any_value(value))))
    return b"".join(parts)


def _span(span: ReadableSpan) -> bytes:
    ctx = span.context
    assert ctx is not None and span.start_time is not None and span.end_time is not None
    parts = [b"\x0a\x10", ctx.trace_id.to_bytes(16, "big"), b"\x12\x08", ctx.span_id.to_bytes(8)]
    if span.parent is not None:
        parts += [b"\x22\x08", span.parent.span_id.to_bytes(8, "big")]
    parts.append(_field(b"\x2a", span.name.encode()))
    parts.append(b"\x30" + _varint(span.kind.value + 1))
    parts.append(_TIMES(0x39, span.start_time, 0x41, span.end_time))
    parts.append(_attributes(b"\x4a", span.attributes or {}))
    remote = span.parent is not None and span.parent.is_remote
    parts.append(b"\x85\x01" + _FIXED32(0x100 | (0x200 if remote else 0)))
    code, message = span.status.status_code.value, span.status.description
    if code or message:
        body = (_field(b"\x12", message.encode()) if message else b"") + (
            b"\x18" + _varint(code) if code else b""
        )
        parts.append(_field(b"\x7a", body))
    return b"".join(parts)


def encode_direct(spans: Sequence[ReadableSpan]) -> bytes:
    groups: dict[int, tuple[Resource, dict[Any, list[ReadableSpan]]]] = {}
    for span in spans:
        entry = groups.setdefault(id(span.resource), (span.resource, {}))
        entry[1].setdefault(span.instrumentation_scope, []).append(span)
    out = []
    for resource, scopes in groups.values():
        body = [_field(b"\x0a", _attributes(b"\x0a", resource.attributes))]
        for scope, members in scopes.items():
            head = _field(b"\x0a", scope.name.encode())
            if scope.version:
                head += _field(b"\x12", scope.version.encode())
            spans_bytes = b"".join(_field(b"\x12", _span(s)) for s in members)
            body.append(_field(b"\x12", _field(b"\x0a", head) + spans_bytes))
        out.append(_field(b"\x0a", b"".join(body)))
    return b"".join(out)


def _decoded(data: bytes) -> list[tuple[Any, ...]]:
    request = ExportTraceServiceRequest.FromString(data)
    return [
        (
            scope_spans.scope.SerializeToString(),
            span.trace_id, span.span_id, span.parent_span_id, span.name, span.kind,
            span.start_time_unix_nano, span.end_time_unix_nano, span.flags,
            [kv.SerializeToString() for kv in span.attributes], span.status.code,
        )
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]  # fmt: skip


def _us_per_span(encode: Callable[[], bytes], count: int) -> float:
    runs = []
    for _ in range(15):
        start = time.process_time()
        encode()
        runs.append(time.process_time() - start)
    return statistics.median(runs) / count * 1e6


def main() -> None:
    spans = make_spans()
    sdk = encode_spans(spans).SerializePartialToString()
    direct = encode_direct(spans)
    assert sorted(_decoded(sdk)) == sorted(_decoded(direct)), "the encodings differ"
    print(f"{len(spans)} spans, same spans decoded; {len(sdk)} vs {len(direct)} bytes")
    sdk_us = _us_per_span(lambda: encode_spans(spans).SerializePartialToString(), len(spans))
    direct_us = _us_per_span(lambda: encode_direct(spans), len(spans))
    print(f"SDK encode_spans + SerializePartialToString: {sdk_us:5.1f} us/span")
    print(f"direct writer:                               {direct_us:5.1f} us/span")


if __name__ == "__main__":
    main()

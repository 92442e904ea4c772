"""The direct OTLP span writer against the SDK's encoder: the bytes must parse to the very
message ``encode_spans(spans)`` builds, for every span field and attribute type, and a batch
it cannot write must still come out (through the SDK encoder), never be lost."""

from __future__ import annotations

import enum
import logging
import random
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from llm_instrument.agent import guard
from llm_instrument.exporters import otlp, otlp_encoding

ATTRIBUTES: dict[str, Any] = {
    "str": "chat",
    "empty.str": "",
    "unicode": "héllo wörld ✓ 猫 🐱",
    "long": "x" * 5000,
    "true": True,
    "false": False,
    "zero": 0,
    "one": 1,
    "negative": -1,
    "int64.max": 2**63 - 1,
    "int64.min": -(2**63),
    "big": 2**40 + 7,
    "float": 1.5,
    "float.zero": 0.0,
    "float.negative": -2.25e-300,
    "float.inf": float("inf"),
    "bytes": b"\x00\xff raw",
    "empty.bytes": b"",
    "strs": ["stop", "length", ""],
    "bools": [True, False],
    "ints": [0, -5, 2**62],
    "floats": [0.5, -1.0],
    "empty.list": [],
    "empty.tuple": (),
    "with.none": ["a", None, "b"],
    "none": None,
    "mixed": [1, "two", 3.0, None, [True]],
    "mapping": {"inner": "v", "n": 3, "deep": {"list": [1, 2]}},
}


def _remote(span_id: int, state: TraceState | None = None) -> SpanContext:
    return SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=span_id,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=state,
    )


def make_spans() -> Sequence[ReadableSpan]:
    """Two resources (one with a schema URL), several scopes, every span field."""
    memory = InMemorySpanExporter()
    limits = SpanLimits(
        max_span_attributes=64,
        max_events=3,
        max_links=3,
        max_event_attributes=2,
        max_link_attributes=1,
    )
    first = TracerProvider(
        resource=Resource({"service.name": "svc", "host.cores": 2, "tags": ["a", "b"]}),
        span_limits=limits,
    )
    second = TracerProvider(
        resource=Resource({"service.name": "other ✓"}, schema_url="https://x/1.26.0"),
        span_limits=SpanLimits(max_span_attributes=3),
    )
    for provider in (first, second):
        provider.add_span_processor(SimpleSpanProcessor(memory))

    genai = first.get_tracer("llm_instrument.genai", "0.1")
    genai_again = first.get_tracer("llm_instrument.genai", "0.1")  # equal scope, new object
    versionless = first.get_tracer("bare")
    scoped = first.get_tracer(
        "scoped", "2.0", schema_url="https://opentelemetry.io/schemas/1.21.0",
        attributes={"scope.attr": "yes", "scope.n": 1},
    )  # fmt: skip
    state = TraceState([("vendor", "abc"), ("other", "x-1")])
    parent_ctx = set_span_in_context(NonRecordingSpan(_remote(0x1234, state)))

    with genai.start_as_current_span(
        "chat model ✓", kind=SpanKind.CLIENT, context=parent_ctx, attributes=ATTRIBUTES
    ) as root:
        root.add_event("first token", {"gen_ai.token": 1, "empty": []}, timestamp=1_000)
        root.add_event("dropped attrs", {"a": 1, "b": 2, "c": 3, "d": 4})
        root.add_event("", {})
        root.add_event("one too many")
        root.set_status(Status(StatusCode.ERROR, "boom: ünïcode"))
        with genai_again.start_as_current_span(
            "retrieval",
            links=[
                Link(_remote(0x97)),  # the oldest, dropped past max_links
                Link(root.get_span_context()),
                Link(_remote(0x98)),
                Link(_remote(0x99, state), {"link.kind": "follows", "link.extra": 2}),
            ],
        ) as child:
            child.set_status(Status(StatusCode.OK))
        versionless.start_span("", kind=SpanKind.SERVER).end()
    for kind in (SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.INTERNAL):
        scoped.start_span(f"kind {kind.name}", kind=kind).end()
    unset_with_message = scoped.start_span("error no message")
    unset_with_message.set_status(Status(StatusCode.ERROR))
    unset_with_message.end()
    few = dict(list(ATTRIBUTES.items())[:5])
    second.get_tracer("second").start_span("over limit", attributes=few).end()
    genai.start_span("after", attributes={"str": "chat"}).end()  # first resource again
    return memory.get_finished_spans()


def assert_same(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """The writer itself (``_encode``, no fallback that could hide its mistakes) parses to
    the SDK's message, and ``encode_spans`` returns what it wrote."""
    written = otlp_encoding._encode(spans)
    ours = ExportTraceServiceRequest.FromString(written)
    assert ours == sdk_encode(spans)
    assert otlp_encoding.encode_spans(spans) == written
    return ours


def test_every_field_matches_the_sdk_encoder() -> None:
    spans = make_spans()
    request = assert_same(spans)
    # the fixture really reaches what it means to cover
    assert len(request.resource_spans) == 2
    assert request.resource_spans[1].schema_url == "https://x/1.26.0"
    scopes = {s.scope.name: s for s in request.resource_spans[0].scope_spans}
    assert set(scopes) == {"llm_instrument.genai", "bare", "scoped"}
    assert scopes["scoped"].schema_url and scopes["scoped"].scope.attributes
    root, child = scopes["llm_instrument.genai"].spans[1], scopes["llm_instrument.genai"].spans[0]
    assert root.trace_state == "vendor=abc,other=x-1" and root.flags == 0x300
    assert root.status.message and root.dropped_events_count == 1
    assert root.events[0].dropped_attributes_count == 2  # the oldest event was dropped
    assert child.flags == 0x100 and child.dropped_links_count == 1
    assert [link.flags for link in child.links] == [0x100, 0x300, 0x300]
    assert child.links[2].dropped_attributes_count == 1
    assert request.resource_spans[1].scope_spans[0].spans[0].dropped_attributes_count > 0


def test_empty_batch() -> None:
    assert otlp_encoding.encode_spans([]) == b""
    assert_same([])


def test_plain_readable_spans_with_equal_resources_share_a_group() -> None:
    """``ReadableSpan(resource=None)`` makes a new empty Resource per span: the SDK merges
    equal resources (and equal scopes) by value, so must we."""
    scope = InstrumentationScope("s", "1")
    spans = [
        ReadableSpan(
            f"s{i}",
            context=SpanContext(1, i + 1, is_remote=False),
            instrumentation_scope=InstrumentationScope("s", "1") if i % 2 else scope,
            attributes={"i": i},
            start_time=10,
            end_time=20,
        )
        for i in range(4)
    ] + [ReadableSpan("no scope", context=SpanContext(1, 9, is_remote=False))]
    request = assert_same(spans)
    assert len(request.resource_spans) == 1
    assert len(request.resource_spans[0].scope_spans) == 2


class _Name(enum.StrEnum):
    OPERATION = "gen_ai.operation.name"
    CHAT = "chat"


class _Count(enum.IntEnum):
    TEN = 10


def test_str_and_int_subclasses_are_written_not_handed_over() -> None:
    """Enum keys and values are str/int to the SDK encoder; the writer takes them too."""
    span = ReadableSpan(
        "s",
        context=SpanContext(1, 2, is_remote=False),
        attributes={_Name.OPERATION: _Name.CHAT, "n": _Count.TEN, "list": [_Name.CHAT]},
    )
    assert_same([span])


def test_repeated_values_are_written_the_same_wherever_they_recur() -> None:
    """Short values are kept written, per field: an equal value of another type, the same
    pair in an event or a link, must not be given the bytes kept for the first one."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"k": ("stop",)}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("repeats")
    values: list[Any] = [("stop",), ("stop",), "stop", (1,), (True,), (1.0,), 1, True, ()]
    link = Link(SpanContext(1, 99, is_remote=True), {"k": ("stop",)})
    for value in values * 2:
        span = tracer.start_span("s", attributes={"k": value}, links=[link])
        span.add_event("e", {"k": value})
        span.end()
    request = assert_same(memory.get_finished_spans())
    written = request.resource_spans[0].scope_spans[0].spans
    assert written[3].attributes[0].value.array_value.values[0].int_value == 1
    assert written[4].attributes[0].value.array_value.values[0].bool_value is True


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(10 if depth < 2 else 7)
    if choice == 0:
        alphabet = 'aZ09 _-.é✓猫🐱\n\t"\\'
        return "".join(rng.choice(alphabet) for _ in range(rng.choice((0, 1, 5, 70, 300))))
    if choice == 1:
        return rng.random() < 0.5
    if choice == 2:
        bits = rng.choice((1, 7, 8, 14, 15, 31, 32, 62))
        return rng.choice((rng.randrange(-(2**bits), 2**bits), 2**63 - 1, -(2**63)))
    if choice == 3:
        return rng.choice((0.0, -0.0, 1e-310, 3.14, -1e308, float("inf"), rng.uniform(-1e9, 1e9)))
    if choice == 4:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(20)))
    if choice == 5:
        return None
    if choice == 6:  # homogeneous sequences, the usual attribute shape
        kind = rng.randrange(4)
        make = (lambda: str(rng.random()), lambda: rng.random() < 0.5,
                lambda: rng.randrange(-(2**40), 2**40), rng.random)[kind]  # fmt: skip
        return [make() for _ in range(rng.randrange(5))]
    if choice in (7, 8):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{i}": _random_value(rng, depth + 1) for i in range(rng.randrange(3))}


def test_random_attributes_match_the_sdk_encoder() -> None:
    rng = random.Random(15)
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"r": _random_value(rng)}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("random")
    for i in range(400):
        attributes = {f"key.{rng.randrange(50)}": _random_value(rng) for _ in range(8)}
        span = tracer.start_span(f"span {i % 7}", attributes=attributes)
        span.add_event("e", {"x": _random_value(rng)})
        span.end()
    spans = memory.get_finished_spans()
    for start in range(0, len(spans), 50):
        assert_same(spans[start : start + 50])


@pytest.mark.parametrize(
    "bad",
    [2**63, -(2**63) - 1, 2**70, object(), "lone \ud800 surrogate", ["ok", 2**64], {"k": object()}],
)
def test_a_value_it_cannot_write_goes_through_the_sdk_encoder(bad: Any) -> None:
    """The SDK skips such a key and logs it; the batch (and its other keys) still goes out."""
    span = ReadableSpan(
        "s", context=SpanContext(1, 2, is_remote=False), attributes={"good": 1, "bad": bad}
    )
    body = otlp_encoding.encode_spans([span])
    assert body == sdk_encode([span]).SerializeToString()
    attributes = ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0]
    assert [kv.key for kv in attributes.spans[0].attributes] == ["good"]


def test_a_bug_in_the_writer_falls_back_and_is_reported_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(span: ReadableSpan) -> bytes:
        raise RuntimeError("writer bug")

    monkeypatch.setattr(otlp_encoding, "_span", broken)
    monkeypatch.setattr(guard, "_failures", {})
    spans = make_spans()
    with caplog.at_level(logging.DEBUG, logger="llm_instrument"):
        for _ in range(2):
            assert otlp_encoding.encode_spans(spans) == sdk_encode(spans).SerializeToString()
    warnings = [
        r for r in caplog.records if r.name == "llm_instrument" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1 and "OTLP span encoding" in warnings[0].getMessage()


def test_caches_stay_bounded() -> None:
    resource = Resource({"service.name": "svc"})  # one, not a Resource.create() per span
    spans = [
        ReadableSpan(
            f"name {i}",
            context=SpanContext(1, i + 1, is_remote=False),
            attributes={f"k{i}": "v"},
            resource=resource,
        )
        for i in range(otlp_encoding._CACHE_LIMIT + 100)
    ]
    assert_same(spans)
    assert len(otlp_encoding._strings) <= otlp_encoding._CACHE_LIMIT
    assert len(otlp_encoding._names) <= otlp_encoding._CACHE_LIMIT
    assert len(otlp_encoding._pairs) <= otlp_encoding._CACHE_LIMIT


def test_the_exporter_posts_the_direct_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """A spy on the writer: for these spans its bytes are identical to the SDK's, so the
    bodies alone could not tell which encoder the exporter used."""
    written: list[bytes] = []
    write = otlp_encoding._encode

    def spy(spans: Sequence[ReadableSpan]) -> bytes:
        written.append(write(spans))
        return written[-1]

    monkeypatch.setattr(otlp_encoding, "_encode", spy)
    exporter = otlp.OTLPSpanExporter("http://127.0.0.1:9/v1/traces")
    bodies: list[bytes] = []
    monkeypatch.setattr(exporter.sender, "post", lambda body: bodies.append(body) or True)
    spans = make_spans()
    assert exporter.export(spans) is otlp.SpanExportResult.SUCCESS
    assert bodies == written and len(bodies) == 1
    assert ExportTraceServiceRequest.FromString(bodies[0]) == sdk_encode(spans)


def test_importing_the_encoder_loads_no_protobuf() -> None:
    code = (
        "import sys, llm_instrument.exporters.otlp, llm_instrument.exporters.otlp_encoding;"
        "print(sorted(m for m in sys.modules if m.startswith(('google', 'opentelemetry.proto'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""Spans written for OTLP as they end: the queue holds bytes the garbage collector does not
scan, every span still passes the content policy, and what goes out is the request the SDK's
encoder would build."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from llm_instrument import genai
from llm_instrument.agent import config
from llm_instrument.agent.span_queue import SpanQueue
from llm_instrument.content_policy.exporter import PolicyExporter
from llm_instrument.exporters import early_encoder, otlp, otlp_encoding
from llm_instrument.exporters.early_encoding import EARLY_LIMIT_CHARS
from tests.exporters.test_otlp_encoding import make_spans

KEY = "sk-proj-Qq1Ww2Ee3Rr4Tt5Yy6Uu7"


class Sent:
    """An OTLP exporter whose requests are kept instead of sent."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.exporter = otlp.OTLPSpanExporter("http://127.0.0.1:9/v1/traces")
        self.bodies: list[bytes] = []
        monkeypatch.setattr(self.exporter.sender, "post", self._post)

    def _post(self, body: bytes) -> bool:
        self.bodies.append(body)
        return True

    def spans(self) -> dict[str, dict[str, object]]:
        """Every span sent, by name: its attributes as plain values."""
        found: dict[str, dict[str, object]] = {}
        for body in self.bodies:
            for resource in ExportTraceServiceRequest.FromString(body).resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        values = {kv.key: kv.value for kv in span.attributes}
                        found[span.name] = {
                            k: v.string_value or v.int_value or list(v.array_value.values)
                            for k, v in values.items()
                        }
        return found


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sent]:
    config.reset(config.Settings())
    yield Sent(monkeypatch)
    config.reset(None)
    genai.configure(None, None)


def _queue(sent: Sent) -> tuple[SpanQueue, TracerProvider]:
    encoder = early_encoder(sent.exporter)
    assert encoder is not None
    queue = SpanQueue(
        PolicyExporter(sent.exporter),
        max_spans=1000,
        max_bytes=2**30,
        batch_size=512,
        delay_s=30,
        encoder=encoder,
    )
    provider = TracerProvider()
    provider.add_span_processor(queue)
    return queue, provider


def test_the_queue_holds_written_spans_the_collector_does_not_scan(sent: Sent) -> None:
    queue, provider = _queue(sent)
    tracer = provider.get_tracer("opentelemetry.instrumentation.requests")
    for i in range(50):
        with tracer.start_as_current_span(f"GET {i}") as span:
            span.set_attribute("url.full", f"https://h/ask?api_key={KEY}&n={i}")
            span.set_attribute("http.response.status_code", 200)
    genai.configure(provider, None)
    with genai.start_llm("chat", model="m", inputs=[genai.Message("user", "hi")]) as handle:
        handle.finish(outputs=[genai.Message("assistant", "hello")])
    gc.collect()  # a pass untracks tuples that hold only untracked values
    items = [item for item, _ in queue._queue]
    assert len(items) == 51
    assert not [item for item in items if gc.is_tracked(item)]
    sizes = [size for _, size in queue._queue]
    assert max(sizes) < 2048  # their real size, not a span object's estimate
    assert queue.force_flush(5000)
    assert len(sent.bodies) == 1  # one batch, one request
    spans = sent.spans()
    assert len(spans) == 51
    assert spans["GET 7"]["url.full"] == "https://h/ask?api_key=REDACTED&n=7"
    assert spans["chat m"]["gen_ai.request.model"] == "m"
    assert KEY not in repr(spans)


def test_spans_with_events_or_long_foreign_values_are_left_to_the_export_thread(
    sent: Sent,
) -> None:
    queue, provider = _queue(sent)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("failed") as span:
        span.set_attribute("app.note", f"the key is {KEY}")
        span.record_exception(ValueError(f"rejected {KEY}"))
    with tracer.start_as_current_span("long") as span:
        span.set_attribute("app.body", f"{KEY} " + "x" * EARLY_LIMIT_CHARS)
    with tracer.start_as_current_span("short") as span:
        span.set_attribute("app.note", f"the key is {KEY}")
    genai.configure(provider, None)  # the core's spans: policy applied as they were written
    long_prompt = [genai.Message("user", "word " * 1000)] * 3
    with genai.start_llm("chat", model="long", inputs=long_prompt) as handle:
        handle.finish(outputs=[genai.Message("assistant", "ok")])
    kinds = [type(item).__name__ for item, _ in queue._queue]
    assert kinds == ["ReadableSpan", "ReadableSpan", "tuple", "tuple"]
    assert queue.force_flush(5000)
    spans = sent.spans()
    assert set(spans) == {"failed", "long", "short", "chat long"}
    assert spans["failed"]["app.note"] == spans["short"]["app.note"] == "the key is [REDACTED]"
    assert KEY not in repr(spans) and len(sent.bodies) == 1


def test_written_spans_make_the_sdk_encoders_request() -> None:
    """``encode_span`` one by one, then ``encode_request``: the message the SDK's encoder
    builds for the batch (two resources, several scopes, every span field)."""
    spans = make_spans()
    encoded = [otlp_encoding.encode_span(span) for span in spans]
    written = [item for item in encoded if item is not None]
    assert len(written) == len(spans)
    request = ExportTraceServiceRequest.FromString(otlp_encoding.encode_request(written))
    assert request == sdk_encode(spans)


def test_a_request_of_written_and_left_spans_carries_both() -> None:
    spans = make_spans()
    half = len(spans) // 2
    written = [otlp_encoding.encode_span(span) for span in spans[:half]]
    body = otlp_encoding.encode_request([w for w in written if w is not None])
    body += otlp_encoding.encode_spans(spans[half:])
    request = ExportTraceServiceRequest.FromString(body)
    ids = [s.span_id for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
    assert sorted(ids) == sorted(s.context.span_id.to_bytes(8, "big") for s in spans)


def test_a_value_the_writer_does_not_take_leaves_the_span_a_span() -> None:
    from opentelemetry.trace import SpanContext

    span = ReadableSpan(
        "s", context=SpanContext(1, 2, is_remote=False), attributes={"good": 1, "big": 2**64}
    )
    assert otlp_encoding.encode_span(span) is None


def test_origins_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the limit of distinct resources and scopes, spans are left as spans."""
    monkeypatch.setattr(otlp_encoding, "_origins", [])
    monkeypatch.setattr(otlp_encoding, "_origin_index", {})
    monkeypatch.setattr(otlp_encoding, "_ORIGIN_LIMIT", 3)
    provider = TracerProvider()
    results = []
    for i in range(5):
        span = provider.get_tracer(f"scope {i}").start_span("s")
        span.end()
        results.append(otlp_encoding.encode_span(span))  # type: ignore[arg-type]
    assert [r is not None for r in results] == [True, True, True, False, False]
    assert len(otlp_encoding._origins) == 3


def test_only_otlp_over_http_gets_an_encoder() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    assert early_encoder(InMemorySpanExporter()) is None

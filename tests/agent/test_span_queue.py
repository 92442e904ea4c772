"""The span queue: bounded in bytes as well as count, every dropped span counted once."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llm_instrument.agent import notices
from llm_instrument.agent.span_queue import SpanQueue, span_bytes


class StuckExporter(SpanExporter):
    """A collector that never answers until released (a black hole)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.exported: list[int] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.started.set()
        self.release.wait(30)
        self.exported.append(len(spans))
        return SpanExportResult.SUCCESS


def _lost(reason: str) -> int:
    return notices.losses().get(("spans", reason), 0)


def test_big_spans_are_bounded_by_bytes_not_count() -> None:
    exporter = StuckExporter()
    max_bytes = 8 * 2**20
    queue = SpanQueue(exporter, max_spans=10_000, max_bytes=max_bytes, batch_size=512, delay_s=0)
    provider = TracerProvider()
    provider.add_span_processor(queue)
    tracer = provider.get_tracer("t")
    prompt = "x" * 2**20  # a 1 MB prompt on every span
    before = _lost("queue full")
    for i in range(40):
        with tracer.start_as_current_span("llm") as span:
            span.set_attribute("gen_ai.prompt", prompt + str(i))
        if i == 0:
            assert exporter.started.wait(10)  # the first batch is stuck in the exporter
    dropped = _lost("queue full") - before
    held = queue._bytes
    assert held <= max_bytes
    assert 0 < dropped < 40
    exporter.release.set()
    assert queue.force_flush(10_000)
    deadline = time.monotonic() + 10
    while sum(exporter.exported) < 40 - dropped and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(exporter.exported) == 40 - dropped  # delivered + dropped = ended
    # each batch kept to the batch byte bound (at least one span)
    assert max(exporter.exported) <= max(1, queue.batch_bytes // (2**20))


def test_the_count_bound_holds_for_small_spans_and_any_batch_size() -> None:
    exporter = StuckExporter()
    queue = SpanQueue(exporter, max_spans=5, max_bytes=2**30, batch_size=512, delay_s=0)
    assert queue.batch_size == 5  # a batch larger than the queue is the whole queue
    provider = TracerProvider()
    provider.add_span_processor(queue)
    before = _lost("queue full")
    with provider.get_tracer("t").start_as_current_span("first"):
        pass
    assert exporter.started.wait(10)
    for _ in range(20):
        with provider.get_tracer("t").start_as_current_span("small"):
            pass
    assert _lost("queue full") - before == 20 - 5
    assert queue.unfinished() == 6  # five queued, one in flight
    exporter.release.set()


def test_span_weight_follows_its_content() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("small") as small:
        pass
    with tracer.start_as_current_span("big") as big:
        big.set_attribute("content", "y" * 100_000)
        big.add_event("chunk", {"text": "z" * 50_000})
    assert span_bytes(big) - span_bytes(small) >= 150_000


class CountingExporter(SpanExporter):
    def __init__(self) -> None:
        self.batches: list[int] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.batches.append(len(spans))
        return SpanExportResult.SUCCESS


def test_an_idle_worker_sleeps_even_with_a_zero_schedule_delay() -> None:
    exporter = CountingExporter()
    queue = SpanQueue(exporter, max_spans=100, max_bytes=2**30, batch_size=10, delay_s=0)
    provider = TracerProvider()
    provider.add_span_processor(queue)
    with provider.get_tracer("t").start_as_current_span("one"):
        pass
    deadline = time.monotonic() + 10
    while not exporter.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exporter.batches == [1]  # delivered at once
    worker = queue._worker
    assert worker is not None and worker.ident is not None
    clock = time.pthread_getcpuclockid(worker.ident)
    before = time.clock_gettime(clock)
    time.sleep(0.5)
    # a worker spinning on wait(0) would burn the whole half second
    assert time.clock_gettime(clock) - before < 0.1
    with provider.get_tracer("t").start_as_current_span("two"):
        pass
    deadline = time.monotonic() + 10
    while len(exporter.batches) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exporter.batches == [1, 1]  # and it wakes for the next span


def test_batches_stay_whole_while_spans_keep_coming() -> None:
    exporter = CountingExporter()
    queue = SpanQueue(exporter, max_spans=100, max_bytes=2**30, batch_size=10, delay_s=30)
    provider = TracerProvider()
    provider.add_span_processor(queue)
    for i in range(25):
        with provider.get_tracer("t").start_as_current_span(f"s{i}"):
            pass
        time.sleep(0.002)  # let the worker run between spans
    deadline = time.monotonic() + 10
    while len(exporter.batches) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exporter.batches == [10, 10]  # full batches only, the rest waits for the delay
    assert queue.force_flush(10_000)
    assert exporter.batches == [10, 10, 5]

"""The queue between finished spans and the exporter: bounded in count and in bytes.

Replaces the SDK's ``BatchSpanProcessor`` for the agent's own exporter because the agent
needs four things it does not give:

- a bound in bytes (``LLM_INSTRUMENT_MAX_QUEUE_BYTES``) besides the count
  (``OTEL_BSP_MAX_QUEUE_SIZE``): a span with a 1 MB prompt weighs as much as a thousand
  small ones. Spans being exported still count until their export returns, and one export
  batch carries at most ``batch_bytes``, so queued plus in-flight spans stay under the bound;
- exact accounting of every span not delivered (queue full, export failed, exit budget
  spent), through ``notices``;
- an exit drain in batches against one deadline (``drain``, a ``shutdown`` task), where a
  stuck request is cut by the exporter's abort instead of holding the exit;
- any queue size accepted (a batch size above the queue size is the queue size).

Export happens on one daemon thread per process, started on the first span (so a forked
child starts its own; the parent's queued spans are the parent's and are dropped in the child).

With an ``EarlyEncoder`` (OTLP over HTTP: ``exporters/early_encoding.py``) a span is written
as it ends and the queue holds its bytes, weighed exactly, instead of the span object; a
span the encoder leaves (``None``) is queued as a span, as without one.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llm_instrument.agent import notices, shutdown
from llm_instrument.agent.finished_span import plain, plain_attributes
from llm_instrument.agent.guard import guard

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span

    from llm_instrument.exporters.otlp_encoding import EncodedSpan

SPAN_OVERHEAD_BYTES = 2048
"""What a finished span costs in memory beyond its attribute values (objects, dicts, ids)."""
ENCODED_OVERHEAD_BYTES = 112
"""What an encoded span costs beyond its bytes (the tuple, the bytes object, the int)."""
_ATTRIBUTE_OVERHEAD_BYTES = 64
_MIN_BATCH_BYTES = 1 << 20
_MIN_DELAY_S = 0.001
_MAX_BATCH_BYTES = 4 << 20


def _value_bytes(value: Any) -> int:
    if isinstance(value, (str, bytes)):
        return sys.getsizeof(value)
    if isinstance(value, (tuple, list)):
        return sum(_value_bytes(item) for item in value) + 8 * len(value)
    return 16


def _attributes_bytes(attributes: Any) -> int:
    """Called once per finished span in the application's thread, so it is one plain loop:
    strings (the values that dominate) measured in place, the rest by ``_value_bytes``."""
    if not attributes:
        return 0
    size = _ATTRIBUTE_OVERHEAD_BYTES * len(attributes)
    for key, value in plain(attributes).items():
        size += len(key) + (sys.getsizeof(value) if type(value) is str else _value_bytes(value))
    return size


def span_bytes(span: ReadableSpan) -> int:
    """An estimate of the memory a finished span holds (attribute values dominate)."""
    size = SPAN_OVERHEAD_BYTES + _attributes_bytes(plain_attributes(span))
    for event in span.events:
        size += 256 + _attributes_bytes(event.attributes)
    for link in span.links:
        size += 256 + _attributes_bytes(link.attributes)
    return size


_Item = Any  # ``EncodedSpan`` or ``ReadableSpan``: an encoded one is a tuple


class EarlyEncoder(Protocol):
    """Writes a span for its exporter when it ends, and exports a batch of such items."""

    def encode(self, span: ReadableSpan) -> EncodedSpan | None:
        """The span written now, or None to queue the span itself."""

    def export(self, items: Sequence[EncodedSpan | ReadableSpan]) -> SpanExportResult:
        """Export encoded items and spans (those ``encode`` left) together."""


class SpanQueue(SpanProcessor):
    """Batches finished, sampled spans to ``exporter`` from a background thread."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_spans: int,
        max_bytes: int,
        batch_size: int,
        delay_s: float,
        encoder: EarlyEncoder | None = None,
    ) -> None:
        self.exporter = exporter
        self.encoder = encoder
        self.max_spans = max_spans
        self.max_bytes = max_bytes
        self.batch_size = max(1, min(batch_size, max_spans))
        self.batch_bytes = max(_MIN_BATCH_BYTES, min(_MAX_BATCH_BYTES, max_bytes // 8))
        self.delay_s = delay_s
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)  # notified when an export returns
        self._wake = threading.Event()
        self._queue: deque[tuple[_Item, int]] = deque()
        self._bytes = 0  # queued and in flight
        self._in_flight = 0
        self._worker: threading.Thread | None = None
        self._idle = False  # the worker waits, with no timeout, for a first span
        self._worker_pid: int | None = None

    # -- the application's side ------------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def _encoded(self, span: ReadableSpan) -> EncodedSpan | None:
        encoder = self.encoder
        if encoder is None:
            return None
        with guard("encoding an ended span"):
            return encoder.encode(span)
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled:
            return
        encoded = self._encoded(span)
        item: _Item = span if encoded is None else encoded
        size = span_bytes(span) if encoded is None else len(encoded[1]) + ENCODED_OVERHEAD_BYTES
        with self._lock:
            full = len(self._queue) >= self.max_spans or self._bytes + size > self.max_bytes
            if not full:
                self._queue.append((item, size))
                self._bytes += size
                queued = len(self._queue)
                # a full batch, or the first span for a worker asleep on an empty queue (woken
                # only then: a wake while it exports would cut the next batch short)
                wake = queued >= self.batch_size or (queued == 1 and self._idle)
                if wake:
                    self._idle = False
        if full:
            notices.lost("spans", "queue full", 1)
            notices.note(
                "span queue full",
                "the span queue is full (OTEL_BSP_MAX_QUEUE_SIZE=%d spans, "
                "LLM_INSTRUMENT_MAX_QUEUE_BYTES=%d): spans are dropped while the exporter is "
                "slower than the application; check the collector or raise the bounds",
                self.max_spans,
                self.max_bytes,
            )
            return
        if self._worker_pid != os.getpid():
            self._start_worker()
        if wake:
            self._wake.set()

    def _start_worker(self) -> None:
        with self._lock:
            if self._worker_pid == os.getpid() or shutdown.exiting.is_set():
                return
            self._worker_pid = os.getpid()
            self._worker = threading.Thread(
                target=self._run, name="llm-instrument-spans", daemon=True
            )
        self._worker.start()

    # -- the export thread -----------------------------------------------------------------
    def _run(self) -> None:
        while not shutdown.exiting.is_set():
            with self._lock:
                idle = self._idle = not self._queue
            # idle: sleep until ``on_end`` wakes us for a first span; else until the batch
            # is full or the delay is up. Never a zero timeout (``OTEL_BSP_SCHEDULE_DELAY=0``):
            # an idle worker must not spin on a CPU of the application's
            self._wake.wait(None if idle else max(self.delay_s, _MIN_DELAY_S))
            self._wake.clear()
            if idle:
                continue
            while not shutdown.exiting.is_set():
                batch = self._take()
                if not batch:
                    break
                self._export(batch)
                with self._lock:
                    if len(self._queue) < self.batch_size:
                        break

    def _take(self) -> list[tuple[_Item, int]]:
        """Up to ``batch_size`` spans and ``batch_bytes`` (at least one span), marked in flight."""
        batch: list[tuple[_Item, int]] = []
        weight = 0
        with self._lock:
            while self._queue and len(batch) < self.batch_size:
                size = self._queue[0][1]
                if batch and weight + size > self.batch_bytes:
                    break
                batch.append(self._queue.popleft())
                weight += size
            self._in_flight += len(batch)
        return batch

    def _export(self, batch: list[tuple[_Item, int]]) -> bool:
        result = SpanExportResult.FAILURE
        items = [item for item, _ in batch]
        try:
            with guard("exporting spans"):
                result = (self.encoder or self.exporter).export(items)
        finally:
            with self._lock:
                self._in_flight -= len(batch)
                self._bytes -= sum(size for _, size in batch)
                self._settled.notify_all()
        if result is not SpanExportResult.SUCCESS:
            notices.lost("spans", "export failed", len(batch))
            return False
        return True

    # -- flushing --------------------------------------------------------------------------
    def _export_until(self, deadline: float, stop_after_failures: int | None = None) -> int:
        """Export queued batches on this thread until empty or ``deadline``; returns how many
        spans are still queued."""
        failures = 0
        while time.monotonic() < deadline:
            batch = self._take()
            if not batch:
                break
            if self._export(batch):
                failures = 0
            else:
                failures += 1
                if stop_after_failures is not None and failures >= stop_after_failures:
                    break
        with self._lock:
            return len(self._queue)

    def drain(self, deadline: float) -> None:
        """The exit task: deliver what is queued by ``deadline``; count the rest as lost.
        Two failed batches in a row end it: the collector is not taking spans now."""
        self._wake.set()
        self._export_until(deadline, stop_after_failures=2)
        with self._lock:
            # the export thread's batch in flight: its outcome is counted when it returns
            while self._in_flight and time.monotonic() < deadline:
                self._settled.wait(max(0.0, deadline - time.monotonic()))
            left = len(self._queue)
            self._bytes -= sum(size for _, size in self._queue)
            self._queue.clear()
        spent = time.monotonic() >= deadline
        reason = "exit budget spent" if spent else "collector failing at exit"
        notices.lost("spans", reason, left)

    def unfinished(self) -> int:
        """Spans queued or in flight right now (the exit summary counts them as lost)."""
        with self._lock:
            return len(self._queue) + self._in_flight

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._export_until(time.monotonic() + timeout_millis / 1000) == 0

    def shutdown(self) -> None:
        """The provider was shut down: deliver what is queued within the exit budget."""
        self._export_until(time.monotonic() + shutdown.budget_s(), stop_after_failures=2)

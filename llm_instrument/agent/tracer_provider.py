"""The tracer provider: resource, sampler, span processor and exporter, set up once.

The SDK reads the standard variables itself (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``, the OTLP
endpoint, headers and timeout). What this module adds:

- the exporter choice (``otlp | console | local | none``);
- ``process.pid`` kept true across ``fork()`` (gunicorn workers are forked from a master
  that already started the agent), and the local store reopened in the child;
- the OTLP exporter built on its first export, so start-up never pays for protobuf and
  the HTTP stack;
- a bounded flush at exit and on SIGTERM (``EXIT_FLUSH_TIMEOUT_MS`` in all), so a short
  script loses no spans and a dead or hung collector cannot hold the exit for long;
- dropped spans (queue full because the exporter is slow or down) counted and reported at
  most once a minute instead of per span.
"""

from __future__ import annotations

import logging
import os
import platform
import signal
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

import llm_instrument
from llm_instrument.agent import config
from llm_instrument.agent.guard import guard
from llm_instrument.content_policy.exporter import PolicyExporter
from llm_instrument.exporters import make_span_exporter
from llm_instrument.exporters.otlp import LazyOTLPExporter

if TYPE_CHECKING:
    pass

_logger = logging.getLogger(__name__)

EXIT_FLUSH_TIMEOUT_MS = 5000
_DROP_REPORT_INTERVAL_S = 60.0


class _DroppedSpanCounter(logging.Filter):
    """Turns the SDK's "Queue full" warnings into a periodic count."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0
        self._reported = 0
        self._last_report = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Queue full"):
            return True
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_report < _DROP_REPORT_INTERVAL_S:
            return False
        self._last_report = now
        _logger.warning(
            "llm-instrument: %d spans dropped so far (%d since the last report): the exporter "
            "is slower than the application; raise OTEL_BSP_MAX_QUEUE_SIZE or check the collector",
            self.dropped,
            self.dropped - self._reported,
        )
        self._reported = self.dropped
        return False


dropped_spans = _DroppedSpanCounter()


def _resource() -> Resource:
    return Resource.create(
        {
            "process.pid": os.getpid(),
            "process.runtime.name": sys.implementation.name,
            "process.runtime.version": platform.python_version(),
            "telemetry.distro.name": "llm-instrument",
            "telemetry.distro.version": llm_instrument.__version__,
        }
    )


def _after_fork_in_child(provider: TracerProvider, exporter: SpanExporter | None) -> None:
    with guard("re-initialising tracing after fork"):
        provider._resource = provider._resource.merge(Resource({"process.pid": os.getpid()}))
        reopen = getattr(exporter, "reopen_after_fork", None)
        if reopen is not None:
            reopen()


def _flush(provider: TracerProvider, exporter: SpanExporter | None) -> None:
    """Export what is queued, for at most ``EXIT_FLUSH_TIMEOUT_MS`` in all.

    ``force_flush`` honours its timeout, but ``shutdown`` joins the export thread, which may
    sit in a request to a hung collector for the whole OTLP timeout (10 s by default). Both
    run in a daemon thread that the exit waits for no longer than the budget. A collector
    that refuses connections is not waited for at all.
    """
    if isinstance(exporter, LazyOTLPExporter) and exporter.refuses_connections():
        _logger.warning(
            "llm-instrument: the OTLP collector refused the connection; this process's spans "
            "were not sent (llm-instrument doctor checks the endpoint)"
        )
        return
    processor: Any = provider._active_span_processor

    def flush_and_shut_down() -> None:
        processor.force_flush(EXIT_FLUSH_TIMEOUT_MS)
        processor.shutdown()

    worker = threading.Thread(target=flush_and_shut_down, name="llm-instrument-flush", daemon=True)
    worker.start()
    worker.join(EXIT_FLUSH_TIMEOUT_MS / 1000)


def _install_sigterm_flush(provider: TracerProvider, exporter: SpanExporter | None) -> None:
    """Flush on SIGTERM when the application left SIGTERM at its default (terminate)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        try:
            _flush(provider, exporter)
        finally:
            # die as the default handler would, so the exit status is unchanged
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)


def setup(settings: config.Settings) -> TracerProvider:
    """Create and register the global tracer provider."""
    provider = TracerProvider(resource=_resource(), shutdown_on_exit=False)
    exporter = make_span_exporter(settings)
    if exporter is not None:
        # the content policy applies to every span, whoever made it (PolicyExporter)
        provider.add_span_processor(BatchSpanProcessor(PolicyExporter(exporter)))
    logging.getLogger("opentelemetry.sdk._shared_internal").filters.insert(0, dropped_spans)
    trace.set_tracer_provider(provider)
    os.register_at_fork(after_in_child=lambda: _after_fork_in_child(provider, exporter))
    import atexit

    atexit.register(_flush, provider, exporter)
    _install_sigterm_flush(provider, exporter)
    return provider

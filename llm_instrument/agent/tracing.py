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

import importlib.util
import logging
import os
import platform
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import llm_instrument
from llm_instrument.agent import config
from llm_instrument.agent.guard import guard

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

_logger = logging.getLogger(__name__)

EXIT_FLUSH_TIMEOUT_MS = 5000
_DROP_REPORT_INTERVAL_S = 60.0
_GRPC_EXPORTER = "opentelemetry.exporter.otlp.proto.grpc"
_GRPC_MISSING = "OTLP over gRPC needs the grpc extra: pip install 'llm-instrument[grpc]'"


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


class _LazyOTLPExporter(SpanExporter):
    """Builds the OTLP exporter on its first use, in the export thread.

    Importing the OTLP exporter (protobuf, the HTTP transport, ``requests``) costs more
    than the rest of the agent's start-up together. A process that ends no span (a CLI
    run, a gunicorn master) never pays for it, and one that does pays in the background
    thread, after its own start-up. A failure to build is raised from the first export,
    where the batch processor logs it instead of failing the application.
    """

    def __init__(self, protocol: str, endpoint: str | None) -> None:
        self._protocol = protocol
        self._endpoint = endpoint
        self._lock = threading.Lock()
        self._exporter: SpanExporter | None = None
        self._delivered = False

    def _get(self) -> SpanExporter:
        with self._lock:
            if self._exporter is None:
                self._exporter = _build_otlp(self._protocol)
            return self._exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self._get().export(spans)
        self._delivered = self._delivered or result is SpanExportResult.SUCCESS
        return result

    def refuses_connections(self) -> bool:
        """True when nothing was delivered yet and the collector refuses a connection now.

        Checked at exit only: waiting out the exporter's retries against a port nobody
        listens on would hold every short script's exit for the whole flush budget.
        """
        if self._delivered or not self._endpoint:
            return False
        url = urllib.parse.urlsplit(
            self._endpoint if "://" in self._endpoint else f"//{self._endpoint}"
        )
        port = url.port or (4317 if self._protocol == "grpc" else 4318)
        try:
            with socket.create_connection((url.hostname or "localhost", port), timeout=0.5):
                return False
        except OSError:
            return True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True if self._exporter is None else self._exporter.force_flush(timeout_millis)

    def shutdown(self) -> None:
        if self._exporter is not None:
            self._exporter.shutdown()


def _build_otlp(protocol: str) -> SpanExporter:
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise RuntimeError(_GRPC_MISSING) from exc
        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HTTPSpanExporter,
    )

    return HTTPSpanExporter()


def make_exporter(settings: config.Settings) -> SpanExporter | None:
    """The exporter the settings ask for; raises when it cannot be built."""
    if settings.exporter == "none":
        return None
    if settings.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # stderr, so a traced CLI's stdout stays its own
        return ConsoleSpanExporter(out=sys.stderr)
    if settings.exporter == "local":
        from llm_instrument.agent.exporters.local_store import LocalStoreExporter

        return LocalStoreExporter(settings.local_store)
    if settings.otlp_protocol == "grpc" and importlib.util.find_spec(_GRPC_EXPORTER) is None:
        # checked now, so a missing extra is reported at start-up, not at the first export
        raise RuntimeError(_GRPC_MISSING)
    return _LazyOTLPExporter(settings.otlp_protocol, settings.otlp_endpoint)


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
    if isinstance(exporter, _LazyOTLPExporter) and exporter.refuses_connections():
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
    exporter = make_exporter(settings)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    logging.getLogger("opentelemetry.sdk._shared_internal").filters.insert(0, dropped_spans)
    trace.set_tracer_provider(provider)
    os.register_at_fork(after_in_child=lambda: _after_fork_in_child(provider, exporter))
    import atexit

    atexit.register(_flush, provider, exporter)
    _install_sigterm_flush(provider, exporter)
    return provider

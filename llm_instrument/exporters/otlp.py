"""OTLP span export, built on its first use so start-up never pays for protobuf and HTTP.

``LazyOTLPExporter`` wraps the OpenTelemetry OTLP exporter (HTTP/protobuf, or gRPC with the
``grpc`` extra), which reads the standard ``OTEL_EXPORTER_OTLP_*`` variables itself.
"""

from __future__ import annotations

import socket
import threading
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

GRPC_EXPORTER = "opentelemetry.exporter.otlp.proto.grpc"
GRPC_MISSING = "OTLP over gRPC needs the grpc extra: pip install 'llm-instrument[grpc]'"


class LazyOTLPExporter(SpanExporter):
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
            raise RuntimeError(GRPC_MISSING) from exc
        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HTTPSpanExporter,
    )

    return HTTPSpanExporter()

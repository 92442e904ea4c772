"""A real OTLP/HTTP receiver for the tests: decodes what the agent exports, keeps it in memory.

Spans are flattened into plain dicts (hex ids, attribute dicts, resource dicts) so tests can
assert on trees without touching protobuf. Metrics keep their data points per metric name.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which)


def attrs(key_values: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in key_values}


class OTLPReceiver:
    """Listens on 127.0.0.1; ``endpoint`` is the base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT``.

    Failure modes for the tests: ``status_code`` (e.g. 500 or 429; what is not 2xx is not
    kept), ``status_by_path`` (``{"/v1/metrics": 405}``: a traces-only backend),
    ``retry_after`` (a ``Retry-After`` header in seconds) and ``delay_s`` (a slow collector).
    """

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self.requests = 0
        self.requests_by_path: dict[str, int] = {}
        self.status_code = 200
        self.status_by_path: dict[str, int] = {}
        self.retry_after: float | None = None
        self.delay_s = 0.0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                status = receiver.status_by_path.get(self.path, receiver.status_code)
                receiver._ingest(self.path, body, keep=200 <= status < 300)
                self.send_response(status)
                if receiver.retry_after is not None and status >= 300:
                    self.send_header("Retry-After", str(receiver.retry_after))
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> OTLPReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def clear(self) -> None:
        with self._lock:
            self.spans.clear()
            self.metrics.clear()

    def _ingest(self, path: str, body: bytes, keep: bool = True) -> None:
        with self._lock:
            self.requests += 1
            self.requests_by_path[path] = self.requests_by_path.get(path, 0) + 1
        if not keep:
            return
        if path.endswith("/v1/traces"):
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            self._add_spans(request)
        elif path.endswith("/v1/metrics"):
            request = ExportMetricsServiceRequest()
            request.ParseFromString(body)
            self._add_metrics(request)

    def _add_spans(self, request: ExportTraceServiceRequest) -> None:
        found = []
        for resource_spans in request.resource_spans:
            resource = attrs(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        {
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex() or None,
                            "name": span.name,
                            "kind": _KINDS.get(span.kind, str(span.kind)),
                            "start": span.start_time_unix_nano,
                            "end": span.end_time_unix_nano,
                            "status": _STATUS.get(span.status.code, str(span.status.code)),
                            "status_message": span.status.message,
                            "attributes": attrs(span.attributes),
                            "events": [
                                {"name": e.name, "attributes": attrs(e.attributes)}
                                for e in span.events
                            ],
                            "resource": resource,
                            "scope": scope_spans.scope.name,
                        }
                    )
        with self._lock:
            self.spans.extend(found)

    def _add_metrics(self, request: ExportMetricsServiceRequest) -> None:
        found = []
        for resource_metrics in request.resource_metrics:
            resource = attrs(resource_metrics.resource.attributes)
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    which = metric.WhichOneof("data")
                    points = []
                    for point in getattr(metric, which).data_points:
                        entry: dict[str, Any] = {"attributes": attrs(point.attributes)}
                        if which == "histogram":
                            entry["count"] = point.count
                            entry["sum"] = point.sum
                            entry["bucket_counts"] = list(point.bucket_counts)
                            entry["explicit_bounds"] = list(point.explicit_bounds)
                        elif which in ("sum", "gauge"):
                            entry["value"] = getattr(point, point.WhichOneof("value"))
                        points.append(entry)
                    found.append(
                        {
                            "name": metric.name,
                            "unit": metric.unit,
                            "type": which,
                            "points": points,
                            "resource": resource,
                        }
                    )
        with self._lock:
            self.metrics.extend(found)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.spans)

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """Wait until ``predicate(spans)`` holds; return the spans (or fail with what came)."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.snapshot()
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                names = sorted({s["name"] for s in spans})
                raise AssertionError(f"timed out waiting for spans; received {len(spans)}: {names}")
            time.sleep(0.1)


def by_name(spans: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [s for s in spans if s["name"] == name]


def children(spans: list[dict[str, Any]], parent: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in spans if s["parent_span_id"] == parent["span_id"]]

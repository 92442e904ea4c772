"""OTLP export of metrics: over HTTP/protobuf with the span exporter's ``HTTPSender`` (its
retries, exit deadline and one-time reports), or over gRPC through the SDK's exporter with
the ``grpc`` extra.

Imported on the first export (``lazy_metrics.LazyMetricExporter`` builds the HTTP exporter
then, in the reader's thread), so start-up loads none of it; the protobuf encoder is
imported on the first export that has data points.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

from llm_instrument.agent import notices
from llm_instrument.exporters import lazy_metrics, otlp

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricsData


def point_keys(metrics_data: MetricsData) -> list[tuple[str, str, frozenset[Any]]]:
    """One key per data point: (scope, metric, attributes)."""
    return [
        (scope_metrics.scope.name, metric.name, frozenset((point.attributes or {}).items()))
        for resource_metrics in metrics_data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        for point in metric.data.data_points
    ]


def metric_exporter(url: str, protocol: str) -> MetricExporter:
    """The OTLP metric exporter for the settings."""
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                OTLPMetricExporter,
            )
        except ImportError as exc:
            raise RuntimeError(otlp.GRPC_MISSING) from exc
        return OTLPMetricExporter(endpoint=url)  # type: ignore[no-any-return]
    return OTLPMetricExporterHTTP(url)


class OTLPMetricExporterHTTP(MetricExporter):
    """Metrics over OTLP/HTTP with ``HTTPSender``; points not accepted are tallied.

    With cumulative temporality (the default) a later export carries a point's whole value
    again, so a point is lost only while its latest value has not been accepted: the exit
    summary counts those. With delta every failed point is lost."""

    def __init__(self, url: str) -> None:
        temporality = lazy_metrics.temporality()
        super().__init__(preferred_temporality=temporality)
        self._delta = bool(temporality)
        self.sender = otlp.HTTPSender(url, "metrics")
        otlp._senders.append(self.sender)
        self._undelivered: set[Any] = set()
        self._lock = threading.Lock()
        if not self._delta:
            notices.count_unfinished("metrics", self._count_undelivered, "export failed")

    def _count_undelivered(self) -> int:
        with self._lock:
            return len(self._undelivered)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

        keys = point_keys(metrics_data)
        if not keys:
            return MetricExportResult.SUCCESS
        body = encode_metrics(_with_pid(metrics_data)).SerializeToString()
        ok = self.sender.post(body)
        if self._delta:
            if not ok:
                notices.lost("metrics", "export failed", len(keys))
        else:
            with self._lock:
                if ok:
                    self._undelivered.difference_update(keys)
                else:
                    self._undelivered.update(keys)
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _with_pid(metrics_data: MetricsData) -> MetricsData:
    """Each process's cumulative streams must stay apart at the collector (gunicorn workers
    share one resource otherwise): the resource carries this process's ``process.pid``,
    also in a forked worker."""
    from opentelemetry.sdk.metrics.export import MetricsData, ResourceMetrics
    from opentelemetry.sdk.resources import Resource

    pid = Resource({"process.pid": os.getpid()})
    return MetricsData(
        resource_metrics=[
            ResourceMetrics(
                resource=rm.resource.merge(pid),
                scope_metrics=rm.scope_metrics,
                schema_url=rm.schema_url,
            )
            for rm in metrics_data.resource_metrics
        ]
    )

"""The OTLP/HTTP metric exporter the periodic reader gets at start-up: a stand-in that
builds the real one (``otlp_metrics.OTLPMetricExporterHTTP``) on its first export, in the
reader's thread, so start-up imports none of the exporter's code.

The reader reads the exporter's preferred temporality when it is built, so the stand-in
states it from ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` exactly as the real
exporter does (``temporality``); the HTTP exporter states no preferred aggregation. The
real exporter registers its sender for the exit's abort and its undelivered points for
the exit summary when it is built: before its first export it holds nothing.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricsData


def temporality() -> dict[type, Any]:
    """``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``: cumulative (default) or delta."""
    from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter
    from opentelemetry.sdk.metrics.export import AggregationTemporality

    preference = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "")
    if preference.strip().lower() != "delta":
        return {}
    delta = AggregationTemporality.DELTA
    return {Counter: delta, Histogram: delta, ObservableCounter: delta}


class LazyMetricExporter(MetricExporter):
    """Builds ``OTLPMetricExporterHTTP(url)`` on the first export and hands everything to it."""

    def __init__(self, url: str) -> None:
        super().__init__(preferred_temporality=temporality())
        self._url = url
        self._lock = threading.Lock()
        self._exporter: MetricExporter | None = None

    def _real(self) -> MetricExporter:
        with self._lock:
            if self._exporter is None:
                from llm_instrument.exporters import otlp_metrics

                self._exporter = otlp_metrics.OTLPMetricExporterHTTP(self._url)
            return self._exporter

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        return self._real().export(metrics_data, timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        if self._exporter is not None:
            self._exporter.shutdown(timeout_millis=timeout_millis)

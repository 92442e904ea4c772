"""The meter provider: OTLP export when an endpoint is set, Prometheus on a port when asked.

Nothing is loaded when neither is configured (the metrics API's no-op meter then makes
every record free). The Prometheus side (serving ``/metrics``, several workers' spool) lives
in ``llm_instrument.exporters.prometheus``.
"""

from __future__ import annotations

from typing import Any

from llm_instrument.agent import config


def setup(settings: config.Settings) -> None:
    """Create and register the global meter provider when some reader wants metrics."""
    readers: list[Any] = []
    if settings.exporter == "otlp" and settings.otlp_endpoint:
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        if settings.otlp_protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                OTLPMetricExporter,
            )
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[assignment]
                OTLPMetricExporter,
            )
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    if settings.metrics_port is not None:
        from llm_instrument.exporters import prometheus

        readers.append(prometheus.reader())
    if not readers:
        return
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider

    metrics.set_meter_provider(MeterProvider(metric_readers=readers))
    if settings.metrics_port is not None:
        prometheus.start(settings.metrics_port)

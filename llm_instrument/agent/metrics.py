"""The meter provider: OTLP metric export when an endpoint is set.

(Prometheus exposition on ``LLM_INSTRUMENT_METRICS_PORT`` is added with the GenAI core.)
"""

from __future__ import annotations

from opentelemetry import metrics

from llm_instrument.agent import config


def setup(settings: config.Settings) -> None:
    """Create and register the global meter provider when some reader wants metrics."""
    if settings.exporter != "otlp" or not settings.otlp_endpoint:
        return
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    if settings.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[assignment]
            OTLPMetricExporter,
        )
    reader = PeriodicExportingMetricReader(OTLPMetricExporter())
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

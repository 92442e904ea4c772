"""The OTLP/HTTP metric exporter built on its first export (``lazy_metrics``): the reader
sees the same preferred temporality as from the real exporter, and points still arrive."""

from __future__ import annotations

import time

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

from llm_instrument.exporters import lazy_metrics, otlp_metrics
from tests.support.otlp_receiver import OTLPReceiver


@pytest.mark.parametrize("preference", ["", "delta", "cumulative"])
def test_temporality_is_the_real_exporters(
    preference: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
    url = "http://127.0.0.1:9/v1/metrics"
    lazy = lazy_metrics.LazyMetricExporter(url)
    real = otlp_metrics.OTLPMetricExporterHTTP(url)
    assert lazy._preferred_temporality == real._preferred_temporality
    assert lazy._preferred_aggregation == real._preferred_aggregation
    assert lazy._exporter is None  # nothing built before the first export


def test_first_export_builds_the_exporter_once(otlp: OTLPReceiver) -> None:
    lazy = lazy_metrics.LazyMetricExporter(f"{otlp.endpoint}/v1/metrics")
    reader = PeriodicExportingMetricReader(lazy, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    counter = provider.get_meter("test").create_counter("calls")
    counter.add(2)
    assert provider.force_flush()
    built = lazy._exporter
    assert isinstance(built, otlp_metrics.OTLPMetricExporterHTTP)
    counter.add(1)
    assert provider.force_flush()
    assert lazy._exporter is built
    deadline = time.monotonic() + 5
    while len([m for m in otlp.metrics if m["name"] == "calls"]) < 2:
        assert time.monotonic() < deadline, otlp.metrics
        time.sleep(0.05)
    values = [m["points"][0]["value"] for m in otlp.metrics if m["name"] == "calls"]
    assert values == [2, 3]
    provider.shutdown()

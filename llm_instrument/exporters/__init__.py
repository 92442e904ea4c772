"""Where telemetry leaves the process: OTLP, the local store, the console, Prometheus.

``make_span_exporter`` is the one choice between them for spans; each exporter is imported
only when chosen.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from llm_instrument.agent import config
    from llm_instrument.agent.span_queue import EarlyEncoder


def make_span_exporter(settings: config.Settings) -> SpanExporter | None:
    """The exporter the settings ask for; raises when it cannot be built."""
    if settings.exporter == "none":
        return None
    if settings.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # stderr, so a traced CLI's stdout stays its own
        return ConsoleSpanExporter(out=sys.stderr)
    if settings.exporter == "local":
        from llm_instrument.exporters.local_store import LocalStoreExporter

        return LocalStoreExporter(
            settings.local_store, settings.local_store_max_mb, settings.local_store_max_age
        )
    from llm_instrument.exporters import otlp

    url = settings.traces_url or "http://localhost:4318/v1/traces"
    if settings.otlp_protocol == "grpc":
        if importlib.util.find_spec(otlp.GRPC_EXPORTER) is None:
            # checked now, so a missing extra is reported at start-up, not at the first export
            raise RuntimeError(otlp.GRPC_MISSING)
        return otlp.LazyGRPCExporter(url)
    return otlp.OTLPSpanExporter(url)


def early_encoder(exporter: SpanExporter) -> EarlyEncoder | None:
    """The span queue's encoder where ``exporter`` is OTLP over HTTP (``early_encoding``)."""
    otlp = sys.modules.get("llm_instrument.exporters.otlp")  # not imported: not OTLP
    if otlp is None or not isinstance(exporter, otlp.OTLPSpanExporter):
        return None
    from llm_instrument.exporters.early_encoding import EarlyEncoding

    return EarlyEncoding(exporter)

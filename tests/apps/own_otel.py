"""An app that sets up OpenTelemetry itself, as many do: its own tracer and meter providers
(service.name "own-app", in-memory exporter and reader), its own RequestsInstrumentor, then
two outgoing calls, a span of its own, a counter, and a UserWarning shown once although a
library creates its tracer lazily in between. Prints what its own exporter and reader got."""

import json
import sys
import threading
import warnings
from http.server import BaseHTTPRequestHandler, HTTPServer

import requests
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

resource = Resource.create({"service.name": "own-app"})
exporter = InMemorySpanExporter()
provider = TracerProvider(resource=resource)
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader], resource=resource))
RequestsInstrumentor().instrument()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/"


def old_api() -> None:
    warnings.warn("old_api is deprecated", UserWarning, stacklevel=1)


old_api()
with trace.get_tracer("own.app").start_as_current_span("own-work"):
    requests.get(url, timeout=10)
    trace.get_tracer("a.lazy.library").start_span("lazy").end()  # a tracer made late
    requests.get(url, timeout=10)
old_api()
metrics.get_meter("own.app").create_counter("own.requests").add(2)

spans = exporter.get_finished_spans()
data = reader.get_metrics_data()
metric_names = sorted(
    m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
)
print(
    json.dumps(
        {
            "spans": sorted(s.name for s in spans),
            "services": sorted({s.resource.attributes["service.name"] for s in spans}),
            "metrics": [name for name in metric_names if name.startswith("own.")],
            "same_provider": trace.get_tracer_provider() is provider,
        }
    )
)
sys.stdout.flush()
server.shutdown()

"""Spans a terminal must not obey: an ESC sequence in a name, an attribute and an error
message (as a request URL can carry), and a trace of exactly one span."""

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

tracer = trace.get_tracer("tests.apps.odd_spans")
with tracer.start_as_current_span("evil\x1b]0;owned\x07name") as span:
    span.set_attribute("url.full", "http://h/\x1b[2J\x1b[31mred\u202eevil")
    span.set_attribute("http.request.method", "GET")
    span.set_status(Status(StatusCode.ERROR, "bad\x1b[1mbold\nline"))
with tracer.start_as_current_span("lonely"):
    pass

"""requests: a CLIENT span per outgoing call, with W3C trace context injected into it.

Wraps ``opentelemetry-instrumentation-requests`` (``Session.send``), applied when
``requests`` is first imported. Calls made from a thread pool join the submitting trace
because the ``threading`` plugin carries the context into the worker. After ``unpatch`` a
``Session.send`` captured while patched calls the original straight through. Spans carry the
stable HTTP conventions' ``url.full``, ``http.request.method`` and
``http.response.status_code`` (``OTEL_SEMCONV_STABILITY_OPT_IN=http``, set at start-up
unless the user chose); the URL's credentials and secret query values are replaced, and
every query value with capture off, by the agent's content policy at export
(``llm_instrument.content_policy``).
"""

from __future__ import annotations

from llm_instrument.agent.plugin import Plugin
from llm_instrument.agent.wrapping import Instrument, Wrapping

_WRAPPING = Wrapping(
    (
        Instrument(
            "requests",
            "opentelemetry.instrumentation.requests:RequestsInstrumentor",
            replaces=("Session.send",),
        ),
    )
)

patch = _WRAPPING.patch
unpatch = _WRAPPING.unpatch

PLUGIN = Plugin.from_wrapping(
    "requests",
    _WRAPPING,
    distribution="requests",
    supported=">=2,<3",
    description="outgoing HTTP calls (opentelemetry-instrumentation-requests)",
)

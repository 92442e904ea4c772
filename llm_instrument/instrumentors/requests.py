"""requests: a CLIENT span per outgoing call, with W3C trace context injected into it.

Wraps ``opentelemetry-instrumentation-requests`` (``Session.send``), applied when
``requests`` is first imported. Calls made from a thread pool join the submitting trace
because the ``threading`` plugin carries the context into the worker.
"""

from __future__ import annotations

from types import ModuleType

from llm_instrument.agent.plugin import Plugin


def patch(module: ModuleType) -> None:
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    RequestsInstrumentor().instrument()


def unpatch(module: ModuleType) -> None:
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    RequestsInstrumentor().uninstrument()


PLUGIN = Plugin(
    name="requests",
    hooks=("requests",),
    distribution="requests",
    supported=">=2,<3",
    patch=patch,
    unpatch=unpatch,
    description="outgoing HTTP calls (opentelemetry-instrumentation-requests)",
)

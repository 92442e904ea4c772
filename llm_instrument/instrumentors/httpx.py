"""httpx and httpx2: a CLIENT span per outgoing call, with W3C trace context injected into it.

Two records, one per library, over ``opentelemetry-instrumentation-httpx`` (which knows
both): ``httpx`` (``HTTPXClientInstrumentor``; the ``openai`` SDK 2.x sends through it) and
``httpx2`` (``HTTPX2ClientInstrumentor``; the ``openai`` SDK 3.x sends through it). Each is
applied when its library is first imported and wraps ``HTTPTransport.handle_request`` and
``AsyncHTTPTransport.handle_async_request``, so sync and async clients are traced, every
retry gets its own span, and the span nests under whatever is current: the ``openai``
plugin's model span, a LangChain tool or model run, a FastAPI request. Named after the
contrib entry points, so they shadow them and nothing is traced twice. The contrib's own
settings keep working (``OTEL_PYTHON_HTTPX_EXCLUDED_URLS``, header capture).
Known limits (the contrib's): a streamed response's span ends when the headers arrive, not
when the body has been read; the contrib module imports both libraries when both are
installed, so an app importing one loads the other; a client built with a custom transport
that is not an ``HTTPTransport`` subclass is not traced.
"""

from __future__ import annotations

import importlib
from contextlib import suppress
from types import ModuleType
from typing import TYPE_CHECKING

from llm_instrument.agent.plugin import Plugin

if TYPE_CHECKING:
    from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
        BaseInstrumentor,
    )


def _instrumentor(module: ModuleType) -> BaseInstrumentor:
    """The contrib instrumentor of ``module`` (a singleton: ``instrument()`` runs once)."""
    # The contrib module imports both libraries at its top. Imported from there, the other
    # library's post-import hook would run while the contrib module is half-initialised;
    # imported first, here, its hook finds nothing half-done. (No extra cost: the contrib
    # module would import it anyway.)
    for name in ("httpx", "httpx2"):
        with suppress(ImportError):
            importlib.import_module(name)
    from opentelemetry.instrumentation import httpx as contrib

    if module.__name__ == "httpx2":
        return contrib.HTTPX2ClientInstrumentor()
    return contrib.HTTPXClientInstrumentor()


def patch(module: ModuleType) -> None:
    _instrumentor(module).instrument()


def unpatch(module: ModuleType) -> None:
    _instrumentor(module).uninstrument()


PLUGIN = Plugin(
    name="httpx",
    hooks=("httpx",),
    distribution="httpx",
    supported=">=0.18,<1",
    patch=patch,
    unpatch=unpatch,
    description="outgoing httpx calls, sync and async (opentelemetry-instrumentation-httpx)",
)

PLUGIN_HTTPX2 = Plugin(
    name="httpx2",
    hooks=("httpx2",),
    distribution="httpx2",
    supported=">=2,<3",
    patch=patch,
    unpatch=unpatch,
    description="outgoing httpx2 calls, sync and async (opentelemetry-instrumentation-httpx)",
)

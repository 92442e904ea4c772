"""httpx and httpx2: a CLIENT span per outgoing call, with W3C trace context injected into it.

Two records, one per library, over ``opentelemetry-instrumentation-httpx`` (which knows
both): ``httpx`` (``HTTPXClientInstrumentor``; the ``openai`` SDK 2.x sends through it) and
``httpx2`` (``HTTPX2ClientInstrumentor``; the ``openai`` SDK 3.x sends through it). Each is
an ``Instrument`` row, as for ``requests``, applied when its library is first imported; it
wraps ``HTTPTransport.handle_request`` and ``AsyncHTTPTransport.handle_async_request``, so
sync and async clients are traced, every retry gets its own span, and the span nests under
whatever is current: the ``openai`` plugin's model span, a LangChain tool or model run, a
FastAPI request. Spans carry the stable HTTP conventions (``url.full``,
``http.request.method``, ``http.response.status_code``) and the URL goes through the
agent's content policy at export, as for ``requests``. Named after the contrib entry
points, so they shadow them and nothing is traced twice; the contrib's own settings keep
working (``OTEL_PYTHON_HTTPX_EXCLUDED_URLS``, header capture).
An ``opentelemetry-instrumentation-httpx`` older than 0.65b0 knows only httpx: the
``httpx2`` plugin is then skipped (``llm-instrument list`` says why).
The contrib module imports both libraries (and httpx its command-line tool), so each row is
applied at the first request sent (``Instrument(on_first_call=True)``), not when the
library is imported: an app that imports httpx2 and sends nothing loads neither.
Known limits (the contrib's): a streamed response's span ends when the headers arrive, not
when the body has been read; once a request is sent, an app using one library has loaded
the other; a client built with a custom transport that is not an ``HTTPTransport``
subclass is not traced.
"""

from __future__ import annotations

import importlib
import re
from contextlib import suppress
from typing import Any

from llm_instrument.agent.plugin import DidNotEnable, Plugin
from llm_instrument.agent.wrapping import Instrument, Wrapping

_REPLACES = ("HTTPTransport.handle_request", "AsyncHTTPTransport.handle_async_request")


def _contrib() -> Any:
    """The contrib module, imported so that neither library's hook finds it half-done.

    It imports both libraries at its top. Imported from there, the other library's
    post-import hook would run while the contrib module is half-initialised; imported
    first, here, its hook finds nothing half-done. (No extra cost: the contrib module would
    import it anyway.)"""
    for name in ("httpx", "httpx2"):
        with suppress(ImportError):
            importlib.import_module(name)
    return importlib.import_module("opentelemetry.instrumentation.httpx")


def httpx_instrumentor() -> Any:
    """``HTTPXClientInstrumentor()`` (a singleton), for the ``httpx`` row."""
    return _contrib().HTTPXClientInstrumentor()


def httpx2_instrumentor() -> Any:
    """``HTTPX2ClientInstrumentor()`` (a singleton), for the ``httpx2`` row."""
    factory = getattr(_contrib(), "HTTPX2ClientInstrumentor", None)
    if factory is None:  # the contrib knows httpx2 from 0.65b0
        raise DidNotEnable(_NO_HTTPX2)
    return factory()


_NO_HTTPX2 = "opentelemetry-instrumentation-httpx before 0.65b0 has no httpx2"


def _contrib_knows_httpx2() -> None:
    """The contrib's version says whether it has ``HTTPX2ClientInstrumentor``, without
    importing it (the row is applied at the first call)."""
    from llm_instrument.agent import registry

    version = registry.distribution_version("opentelemetry-instrumentation-httpx")
    found = re.match(r"(\d+)\.(\d+)", version or "")
    if found is None or (int(found[1]), int(found[2])) < (0, 65):
        raise DidNotEnable(_NO_HTTPX2)


# applied at the first request, not at the import: the contrib module imports both httpx
# libraries (and httpx its command-line tool), 40-50 ms an app that imports httpx2 through
# langsmith, say, and never sends with httpx should not pay at start-up
_HTTPX = Wrapping(
    (Instrument("httpx", f"{__name__}:httpx_instrumentor", replaces=_REPLACES, on_first_call=True),)
)
_HTTPX2 = Wrapping(
    (
        Instrument(
            "httpx2",
            f"{__name__}:httpx2_instrumentor",
            replaces=_REPLACES,
            on_first_call=True,
            precheck=_contrib_knows_httpx2,
        ),
    )
)

patch = _HTTPX.patch
unpatch = _HTTPX.unpatch

PLUGIN = Plugin.from_wrapping(
    "httpx",
    _HTTPX,
    distribution="httpx",
    supported=">=0.18,<1",
    description="outgoing httpx calls, sync and async (opentelemetry-instrumentation-httpx)",
)

PLUGIN_HTTPX2 = Plugin.from_wrapping(
    "httpx2",
    _HTTPX2,
    distribution="httpx2",
    supported=">=2,<3",
    description="outgoing httpx2 calls, sync and async (opentelemetry-instrumentation-httpx)",
)

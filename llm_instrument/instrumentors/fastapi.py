"""FastAPI: a SERVER span per request, with W3C trace context extracted from the headers.

Wraps the well-kept ``opentelemetry-instrumentation-fastapi`` rather than reinventing it:
``patch`` calls its ``instrument()`` when ``fastapi`` is first imported, which swaps
``fastapi.FastAPI`` for an instrumented subclass, so every app built afterwards is traced.
Its own settings keep working (``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS``, header capture). The
ASGI ``http send``/``http receive`` sub-spans it makes for every message are left out by
default (two or more per request, no information an LLM trace reader needs);
``LLM_INSTRUMENT_FASTAPI_ASGI_SPANS=true`` keeps them.
Attribute names follow the stable HTTP conventions (``url.path``, ``url.query``,
``http.request.method``, ``http.response.status_code``; metric
``http.server.request.duration`` in seconds): the agent sets
``OTEL_SEMCONV_STABILITY_OPT_IN=http`` at start-up unless the user set it. What the
instrumentation records (the query string, which may carry the prompt or a key, and the
exception event of a failed request with its message) goes out through the agent's one
content policy (``llm_instrument.content_policy.exporter``), not through code here.
Known limits: an app built before the agent started (impossible under the launcher) is not
traced; after ``unpatch``, a ``FastAPI`` class captured while patched (the contrib's
subclass) still builds traced apps.
"""

from __future__ import annotations

from typing import Any

from llm_instrument.agent import config
from llm_instrument.agent.plugin import Plugin, Setting
from llm_instrument.agent.wrapping import Instrument, Wrapping

ASGI_SPANS = Setting(
    "LLM_INSTRUMENT_FASTAPI_ASGI_SPANS",
    False,
    "keep the ASGI 'http send'/'http receive' sub-spans of each request",
    config.parse_bool,
    "BOOL",
)


def _instrument_options() -> dict[str, Any]:
    """``FastAPIInstrumentor.instrument()`` arguments, read when fastapi is imported."""
    keep = config.current().value(ASGI_SPANS)
    return {"exclude_spans": None if keep else ["receive", "send"]}


_WRAPPING = Wrapping(
    (
        Instrument(
            "fastapi",
            "opentelemetry.instrumentation.fastapi:FastAPIInstrumentor",
            replaces=("FastAPI",),
            options=_instrument_options,
        ),
    )
)

patch = _WRAPPING.patch
unpatch = _WRAPPING.unpatch

PLUGIN = Plugin.from_wrapping(
    "fastapi",
    _WRAPPING,
    distribution="fastapi",
    supported=">=0.92,<1",
    description="incoming HTTP requests (opentelemetry-instrumentation-fastapi)",
    settings=(ASGI_SPANS,),
)

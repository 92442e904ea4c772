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
Known limit: an app built before the agent started (impossible under the launcher) is not
traced.
"""

from __future__ import annotations

from types import ModuleType

from llm_instrument.agent import config
from llm_instrument.agent.plugin import Plugin, Setting

ASGI_SPANS = Setting(
    "LLM_INSTRUMENT_FASTAPI_ASGI_SPANS",
    False,
    "keep the ASGI 'http send'/'http receive' sub-spans of each request",
    config.parse_bool,
    "BOOL",
)


def patch(module: ModuleType) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    keep = config.current().value(ASGI_SPANS)
    FastAPIInstrumentor().instrument(exclude_spans=None if keep else ["receive", "send"])


def unpatch(module: ModuleType) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor().uninstrument()


PLUGIN = Plugin(
    name="fastapi",
    hooks=("fastapi",),
    distribution="fastapi",
    supported=">=0.92,<1",
    patch=patch,
    unpatch=unpatch,
    description="incoming HTTP requests (opentelemetry-instrumentation-fastapi)",
    settings=(ASGI_SPANS,),
)

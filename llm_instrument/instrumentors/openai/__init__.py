"""openai: the SDK's model calls as GenAI spans, with the httpx span of each attempt beneath.

Wrapped (``openai._base_client``, the ``openai`` SDK 2.x and 3.x): ``SyncAPIClient.request``
and ``AsyncAPIClient.request``, which every call of every client (``OpenAI``,
``AsyncOpenAI``, ``AzureOpenAI``, ...) goes through once, retries included. Traced are
POSTs to ``/chat/completions`` (``chat``; ``create``, ``parse``, ``stream()``),
``/completions`` (``text_completion``), ``/embeddings`` (``embeddings``) and
``/responses`` (the Responses API, ``chat``), plain and streamed; other endpoints pass
straight through. Each span has the provider (``openai``, or the server's product when the
base URL names it: Azure, Groq, DeepSeek, Ollama's port, ...), ``server.address``/``port``,
the request and response model, request parameters, exact usage as the server reported it
(for a stream: the final chunk's, with ``stream_options={"include_usage": True}``), finish
reasons, time to first chunk, response id, input and output messages with tool calls
(content policy applies), and ``error.type`` on failure (see ``_wrappers``, ``_extract``,
``_stream``). Under LangChain's ``ChatOpenAI`` the span is the child of LangChain's model
span, and the core counts the call's usage once. Named ``openai``, so it shadows
OpenLLMetry's instrumentor of that name. Known limit: a ``with_raw_response`` *stream*
gets a span without response facts.
"""

from __future__ import annotations

from llm_instrument.agent.plugin import Plugin
from llm_instrument.agent.wrapping import Wrap, Wrapping

_WRAPPERS = "llm_instrument.instrumentors.openai._wrappers"
_CLIENT = "openai._base_client"

_WRAPPING = Wrapping(
    (
        Wrap(_CLIENT, "SyncAPIClient.request", f"{_WRAPPERS}:wrap_request"),
        Wrap(_CLIENT, "AsyncAPIClient.request", f"{_WRAPPERS}:wrap_async_request"),
    )
)

patch = _WRAPPING.patch
unpatch = _WRAPPING.unpatch

PLUGIN = Plugin.from_wrapping(
    "openai",
    _WRAPPING,
    distribution="openai",
    supported=">=2,<4",
    description="openai SDK chat, completions, embeddings, Responses API: usage, streams, tools",
)

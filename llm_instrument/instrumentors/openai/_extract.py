"""Facts from the ``openai`` SDK's requests and responses, for the GenAI core.

Requests are read from the body the SDK is about to send (``FinalRequestOptions.json_data``,
the API's own field names, whatever helper built it); responses from the SDK's parsed
objects (``ChatCompletion``, ``Completion``, ``CreateEmbeddingResponse``, ``Response``).
Both are read by field name through ``_get``, so a mapping and a model object read alike and
a field a version lacks reads as None. Nothing here writes an attribute: it returns facts.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT

from llm_instrument import genai

CHAT = "chat"
COMPLETION = "completion"
EMBEDDINGS = "embeddings"
RESPONSES = "responses"
# path suffix -> endpoint; "/chat/completions" before "/completions", which it ends with
_ENDPOINTS = (
    ("/chat/completions", CHAT),
    ("/completions", COMPLETION),
    ("/embeddings", EMBEDDINGS),
    ("/responses", RESPONSES),
)
_OPERATIONS = {
    CHAT: genai.Operation.CHAT,
    COMPLETION: genai.Operation.TEXT_COMPLETION,
    RESPONSES: genai.Operation.CHAT,
}
# the server's product, where its host or port names it; anything else is "openai"
_HOSTS = {
    "api.openai.com": "openai",
    "api.deepseek.com": "deepseek",
    "api.groq.com": "groq",
    "api.mistral.ai": "mistral_ai",
    "api.x.ai": "x_ai",
    "api.perplexity.ai": "perplexity",
    "generativelanguage.googleapis.com": "gcp.gemini",
    "openrouter.ai": "openrouter",
    "api.together.xyz": "together_ai",
    "api.fireworks.ai": "fireworks_ai",
}
_HOST_SUFFIXES = (
    (".openai.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.inference"),
    (".amazonaws.com", "aws.bedrock"),
)
_PORTS = {11434: "ollama"}
_CHAT_PARAMETERS = ("temperature", "top_p", "frequency_penalty", "presence_penalty", "seed")
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def arguments(raw: Any) -> Any:
    """Tool-call arguments as an object when they are JSON text (the API sends a string)."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


@dataclass(frozen=True)
class Server:
    provider: str
    attributes: dict[str, Any]


@functools.lru_cache(maxsize=64)
def server(base_url: str) -> Server:
    """Provider and ``server.address``/``server.port`` from a client's base URL."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    host, port = (parts.hostname or "").lower(), parts.port
    provider = _HOSTS.get(host) or _PORTS.get(port or 0)
    if provider is None:
        provider = next((p for suffix, p in _HOST_SUFFIXES if host.endswith(suffix)), "openai")
    attributes: dict[str, Any] = {SERVER_ADDRESS: host or None}
    if port is not None:
        attributes[SERVER_PORT] = port
    return Server(provider, attributes)


def endpoint(options: Any) -> str | None:
    """Which traced endpoint a request goes to, or None (files, models, retrievals...)."""
    method = get(options, "method")
    url = get(options, "url")
    if not isinstance(method, str) or method.lower() != "post" or not isinstance(url, str):
        return None
    path = url.split("?", 1)[0].rstrip("/")
    return next((kind for suffix, kind in _ENDPOINTS if path.endswith(suffix)), None)


@dataclass
class Request:
    """What the core needs to open the span."""

    kind: str
    model: str | None
    params: dict[str, Any] = field(default_factory=dict)
    inputs: Any = None

    @property
    def operation(self) -> str:
        return _OPERATIONS.get(self.kind, genai.Operation.CHAT)


def tool_call(call: Any) -> genai.ToolCall:
    function = get(call, "function")
    return genai.ToolCall(
        get(call, "id"), str(get(function, "name") or ""), arguments(get(function, "arguments"))
    )


def _message(raw: Any) -> genai.Message:
    calls = tuple(tool_call(c) for c in get(raw, "tool_calls") or ())
    return genai.Message(
        str(get(raw, "role") or "user"),
        get(raw, "content"),
        calls,
        tool_call_id=get(raw, "tool_call_id"),
        name=get(raw, "name"),
    )


def _responses_item(item: Any) -> genai.Message | None:
    """One item of a Responses API ``input`` list."""
    kind = get(item, "type")
    if kind == "function_call":
        call = genai.ToolCall(
            get(item, "call_id"), str(get(item, "name")), arguments(get(item, "arguments"))
        )
        return genai.Message("assistant", None, (call,))
    if kind == "function_call_output":
        return genai.Message("tool", get(item, "output"), tool_call_id=get(item, "call_id"))
    role = get(item, "role")
    return genai.Message(str(role), get(item, "content")) if role else None


def _prompts(raw: Any) -> Any:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, Sequence) and raw and all(isinstance(p, str) for p in raw):
        return [genai.Message("user", p) for p in raw]
    return None  # token arrays: no text to record


def request(kind: str, body: Mapping[str, Any]) -> Request:
    model = body.get("model")
    facts = Request(kind, model if isinstance(model, str) else None)
    params = facts.params
    if kind == EMBEDDINGS:
        raw = body.get("input")
        if isinstance(raw, str):
            facts.inputs = [raw]
        elif isinstance(raw, Sequence) and all(isinstance(t, str) for t in raw):
            facts.inputs = list(raw)
        return facts
    for name in _CHAT_PARAMETERS:
        params[name] = body.get(name)
    params["stop"] = body.get("stop")
    params["max_tokens"] = (
        body.get("max_output_tokens") or body.get("max_completion_tokens") or body.get("max_tokens")
    )
    if isinstance(body.get("n"), int) and body["n"] != 1:
        params["n"] = body["n"]
    if kind == CHAT:
        facts.inputs = [_message(m) for m in body.get("messages") or ()]
    elif kind == COMPLETION:
        facts.inputs = _prompts(body.get("prompt"))
    else:
        facts.inputs = _responses_inputs(body)
    return facts


def _responses_inputs(body: Mapping[str, Any]) -> list[genai.Message]:
    messages: list[genai.Message] = []
    if isinstance(body.get("instructions"), str):
        messages.append(genai.Message("system", body["instructions"]))
    raw = body.get("input")
    if isinstance(raw, str):
        messages.append(genai.Message("user", raw))
    elif isinstance(raw, Sequence):
        messages.extend(m for m in map(_responses_item, raw) if m is not None)
    return messages


# -- responses ------------------------------------------------------------------------------


@dataclass
class Response:
    """What the core needs to finish the span."""

    id: str | None = None
    model: str | None = None
    usage: genai.Usage | None = None
    outputs: Any = None
    finish_reasons: list[str] = field(default_factory=list)


def usage(raw: Any) -> genai.Usage | None:
    """Usage of any endpoint: ``prompt_tokens``/``completion_tokens``, or the Responses
    API's ``input_tokens``/``output_tokens``; embeddings have input tokens only."""
    if raw is None:
        return None
    given = get(raw, "prompt_tokens")
    if given is None:
        given = get(raw, "input_tokens")
    taken = get(raw, "completion_tokens")
    if taken is None:
        taken = get(raw, "output_tokens")
    found = genai.Usage(
        given if isinstance(given, int) else None, taken if isinstance(taken, int) else None
    )
    return found if found.known else None


def response(kind: str, parsed: Any) -> Response:
    facts = Response(get(parsed, "id"), get(parsed, "model"), usage(get(parsed, "usage")))
    if kind == EMBEDDINGS:
        facts.outputs = [get(d, "embedding") for d in get(parsed, "data") or ()]
        return facts
    if kind == RESPONSES:
        message = responses_output(parsed)
        facts.outputs = [message]
        facts.finish_reasons = [message.finish_reason] if message.finish_reason else []
        return facts
    messages = []
    for choice in get(parsed, "choices") or ():
        reason = get(choice, "finish_reason")
        if kind == CHAT:
            raw = get(choice, "message")
            calls = tuple(tool_call(c) for c in get(raw, "tool_calls") or ())
            content = get(raw, "content")
        else:
            calls, content = (), get(choice, "text")
        messages.append(genai.Message("assistant", content, calls, finish_reason=reason))
        if reason:
            facts.finish_reasons.append(str(reason))
    facts.outputs = messages
    return facts


def responses_output(parsed: Any) -> genai.Message:
    """A Responses API ``Response`` as one assistant message, with a finish reason made
    from its status (the API has none: ``completed`` is ``stop``, or ``tool_calls``)."""
    texts: list[str] = []
    calls: list[genai.ToolCall] = []
    for item in get(parsed, "output") or ():
        kind = get(item, "type")
        if kind == "message":
            for part in get(item, "content") or ():
                text = get(part, "text") if get(part, "type") == "output_text" else None
                text = text if text is not None else get(part, "refusal")
                if isinstance(text, str):
                    texts.append(text)
        elif kind == "function_call":
            calls.append(
                genai.ToolCall(
                    get(item, "call_id"),
                    str(get(item, "name")),
                    arguments(get(item, "arguments")),
                )
            )
    status = get(parsed, "status")
    if status == "completed":
        reason = "tool_calls" if calls else "stop"
    elif status == "incomplete":
        why = get(get(parsed, "incomplete_details"), "reason")
        reason = _INCOMPLETE.get(str(why), str(why or "length"))
    else:
        reason = str(status) if status else "stop"
    return genai.Message("assistant", "".join(texts) or None, tuple(calls), finish_reason=reason)

"""Stateless extractors: LangChain callback arguments and results -> GenAI core facts.

Token usage is read from wherever the provider put it, first found wins per generation:
``message.usage_metadata`` (chat models, streamed chunks merged by LangChain; its
``input_token_details.cache_read``/``cache_creation`` and ``output_token_details.reasoning``
too), ``generation_info`` and ``message.response_metadata`` (``token_usage``/``usage`` dicts:
OpenAI's ``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.
reasoning_tokens``, Anthropic's ``cache_*_input_tokens``, Ollama's ``prompt_eval_count``/
``eval_count``), then ``llm_output`` for the whole call. Chain inputs and outputs become
plain data with messages and documents as the core's facts (``plain``), so they are written
as JSON objects rather than Python reprs.
"""

from __future__ import annotations

import dataclasses
import sys
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from llm_instrument import genai

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
_ROLES.update({"function": "tool", "developer": "system", "user": "user", "assistant": "assistant"})
# a streamed chunk's ``type`` is its class name (``AIMessageChunk``), not ``ai``
_ROLES.update(
    {
        "AIMessageChunk": "assistant",
        "HumanMessageChunk": "user",
        "SystemMessageChunk": "system",
        "ToolMessageChunk": "tool",
        "FunctionMessageChunk": "tool",
    }
)
_REASON_KEYS = ("finish_reason", "stop_reason", "done_reason", "finishReason", "stopReason")
_ANTHROPIC_CACHE_KEYS = ("cache_read_input_tokens", "cache_creation_input_tokens")
_CONVERSATION_KEYS = ("thread_id", "session_id", "conversation_id")
# usage detail -> where providers put it: (nested dict, key) or a top-level key
_DETAILS: dict[str, tuple[tuple[str, ...], ...]] = {
    "cache_read_input_tokens": (
        ("input_token_details", "cache_read"),
        ("prompt_tokens_details", "cached_tokens"),
        ("cache_read_input_tokens",),
    ),
    "cache_creation_input_tokens": (
        ("input_token_details", "cache_creation"),
        ("cache_creation_input_tokens",),
    ),
    "reasoning_output_tokens": (
        ("output_token_details", "reasoning"),
        ("completion_tokens_details", "reasoning_tokens"),
    ),
}
_MODEL_KEYS = ("model", "model_name", "model_id", "deployment_name", "repo_id", "model_path")
_PARAMS = (
    "temperature", "max_tokens", "max_new_tokens", "max_output_tokens", "top_p", "top_k",
    "frequency_penalty", "presence_penalty", "stop", "seed", "n",
)  # fmt: skip
_INPUT_KEYS = ("input_tokens", "prompt_tokens", "prompt_eval_count", "input_token_count")
_OUTPUT_KEYS = ("output_tokens", "completion_tokens", "eval_count", "generated_token_count")
_SCORE_KEYS = ("score", "relevance_score", "similarity_score", "_score", "distance")


def class_name(serialized: Mapping[str, Any] | None) -> str | None:
    if not serialized:
        return None
    name = serialized.get("name")
    if isinstance(name, str):
        return name
    ids = serialized.get("id")
    return ids[-1] if isinstance(ids, list) and ids else None


def model_in(mapping: Any) -> str | None:
    if not isinstance(mapping, Mapping):
        return None
    return next((v for k in _MODEL_KEYS if isinstance(v := mapping.get(k), str) and v), None)


def model_facts(
    serialized: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None,
    kwargs: Mapping[str, Any],
    model: str | None = None,
) -> tuple[str | None, str | None, str | None, dict[str, Any]]:
    """(provider, model, class name, request parameters) of a chat model or LLM run. The
    model: the invocation parameters', LangSmith's ``ls_model_name``, the serialized
    constructor arguments', else ``model`` (read off the model object itself)."""
    params: Mapping[str, Any] = kwargs.get("invocation_params") or {}
    metadata = metadata or {}
    model = (
        model_in(params)
        or (metadata["ls_model_name"] if isinstance(metadata.get("ls_model_name"), str) else None)
        or model_in((serialized or {}).get("kwargs"))
        or model
    )
    provider = metadata.get("ls_provider")
    if not isinstance(provider, str):
        provider = params.get("_type") if isinstance(params.get("_type"), str) else None
    request = {k: params[k] for k in _PARAMS if params.get(k) is not None}
    for key in ("temperature", "max_tokens", "stop"):
        value = metadata.get(f"ls_{key}")
        if value is not None and key not in request:
            request[key] = value
    return provider, model, class_name(serialized) or kwargs.get("name"), request


# (class, name) -> whether the class (its MRO) defines name; class -> a pydantic v2 model
_ON_CLASS: dict[tuple[type, str], bool] = {}
_PYDANTIC: dict[type, bool] = {}
_CACHE_MAX = 4096  # classes are few; cleared past this, never grows without bound


def _is_pydantic(cls: type) -> bool:
    found = _PYDANTIC.get(cls)
    if found is None:
        main = sys.modules.get("pydantic.main")
        base = getattr(main, "BaseModel", None)
        found = base is not None and getattr(cls, "__getattr__", None) is base.__getattr__
        if len(_PYDANTIC) > _CACHE_MAX:
            _PYDANTIC.clear()
        _PYDANTIC[cls] = found
    return found


def _on_class(cls: type, name: str) -> bool:
    key = (cls, name)
    found = _ON_CLASS.get(key)
    if found is None:
        found = any(name in vars(c) for c in cls.__mro__)
        if len(_ON_CLASS) > _CACHE_MAX:
            _ON_CLASS.clear()
        _ON_CLASS[key] = found
    return found


def field(obj: Any, name: str) -> Any:
    """``getattr(obj, name, None)``, without pydantic's ``__getattr__`` raising and catching
    an ``AttributeError`` (~2 us) for a name the model does not have (``role`` on an
    ``AIMessage``): a class attribute or property, then the instance's fields, then
    the model's extra fields, as ``BaseModel.__getattr__`` looks them up."""
    cls = type(obj)
    if not _is_pydantic(cls) or _on_class(cls, name):
        return getattr(obj, name, None)
    found = obj.__dict__
    if name in found:
        return found[name]
    if name in cls.__private_attributes__:
        return getattr(obj, name, None)
    extra = obj.__pydantic_extra__
    return extra.get(name) if extra else None


def message(msg: Any) -> genai.Message:
    """A LangChain ``BaseMessage`` as the core's message."""
    role = _role(msg)
    calls = tuple(
        genai.ToolCall(call.get("id"), call.get("name", ""), call.get("args"))
        for call in (field(msg, "tool_calls") or ())
        if isinstance(call, Mapping)
    )
    reason = finish_reason(field(msg, "response_metadata"))
    return genai.Message(
        role,
        getattr(msg, "content", msg),
        tool_calls=calls,
        tool_call_id=field(msg, "tool_call_id"),
        finish_reason=reason,
    )


def _role(msg: Any) -> str:
    kind = field(msg, "type") or ""
    if kind in ("chat", "ChatMessageChunk"):  # a ChatMessage names its role itself
        role = field(msg, "role")
        return _ROLES.get(role, role) if isinstance(role, str) and role else "user"
    return _ROLES.get(kind, "user")


def finish_reason(mapping: Any) -> str | None:
    """The finish reason in a ``response_metadata`` or ``generation_info`` mapping."""
    if not isinstance(mapping, Mapping):
        return None
    for key in _REASON_KEYS:
        value = mapping.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def chat_inputs(messages: Sequence[Sequence[Any]]) -> list[genai.Message]:
    return [message(m) for batch in messages[:1] for m in batch]


def _count(mapping: Mapping[str, Any], path: tuple[str, ...]) -> int | None:
    value: Any = mapping
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else getattr(value, key, None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _usage_from(mapping: Any) -> dict[str, int]:
    """The token counts in one usage-bearing mapping ({} when it has none)."""
    if not isinstance(mapping, Mapping):
        return {}
    for key in ("token_usage", "usage"):
        nested = mapping.get(key)
        if nested is not None and not isinstance(nested, Mapping) and hasattr(nested, "__dict__"):
            nested = vars(nested)
        found = _usage_from(nested)
        if found:
            return found
    counts: dict[str, int] = {}
    inp = next((mapping[k] for k in _INPUT_KEYS if isinstance(mapping.get(k), int)), None)
    out = next((mapping[k] for k in _OUTPUT_KEYS if isinstance(mapping.get(k), int)), None)
    if inp is None and out is None:
        return counts
    if inp is not None:
        counts["input_tokens"] = inp
    if out is not None:
        counts["output_tokens"] = out
    for name, paths in _DETAILS.items():
        value = next((c for c in (_count(mapping, p) for p in paths) if c is not None), None)
        if value is not None:
            counts[name] = value
    if inp is not None and mapping.get("input_tokens") is inp:
        # Anthropic's raw usage counts cached input apart; the conventions count it in
        for key in _ANTHROPIC_CACHE_KEYS:
            if isinstance(mapping.get(key), int):
                counts["input_tokens"] += mapping[key]
    return counts


def usage(counts: Mapping[str, int]) -> genai.Usage:
    """The core's ``Usage`` from counts, keeping the details the core knows of."""
    known = {f.name for f in dataclasses.fields(genai.Usage)}
    return genai.Usage(**{k: v for k, v in counts.items() if k in known})


def _add(total: dict[str, int], counts: Mapping[str, int]) -> None:
    for key, value in counts.items():
        total[key] = total.get(key, 0) + value


def result_facts(
    response: Any,
) -> tuple[list[genai.Message], list[str], genai.Usage, str | None]:
    """(output messages, finish reasons, usage, response model) of an ``LLMResult``."""
    outputs: list[genai.Message] = []
    reasons: list[str] = []
    total: dict[str, int] = {}
    response_model = None
    for generations in getattr(response, "generations", None) or ():
        for generation in generations:
            msg = field(generation, "message")
            info = field(generation, "generation_info") or {}
            if msg is not None:
                out = message(msg)
                metadata = field(msg, "response_metadata") or {}
            else:
                out = genai.Message("assistant", getattr(generation, "text", ""))
                metadata = {}
            reason = out.finish_reason or finish_reason(info)
            if reason is not None:
                reasons.append(reason)
                if out.finish_reason is None:
                    out = dataclasses.replace(out, finish_reason=reason)
            outputs.append(out)
            model = metadata.get("model_name") or metadata.get("model") or info.get("model")
            if isinstance(model, str):
                response_model = response_model or model
            _add(
                total,
                _usage_from(field(msg, "usage_metadata"))
                or _usage_from(info)
                or _usage_from(metadata),
            )
    llm_output = getattr(response, "llm_output", None) or {}
    if not total:
        total = _usage_from(llm_output)
    model = llm_output.get("model_name") or llm_output.get("model")
    if isinstance(model, str):
        response_model = response_model or model
    return outputs, reasons, usage(total), response_model


def documents(docs: Any, scores: Mapping[int, float] | None = None) -> list[genai.Document]:
    """Retrieved documents with their ids and scores: a score in the document's metadata,
    else the one its vector store's scored search returned (``scores``, by identity)."""
    found = []
    for doc in docs or ():
        metadata = field(doc, "metadata") or {}
        score = next(
            (metadata[k] for k in _SCORE_KEYS if isinstance(metadata.get(k), int | float)), None
        )
        if score is None and scores:
            score = scores.get(id(doc))
        doc_id = field(doc, "id") or metadata.get("id")
        found.append(
            genai.Document(
                str(getattr(doc, "page_content", doc)),
                id=str(doc_id) if doc_id is not None else None,
                score=float(score) if score is not None else None,
                metadata={k: v for k, v in metadata.items() if k not in _SCORE_KEYS} or None,
            )
        )
    return found


def _is_message(value: Any) -> bool:
    return isinstance(getattr(value, "type", None), str) and hasattr(value, "additional_kwargs")


def plain(value: Any, depth: int = 0) -> Any:
    """A chain's input or output as plain data: LangChain messages as the core's messages
    and documents as ``{id, content, metadata}``, so the core writes JSON objects where it
    would write a Python repr (a document here has no score: that is the retriever's)."""
    if value is None or isinstance(value, str | int | float | bool) or depth > 8:
        return value
    if isinstance(value, Mapping):
        messages = state_messages(value)  # a graph's state: (role, text) pairs are messages
        return {
            k: messages if k == "messages" and messages else plain(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    if isinstance(getattr(value, "page_content", None), str):  # a Document
        doc = {"id": getattr(value, "id", None), "content": value.page_content}
        doc["metadata"] = plain(getattr(value, "metadata", None) or None, depth + 1)
        return {k: v for k, v in doc.items() if v is not None}
    if _is_message(value):
        return message(value)
    if any(cls.__name__ == "PromptValue" for cls in type(value).__mro__):
        return [message(m) for m in value.to_messages()]
    dump = getattr(value, "model_dump", None)  # pydantic models (AgentAction, outputs)
    if callable(dump) and hasattr(type(value), "model_fields"):
        return plain(dump(), depth + 1)
    return value


def _loose_message(item: Any) -> genai.Message | None:
    """A message as LangGraph accepts one: a message object, ``(role, text)``,
    ``{"role", "content"}`` or bare text."""
    if _is_message(item):
        return message(item)
    if isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str):
        return genai.Message(_ROLES.get(item[0], item[0]), item[1])
    if isinstance(item, Mapping) and "content" in item:
        role = item.get("role") or item.get("type") or "user"
        return genai.Message(_ROLES.get(role, role), item["content"])
    return genai.Message("user", item) if isinstance(item, str) else None


def state_messages(state: Any, last: bool = False) -> list[genai.Message] | None:
    """An agent graph's ``messages`` state as messages (only the ``last`` one: its answer;
    the history before it is the input and the child spans), or None if it has none."""
    items = state.get("messages") if isinstance(state, Mapping) else None
    if not isinstance(items, list | tuple) or not items:
        return None
    found = [_loose_message(item) for item in (items[-1:] if last else items)]
    return None if None in found else [m for m in found if m is not None]


def conversation_id(metadata: Mapping[str, Any] | None) -> str | None:
    """The conversation a run belongs to: LangGraph's ``thread_id`` (copied from the run's
    ``configurable`` into its metadata), or a ``session_id``/``conversation_id``."""
    for key in _CONVERSATION_KEYS:
        value = (metadata or {}).get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int | uuid.UUID) and not isinstance(value, bool):
            return str(value)
    return None


def provider_of(obj: Any) -> str:
    """``langchain_openai.embeddings`` -> ``openai``; the core's own fakes -> ``langchain``."""
    module = type(obj).__module__.split(".")[0]
    if module.startswith("langchain_") and module not in ("langchain_core", "langchain_classic"):
        return module[len("langchain_") :]
    return "langchain"


def model_of(obj: Any) -> str | None:
    for key in _MODEL_KEYS:
        value = getattr(obj, key, None)
        if isinstance(value, str) and value:
            return value
    return None

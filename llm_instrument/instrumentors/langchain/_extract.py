"""Stateless extractors: LangChain callback arguments and results -> GenAI core facts.

Token usage is read from wherever the provider put it, first found wins per generation:
``message.usage_metadata`` (chat models, streamed chunks merged by LangChain),
``generation_info`` and ``message.response_metadata`` (``token_usage``/``usage`` dicts,
Ollama's ``prompt_eval_count``/``eval_count``), then ``llm_output`` for the whole call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llm_instrument import genai

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
_ROLES.update({"function": "tool", "chat": "user", "developer": "system"})
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


def model_facts(
    serialized: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None,
    kwargs: Mapping[str, Any],
) -> tuple[str | None, str | None, str | None, dict[str, Any]]:
    """(provider, model, class name, request parameters) of a chat model or LLM run."""
    params: Mapping[str, Any] = kwargs.get("invocation_params") or {}
    metadata = metadata or {}
    model = next((params[k] for k in _MODEL_KEYS if isinstance(params.get(k), str)), None)
    if model is None and isinstance(metadata.get("ls_model_name"), str):
        model = metadata["ls_model_name"]
    provider = metadata.get("ls_provider")
    if not isinstance(provider, str):
        provider = params.get("_type") if isinstance(params.get("_type"), str) else None
    request = {k: params[k] for k in _PARAMS if params.get(k) is not None}
    for key in ("temperature", "max_tokens", "stop"):
        value = metadata.get(f"ls_{key}")
        if value is not None and key not in request:
            request[key] = value
    return provider, model, class_name(serialized) or kwargs.get("name"), request


def message(msg: Any) -> genai.Message:
    """A LangChain ``BaseMessage`` as the core's message."""
    role = _ROLES.get(getattr(msg, "type", ""), getattr(msg, "role", None) or "user")
    calls = tuple(
        genai.ToolCall(call.get("id"), call.get("name", ""), call.get("args"))
        for call in (getattr(msg, "tool_calls", None) or ())
        if isinstance(call, Mapping)
    )
    metadata = getattr(msg, "response_metadata", None) or {}
    reason = (
        metadata.get("finish_reason") or metadata.get("stop_reason") or metadata.get("done_reason")
    )
    return genai.Message(
        role,
        getattr(msg, "content", msg),
        tool_calls=calls,
        tool_call_id=getattr(msg, "tool_call_id", None),
        finish_reason=reason if isinstance(reason, str) else None,
    )


def chat_inputs(messages: Sequence[Sequence[Any]]) -> list[genai.Message]:
    return [message(m) for batch in messages[:1] for m in batch]


def _usage_from(mapping: Any) -> tuple[int | None, int | None]:
    if not isinstance(mapping, Mapping):
        return None, None
    for key in ("token_usage", "usage"):
        nested = mapping.get(key)
        if isinstance(nested, Mapping):
            found = _usage_from(nested)
            if found != (None, None):
                return found
        elif nested is not None and hasattr(nested, "__dict__"):
            found = _usage_from(vars(nested))
            if found != (None, None):
                return found
    inp = next((mapping[k] for k in _INPUT_KEYS if isinstance(mapping.get(k), int)), None)
    out = next((mapping[k] for k in _OUTPUT_KEYS if isinstance(mapping.get(k), int)), None)
    return inp, out


def result_facts(
    response: Any,
) -> tuple[list[genai.Message], list[str], genai.Usage, str | None]:
    """(output messages, finish reasons, usage, response model) of an ``LLMResult``."""
    outputs: list[genai.Message] = []
    reasons: list[str] = []
    total_in = total_out = None
    response_model = None
    for generations in getattr(response, "generations", None) or ():
        for generation in generations:
            msg = getattr(generation, "message", None)
            info = getattr(generation, "generation_info", None) or {}
            if msg is not None:
                out = message(msg)
                metadata = getattr(msg, "response_metadata", None) or {}
            else:
                out = genai.Message("assistant", getattr(generation, "text", ""))
                metadata = {}
            reason = out.finish_reason or info.get("finish_reason") or info.get("stop_reason")
            if isinstance(reason, str):
                reasons.append(reason)
                if out.finish_reason is None:
                    out = genai.Message(out.role, out.content, out.tool_calls, None, reason)
            outputs.append(out)
            model = metadata.get("model_name") or metadata.get("model") or info.get("model")
            if isinstance(model, str):
                response_model = response_model or model
            inp, outp = _usage_from(getattr(msg, "usage_metadata", None))
            if inp is None and outp is None:
                inp, outp = _usage_from(info)
            if inp is None and outp is None:
                inp, outp = _usage_from(metadata)
            if inp is not None:
                total_in = (total_in or 0) + inp
            if outp is not None:
                total_out = (total_out or 0) + outp
    llm_output = getattr(response, "llm_output", None) or {}
    if total_in is None and total_out is None:
        total_in, total_out = _usage_from(llm_output)
    model = llm_output.get("model_name") or llm_output.get("model")
    if isinstance(model, str):
        response_model = response_model or model
    return outputs, reasons, genai.Usage(total_in, total_out), response_model


def documents(docs: Any) -> list[genai.Document]:
    found = []
    for doc in docs or ():
        metadata = getattr(doc, "metadata", None) or {}
        score = next(
            (metadata[k] for k in _SCORE_KEYS if isinstance(metadata.get(k), int | float)), None
        )
        doc_id = getattr(doc, "id", None) or metadata.get("id")
        found.append(
            genai.Document(
                str(getattr(doc, "page_content", doc)),
                id=str(doc_id) if doc_id is not None else None,
                score=float(score) if score is not None else None,
                metadata={k: v for k, v in metadata.items() if k not in _SCORE_KEYS} or None,
            )
        )
    return found


def provider_of(obj: Any) -> str:
    """``langchain_openai.embeddings`` -> ``openai``; the core's own fakes -> ``langchain``."""
    module = type(obj).__module__.split(".")[0]
    if module.startswith("langchain_") and module not in ("langchain_core", "langchain_classic"):
        return module[len("langchain_") :]
    return "langchain"


def model_of(obj: Any) -> str | None:
    for key in _MODEL_KEYS:
        value = getattr(obj, key, None)
        if isinstance(value, str):
            return value
    return None

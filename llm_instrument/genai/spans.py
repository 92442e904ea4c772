"""Writing a GenAI span's attributes: request facts, inputs, outputs and errors.

Every content value goes through the content policy (``content``): nothing is written with
capture off, and what is written is redacted and truncated. Non-content facts (models,
parameters, token counts, ids, scores, finish reasons) are always written.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from llm_instrument.genai import content, names
from llm_instrument.genai.facts import Document, Message, ToolCall, Usage, model_label


def clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Drop None values; sequences become tuples (the SDK rejects mixed or nested values)."""
    cleaned: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            value = tuple(v for v in value if v is not None)
        cleaned[key] = value
    return cleaned


def _split_messages(inputs: Sequence[Message]) -> tuple[list[Message], list[Message]]:
    system = [m for m in inputs if m.role == "system"]
    others = [m for m in inputs if m.role != "system"]
    return system, others


def _as_messages(value: Any, role: str, reason: str | None = None) -> Sequence[Message] | None:
    """``value`` as messages, if it is text or messages (None otherwise)."""
    if isinstance(value, str):
        return (Message(role, value, finish_reason=reason),)
    if isinstance(value, Message):
        return (value,)
    if isinstance(value, Sequence) and value and all(isinstance(m, Message) for m in value):
        return value
    return None


def _value(attrs: dict[str, Any], value: Any, limit: int, output: bool) -> None:
    """Non-message content as OpenInference's ``input.value``/``output.value`` (what Phoenix
    shows in its Input and Output columns), with the JSON MIME type when it is JSON."""
    text, is_json = content.value_text(value, limit)
    attrs[names.OUTPUT_VALUE if output else names.INPUT_VALUE] = text
    if is_json:
        attrs[names.OUTPUT_MIME_TYPE if output else names.INPUT_MIME_TYPE] = names.MIME_JSON


def write_inputs(span: Span, kind: str, inputs: Any, policy: content.Policy) -> None:
    """The inputs' attributes, handed to the span at once (one lock round, not one a key)."""
    attrs = input_attributes(kind, inputs, policy)
    if attrs:
        span.set_attributes(attrs)


def input_attributes(kind: str, inputs: Any, policy: content.Policy) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    limit = policy.limit
    if kind == names.SpanKind.TOOL and isinstance(inputs, ToolCall):
        if inputs.id:
            attrs[names.TOOL_CALL_ID] = inputs.id
        if policy.capture and inputs.arguments is not None:
            attrs[names.TOOL_CALL_ARGUMENTS] = content.text(inputs.arguments, limit)
        return attrs
    if not policy.capture or inputs is None:
        return attrs
    if kind == names.SpanKind.LLM:
        messages = _as_messages(inputs, "user")
        if messages is None:
            _value(attrs, inputs, limit, output=False)
            return attrs
        system, others = _split_messages(messages)
        if system:
            attrs[names.SYSTEM_INSTRUCTIONS] = content.instructions_json(system, limit)
        attrs[names.INPUT_MESSAGES] = content.messages_json(others, limit)
    elif kind == names.SpanKind.RETRIEVER and isinstance(inputs, str):
        attrs[names.RETRIEVAL_QUERY_TEXT] = content.clip(inputs, limit)
    elif kind == names.SpanKind.TOOL:
        attrs[names.TOOL_CALL_ARGUMENTS] = content.text(inputs, limit)
    else:
        _value(attrs, inputs, limit, output=False)
        if kind in _CONVERSING:
            # Jaeger's GenAI tab shows an agent's or workflow's input only as messages
            messages = _as_messages(inputs, "user") or (Message("user", inputs),)
            attrs[names.INPUT_MESSAGES] = content.messages_json(messages, limit)
    return attrs


# agents and workflows: their input and output are messages too (the conventions' opt-in
# gen_ai.input.messages/gen_ai.output.messages on invoke_agent and invoke_workflow spans)
_CONVERSING = frozenset((names.SpanKind.AGENT, names.SpanKind.CHAIN))


def write_outputs(
    span: Span,
    kind: str,
    outputs: Any,
    finish_reasons: Sequence[str] | None,
    documents: Sequence[Document] | None,
    response_model: str | None,
) -> None:
    """The outputs' attributes, handed to the span at once."""
    attrs = output_attributes(kind, outputs, finish_reasons, documents, response_model)
    if attrs:
        span.set_attributes(attrs)


def output_attributes(
    kind: str,
    outputs: Any,
    finish_reasons: Sequence[str] | None,
    documents: Sequence[Document] | None,
    response_model: str | None,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    policy = content.policy()
    limit = policy.limit
    if response_model:
        attrs[names.RESPONSE_MODEL] = model_label(response_model)
    if finish_reasons:
        attrs[names.RESPONSE_FINISH_REASONS] = tuple(str(r) for r in finish_reasons)
    if documents is not None:
        attrs[names.RETRIEVAL_DOCUMENTS] = content.documents_json(documents, limit, policy.capture)
    if outputs is None:
        return attrs
    if kind == names.SpanKind.EMBEDDING:
        if isinstance(outputs, Sequence) and outputs and isinstance(outputs[0], Sequence):
            attrs[names.EMBEDDINGS_DIMENSION_COUNT] = len(outputs[0])
        return attrs
    if not policy.capture:
        return attrs
    reasons = tuple(finish_reasons or ())
    if kind == names.SpanKind.LLM:
        messages = _as_messages(outputs, "assistant", reasons[0] if reasons else None)
        if messages is None:
            _value(attrs, outputs, limit, output=True)
            return attrs
        attrs[names.OUTPUT_MESSAGES] = content.output_messages_json(messages, reasons, limit)
    elif kind == names.SpanKind.TOOL:
        attrs[names.TOOL_CALL_RESULT] = content.text(outputs, limit)
    else:
        _value(attrs, outputs, limit, output=True)
        if kind in _CONVERSING:
            messages = _as_messages(outputs, "assistant") or (Message("assistant", outputs),)
            # a workflow or agent that returned ended normally: "stop"
            attrs[names.OUTPUT_MESSAGES] = content.output_messages_json(
                messages, reasons or ("stop",), limit
            )
    return attrs


_USAGE_NAMES = (
    names.USAGE_INPUT_TOKENS,
    names.USAGE_OUTPUT_TOKENS,
    names.USAGE_CACHE_READ_INPUT_TOKENS,
    names.USAGE_CACHE_CREATION_INPUT_TOKENS,
    names.USAGE_REASONING_OUTPUT_TOKENS,
)


def usage_attributes(usage: Usage, counted: bool = True) -> dict[str, int]:
    """The known counts of ``usage``: under the conventions' ``gen_ai.usage.*`` names on the
    span that counts them for the call, else under ``llm_instrument.usage.*``."""
    return {
        name if counted else names.INNER_USAGE[name]: count
        for name, count in zip(_USAGE_NAMES, usage.counts(), strict=True)
        if count is not None
    }


def request_attributes(request: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in request.items():
        attribute = names.REQUEST_PARAMETERS.get(key)
        if attribute is None or value is None:
            continue
        if isinstance(value, str) and attribute == "gen_ai.request.stop_sequences":
            value = (value,)
        elif isinstance(value, list | tuple):
            value = tuple(str(v) for v in value)
        elif not isinstance(value, bool | int | float | str):
            continue
        found[attribute] = value
    return found


def write_error(span: Span, exc: BaseException, error_type: str) -> None:
    """The exception event and ERROR status, under the content policy: exception messages
    may quote the prompt or a key, so they are redacted, and dropped with capture off."""
    policy = content.policy()
    frames = "".join(traceback.format_tb(exc.__traceback__))
    if policy.capture:
        message = content.clip(str(exc), policy.limit)
        trace_text = content.redact(f"Traceback (most recent call last):\n{frames}")
        trace_text += f"{error_type}: {message}"
    else:
        message, trace_text = "", f"Traceback (most recent call last):\n{frames}{error_type}"
    span.record_exception(exc, {"exception.message": message, "exception.stacktrace": trace_text})
    status = f"{error_type}: {message}" if message else error_type
    span.set_status(Status(StatusCode.ERROR, status[:256]))
    span.set_attribute(names.ERROR_TYPE, error_type)

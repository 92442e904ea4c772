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
from llm_instrument.genai.facts import Document, Message, ToolCall, model_label


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


def write_inputs(span: Span, kind: str, inputs: Any, policy: content.Policy) -> None:
    limit = policy.limit
    if kind == names.SpanKind.TOOL and isinstance(inputs, ToolCall):
        if inputs.id:
            span.set_attribute(names.TOOL_CALL_ID, inputs.id)
        if policy.capture and inputs.arguments is not None:
            span.set_attribute(names.TOOL_CALL_ARGUMENTS, content.text(inputs.arguments, limit))
        return
    if not policy.capture or inputs is None:
        return
    if kind == names.SpanKind.LLM:
        messages: Sequence[Message]
        if isinstance(inputs, str):
            messages = (Message("user", inputs),)
        elif isinstance(inputs, Sequence) and all(isinstance(m, Message) for m in inputs):
            messages = inputs
        else:
            span.set_attribute(names.INPUT_VALUE, content.text(inputs, limit))
            return
        system, others = _split_messages(messages)
        if system:
            span.set_attribute(names.SYSTEM_INSTRUCTIONS, content.instructions_json(system, limit))
        span.set_attribute(names.INPUT_MESSAGES, content.messages_json(others, limit))
    elif kind == names.SpanKind.RETRIEVER and isinstance(inputs, str):
        span.set_attribute(names.RETRIEVAL_QUERY_TEXT, content.clip(inputs, limit))
    elif kind == names.SpanKind.TOOL:
        span.set_attribute(names.TOOL_CALL_ARGUMENTS, content.text(inputs, limit))
    else:
        span.set_attribute(names.INPUT_VALUE, content.text(inputs, limit))


def write_outputs(
    span: Span,
    kind: str,
    outputs: Any,
    finish_reasons: Sequence[str] | None,
    documents: Sequence[Document] | None,
    response_model: str | None,
) -> None:
    policy = content.policy()
    limit = policy.limit
    if response_model:
        span.set_attribute(names.RESPONSE_MODEL, model_label(response_model))
    if finish_reasons:
        span.set_attribute(names.RESPONSE_FINISH_REASONS, tuple(str(r) for r in finish_reasons))
    if documents is not None:
        span.set_attribute(
            names.RETRIEVAL_DOCUMENTS, content.documents_json(documents, limit, policy.capture)
        )
    if outputs is None:
        return
    if kind == names.SpanKind.EMBEDDING:
        if isinstance(outputs, Sequence) and outputs and isinstance(outputs[0], Sequence):
            span.set_attribute(names.EMBEDDINGS_DIMENSION_COUNT, len(outputs[0]))
        return
    if not policy.capture:
        return
    if kind == names.SpanKind.LLM:
        reason = finish_reasons[0] if finish_reasons else None
        messages: Sequence[Message]
        if isinstance(outputs, str):
            messages = (Message("assistant", outputs, finish_reason=reason),)
        elif isinstance(outputs, Message):
            messages = (outputs,)
        elif isinstance(outputs, Sequence) and all(isinstance(m, Message) for m in outputs):
            messages = outputs
        else:
            span.set_attribute(names.OUTPUT_VALUE, content.text(outputs, limit))
            return
        span.set_attribute(names.OUTPUT_MESSAGES, content.messages_json(messages, limit))
    elif kind == names.SpanKind.TOOL:
        span.set_attribute(names.TOOL_CALL_RESULT, content.text(outputs, limit))
    else:
        span.set_attribute(names.OUTPUT_VALUE, content.text(outputs, limit))


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

"""Content as the GenAI core writes it: messages, documents and values as JSON attributes.

The policy itself (capture switch, truncation, redaction, the per-span budget) lives in
``llm_instrument.content_policy``, the one policy for every exported span; this module
applies it while building the conventions' JSON shapes:

- Capture (``LLM_INSTRUMENT_CAPTURE_CONTENT``, default on): when off, the core writes no
  prompt, completion, document, tool-argument or chain input/output text at all; only
  non-content facts (model, token counts, ids, scores, finish reasons) are exported.
- Truncation (``LLM_INSTRUMENT_MAX_CONTENT_LENGTH``): every captured string is cut to the
  limit, before anything else is done with it, and ends with a marker saying how many
  characters were cut. Inside message JSON the limit applies to each text part, so the JSON
  stays valid.
- Budget (``LLM_INSTRUMENT_MAX_SPAN_CONTENT_BYTES``): a message list or a value that would
  take more is cut, with a marker of how many messages or items were left out.
- Redaction: API keys, tokens, passwords and ``key=secret`` pairs are replaced by
  ``[REDACTED]``, and mapping keys that name a secret lose their (non-numeric) value,
  whatever the capture setting.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from llm_instrument.content_policy import REDACTED, Policy, clip, hides, policy, redact
from llm_instrument.content_policy.budget import (
    Room,
    fit_items,
    item_marker,
    message_marker,
    to_json,
)
from llm_instrument.genai.facts import Document, Message, Prompt, ToolCall

__all__ = ["REDACTED", "Policy", "clip", "policy", "redact"]


def _plain(value: Any, limit: int, depth: int = 0, room: Room | None = None) -> Any:
    """A JSON-able copy of ``value`` with every string clipped and secret keys blanked;
    containers stop, with a marker item, once the content budget (``room``) is spent."""
    room = Room(policy().budget) if room is None else room
    room.take(8)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        kept = clip(value, limit)
        room.take(len(kept))
        return kept
    if depth > 6:
        return clip(repr(value), limit)
    if isinstance(value, Mapping):
        entries: dict[str, Any] = {}
        for index, (k, v) in enumerate(value.items()):
            if room.spent:
                entries["..."] = item_marker(len(value) - index)
                break
            entries[str(k)] = REDACTED if hides(k, v) else _plain(v, limit, depth + 1, room)
        return entries
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes | bytearray):
        items: list[Any] = []
        for index, v in enumerate(value):
            if room.spent:
                items.append(item_marker(len(value) - index))
                break
            items.append(_plain(v, limit, depth + 1, room))
        return items
    room.take(limit)
    if isinstance(value, Message):
        return _message(value, limit)
    if isinstance(value, Document):
        return _document(value, limit, True)
    if isinstance(value, Prompt):
        return clip(value.text, limit)
    text = getattr(value, "content", None)  # LangChain messages and documents
    if isinstance(text, str):
        return clip(text, limit)
    return clip(str(value), limit)


def text(value: Any, limit: int) -> str:
    """One captured value as a string attribute (JSON unless it already is a string)."""
    return value_text(value, limit)[0]


def value_text(value: Any, limit: int) -> tuple[str, bool]:
    """``(text, is JSON)`` of one captured value: a string stays text, anything else that is
    not a string once made plain is JSON (so its MIME type can say so)."""
    if isinstance(value, str):
        return clip(value, limit), False
    plain = _plain(value, limit)
    if isinstance(plain, str):
        return plain, False
    return to_json(plain), True


def _parts(content: Any, limit: int) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": clip(content, limit)}]
    if isinstance(content, Sequence):  # multimodal content lists
        parts: list[dict[str, Any]] = []
        for item in content:
            if isinstance(item, str):
                parts.append({"type": "text", "content": clip(item, limit)})
            elif isinstance(item, Mapping) and isinstance(item.get("text"), str):
                parts.append({"type": "text", "content": clip(item["text"], limit)})
            elif isinstance(item, Mapping):
                parts.append(_media_part(item, limit))
            else:
                parts.append({"type": "text", "content": text(item, limit)})
        return parts
    return [{"type": "text", "content": text(content, limit)}]


_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;base64)?,", re.IGNORECASE)


def _media_part(item: Mapping[str, Any], limit: int) -> dict[str, Any]:
    """An image given by URL (OpenAI's ``{"type": "image_url", "image_url": {"url"}}``,
    LangChain's ``{"type": "image", "url"}``) as the conventions' ``uri`` part, a data URL as
    a ``blob`` part; any other item as a part of its own type, its fields kept."""
    url = item.get("image_url", item.get("url"))
    if isinstance(url, Mapping):
        url = url.get("url")
    if isinstance(url, str):
        found = _DATA_URL.match(url)
        if found:
            part = {"type": "blob", "modality": "image", "content": clip(url[found.end() :], limit)}
            if found.group(1):
                part["mime_type"] = found.group(1)
            return part
        return {"type": "uri", "modality": "image", "uri": clip(url, limit)}
    fields = _plain(item, limit)
    return {**fields, "type": str(item.get("type") or "unknown")}


def _tool_call(call: ToolCall, limit: int) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "id": call.id,
        "name": call.name,
        "arguments": _plain(call.arguments, limit),
    }


# the conventions' roles, and the names other libraries use for them
ROLES = frozenset(("system", "user", "assistant", "tool"))
_ROLE_ALIASES = {
    "human": "user",
    "ai": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "developer": "system",
    "function": "tool",
}
# gen_ai.response.finish_reasons values for what the conventions' list does not cover
FINISH_UNKNOWN = "unknown"


def role(raw: str | None, default: str) -> str:
    """A message role in the conventions' terms (``human`` -> ``user``...), else ``default``."""
    found = (raw or "").lower()
    found = _ROLE_ALIASES.get(found, found)
    return found if found in ROLES else default


def _message(message: Message, limit: int, default_role: str = "user") -> dict[str, Any]:
    parts = _parts(message.content, limit)
    message_role = role(message.role, default_role)
    if message_role == "tool":
        response = parts[0]["content"] if len(parts) == 1 else parts
        parts = [{"type": "tool_call_response", "id": message.tool_call_id, "response": response}]
    parts += [_tool_call(call, limit) for call in message.tool_calls]
    result: dict[str, Any] = {"role": message_role, "parts": parts}
    if message.name:
        result["name"] = message.name
    if message.finish_reason:
        result["finish_reason"] = message.finish_reason
    return result


def messages_json(messages: Sequence[Message], limit: int) -> str:
    """Input messages in the conventions' ``[{role, parts: [...]}]`` shape, as JSON (a role
    the conventions do not know becomes ``user``); a history over the content budget keeps
    its newest messages and says how many were left out."""
    return fit_items(
        messages,
        lambda m: to_json(_message(m, limit)),
        policy().budget,
        newest_last=True,
        marker=lambda left_out, cut: message_marker(left_out, cut.role),
    )


def output_messages_json(
    messages: Sequence[Message], finish_reasons: Sequence[str], limit: int
) -> str:
    """Output messages as the conventions' schema requires them: a known role (``assistant``
    unless it is one) and a ``finish_reason`` on each: the message's own, else the span's
    reason for that choice (or its only one), else ``unknown``."""
    encoded: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        item = _message(message, limit, default_role="assistant")
        if "finish_reason" not in item:
            if len(finish_reasons) == len(messages):
                item["finish_reason"] = finish_reasons[index]
            else:
                item["finish_reason"] = finish_reasons[0] if finish_reasons else FINISH_UNKNOWN
        encoded.append(item)
    return to_json(encoded)


def instructions_json(messages: Sequence[Message], limit: int) -> str:
    """System messages as the conventions' ``gen_ai.system_instructions`` parts list."""
    parts: list[dict[str, Any]] = []
    for message in messages:
        parts += _parts(message.content, limit)
    return fit_items(parts, to_json, policy().budget)


def document_id(doc: Document) -> str:
    """The document's own id, else one derived from its text (the conventions' schema wants
    an id on every document; a digest names the same passage the same way every time and
    says nothing of its text)."""
    if doc.id is not None and str(doc.id):
        return str(doc.id)
    return "sha256:" + hashlib.sha256(doc.content.encode("utf-8", "replace")).hexdigest()[:16]


def _number(value: Any) -> float | None:
    """A finite float, or None (NaN, inf and non-numbers are no score)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _document(doc: Document, limit: int, capture: bool, rank: int = 0) -> dict[str, Any]:
    item: dict[str, Any] = {"id": document_id(doc)}
    score = _number(doc.score)
    if score is not None:
        item["score"] = score
    else:
        # no score from the retriever: its order is the only relevance fact there is, so
        # the score is the reciprocal rank (1, 1/2, 1/3...), and says so
        item["score"] = 1.0 / (rank + 1)
        item["score_kind"] = "reciprocal_rank"
    if capture:
        item["content"] = clip(doc.content, limit)
        if doc.metadata:
            item["metadata"] = _plain(doc.metadata, limit)
    return item


def documents_json(documents: Sequence[Document], limit: int, capture: bool) -> str:
    """Retrieved documents: ids and scores always, text and metadata only with capture on."""
    return to_json([_document(d, limit, capture, rank) for rank, d in enumerate(documents)])

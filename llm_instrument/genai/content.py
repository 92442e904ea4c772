"""The content policy, in one place: capture switch, one truncation limit, secret redaction.

- Capture (``LLM_INSTRUMENT_CAPTURE_CONTENT``, default on): when off, the core writes no
  prompt, completion, document, tool-argument or chain input/output text at all; only
  non-content facts (model, token counts, ids, scores, finish reasons) are exported.
- Truncation (``LLM_INSTRUMENT_MAX_CONTENT_LENGTH``): every captured string is cut to the
  limit and ends with a marker saying how many characters were cut. Inside message JSON the
  limit applies to each text part, so the JSON stays valid.
- Redaction: API keys, bearer tokens and ``key=secret`` pairs are replaced by
  ``[REDACTED]`` before anything else, and mapping keys that name a secret lose their
  value, whatever the capture setting.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llm_instrument.agent import config
from llm_instrument.genai.facts import Document, Message, Prompt, ToolCall

REDACTED = "[REDACTED]"

_SECRET_PATTERNS = re.compile(
    "|".join(
        (
            r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}",  # OpenAI / Anthropic keys
            r"\bhf_[A-Za-z0-9]{20,}",  # Hugging Face tokens
            r"\bgh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens
            r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",  # Slack tokens
            r"\bAKIA[0-9A-Z]{16}\b",  # AWS access key ids
            r"\bAIza[0-9A-Za-z_\-]{30,}",  # Google API keys
            r"(?i:\bbearer\s+)[A-Za-z0-9._~+/\-]{8,}=*",  # Authorization: Bearer ...
            r"(?i:\b(?:api[_-]?key|access[_-]?token|secret|password)\b\s*[:=]\s*)[\"']?[^\s\"',;]{4,}",
        )
    )
)
_SECRET_KEYS = re.compile(r"(?i)(api[_-]?key|token|secret|password|authorization|credential)")


@dataclass(frozen=True, slots=True)
class Policy:
    capture: bool
    limit: int


_policy: tuple[config.Settings, Policy] | None = None


def policy() -> Policy:
    """The policy of the current settings (recomputed only when the settings change)."""
    global _policy
    settings = config.current()
    if _policy is None or _policy[0] is not settings:
        _policy = (settings, Policy(settings.capture_content, settings.max_content_length))
    return _policy[1]


def redact(text: str) -> str:
    return _SECRET_PATTERNS.sub(REDACTED, text) if len(text) >= 8 else text


def clip(text: str, limit: int) -> str:
    """Redact, then cut to ``limit`` characters plus a marker of how much was cut."""
    text = redact(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[truncated {len(text) - limit} chars]"


def _plain(value: Any, limit: int, depth: int = 0) -> Any:
    """A JSON-able copy of ``value`` with every string clipped and secret keys blanked."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return clip(value, limit)
    if depth > 6:
        return clip(repr(value), limit)
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if _SECRET_KEYS.search(str(k)) else _plain(v, limit, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes | bytearray):
        return [_plain(v, limit, depth + 1) for v in value]
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
    return json.dumps(plain, ensure_ascii=False, default=str), True


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
            else:
                parts.append({"type": "blob", "content": _plain(item, limit)})
        return parts
    return [{"type": "text", "content": text(content, limit)}]


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
    the conventions do not know becomes ``user``)."""
    return json.dumps([_message(m, limit) for m in messages], ensure_ascii=False, default=str)


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
    return json.dumps(encoded, ensure_ascii=False, default=str)


def instructions_json(messages: Sequence[Message], limit: int) -> str:
    """System messages as the conventions' ``gen_ai.system_instructions`` parts list."""
    parts: list[dict[str, Any]] = []
    for message in messages:
        parts += _parts(message.content, limit)
    return json.dumps(parts, ensure_ascii=False, default=str)


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
    return json.dumps(
        [_document(d, limit, capture, rank) for rank, d in enumerate(documents)],
        ensure_ascii=False,
        default=str,
    )

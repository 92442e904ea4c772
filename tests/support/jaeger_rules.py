"""What Jaeger UI's GenAI view makes of our spans, as functions over receiver spans.

Jaeger UI runs in a browser and needs a Jaeger backend, neither of which runs here, so these
functions restate its rules in Python, written from reading jaeger-ui's source (main at
c321fb3, August 2026; nothing copied): ``packages/jaeger-ui/src/utils/genai/detect.ts``
(span kind), ``.../TraceTimelineViewer/spanPills.tsx`` (the model pill) and
``.../SpanDetail/GenAITab/genAiData.ts`` (the GenAI tab's sections). The trace-level summary
is the open pull request jaegertracing/jaeger-ui#4467 (not merged, so taken from its
description): it counts GenAI operations by kind, errors among them, and sums input/output
token usage over model spans (kind ``LLM_CALL``), nested ones included.

Spans are dicts as ``tests/support/otlp_receiver.py`` gives them (``span["attributes"]`` a
dict, ``span["status"]`` ``"OK"``/``"ERROR"``/``"UNSET"``). JavaScript's value-to-string
rules are imitated where the UI shows a value (``String(x)``, ``JSON.stringify``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

Span = Mapping[str, Any]

LLM_CALL, TOOL_CALL, AGENT, RETRIEVAL, UNKNOWN_GENAI = (
    "LLM_CALL",
    "TOOL_CALL",
    "AGENT",
    "RETRIEVAL",
    "UNKNOWN_GENAI",
)

# gen_ai.operation.name -> kind; every other name is UNKNOWN_GENAI (a generic "GenAI span")
OPERATION_KINDS = {
    "chat": LLM_CALL,
    "text_completion": LLM_CALL,
    "generate_content": LLM_CALL,
    "embeddings": LLM_CALL,
    "execute_tool": TOOL_CALL,
    "invoke_agent": AGENT,
    "create_agent": AGENT,
    "invoke_workflow": AGENT,
    "retrieval": RETRIEVAL,
}

USAGE_KEYS = {
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cache_read_input_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_creation_input_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "reasoning_output_tokens": "gen_ai.usage.reasoning.output_tokens",
}


# -- kind (detect.ts) ---------------------------------------------------------------------
def classify(span: Span) -> str | None:
    """Jaeger's GenAI kind of a span, or None for a span it does not treat as GenAI.

    A string ``gen_ai.operation.name`` decides; ``gen_ai.tool.name`` (present, any value)
    makes TOOL_CALL only when the operation is unknown or missing; any other ``gen_ai.*``
    key except ``gen_ai.tool.call.id`` makes UNKNOWN_GENAI. ``gen_ai.span.kind`` is never read.
    """
    attributes = span["attributes"]
    operation = attributes.get("gen_ai.operation.name")
    secondary = TOOL_CALL if "gen_ai.tool.name" in attributes else None
    if isinstance(operation, str):
        return OPERATION_KINDS.get(operation) or secondary or UNKNOWN_GENAI
    if secondary:
        return secondary
    genai = any(k.startswith("gen_ai.") and k != "gen_ai.tool.call.id" for k in attributes)
    return UNKNOWN_GENAI if genai else None


def is_genai_trace(spans: Iterable[Span]) -> bool:
    """Whether the trace opens in Jaeger's GenAI view: any span classified."""
    return any(classify(s) is not None for s in spans)


# -- timeline pill (spanPills.tsx) ----------------------------------------------------------
def model_pill(span: Span) -> str | None:
    """The model pill in the timeline: ``gen_ai.request.model`` only, as text, trimmed; None
    when absent or blank (no fallback to ``gen_ai.response.model``)."""
    value = span["attributes"].get("gen_ai.request.model")
    if value is None:
        return None
    text = _pill_text(value).strip()
    return text or None


def _pill_text(value: Any) -> str:
    if isinstance(value, bytes):
        return _json(list(value))
    if isinstance(value, list | dict):
        return _json(value)
    return _js_string(value)


# -- GenAI tab (genAiData.ts) ----------------------------------------------------------------
def genai_tab(span: Span) -> dict[str, Any]:
    """The GenAI tab's sections of a span, keyed by section, only those the tab shows:

    - ``agent``: ``{id, name, version, description}`` from ``gen_ai.agent.*``;
    - ``meta``: ``{provider, model}``: ``gen_ai.provider.name`` (``gen_ai.system`` if that
      is empty); the response model, ``"RESP (requested: REQ)"`` when both differ;
    - ``tokens``: ``usage(span)`` when any is set;
    - ``conversation``: ``{system, input, output}``, ``system`` a text or None, ``input``
      and ``output`` lists of ``{role, content}`` as rendered (parts joined by blank lines,
      tool calls as ``→ name(args)``, tool results as ``← result``);
    - ``tool_call``: ``{id, name, arguments, result}`` from ``gen_ai.tool.*``;
    - ``other``: the ``gen_ai.*`` keys no section read ("Other GenAI Attributes").
    """
    attributes = span["attributes"]
    claimed: set[str] = set()

    def get(key: str) -> Any:
        if key in attributes:
            claimed.add(key)
        return attributes.get(key)

    sections: dict[str, Any] = {}
    agent = {k: _as_string(get(f"gen_ai.agent.{k}")) for k in ("id", "name", "version")}
    agent["description"] = _as_string(get("gen_ai.agent.description"))
    if any(v is not None for v in agent.values()):
        sections["agent"] = agent

    provider = _as_string(get("gen_ai.provider.name")) or _as_string(get("gen_ai.system"))
    requested = _as_string(get("gen_ai.request.model"))
    responded = _as_string(get("gen_ai.response.model"))
    if responded and requested and responded != requested:
        model: str | None = f"{responded} (requested: {requested})"
    else:
        model = responded or requested
    if provider or model:
        sections["meta"] = {"provider": provider, "model": model}

    tokens = {name: _as_number(get(key)) for name, key in USAGE_KEYS.items()}
    if any(v is not None for v in tokens.values()):
        sections["tokens"] = tokens

    inputs = get("gen_ai.input.messages")
    outputs = get("gen_ai.output.messages")
    conversation = {
        "input": parse_messages(inputs if inputs is not None else get("gen_ai.prompt")),
        "output": parse_messages(outputs if outputs is not None else get("gen_ai.completion")),
        "system": parse_system_instructions(get("gen_ai.system_instructions")),
    }
    if conversation["input"] or conversation["output"] or conversation["system"]:
        sections["conversation"] = conversation

    call_id = _as_string(get("gen_ai.tool.call.id"))
    name = _as_string(get("gen_ai.tool.name"))
    arguments = get("gen_ai.tool.call.arguments")
    result = get("gen_ai.tool.call.result")
    if call_id or name or arguments is not None or result is not None:
        sections["tool_call"] = {"id": call_id, "name": name, "arguments": arguments}
        sections["tool_call"]["result"] = result

    other = [k for k in attributes if k.startswith("gen_ai.") and k not in claimed]
    if other:
        sections["other"] = other
    return sections


def usage(span: Span) -> dict[str, float | None]:
    """The tokens row: the five ``gen_ai.usage.*`` values as numbers (numeric strings too),
    None where absent or not a number."""
    attributes = span["attributes"]
    return {name: _as_number(attributes.get(key)) for name, key in USAGE_KEYS.items()}


_ROLES = {"system", "user", "assistant", "tool"}


def parse_messages(value: Any) -> list[dict[str, Any]]:
    """A messages attribute as the Conversation shows it: ``[{"role", "content"}]``; a
    value that is not JSON is one message with no role; role None unless one of
    system/user/assistant/tool."""
    if value is None:
        return []
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [{"role": None, "content": value}]
    entries = parsed if isinstance(parsed, list) else [parsed]
    messages = []
    for entry in entries:
        if not isinstance(entry, dict):
            messages.append({"role": None, "content": _js_string(entry)})
            continue
        role = entry.get("role") if entry.get("role") in _ROLES else None
        if isinstance(entry.get("parts"), list):
            content = _render_parts(entry["parts"])
        elif isinstance(entry.get("content"), str):
            content = entry["content"]
        elif "content" in entry:
            content = _stringify(entry["content"])
        else:
            content = _stringify(entry)
        messages.append({"role": role, "content": content})
    return messages


def parse_system_instructions(value: Any) -> str | None:
    """``gen_ai.system_instructions`` as shown: part contents joined by blank lines; a
    non-JSON string as itself; None when nothing shows."""
    if value is None:
        return None
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
    parts = parsed if isinstance(parsed, list) else [parsed]
    contents = [
        p.get("content") if isinstance(p, dict) else (None if isinstance(p, list) else p)
        for p in parts
    ]
    text = "\n\n".join(_stringify(c) for c in contents if c is not None)
    return text or None


def _render_parts(parts: list[Any]) -> str:
    return "\n\n".join(_render_part(p) for p in parts)


def _render_part(part: Any) -> str:
    if not isinstance(part, dict | list):
        return _js_string(part)
    if isinstance(part, list):
        return _stringify(part)
    kind = part.get("type")
    if kind in ("text", "reasoning", "compaction"):
        content = part.get("content")
        if isinstance(content, str):
            return content
        return _stringify(content if content is not None else part)
    if kind in ("tool_call", "server_tool_call"):
        name = part["name"] if isinstance(part.get("name"), str) else "unknown_tool"
        args = part.get("arguments" if kind == "tool_call" else "server_tool_call")
        return f"→ {name}({_tool_value(args)})"
    if kind == "tool_call_response":
        return f"← {_tool_value(part.get('response'))}"
    if kind == "server_tool_call_response":
        return f"← {_tool_value(part.get('server_tool_call_response'))}"
    if kind in ("blob", "file", "uri"):
        modality = part["modality"] if isinstance(part.get("modality"), str) else "file"
        return f"[{modality} attached]"
    return _stringify(part)


_JSON_START = re.compile(r"^\s*[\[{]")


def _tool_value(value: Any) -> str:
    """Tool arguments/results on one line: JSON-looking strings re-encoded compactly."""
    if isinstance(value, str):
        if _JSON_START.match(value):
            try:
                return _json(json.loads(value))
            except ValueError:
                return value
        return value
    return _json(value if value is not None else {})


# -- trace summary (jaeger-ui#4467, open) ---------------------------------------------------
def trace_summary(spans: Iterable[Span]) -> dict[str, Any]:
    """The coming trace-level GenAI summary: ``{"operations": {kind: count}, "errors": n,
    "input_tokens": sum, "output_tokens": sum}``, the sums over LLM_CALL spans only, every
    one of them (a usage repeated on nested model spans is counted once per span)."""
    operations: dict[str, int] = {}
    errors = 0
    totals = {"input_tokens": 0.0, "output_tokens": 0.0}
    for span in spans:
        kind = classify(span)
        if kind is None:
            continue
        operations[kind] = operations.get(kind, 0) + 1
        errors += span.get("status") == "ERROR"
        if kind == LLM_CALL:
            row = usage(span)
            for key in totals:
                totals[key] += row[key] or 0
    return {"operations": operations, "errors": errors, **totals}


def by_kind(spans: Iterable[Span], kind: str) -> list[Span]:
    """The spans Jaeger classifies as ``kind``."""
    return [s for s in spans if classify(s) == kind]


# -- JavaScript's renderings -----------------------------------------------------------------
def _js_string(value: Any) -> str:
    """``String(value)`` for JSON-like values."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, list):
        return ",".join("" if v is None else _js_string(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def _js_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)


def _as_string(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else _js_string(value)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if isinstance(value, str) and _JS_NUMBER.fullmatch(value.strip()):
        return float(value.strip().replace("Infinity", "inf"))
    return None


# what JavaScript's Number() parses as decimal (Python's float() also takes "1_0", "nan"...)
_JS_NUMBER = re.compile(r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|Infinity)")


def _json(value: Any) -> str:
    """``JSON.stringify(value)``: compact."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _stringify(value: Any) -> str:
    """The tab's ``stringifyValue``: strings as they are, the rest as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


__all__ = [
    "AGENT",
    "LLM_CALL",
    "OPERATION_KINDS",
    "RETRIEVAL",
    "TOOL_CALL",
    "UNKNOWN_GENAI",
    "by_kind",
    "classify",
    "genai_tab",
    "is_genai_trace",
    "model_pill",
    "parse_messages",
    "parse_system_instructions",
    "trace_summary",
    "usage",
]

"""The plain facts an instrumentor hands to the GenAI core: frozen dataclasses, never dicts.

Content (message text, document text, tool arguments) is passed raw; the core applies the
content policy (capture switch, truncation, redaction) when it writes attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call requested by a model, or the call a TOOL span executes."""

    id: str | None
    name: str
    arguments: Any = None


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message. ``role``: system | user | assistant | tool."""

    role: str
    content: Any = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    finish_reason: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """A retrieved document."""

    content: str
    id: str | None = None
    score: float | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the provider or the tokenizer reported them (None: unknown)."""

    input_tokens: int | None = None
    output_tokens: int | None = None

    @property
    def known(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None

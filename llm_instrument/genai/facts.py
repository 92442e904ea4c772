"""The plain facts an instrumentor hands to the GenAI core: frozen dataclasses, never dicts.

Content (message text, document text, tool arguments) is passed raw; the core applies the
content policy (capture switch, truncation, redaction) when it writes attributes.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# folder names that say nothing about the model: ".../all-minilm-l6-v2/model" -> the parent
_GENERIC_FOLDERS = frozenset(("model", "models", "checkpoint", "weights", "snapshot"))
_CARD_HEADING = re.compile(r"^#\s+(\S{1,100})\s*$")
_CARD_READ = 8192  # the heading sits right after the card's front matter


def _card_name(folder: str) -> str | None:
    """The model's name from its model card (``README.md``: front matter, then
    ``# all-MiniLM-L6-v2``), the only place a saved folder keeps it: ``config.json``'s
    ``_name_or_path`` names the base model it was trained from, or the folder itself."""
    try:
        with open(os.path.join(folder, "README.md"), encoding="utf-8") as card:
            head = card.read(_CARD_READ)
    except (OSError, UnicodeDecodeError):
        return None
    lines = head.splitlines()
    if lines and lines[0].strip() == "---":  # skip the YAML front matter
        ends = [i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"]
        lines = lines[ends[0] + 1 :] if ends else []
    for line in lines:
        if line.strip():
            found = _CARD_HEADING.match(line.strip())
            return found.group(1) if found else None
    return None


@functools.lru_cache(maxsize=256)  # one look per distinct name, not one per span
def model_label(raw: str) -> str:
    """The model as spans and metrics name it: a hub id stays as it is; a local folder
    becomes the name its model card gives, else its last meaningful part (a full path
    would make every span name and metric label differ per machine)."""
    if not (os.path.isabs(raw) or raw.startswith(".") or os.path.isdir(raw)):
        return raw
    card = _card_name(raw) if os.path.isdir(raw) else None
    if card:
        return card
    parent, base = os.path.split(os.path.normpath(raw))
    if base.lower() in _GENERIC_FOLDERS:
        return os.path.basename(parent) or raw
    return base or raw


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
class Prompt:
    """A model's input as one text that is not a conversation turn: a prompt rendered by a
    chat template (``<|im_start|>system ...``), recorded as the completion prompt it is."""

    text: str


@dataclass(frozen=True, slots=True)
class Document:
    """A retrieved document."""

    content: str
    id: str | None = None
    score: float | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the provider or the tokenizer reported them (None: unknown).

    The cache and reasoning counts are parts of ``input_tokens``/``output_tokens`` (the
    conventions say so), not additions to them."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None

    def __add__(self, other: Usage) -> Usage:
        """Two calls' usage together; a count stays unknown only when both are."""

        def add(a: int | None, b: int | None) -> int | None:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return Usage(*(add(a, b) for a, b in zip(self.counts(), other.counts(), strict=True)))

    def counts(self) -> tuple[int | None, ...]:
        """Every count, in field order."""
        return (
            self.input_tokens,
            self.output_tokens,
            self.cache_read_input_tokens,
            self.cache_creation_input_tokens,
            self.reasoning_output_tokens,
        )

    @property
    def known(self) -> bool:
        return any(count is not None for count in self.counts())

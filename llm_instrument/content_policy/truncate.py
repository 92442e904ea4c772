"""Cutting a value to the length limit, first, so that no work is proportional to the text.

A 10 MB prompt costs what its first few kilobytes cost: ``clip`` slices the value to the
limit plus a small window *before* redaction runs, redacts only that slice and then cuts it
to the limit. The window (``SLACK`` characters past the limit) is there so that a secret
lying across the cut is still seen whole by the rules and replaced, not left half visible.
The marker says how many characters of the (redacted) value were left out.
"""

from __future__ import annotations

from llm_instrument.content_policy.rules import redact

SLACK = 512  # longer than any one-line secret shape in the rules


def marker(left_out: int) -> str:
    return f"...[truncated {left_out} chars]"


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (plus a marker of how much was cut), redacted."""
    if len(text) <= limit:
        return redact(text)
    kept = redact(text[: limit + SLACK])
    left_out = max(0, len(text) - limit - SLACK)
    if len(kept) > limit:
        left_out += len(kept) - limit
        kept = kept[:limit]
    return kept + marker(left_out) if left_out else kept


def clip_middle(text: str, limit: int) -> str:
    """Like ``clip`` but keeping the head and the tail: a stack trace's last lines (the
    exception itself) matter as much as its first."""
    if len(text) <= limit:
        return redact(text)
    half = limit // 2
    head = redact(text[: half + SLACK])[:half]
    tail = redact(text[-(limit - half) - SLACK :])[-(limit - half) :]
    return f"{head}\n{marker(len(text) - limit)}\n{tail}"

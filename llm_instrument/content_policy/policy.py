"""The policy object: the three numbers and one switch every content decision reads.

- ``capture`` (``LLM_INSTRUMENT_CAPTURE_CONTENT``, default on): off means no prompt,
  completion, document, tool-argument, chain input/output, query value or exception message
  leaves the process, from any span.
- ``limit`` (``LLM_INSTRUMENT_MAX_CONTENT_LENGTH``, 4096): characters kept of each value.
- ``budget`` (``LLM_INSTRUMENT_MAX_SPAN_CONTENT_BYTES``, 262144): UTF-8 bytes of captured
  content one span may carry in all; longer message lists are cut (``budget.fit_items``).

``policy()`` is computed once per ``config.Settings`` object, so reading it on a hot path is
one identity check.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_instrument.agent import config


@dataclass(frozen=True, slots=True)
class Policy:
    capture: bool
    limit: int
    budget: int = config.DEFAULT_MAX_SPAN_CONTENT_BYTES

    @property
    def trace_limit(self) -> int:
        """Characters kept of a stack trace: more than a value, its head and tail kept."""
        return 4 * self.limit


_cached: tuple[config.Settings, Policy] | None = None


def policy() -> Policy:
    """The policy of the current settings (recomputed only when the settings change)."""
    global _cached
    settings = config.current()
    if _cached is None or _cached[0] is not settings:
        _cached = (
            settings,
            Policy(
                settings.capture_content,
                settings.max_content_length,
                settings.max_span_content_bytes,
            ),
        )
    return _cached[1]

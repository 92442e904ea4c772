"""What each exported attribute is, for the policy: a URL, a header, content, or other.

One table for every span, whoever made it (FastAPI, ``requests``, another contrib
instrumentation, the application's own ``set_attribute``):

- URLs (``url.full``, ``http.url``, ``http.target``, ``url.query``, ...) go through
  ``urls.sanitize_url``: secrets out always, every query value out with capture off;
- captured headers (``http.request.header.*``, ``http.response.header.*``): a header that
  names a secret (``authorization``, ``cookie``, ``x-api-key``...) is replaced whole;
- content (GenAI messages, tool arguments, OpenInference ``input.value``, request and
  response bodies): removed with capture off, and counted against the span budget;
- anything else that is a string: cut to the length limit and redacted.

Numbers and booleans are never touched. The GenAI core already applied the policy to the
attributes it wrote (scope ``llm_instrument.genai``), so those are passed through as they
are instead of being cut again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llm_instrument.content_policy.policy import Policy
from llm_instrument.content_policy.rules import REDACTED, secret_name
from llm_instrument.content_policy.truncate import clip
from llm_instrument.content_policy.urls import sanitize_query, sanitize_url

CORE_SCOPE = "llm_instrument.genai"

URL_KEYS = frozenset(("url.full", "url.original", "http.url", "http.target"))
QUERY_KEYS = frozenset(("url.query",))
HEADER_PREFIXES = ("http.request.header.", "http.response.header.")
CONTENT_KEYS = frozenset(
    (
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.retrieval.query.text",
        "gen_ai.retrieval.documents",
        "gen_ai.prompt",
        "gen_ai.completion",
        "llm_instrument.input",
        "llm_instrument.output",
        "input.value",
        "output.value",
    )
)
CONTENT_PREFIXES = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
    "http.request.body",
    "http.response.body",
)


def is_content(key: str) -> bool:
    return key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES)


def _string(key: str, value: str, policy: Policy) -> str:
    if key in URL_KEYS:
        return sanitize_url(value, policy.capture, policy.limit)
    if key in QUERY_KEYS:
        return sanitize_query(clip(value, policy.limit), policy.capture)
    if key.startswith(HEADER_PREFIXES) and secret_name(key.rsplit(".", 1)[-1]):
        return REDACTED
    if is_content(key):
        # bounded by the span budget (``budget.fit_span``), not cut at the value limit:
        # a foreign instrumentation's message JSON must stay whole to stay valid
        return value
    return clip(value, policy.limit)


def sanitize(key: str, value: Any, policy: Policy) -> Any:
    """The exported form of one attribute; ``None`` to leave it out."""
    if not policy.capture and is_content(key):
        return None
    if isinstance(value, str):
        return _string(key, value, policy)
    if isinstance(value, Sequence) and value and isinstance(value[0], str):
        return tuple(_string(key, item, policy) for item in value)
    return value

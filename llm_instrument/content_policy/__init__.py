"""The one content policy, for every span the agent exports.

What leaves the process is decided here and nowhere else:

- ``rules``: the redaction table (API keys, JWTs, PEM keys, ``Authorization`` headers,
  passwords in URLs, ``name=secret`` pairs) and the rule for secret-naming keys;
- ``truncate``: cutting to the length limit *before* any other work on a value;
- ``urls``: URLs and query strings (secrets out always, every value out with capture off);
- ``errors``: exception messages, stack traces and error statuses;
- ``budget``: the per-span byte budget for captured content, lists cut with a marker;
- ``policy``: the capture switch, the limit and the budget, from the settings;
- ``attributes``: which exported attribute is a URL, a header, content or other;
- ``exporter``: ``PolicyExporter``, which applies all of it to every finished span (HTTP
  spans from the contrib instrumentations, the application's own, the GenAI core's events)
  before the real exporter.

The GenAI core (``genai.content``) uses ``clip``, ``redact``, ``hides`` and ``policy`` when
it writes content, so a prompt is cut and redacted once, as it is recorded. Importing this
package loads no OpenTelemetry SDK code (``exporter`` does, and is imported on its own).
"""

from __future__ import annotations

from llm_instrument.content_policy.policy import Policy, policy
from llm_instrument.content_policy.rules import REDACTED, redact, secret_name
from llm_instrument.content_policy.truncate import clip


def hides(key: object, value: object) -> bool:
    """Whether a mapping entry's value is replaced because its key names a secret (a number
    or a boolean never is: ``{"max_tokens": 512}``, ``{"token_count": 3}`` stay)."""
    if value is None or isinstance(value, bool | int | float):
        return False
    return secret_name(str(key))


__all__ = ["REDACTED", "Policy", "clip", "hides", "policy", "redact", "secret_name"]

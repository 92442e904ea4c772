"""Exception messages, stack traces and error statuses under the policy.

An exception message often quotes what the code was handling: the prompt, a URL with a key,
a connection string (``openai.AuthenticationError: Incorrect API key provided: sk-proj-...``).
So, on every span:

- capture on: the message is cut to the length limit and redacted; the stack trace is cut to
  ``Policy.trace_limit`` keeping its head and its tail (the exception itself is the last
  line) and redacted;
- capture off: the message is dropped; the stack trace keeps its frames (file, line,
  function, source line: the code's words, not the data's) and each exception line is cut
  to its type name; a status description keeps only the exception type.
"""

from __future__ import annotations

import re

from llm_instrument.content_policy.policy import Policy
from llm_instrument.content_policy.truncate import clip, clip_middle

# an exception group's "  | " / "+-+----" margin, then the line itself
_MARGIN = re.compile(r"^((?:[ ]*[|+][-+]*[ ]?)?)(.*)$")
_TYPE = re.compile(r"[A-Za-z_][\w.]*(?=:|$)")
_KEPT_LINES = (
    "Traceback (most recent call last):",
    "Exception Group Traceback",
    "During handling of the above exception",
    "The above exception was the direct cause",
    "...[truncated",
    "-",
)


def message(text: str, policy: Policy) -> str:
    return clip(text, policy.limit) if policy.capture else ""


def _frames_only(trace: str) -> str:
    lines = []
    for line in trace.splitlines():
        margin, rest = _MARGIN.match(line).groups()  # type: ignore[union-attr]
        if not rest or rest[0] in " \t" or rest.startswith(_KEPT_LINES):
            lines.append(line)
            continue
        kind = _TYPE.match(rest)
        if kind:  # "ValueError: the prompt..." -> "ValueError"
            lines.append(margin + kind.group())
        # else: a continuation of a multi-line message, or a note: dropped
    return "\n".join(lines)


def stacktrace(text: str, policy: Policy) -> str:
    kept = clip_middle(text, policy.trace_limit)
    return kept if policy.capture else _frames_only(kept)


def status(description: str, policy: Policy) -> str:
    """An ERROR status description (``"ValueError: message"`` by the SDK's convention)."""
    if policy.capture:
        return clip(description, policy.limit)
    kind = _TYPE.match(description.split(":", 1)[0].strip())
    return kind.group() if kind else ""

"""URLs in span attributes (``url.full``, ``http.url``, ``http.target``, ``url.query``):
secrets out always, every query value out when content capture is off.

- Credentials in the userinfo part become ``REDACTED:REDACTED`` (the HTTP conventions' own
  form, ``https://REDACTED:REDACTED@host/``).
- A query value whose parameter names a secret (``api_key``, ``token``, ``X-Amz-Signature``,
  ``sig``, ``password``, ``auth``...: ``rules.secret_name(query=True)``) becomes ``REDACTED``.
- With capture off every query value (``/ask?q=How do I...``: the prompt itself) and the
  fragment become ``REDACTED``; parameter names stay, so the request shape is still visible.
- The path goes through the text rules (a key pasted into a path segment).

The URL is cut to the length limit first, so a huge query costs no more than a short one.
Parsing is by hand (``&`` and ``=``) rather than ``urllib.parse.parse_qsl`` so the rest of
the URL keeps its exact encoding.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from llm_instrument.content_policy.rules import redact, secret_name
from llm_instrument.content_policy.truncate import marker

URL_REDACTED = "REDACTED"


def sanitize_query(query: str, capture: bool) -> str:
    """A query string (without ``?``) with secret values, or all values, replaced."""
    pairs = []
    for pair in query.split("&"):
        name, sep, value = pair.partition("=")
        if sep and value and (not capture or secret_name(unquote_plus(name), query=True)):
            value = URL_REDACTED
        elif sep and value:
            value = redact(value)
        elif not sep and not capture and name:
            # a bare value (``?How+do+I``) is content too
            name = URL_REDACTED
        pairs.append(f"{name}{sep}{value}")
    return "&".join(pairs)


def _userinfo(rest: str) -> str:
    """``rest`` is what follows ``scheme://``; replace the credentials before ``@``."""
    authority_end = len(rest)
    for stop in "/":
        index = rest.find(stop)
        if index != -1:
            authority_end = min(authority_end, index)
    at = rest.rfind("@", 0, authority_end)
    if at == -1:
        return rest
    return f"{URL_REDACTED}:{URL_REDACTED}{rest[at:]}"


def sanitize_url(url: str, capture: bool, limit: int) -> str:
    """A full URL or a path with its query (``http.target``), made safe to export."""
    cut = len(url) - limit if len(url) > limit else 0
    url = url[:limit] if cut else url
    base, hash_sign, fragment = url.partition("#")
    path, question, query = base.partition("?")
    result = redact(path)  # before the userinfo step, whose REDACTED:REDACTED it would match
    scheme, sep, rest = result.partition("://")
    if sep and "/" not in scheme:
        result = scheme + sep + _userinfo(rest)
    if question:
        result += question + sanitize_query(query, capture)
    if hash_sign:
        result += hash_sign + (URL_REDACTED if not capture and fragment else redact(fragment))
    return result + marker(cut) if cut else result

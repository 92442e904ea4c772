"""The redaction rules, in one table: what a secret looks like in text and in a name.

``RULES`` lists every shape of secret the agent replaces in captured text, each with a name
(tests cover every name) and the part of the match that is kept, so a reader still sees
*where* a secret was (``api_key=[REDACTED]``, ``Authorization: Basic [REDACTED]``,
``postgres://app:[REDACTED]@db``). The patterns are anchored on literal prefixes or on a
secret-naming word followed by ``=``/``:``, so ordinary words and numbers are left alone:
``max_tokens=512`` and ``"input_tokens": 205`` keep their values, and no value that is a
bare number is ever replaced.

``secret_name`` is the rule for names (mapping keys, header names, query parameters): a
name says secret when one of its words (split at ``_ - .`` and camelCase) is a secret word,
so ``OPENAI_API_KEY``, ``clientSecret`` and ``x-auth-token`` match and ``max_tokens`` or
``author`` do not.

Cost: ``truncate.clip`` cuts a value to the length limit *before* these rules run, so each
scans at most a few kilobytes; and each rule names the lower-case strings ("triggers") one
of which any match contains, so a rule whose triggers are absent does not run at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

REDACTED = "[REDACTED]"


@dataclass(frozen=True, slots=True)
class Rule:
    """One secret shape: the match is replaced by ``keep`` groups + ``[REDACTED]``."""

    name: str
    triggers: tuple[str, ...]  # lower-case strings one of which any match contains
    pattern: re.Pattern[str]
    keep: str = ""  # a replacement prefix such as r"\g<k>", empty to replace the whole match
    close: str = ""  # a replacement suffix (the closing quote of a quoted value)

    def apply(self, text: str) -> str:
        return self.pattern.sub(self.keep + REDACTED + self.close, text)


# a value after "name=" or "name:": a quoted string, or a bare run up to a delimiter; never
# a bare number (token counts, limits and sizes stay readable)
_VALUE = (
    r"""(?!["']?\[REDACTED\])"""  # already redacted (the rules run in turn)
    r"""(?:(?P<q>["'])(?:(?!(?P=q))[^\n]){1,512}(?P=q)"""
    r"""|(?![0-9.]+(?![^\s"',;&)}\]]))[^\s"',;&)}\]]{3,})"""
)
# names whose value is a secret when they end the key: OPENAI_API_KEY, client_secret,
# aws_secret_access_key, access_token, password, passwd, pwd, private_key, signature
_SECRET_KEY_END = (
    r"(?:api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|secret|token"
    r"|password|passwd|pwd|signature|credentials?)"
)

RULES: tuple[Rule, ...] = (
    Rule(
        "pem_private_key",
        ("-----begin",),
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"
            r"(?:[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----|[\s\S]*)"
        ),
    ),
    Rule(
        "jwt", ("eyj",), re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*")
    ),
    Rule(
        "openai_anthropic_key",
        ("sk-",),
        re.compile(r"\bsk-(?:proj-|ant-|svcacct-|admin-)?[\w-]{16,}"),
    ),
    Rule(
        "stripe_key", ("k_live_", "k_test_"), re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}")
    ),
    Rule("huggingface_token", ("hf_",), re.compile(r"\bhf_[A-Za-z0-9]{20,}")),
    Rule(
        "github_token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,})"),
    ),
    Rule("slack_token", ("xox",), re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    Rule("aws_access_key_id", ("akia", "asia"), re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    Rule("google_api_key", ("aiza",), re.compile(r"\bAIza[0-9A-Za-z_-]{30,}")),
    Rule(
        "authorization_header",
        ("authorization",),
        re.compile(
            r"(?i)(?P<k>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:[a-z]+\s+)?)"
            r"[^\s\"',;]+"
        ),
        r"\g<k>",
    ),
    Rule(
        "bearer_token", ("bearer",), re.compile(r"(?i)(?P<k>\bbearer\s+)[\w.~+/-]{16,}=*"), r"\g<k>"
    ),
    Rule(
        "url_password",
        ("://",),
        re.compile(r"(?i)(?P<k>\b[a-z][a-z0-9+.-]*://[^\s:/@]{0,256}:)[^\s@/]{1,256}(?=@)"),
        r"\g<k>",
    ),
    Rule(
        "secret_assignment",
        ("key", "secret", "token", "passw", "pwd", "signature", "credential"),
        re.compile(rf"(?i)(?P<k>{_SECRET_KEY_END}[\"']?\s*[:=]\s*)" + _VALUE),
        r"\g<k>\g<q>",
        r"\g<q>",
    ),
)

_MIN_SECRET = 8  # no rule can match a shorter text
# every (trigger, rule) pair in one flat table: one comprehension of substring searches
# decides which rules run, instead of a generator per rule (a third of the cost per text)
_TRIGGERS = tuple((trigger, index) for index, rule in enumerate(RULES) for trigger in rule.triggers)


def redact(text: str) -> str:
    """``text`` with every secret shape of ``RULES`` replaced (cost linear in its length)."""
    if len(text) < _MIN_SECRET:
        return text
    # one lower-casing and a few substring searches (C speed) decide which rules run at
    # all: ordinary prose runs none of the regular expressions
    lowered = text.lower()
    hits = [index for trigger, index in _TRIGGERS if trigger in lowered]
    if hits:
        for index in sorted(set(hits)):  # in table order, as the rules are written
            text = RULES[index].apply(text)
    return text


_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_SECRET_WORDS = frozenset(
    (
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "auth",
        "authorization",
        "cookie",
        "credential",
        "credentials",
        "apikey",
        "signature",
    )
)
_SECRET_PAIRS = frozenset(
    (("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key"), ("set", "cookie"))
)
# in a URL's query a bare "key" or "sig" names a secret too (?key=AIza..., Azure's sig=)
_QUERY_WORDS = _SECRET_WORDS | {"key", "sig"}


def _words(name: str) -> list[str]:
    return [word.lower() for word in _WORDS.findall(name)]


def secret_name(name: str, *, query: bool = False) -> bool:
    """Whether a mapping key, header or (``query=True``) query parameter names a secret."""
    words = _words(name)
    secret = _QUERY_WORDS if query else _SECRET_WORDS
    if any(word in secret for word in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in pairwise(words))

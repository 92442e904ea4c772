"""The redaction rule table: every rule catches its shape, and nothing else is touched."""

from __future__ import annotations

import pytest

from llm_instrument.content_policy import hides, redact, secret_name
from llm_instrument.content_policy import truncate as truncate_module
from llm_instrument.content_policy.rules import RULES
from llm_instrument.content_policy.truncate import SLACK, clip

R = "[REDACTED]"

# (rule, text, what redact() makes of it)
CAUGHT = [
    ("openai_anthropic_key", "key sk-proj-Ab3dEfGh1jKlMn0pQrStUv now", f"key {R} now"),
    ("openai_anthropic_key", "sk-ant-api03-abcdefghijklmnop_qrst", R),
    ("stripe_key", "pay with sk_live_4eC39HqLyjWDarjtT1zdp7dc", f"pay with {R}"),
    ("stripe_key", "rk_test_abcdefghij1234", R),
    ("huggingface_token", "hf_abcdefghijklmnopqrstuvwxyz0123", R),
    ("github_token", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", R),
    ("github_token", "github_pat_11ABCDEFG0123456789_abcdefghij", R),
    ("slack_token", "xoxb-1234567890-abcdefghij", R),
    ("aws_access_key_id", "id AKIAIOSFODNN7EXAMPLE here", f"id {R} here"),
    ("google_api_key", "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234", R),
    (
        "jwt",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0",
        R,
    ),
    (
        "pem_private_key",
        "a\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA3\n-----END RSA PRIVATE KEY-----\nb",
        f"a\n{R}\nb",
    ),
    ("pem_private_key", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg (cut short", R),
    (
        "authorization_header",
        "Authorization: Basic dXNlcjpwYXNzd29yZA==",
        f"Authorization: Basic {R}",
    ),
    (
        "authorization_header",
        '{"authorization": "Token abc123"}',
        f'{{"authorization": "Token {R}"}}',
    ),
    ("bearer_token", "curl -H 'x: Bearer abcdefghijklmnop1234'", f"curl -H 'x: Bearer {R}'"),
    ("url_password", "postgres://app:s3cret@db:5432/app", f"postgres://app:{R}@db:5432/app"),
    ("url_password", "redis://:hunter22@cache:6379", f"redis://:{R}@cache:6379"),
    ("secret_assignment", '{"api_key": "abc123xyz"}', f'{{"api_key": "{R}"}}'),
    ("secret_assignment", "OPENAI_API_KEY=abcdefgh12345", f"OPENAI_API_KEY={R}"),
    ("secret_assignment", "client_secret=shh12345&x=1", f"client_secret={R}&x=1"),
    (
        "secret_assignment",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG",
        f"aws_secret_access_key = {R}",
    ),
    ("secret_assignment", "token=abcd", f"token={R}"),
    ("secret_assignment", "password: 'correct horse'", f"password: '{R}'"),
    ("secret_assignment", "passwd=hunter2 pwd=hunter3", f"passwd={R} pwd={R}"),
    ("secret_assignment", "private_key: abcdef", f"private_key: {R}"),
]

LEFT_ALONE = [
    "max_tokens=512, input_tokens=205",
    '{"max_tokens": 100, "input_tokens": 205, "output_tokens": 64}',
    "token: 5000",
    "the token count is 5 and the secret of success is patience",
    "The secretary said: hello there",
    "Basic understanding of authentication is required",
    "http://localhost:8080/path?page=2",
    "bearer of news",
    "sky-high risk",
    "3.14159 and 1234567890123456789",
]


@pytest.mark.parametrize(("rule", "text", "expected"), CAUGHT)
def test_each_rule_catches_its_shape(rule: str, text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected  # redaction is idempotent


def test_every_rule_in_the_table_has_a_case() -> None:
    assert {name for name, _, _ in CAUGHT} == {rule.name for rule in RULES}


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_numbers_and_ordinary_words_are_left_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    "name",
    [
        "api_key",
        "passwd",
        "pwd",
        "private_key",
        "cookie",
        "auth",
        "Authorization",
        "OPENAI_API_KEY",
        "clientSecret",
        "x-api-key",
        "access_token",
        "Set-Cookie",
    ],
)
def test_secret_names(name: str) -> None:
    assert secret_name(name)


@pytest.mark.parametrize("name", ["max_tokens", "input_tokens", "author", "key", "keyword", "id"])
def test_ordinary_names(name: str) -> None:
    assert not secret_name(name)


def test_query_names_are_broader() -> None:
    assert secret_name("key", query=True) and secret_name("sig", query=True)
    assert secret_name("X-Amz-Signature", query=True) and secret_name("AWSAccessKeyId", query=True)
    assert not secret_name("keyword", query=True) and not secret_name("max_tokens", query=True)


def test_a_secret_name_never_hides_a_number() -> None:
    assert hides("token", "abc") and hides("password", ["x"])
    assert not hides("token_count", 3) and not hides("password", None)
    assert not hides("max_tokens", "512")


def test_truncation_comes_first_so_cost_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = truncate_module.redact

    def spy(text: str) -> str:
        seen.append(len(text))
        return real(text)

    monkeypatch.setattr(truncate_module, "redact", spy)
    huge = "word " * 2_000_000  # 10 MB
    out = clip(huge, 100)
    assert seen == [100 + SLACK]
    assert out == huge[:100] + f"...[truncated {len(huge) - 100} chars]"


def test_a_secret_across_the_cut_is_redacted_not_left_half_visible() -> None:
    key = "sk-proj-" + "A1b2C3d4" * 4
    text = "x" * 94 + " " + key + " tail"
    out = clip(text, 100)
    assert "sk-proj" not in out and "sk-p" not in out
    assert out.startswith("x" * 94 + " [REDA")

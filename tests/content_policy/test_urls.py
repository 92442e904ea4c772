"""URLs: secrets out always, every query value out with capture off, encoding kept."""

from __future__ import annotations

import pytest

from llm_instrument.content_policy.urls import sanitize_query, sanitize_url

CASES = [
    # (url, with capture on, with capture off)
    (
        "https://user:pw@api.example.com/v1/x?api_key=XYZ&q=hello+world#top",
        "https://REDACTED:REDACTED@api.example.com/v1/x?api_key=REDACTED&q=hello+world#top",
        "https://REDACTED:REDACTED@api.example.com/v1/x?api_key=REDACTED&q=REDACTED#REDACTED",
    ),
    (
        "/ask?q=How%20do%20I%20reset&token=abc",
        "/ask?q=How%20do%20I%20reset&token=REDACTED",
        "/ask?q=REDACTED&token=REDACTED",
    ),
    (
        "https://s3.example.com/b/o?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=ff&sig=1&keyword=x",
        "https://s3.example.com/b/o?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&sig=REDACTED"
        "&keyword=x",
        "https://s3.example.com/b/o?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&sig=REDACTED"
        "&keyword=REDACTED",
    ),
    (
        "http://h/search?max_tokens=5&password=p&client_secret=s&auth=a&key=k",
        "http://h/search?max_tokens=5&password=REDACTED&client_secret=REDACTED&auth=REDACTED"
        "&key=REDACTED",
        "http://h/search?max_tokens=REDACTED&password=REDACTED&client_secret=REDACTED"
        "&auth=REDACTED&key=REDACTED",
    ),
    ("http://h/x?How+do+I", "http://h/x?How+do+I", "http://h/x?REDACTED"),
    ("http://h:8080/plain", "http://h:8080/plain", "http://h:8080/plain"),
    (
        "http://h/keys/sk-proj-abcdefghijklmnop1234/info",
        "http://h/keys/[REDACTED]/info",
        "http://h/keys/[REDACTED]/info",
    ),
    (
        "http://h/x?note=my+key+is+sk-proj-abcdefghijklmnop1234",
        "http://h/x?note=my+key+is+[REDACTED]",
        "http://h/x?note=REDACTED",
    ),
]


@pytest.mark.parametrize(("url", "on", "off"), CASES)
def test_urls(url: str, on: str, off: str) -> None:
    assert sanitize_url(url, True, 4096) == on
    assert sanitize_url(url, False, 4096) == off


def test_a_query_string_alone() -> None:
    assert sanitize_query("q=hi&access_token=t&empty=", True) == "q=hi&access_token=REDACTED&empty="
    assert sanitize_query("q=hi&flag", False) == "q=REDACTED&REDACTED"


def test_a_long_url_is_cut_before_it_is_parsed() -> None:
    url = "http://h/ask?token=abc&q=" + "x" * 10_000
    out = sanitize_url(url, True, 100)
    assert out.startswith("http://h/ask?token=REDACTED&q=xxx")
    assert out.endswith(f"...[truncated {len(url) - 100} chars]")

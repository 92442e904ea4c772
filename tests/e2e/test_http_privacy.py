"""HTTP spans under the one content policy: a FastAPI service and its ``requests`` call,
with secrets in URLs and in an exception message, capture on and off; the stable HTTP
conventions, checked by ``promtool`` on a real scrape; a 404 shown by its path in view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import pytest

from tests.support.otlp_receiver import OTLPReceiver
from tests.support.processes import agent_env, free_port, get, run_traced, serve
from tests.support.prometheus import promtool_check_metrics

APPS = Path(__file__).resolve().parent.parent / "apps"
KEY = "sk-proj-Pa55Wd0rdKeyAbCdEfGh1234"
TOKEN = "tok-9f8e7d6c5b4a"
PASSWORD = "pw-Zx8Cv7Bn6"
QUESTION = "How do I do a factory reset"
SECRETS = (KEY, TOKEN, PASSWORD)


@contextmanager
def _service(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["uvicorn", "--app-dir", str(APPS), "privacy_app:app", "--port", str(port)]
    env = {
        **env,
        "PRIVACY_SELF": url,
        "PRIVACY_KEY": KEY,
        "PRIVACY_TOKEN": TOKEN,
        "PRIVACY_PASSWORD": PASSWORD,
    }
    with serve([*args, "--host", "127.0.0.1", "--log-level", "warning"], env, f"{url}/health"):
        yield url


def _exercise(url: str) -> None:
    q = QUESTION.replace(" ", "+")
    assert json.loads(get(f"{url}/ask?q={q}&api_key={KEY}")) == {"q": QUESTION}
    with pytest.raises(HTTPError):
        get(f"{url}/fail?q={q}")


def _spans(otlp: OTLPReceiver, url: str) -> list[dict[str, Any]]:
    _exercise(url)

    def complete(spans: list[dict[str, Any]]) -> bool:
        names = {(s["name"], s["kind"]) for s in spans}
        return {("GET /ask", "SERVER"), ("GET /echo", "SERVER"), ("GET", "CLIENT")} <= names and (
            "GET /fail",
            "SERVER",
        ) in names

    return [s for s in otlp.wait_for(complete) if s["name"] != "GET /health"]


def _exported_text(span: dict[str, Any]) -> list[str]:
    """Every string that leaves the process for this span."""
    values = [span["name"], span["status_message"]]
    values += [json.dumps(v) for v in span["attributes"].values()]
    for event in span["events"]:
        values += [event["name"], *(json.dumps(v) for v in event["attributes"].values())]
    return values


def _by(spans: list[dict[str, Any]], name: str, kind: str) -> dict[str, Any]:
    (span,) = [s for s in spans if s["name"] == name and s["kind"] == kind]
    return span


@pytest.mark.parametrize("capture", ["true", "false"])
def test_no_secret_leaves_and_capture_off_keeps_the_prompt_in(
    otlp: OTLPReceiver, capture: str
) -> None:
    env = agent_env(
        otlp.endpoint, OTEL_SERVICE_NAME="private", LLM_INSTRUMENT_CAPTURE_CONTENT=capture
    )
    with _service(env) as url:
        spans = _spans(otlp, url)
    for span in spans:
        for value in _exported_text(span):
            for secret in SECRETS:
                assert secret not in value, (span["name"], value)
            if capture == "false":
                assert "factory" not in value, (span["name"], value)

    client = _by(spans, "GET", "CLIENT")["attributes"]
    ask = _by(spans, "GET /ask", "SERVER")["attributes"]
    fail = _by(spans, "GET /fail", "SERVER")
    (event,) = fail["events"]
    # stable HTTP conventions
    assert client["http.request.method"] == "GET" and client["http.response.status_code"] == 200
    assert "http.url" not in client and "http.method" not in ask
    assert ask["url.path"] == "/ask" and ask["http.route"] == "/ask"
    port = url.rsplit(":", 1)[1]
    if capture == "true":
        assert client["url.full"] == (
            f"http://REDACTED:REDACTED@127.0.0.1:{port}/echo?q=How%20do%20I%20do%20a%20factory"
            "%20reset&token=REDACTED"
        )
        assert ask["url.query"] == "q=How+do+I+do+a+factory+reset&api_key=REDACTED"
        assert event["attributes"]["exception.message"] == (
            f"upstream rejected key [REDACTED] for question: {QUESTION}"
        )
        assert event["attributes"]["exception.stacktrace"].endswith(
            f"ValueError: upstream rejected key [REDACTED] for question: {QUESTION}\n"
        )
    else:
        assert client["url.full"] == (
            f"http://REDACTED:REDACTED@127.0.0.1:{port}/echo?q=REDACTED&token=REDACTED"
        )
        assert ask["url.query"] == "q=REDACTED&api_key=REDACTED"
        assert event["attributes"]["exception.message"] == ""
        trace = event["attributes"]["exception.stacktrace"]
        assert trace.startswith("Traceback") and trace.endswith("\nValueError")
        assert 'privacy_app.py", line' in trace
    assert event["attributes"]["exception.type"] == "ValueError"


def test_http_metrics_of_a_traced_app_pass_promtool(tmp_path: Path) -> None:
    metrics_port = free_port()
    env = agent_env(
        None,
        OTEL_SERVICE_NAME="scraped",
        LLM_INSTRUMENT_EXPORTER="none",
        LLM_INSTRUMENT_METRICS_PORT=str(metrics_port),
    )
    with _service(env) as url:
        _exercise(url)
        scrape = get(f"http://127.0.0.1:{metrics_port}/metrics").decode()
    assert "http_server_request_duration_seconds_bucket" in scrape
    assert "milliseconds" not in scrape
    passed, output = promtool_check_metrics(scrape)
    assert passed, output


def test_a_404_shows_its_path_in_view(tmp_path: Path) -> None:
    store = tmp_path / "traces.db"
    env = agent_env(None, OTEL_SERVICE_NAME="lost", LLM_INSTRUMENT_LOCAL_STORE=str(store))
    with _service(env) as url, pytest.raises(HTTPError):
        get(f"{url}/nosuch")
    listing = run_traced(["view", "--store", str(store), "--color", "never"], agent_env())
    assert listing.returncode == 0, listing.stderr
    (line,) = [line for line in listing.stdout.splitlines() if "/nosuch" in line]
    assert "GET /nosuch" in line

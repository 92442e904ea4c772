"""httpx and httpx2 under the launcher: two FastAPI services calling each other, sync and
async clients, in one trace with W3C trace context carried over; and an httpx call made
inside a LangChain tool nests under the tool's span."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("httpx")
pytest.importorskip("httpx2")
pytest.importorskip("fastapi")

from tests.support.otlp_receiver import OTLPReceiver, by_name, children
from tests.support.processes import agent_env, free_port, get, serve

APPS = Path(__file__).resolve().parent.parent / "apps"
CONTRIB_SCOPE = "opentelemetry.instrumentation.httpx"


@contextmanager
def _uvicorn(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["uvicorn", "--app-dir", str(APPS), "httpx_services:app", "--port", str(port)]
    with serve([*args, "--host", "127.0.0.1", "--log-level", "warning"], env, f"{url}/health"):
        yield url


@pytest.fixture(scope="module")
def receiver() -> Iterator[OTLPReceiver]:
    found = OTLPReceiver().start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture(scope="module")
def front(receiver: OTLPReceiver) -> Iterator[str]:
    with ExitStack() as stack:
        back_env = agent_env(receiver.endpoint, OTEL_SERVICE_NAME="back")
        back = stack.enter_context(_uvicorn(back_env))
        front_env = agent_env(receiver.endpoint, OTEL_SERVICE_NAME="front", BACKEND_URL=back)
        yield stack.enter_context(_uvicorn(front_env))


def _trace(receiver: OTLPReceiver, route: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the front's server span for ``route``, the spans of its trace) once the back's
    server span has arrived."""

    def arrived(spans: list[dict[str, Any]]) -> bool:
        roots = by_name(spans, f"GET {route}")
        return bool(roots) and any(
            s["trace_id"] == roots[-1]["trace_id"] and s["name"] == "GET /back" for s in spans
        )

    spans = receiver.wait_for(arrived, timeout=30)
    root = by_name(spans, f"GET {route}")[-1]
    return root, [s for s in spans if s["trace_id"] == root["trace_id"]]


def _hop(spans: list[dict[str, Any]], parent: dict[str, Any]) -> dict[str, Any]:
    """The httpx client span under ``parent``, checked to be the parent of the back's span."""
    (client,) = [s for s in children(spans, parent) if s["kind"] == "CLIENT"]
    assert client["name"] == "GET" and client["scope"] == CONTRIB_SCOPE
    assert client["resource"]["service.name"] == "front"
    (back,) = [s for s in children(spans, client) if s["kind"] == "SERVER"]
    assert back["name"] == "GET /back" and back["resource"]["service.name"] == "back"
    return client


@pytest.mark.parametrize("library", ["httpx", "httpx2"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_services_calling_each_other_give_one_trace(
    receiver: OTLPReceiver, front: str, library: str, mode: str
) -> None:
    receiver.clear()
    route = "/call/{library}/" + mode
    answer = json.loads(get(f"{front}/call/{library}/{mode}"))
    assert answer["answer"] == 42
    root, spans = _trace(receiver, route)
    assert root["kind"] == "SERVER" and root["parent_span_id"] is None
    client = _hop(spans, root)
    # the header the back received names the client span (W3C trace context)
    version, trace_id, parent_id, _flags = answer["traceparent"].split("-")
    assert (version, trace_id, parent_id) == ("00", client["trace_id"], client["span_id"])
    attributes = client["attributes"]
    url = attributes.get("url.full", attributes.get("http.url"))
    assert url.endswith("/back")


def test_call_from_a_langchain_tool_nests_under_the_tool_span(
    receiver: OTLPReceiver, front: str
) -> None:
    pytest.importorskip("langchain_core")
    receiver.clear()
    assert json.loads(get(f"{front}/tool"))["answer"] == "42"
    root, spans = _trace(receiver, "/tool")
    (tool,) = [s for s in spans if s["attributes"].get("gen_ai.operation.name") == "execute_tool"]
    assert tool["name"] == "execute_tool lookup" and tool["parent_span_id"] == root["span_id"]
    _hop(spans, tool)

"""Servers under the launcher: FastAPI services calling each other through requests,
multi-worker gunicorn and uvicorn, gevent, and a collector that is down."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.otlp_receiver import OTLPReceiver, by_name, children
from tests.support.processes import (
    agent_env,
    free_port,
    get,
    run_traced,
    serve,
    stop,
    wait_http,
)

APPS = Path(__file__).resolve().parent.parent / "apps"


@contextmanager
def _uvicorn(env: dict[str, str], *extra: str) -> Iterator[str]:
    port = free_port()
    args = ["uvicorn", "--app-dir", str(APPS), "services:app", "--port", str(port), *extra]
    url = f"http://127.0.0.1:{port}"
    with serve([*args, "--host", "127.0.0.1", "--log-level", "warning"], env, f"{url}/health"):
        yield url


@pytest.fixture
def front_and_back(otlp: OTLPReceiver) -> Iterator[str]:
    with ExitStack() as stack:
        back = stack.enter_context(_uvicorn(agent_env(otlp.endpoint, OTEL_SERVICE_NAME="back")))
        front_env = agent_env(otlp.endpoint, OTEL_SERVICE_NAME="front", BACKEND_URL=back)
        front = stack.enter_context(_uvicorn(front_env))
        otlp.wait_for(lambda s: len(by_name(s, "GET /health")) >= 2)
        otlp.clear()
        yield front


def _one_trace(spans: list[dict[str, Any]], route: str) -> list[dict[str, Any]]:
    (root,) = [s for s in by_name(spans, f"GET {route}") if s["kind"] == "SERVER"]
    return [s for s in spans if s["trace_id"] == root["trace_id"]]


def _server_span(spans: list[dict[str, Any]], service: str) -> dict[str, Any]:
    (span,) = [
        s for s in spans if s["kind"] == "SERVER" and s["resource"]["service.name"] == service
    ]
    return span


def _only_child(
    spans: list[dict[str, Any]], parent: dict[str, Any], **match: str
) -> dict[str, Any]:
    found = [s for s in children(spans, parent) if all(s[k] == v for k, v in match.items())]
    assert len(found) == 1, (parent["name"], match, [(s["name"], s["kind"]) for s in spans])
    return found[0]


def test_two_services_give_one_connected_trace(otlp: OTLPReceiver, front_and_back: str) -> None:
    assert json.loads(get(f"{front_and_back}/direct"))["answer"] == 42

    def complete(spans: list[dict[str, Any]]) -> bool:
        routes = {(s["resource"]["service.name"], s["kind"]) for s in spans}
        return {("front", "SERVER"), ("front", "CLIENT"), ("back", "SERVER")} <= routes

    spans = _one_trace(otlp.wait_for(complete), "/direct")
    front = _server_span(spans, "front")
    assert front["parent_span_id"] is None
    assert front["name"] == "GET /direct"
    client = _only_child(spans, front, kind="CLIENT")
    assert client["name"] == "GET"
    assert client["resource"]["service.name"] == "front"
    back = _server_span(spans, "back")
    assert back["parent_span_id"] == client["span_id"]
    assert back["name"] == "GET /back"
    assert back["resource"]["process.pid"] != front["resource"]["process.pid"]
    # one span per hop: the ASGI "http send"/"http receive" sub-spans are left out
    assert sorted(s["name"] for s in spans) == ["GET", "GET /back", "GET /direct"]


def test_asgi_message_spans_on_request(otlp: OTLPReceiver) -> None:
    env = agent_env(otlp.endpoint, LLM_INSTRUMENT_FASTAPI_ASGI_SPANS="true")
    with _uvicorn(env) as url:
        get(f"{url}/health")
        spans = otlp.wait_for(lambda s: len(by_name(s, "GET /health http send")) >= 2)
    servers = {s["span_id"] for s in by_name(spans, "GET /health")}
    assert {s["parent_span_id"] for s in by_name(spans, "GET /health http send")} <= servers


def test_span_opened_in_handler_and_call_from_thread_pool(
    otlp: OTLPReceiver, front_and_back: str
) -> None:
    """The reference pattern: handler span, then requests from a ThreadPoolExecutor."""
    assert json.loads(get(f"{front_and_back}/pooled"))["answer"] == 42
    names = {"GET /pooled", "front-work", "GET", "GET /back"}
    spans = _one_trace(otlp.wait_for(lambda s: names <= {x["name"] for x in s}), "/pooled")
    front = _server_span(spans, "front")
    work = _only_child(spans, front, name="front-work")
    client = _only_child(spans, work, kind="CLIENT")
    back = _server_span(spans, "back")
    assert back["parent_span_id"] == client["span_id"]


def _spread(url: str, pids_seen: set[int], deadline: float) -> None:
    """Concurrent requests to a loop-blocking route until two workers have answered."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        while len(pids_seen) < 2 and time.monotonic() < deadline:
            for body in pool.map(lambda _: get(f"{url}/block"), range(4)):
                pids_seen.add(json.loads(body)["pid"])


def _assert_spans_from_both_workers(otlp: OTLPReceiver, pids: set[int]) -> None:
    def both(spans: list[dict[str, Any]]) -> bool:
        return {s["resource"]["process.pid"] for s in by_name(spans, "GET /block")} >= pids

    spans = otlp.wait_for(both)
    assert len(pids) == 2
    for span in by_name(spans, "GET /block"):
        assert span["kind"] == "SERVER"
        assert span["resource"]["service.name"] == "services"


def test_uvicorn_workers_each_export(otlp: OTLPReceiver) -> None:
    pids: set[int] = set()
    with _uvicorn(agent_env(otlp.endpoint), "--workers", "2") as url:
        _spread(url, pids, time.monotonic() + 30)
        _assert_spans_from_both_workers(otlp, pids)


def test_gunicorn_uvicorn_workers_each_export(otlp: OTLPReceiver) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        "gunicorn",
        "-w",
        "2",
        "-k",
        "uvicorn.workers.UvicornWorker",
        "--chdir",
        str(APPS),
        "-b",
        f"127.0.0.1:{port}",
        "services:app",
    ]
    pids: set[int] = set()
    with serve(args, agent_env(otlp.endpoint), f"{url}/health") as proc:
        _spread(url, pids, time.monotonic() + 30)
        _assert_spans_from_both_workers(otlp, pids)
        assert proc.pid not in pids  # the master serves nothing


def test_gevent_program_is_traced(otlp: OTLPReceiver, tmp_path: Path) -> None:
    # a 30 s batch delay: the spans arrive through the exit flush, run under gevent
    env = agent_env(otlp.endpoint, GEVENT_ENABLE="true", OTEL_BSP_SCHEDULE_DELAY="30000")
    proc = run_traced(["python", str(APPS / "gevent_app.py")], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "patched=True" in proc.stdout
    assert proc.stdout.startswith("bodies=['ok', 'ok', 'ok', 'ok', 'ok']")
    assert proc.stderr == ""
    spans = otlp.wait_for(lambda s: len([x for x in s if x["kind"] == "CLIENT"]) >= 5)
    (root,) = by_name(spans, "gevent-root")
    clients = [s for s in spans if s["kind"] == "CLIENT"]
    assert len(clients) == 5
    # the main greenlet's call and the four pool greenlets' calls all sit under the root
    assert [s["parent_span_id"] for s in clients] == [root["span_id"]] * 5
    pid = int(proc.stdout.split("pid=")[1])
    assert {s["resource"]["process.pid"] for s in spans} == {pid}


def test_dead_collector_never_blocks_requests(blackhole: str) -> None:
    # a small queue fills at once; export attempts hang on the collector that never answers
    env = agent_env(
        blackhole,
        OTEL_SERVICE_NAME="lonely",
        OTEL_BSP_MAX_QUEUE_SIZE="16",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="8",
        OTEL_EXPORTER_OTLP_TIMEOUT="30",
        BACKEND_URL="http://127.0.0.1:1",
    )
    with _uvicorn(env) as url:
        slowest = 0.0
        for _ in range(60):
            start = time.monotonic()
            get(f"{url}/back")
            slowest = max(slowest, time.monotonic() - start)
        stopping = time.monotonic()
    stopped_in = time.monotonic() - stopping
    # blocked, a request would wait for the OTLP timeout (30 s); the margin is for load
    assert slowest < 3.0, f"a request took {slowest:.2f}s"
    # the exit flush has a 5 s budget, whatever the OTLP timeout; blocked, stop() would
    # have waited its 15 s and killed the server
    assert stopped_in < 12, f"the server took {stopped_in:.1f}s to stop"


def test_server_stopped_by_sigterm_flushes_and_exits_as_without_agent(
    otlp: OTLPReceiver,
) -> None:
    """uvicorn keeps its own SIGTERM handling (a graceful stop, then, since 0.29, the signal
    raised again with the previous handler): the exit status is the bare server's, and the
    spans still in the queue are delivered."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["uvicorn", "--app-dir", str(APPS), "services:app", "--port", str(port)]
    args += ["--host", "127.0.0.1"]
    bare = subprocess.Popen(
        args,
        env=agent_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(f"{url}/health", 30, None)
    finally:
        stop(bare)
    env = agent_env(otlp.endpoint, OTEL_BSP_SCHEDULE_DELAY="30000")
    with serve(args, env, f"{url}/health") as proc:
        get(f"{url}/back")
        assert by_name(otlp.snapshot(), "GET /back") == []
    assert proc.returncode == bare.returncode
    otlp.wait_for(lambda s: by_name(s, "GET /back"), timeout=5)

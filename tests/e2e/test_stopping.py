"""Stopping delivers: servers and scripts stopped by SIGTERM or ending normally hand their
queued spans *and* metrics to a real OTLP receiver, within one exit budget.

The batch delay (30 s) and the metric interval (60 s) are far longer than each run, so only
the stop can deliver what the receiver counts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.otlp_receiver import OTLPReceiver, by_name
from tests.support.processes import LAUNCHER, agent_env, free_port, get, run_traced, wait_http

APPS = Path(__file__).resolve().parent.parent / "apps"
REQUESTS = 6


def _stop_env(endpoint: str, **extra: str) -> dict[str, str]:
    return agent_env(
        endpoint,
        OTEL_BSP_SCHEDULE_DELAY="30000",
        OTEL_METRIC_EXPORT_INTERVAL="60000",
        PYTHONPATH=str(APPS),
        **extra,
    )


def operations_counted(otlp: OTLPReceiver, name: str = "gen_ai.client.operation.duration") -> int:
    """Operations in the exported duration histograms: the latest cumulative count of each
    process, summed over processes."""
    latest: dict[Any, int] = {}
    for metric in otlp.metrics:
        if metric["name"] == name:
            pid = metric["resource"]["process.pid"]
            count = sum(point["count"] for point in metric["points"])
            latest[pid] = max(latest.get(pid, 0), count)
    return sum(latest.values())


SERVERS = {
    "uvicorn": ["uvicorn", "stop_app:asgi"],
    "uvicorn --workers 2": ["uvicorn", "stop_app:asgi", "--workers", "2"],
    "gunicorn sync": ["gunicorn", "-w", "2", "stop_app:wsgi"],
    "gunicorn UvicornWorker": [
        *("gunicorn", "-w", "2", "-k", "uvicorn.workers.UvicornWorker", "stop_app:asgi")
    ],
}


@pytest.mark.parametrize("server", list(SERVERS))
def test_sigterm_to_the_master_delivers_spans_and_metrics(
    server: str, otlp: OTLPReceiver, tmp_path: Path
) -> None:
    port = free_port()
    args = [*SERVERS[server]]
    if args[0] == "uvicorn":
        args += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    else:
        args += ["-b", f"127.0.0.1:{port}", "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [LAUNCHER, *args],
        env=_stop_env(otlp.endpoint),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_http(f"{url}/health", 90, proc)
        pids = {json.loads(get(f"{url}/work"))["pid"] for _ in range(REQUESTS)}
        assert by_name(otlp.snapshot(), "stop-work") == []
        os.kill(proc.pid, signal.SIGTERM)  # the master only, as Kubernetes does
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    spans = otlp.wait_for(lambda s: len(by_name(s, "stop-work")) >= REQUESTS, timeout=10)
    assert len(by_name(spans, "stop-work")) == REQUESTS
    assert operations_counted(otlp) == REQUESTS, otlp.metrics
    assert {m["resource"]["process.pid"] for m in otlp.metrics} >= pids
    assert "not delivered" not in output, output


FORK_CHILD = """
import multiprocessing, sys
from opentelemetry import trace

def child():
    with trace.get_tracer("t").start_as_current_span("in-fork-child"):
        pass

if __name__ == "__main__":
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=child)
    p.start()
    p.join(60)
    print("exit", p.exitcode)
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_children_deliver_at_their_exit(
    method: str, otlp: OTLPReceiver, tmp_path: Path
) -> None:
    script = tmp_path / "children.py"
    script.write_text(FORK_CHILD)
    proc = run_traced(["python", str(script), method], _stop_env(otlp.endpoint), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "exit 0\n"
    spans = otlp.wait_for(lambda s: by_name(s, "in-fork-child"), timeout=10)
    assert len(by_name(spans, "in-fork-child")) == 1
    assert proc.stderr == ""


def test_a_burst_of_5000_spans_is_delivered_whole(otlp: OTLPReceiver, tmp_path: Path) -> None:
    proc = run_traced(
        ["python", str(APPS / "spans_script.py"), "5000"], agent_env(otlp.endpoint), tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    spans = otlp.wait_for(lambda s: len(s) >= 5001, timeout=10)
    assert len(spans) == 5001


def test_a_burst_of_5000_spans_is_stored_whole(tmp_path: Path) -> None:
    import sqlite3

    proc = run_traced(["python", str(APPS / "spans_script.py"), "5000"], agent_env(), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    with sqlite3.connect(tmp_path / ".llm-instrument" / "traces.db") as db:
        assert db.execute("select count(*) from spans").fetchone() == (5001,)


def test_a_full_queue_counts_every_dropped_span_exactly(otlp: OTLPReceiver, tmp_path: Path) -> None:
    # a queue of 100 and batches of 100 in front of a slow collector: most spans are dropped
    otlp.delay_s = 0.2
    env = agent_env(otlp.endpoint, OTEL_BSP_MAX_QUEUE_SIZE="100", OTEL_METRICS_EXPORTER="none")
    proc = run_traced(["python", str(APPS / "spans_script.py"), "3000"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, proc.stderr  # the condition once, the summary at exit
    assert "span queue is full" in lines[0]
    summary = lines[1]
    assert summary.startswith("llm-instrument: not delivered: ")
    lost = int(summary.split("not delivered: ")[1].split()[0])
    assert lost > 0
    assert len(otlp.snapshot()) + lost == 3001, summary


def test_stop_flushes_only_once_and_quietly_when_all_was_delivered(
    otlp: OTLPReceiver, tmp_path: Path
) -> None:
    env = _stop_env(otlp.endpoint)
    proc = run_traced([sys.executable, str(APPS / "spans_script.py"), "10"], env, tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    spans = otlp.wait_for(lambda s: len(s) >= 11, timeout=10)
    assert len(spans) == 11  # not twice: the exit ran once although atexit and the SDK both could

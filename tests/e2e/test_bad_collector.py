"""A collector that refuses, never answers, answers 500 or 429, or is slow: the app's output
and exit status are unchanged, each condition is one line, and the exit summary counts
exactly what was not delivered. (Exit times are measured in ``bench/exit_times.py``.)"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.otlp_receiver import OTLPReceiver
from tests.support.processes import LAUNCHER, agent_env, free_port, get, run_traced, wait_http

APPS = Path(__file__).resolve().parent.parent / "apps"
# 20 operations: 21 spans; metrics: one duration point and two token points
SPANS, POINTS = 21, 3


def _run(endpoint: str, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = agent_env(endpoint, **extra)
    proc = run_traced(["python", str(APPS / "genai_script.py"), "20"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "done 20\n"
    return proc


def _summary(stderr: str) -> tuple[int, int]:
    """(spans, metric points) in the exit summary line."""
    (line,) = [line for line in stderr.splitlines() if "not delivered: " in line]
    spans = re.search(r"(\d+) spans? \(", line)
    points = re.search(r"(\d+) metric points? \(", line)
    return int(spans.group(1)) if spans else 0, int(points.group(1)) if points else 0


@pytest.mark.parametrize("kind", ["refused", "blackhole"])
def test_unreachable_collector_one_line_and_an_exact_summary(
    kind: str, blackhole: str, tmp_path: Path
) -> None:
    url = blackhole if kind == "blackhole" else f"http://127.0.0.1:{free_port()}"
    proc = _run(url, tmp_path, OTEL_EXPORTER_OTLP_TIMEOUT="30")
    lines = proc.stderr.splitlines()
    assert all(line.startswith("llm-instrument: ") for line in lines), proc.stderr
    assert len(lines) <= 2, proc.stderr  # at most the condition, then the summary
    assert _summary(proc.stderr) == (SPANS, POINTS)
    if kind == "refused":
        assert "refuses connections" in lines[0]


@pytest.mark.parametrize("status", [500, 429])
def test_failing_collector_one_line_and_an_exact_summary(
    status: int, otlp: OTLPReceiver, tmp_path: Path
) -> None:
    otlp.status_code = status
    otlp.retry_after = 0.2
    proc = _run(otlp.endpoint, tmp_path)
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, proc.stderr
    assert f"answers HTTP {status}" in lines[0]
    assert _summary(proc.stderr) == (SPANS, POINTS)
    assert otlp.snapshot() == []


def test_slow_collector_gets_everything(otlp: OTLPReceiver, tmp_path: Path) -> None:
    otlp.delay_s = 0.5
    proc = _run(otlp.endpoint, tmp_path)
    assert proc.stderr == ""
    assert len(otlp.snapshot()) == SPANS
    assert sum(len(m["points"]) for m in otlp.metrics) >= POINTS


def test_traces_only_backend_rejecting_metrics_is_one_line(
    otlp: OTLPReceiver, tmp_path: Path
) -> None:
    otlp.status_by_path = {"/v1/metrics": 405}
    proc = _run(otlp.endpoint, tmp_path)
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, proc.stderr
    assert "rejects metrics with HTTP 405" in lines[0]
    assert "OTEL_METRICS_EXPORTER=none" in lines[0]
    assert _summary(proc.stderr) == (0, POINTS)
    assert len(otlp.snapshot()) == SPANS


def test_a_server_against_a_failing_collector_logs_one_line(
    otlp: OTLPReceiver, tmp_path: Path
) -> None:
    """Many failed exports over several seconds (every 200 ms): one line, not one per try."""
    otlp.status_code = 500
    port = free_port()
    env = agent_env(otlp.endpoint, PYTHONPATH=str(APPS), OTEL_METRIC_EXPORT_INTERVAL="300")
    args = ["uvicorn", "stop_app:asgi", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [LAUNCHER, *args, "--log-level", "warning"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 60, proc)
        give_up = time.monotonic() + 30
        while otlp.requests < 20 and time.monotonic() < give_up:
            get(f"http://127.0.0.1:{port}/work")
            time.sleep(0.1)
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert otlp.requests >= 20
    agent = [line for line in stderr.splitlines() if line.startswith("llm-instrument")]
    assert len(agent) == 2, stderr  # the condition, then the exit summary
    assert "answers HTTP 500" in agent[0]
    assert "not delivered" in agent[1]
    assert "Transient error" not in stderr and "Failed to export" not in stderr

"""Standard OpenTelemetry settings under the launcher, checked at a real receiver."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.otlp_receiver import OTLPReceiver
from tests.support.processes import agent_env, run_traced

APPS = Path(__file__).resolve().parent.parent / "apps"
SCRIPT = ["python", str(APPS / "genai_script.py"), "5"]  # 6 spans, GenAI metrics


def _spans_only(otlp: OTLPReceiver) -> None:
    otlp.wait_for(lambda s: len(s) >= 6, timeout=10)
    assert len(otlp.snapshot()) == 6
    assert "/v1/metrics" not in otlp.requests_by_path


def test_metrics_exporter_none_sends_no_metrics(otlp: OTLPReceiver, tmp_path: Path) -> None:
    env = agent_env(otlp.endpoint, OTEL_METRICS_EXPORTER="none")
    proc = run_traced(SCRIPT, env, tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    _spans_only(otlp)


def test_a_traces_only_endpoint_sends_no_metrics(otlp: OTLPReceiver, tmp_path: Path) -> None:
    env = agent_env(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{otlp.endpoint}/v1/traces")
    proc = run_traced(SCRIPT, env, tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    _spans_only(otlp)


def test_a_metrics_endpoint_of_its_own(otlp: OTLPReceiver, tmp_path: Path) -> None:
    env = agent_env(
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=f"{otlp.endpoint}/v1/metrics",
        LLM_INSTRUMENT_EXPORTER="none",
    )
    proc = run_traced(SCRIPT, env, tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert otlp.snapshot() == []
    assert {m["name"] for m in otlp.metrics} >= {"gen_ai.client.operation.duration"}


@pytest.mark.parametrize("size", ["100", "1", "5"])
def test_any_queue_size_is_accepted(size: str, otlp: OTLPReceiver, tmp_path: Path) -> None:
    otlp_env = agent_env(otlp.endpoint, OTEL_BSP_MAX_QUEUE_SIZE=size, OTEL_METRICS_EXPORTER="none")
    proc = run_traced(["python", str(APPS / "spans_script.py"), "3"], otlp_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    received = len(otlp.snapshot())
    if size == "100":
        assert proc.stderr == ""
        assert len(otlp.wait_for(lambda s: len(s) >= 4, timeout=10)) == 4
    else:  # a tiny queue may drop, and says exactly how many
        lost = 0
        if proc.stderr:
            lost = int(proc.stderr.split("not delivered: ")[1].split()[0])
        assert len(otlp.snapshot()) + lost == 4, (received, proc.stderr)


def test_an_endpoint_without_scheme_gets_http_and_one_warning(
    otlp: OTLPReceiver, tmp_path: Path
) -> None:
    bare_endpoint = otlp.endpoint.removeprefix("http://")
    env = agent_env(bare_endpoint, OTEL_METRICS_EXPORTER="none")
    proc = run_traced(SCRIPT, env, tmp_path)
    assert proc.returncode == 0
    (line,) = proc.stderr.splitlines()
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in line and "no scheme" in line
    assert f"'http://{bare_endpoint}'" in line
    _spans_only(otlp)


def test_a_misspelt_setting_is_named_with_the_closest_one(
    otlp: OTLPReceiver, tmp_path: Path
) -> None:
    env = agent_env(otlp.endpoint, LLM_INSTRUMENT_EXPORTR="console")
    proc = run_traced(SCRIPT, env, tmp_path)
    assert proc.returncode == 0
    (line,) = proc.stderr.splitlines()
    assert "LLM_INSTRUMENT_EXPORTR is not an llm-instrument setting" in line
    assert "did you mean LLM_INSTRUMENT_EXPORTER?" in line
    otlp.wait_for(lambda s: len(s) >= 6, timeout=10)


def test_standard_exporter_choices(otlp: OTLPReceiver, tmp_path: Path) -> None:
    env = agent_env(otlp.endpoint, OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="console")
    proc = run_traced(SCRIPT, env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count('"name": "script-root"') == 1  # the console span exporter
    assert "gen_ai.client.operation.duration" in proc.stderr  # the console metric exporter
    assert otlp.requests == 0
    off = run_traced(SCRIPT, agent_env(otlp.endpoint, OTEL_TRACES_EXPORTER="none"), tmp_path)
    assert off.returncode == 0 and off.stderr == ""
    assert otlp.snapshot() == []
    assert otlp.requests_by_path.get("/v1/metrics", 0) >= 1  # metrics still go over OTLP

"""``llm-instrument doctor`` answers from the real set-up: a collector that listens or not,
a store folder that can be written or not, another agent's bootstrap on PYTHONPATH."""

from __future__ import annotations

from pathlib import Path

from tests.support.otlp_receiver import OTLPReceiver
from tests.support.processes import agent_env, free_port, run_traced


def test_reachable_collector_passes(otlp: OTLPReceiver) -> None:
    proc = run_traced(["doctor"], agent_env(otlp.endpoint))
    assert proc.returncode == 0, proc.stdout
    port = otlp.endpoint.rsplit(":", 1)[1]
    assert f"[ok  ] otlp: 127.0.0.1:{port} reachable (http/protobuf)" in proc.stdout
    assert proc.stdout.rstrip().endswith("All set.")


def test_dead_collector_fails_with_advice() -> None:
    port = free_port()  # nothing listens there
    proc = run_traced(["doctor"], agent_env(f"http://127.0.0.1:{port}"))
    assert proc.returncode == 1
    assert f"[FAIL] otlp: cannot reach 127.0.0.1:{port}" in proc.stdout


def test_store_in_a_file_path_fails(tmp_path: Path) -> None:
    # a store "folder" that is a file cannot be created, whoever runs the check
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    env = agent_env(LLM_INSTRUMENT_LOCAL_STORE=str(blocker / "traces.db"))
    proc = run_traced(["doctor"], env)
    assert proc.returncode == 1
    assert "[FAIL] local store" in proc.stdout


def test_another_agents_bootstrap_is_reported(tmp_path: Path) -> None:
    other = tmp_path / "opentelemetry" / "instrumentation" / "auto_instrumentation"
    env = agent_env(PYTHONPATH=str(other))
    proc = run_traced(["doctor"], env)
    assert proc.returncode == 1
    assert "[FAIL] other agent" in proc.stdout

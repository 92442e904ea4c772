"""Living beside an application's own OpenTelemetry set-up: under the launcher the app's
exporter and reader get what they get bare, under its own service.name, nothing is traced
twice, and its stderr (a once-only warning included) is the same as bare."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.otlp_receiver import OTLPReceiver
from tests.support.processes import VENV_BIN, agent_env, free_port, run_traced

pytest.importorskip("requests")

APP = Path(__file__).resolve().parent.parent / "apps" / "own_otel.py"


@pytest.mark.parametrize("metrics", ["otlp", "prometheus"])
def test_the_apps_own_providers_get_every_span_and_point(
    metrics: str, otlp: OTLPReceiver, tmp_path: Path
) -> None:
    bare = subprocess.run(
        [str(VENV_BIN / "python"), str(APP)],
        env=agent_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bare.returncode == 0, bare.stderr
    extra = {"LLM_INSTRUMENT_METRICS_PORT": str(free_port())} if metrics == "prometheus" else {}
    traced = run_traced(["python", str(APP)], agent_env(otlp.endpoint, **extra), tmp_path)
    assert traced.returncode == 0, traced.stderr
    seen_bare, seen_traced = json.loads(bare.stdout), json.loads(traced.stdout)
    assert seen_bare == {
        "spans": ["GET", "GET", "lazy", "own-work"],
        "services": ["own-app"],
        "metrics": ["own.requests"],
        "same_provider": True,
    }
    assert seen_traced == seen_bare
    # the app's warnings as bare, and no line of the agent's or the SDK's
    assert traced.stderr == bare.stderr


WARNS = """
import warnings
from opentelemetry import trace

def old_api():
    warnings.warn("old_api is deprecated", UserWarning, stacklevel=1)

old_api()
trace.get_tracer("a.lazy.library").start_span("lazy").end()  # a tracer made late
old_api()
"""


def test_a_warning_shown_once_bare_is_shown_once(otlp: OTLPReceiver, tmp_path: Path) -> None:
    script = tmp_path / "warns.py"
    script.write_text(WARNS)
    bare = subprocess.run(
        [str(VENV_BIN / "python"), str(script)],
        env=agent_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    traced = run_traced(["python", str(script)], agent_env(otlp.endpoint), tmp_path)
    assert bare.stderr.count("UserWarning: old_api is deprecated") == 1, bare.stderr
    assert traced.stderr == bare.stderr
    otlp.wait_for(lambda s: [x for x in s if x["name"] == "lazy"])

"""A real Prometheus scraping a traced FastAPI app under gunicorn with two uvicorn workers, the
way the README runs it: the target is up, the scrape has no error, and the token sums over
both workers are exact."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("fastapi")
pytest.importorskip("gunicorn")
pytest.importorskip("uvicorn")

from tests.support.processes import agent_env, free_port, get, serve
from tests.support.prometheus import prometheus_server

ROOT = Path(__file__).parents[2]


def test_prometheus_sums_every_gunicorn_workers_tokens_exactly() -> None:
    port, metrics_port = free_port(), free_port()
    env = agent_env(
        None,
        LLM_INSTRUMENT_EXPORTER="none",
        LLM_INSTRUMENT_METRICS_PORT=str(metrics_port),
        PYTHONPATH=str(ROOT),
    )
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    args = [gunicorn, "-w", "2", "-k", "uvicorn.workers.UvicornWorker"]
    args += ["-b", f"127.0.0.1:{port}", "tests.consumers.chat_app:app"]
    base = f"http://127.0.0.1:{port}"
    with serve(args, env, f"{base}/health", cwd=ROOT, timeout=120):
        pids: set[str] = set()
        sent = 0
        # the second worker may still be starting when the first answers: keep asking (in
        # parallel, so both get work) until both have answered, within a bound
        give_up = time.monotonic() + 90
        with ThreadPoolExecutor(8) as pool:
            while len(pids) < 2 and time.monotonic() < give_up:
                answers = pool.map(lambda i: get(f"{base}/chat?q=q{i}").decode(), range(16))
                pids |= {answer.rsplit('"pid":', 1)[1].strip("} ") for answer in answers}
                sent += 16
        assert len(pids) == 2, "gunicorn never used its second worker"
        with prometheus_server([f"127.0.0.1:{metrics_port}"]) as prometheus:
            [target] = prometheus.wait_for_scrapes()
            assert target["health"] == "up", target
            assert target["lastError"] == ""
            expr = 'sum(gen_ai_client_token_usage_sum{gen_ai_token_type="input"})'
            assert prometheus.wait_for_value(expr, lambda v: v == 11 * sent) == 11 * sent
            output = 'sum(gen_ai_client_token_usage_sum{gen_ai_token_type="output"})'
            assert prometheus.value(output) == 4 * sent
            calls = (
                'sum(gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat"})'
            )
            assert prometheus.value(calls) == sent  # one model call, one operation

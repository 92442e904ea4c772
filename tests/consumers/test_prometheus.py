"""A real Prometheus scraping a traced FastAPI app under uvicorn, and promtool on its scrape."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("fastapi")

from tests.support.processes import agent_env, free_port, get, serve
from tests.support.prometheus import Prometheus, prometheus_server, promtool_check_metrics

ROOT = Path(__file__).parents[2]
REQUESTS = 3


@pytest.fixture(scope="module")
def scraped() -> Iterator[tuple[Prometheus, str]]:
    """The chat app served by uvicorn with its metrics port, asked REQUESTS questions, and a
    Prometheus scraping it; yields the server and the app's last exposition text."""
    port, metrics_port = free_port(), free_port()
    env = agent_env(
        None,
        LLM_INSTRUMENT_EXPORTER="none",
        LLM_INSTRUMENT_METRICS_PORT=str(metrics_port),
        PYTHONPATH=str(ROOT),
    )
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    args = [uvicorn, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with serve(
        [*args, "tests.consumers.chat_app:app"],
        env,
        f"http://127.0.0.1:{port}/health",
        cwd=ROOT,
        timeout=90,
    ):
        for i in range(REQUESTS):
            get(f"http://127.0.0.1:{port}/chat?q=question{i}")
        with prometheus_server([f"127.0.0.1:{metrics_port}"]) as prometheus:
            yield prometheus, get(f"http://127.0.0.1:{metrics_port}/metrics").decode()


def test_prometheus_scrapes_the_app_and_sums_its_tokens(scraped: tuple[Prometheus, str]) -> None:
    prometheus, _ = scraped
    [target] = prometheus.wait_for_scrapes()
    assert target["health"] == "up", target
    assert target["lastError"] == ""
    expr = 'sum(gen_ai_client_token_usage_sum{gen_ai_token_type="input"})'
    assert prometheus.wait_for_value(expr, lambda v: v == 11 * REQUESTS) == 11 * REQUESTS
    output = 'sum(gen_ai_client_token_usage_sum{gen_ai_token_type="output"})'
    assert prometheus.value(output) == 4 * REQUESTS
    assert prometheus.value('up{job="app"}') == 1


def test_promtool_accepts_good_and_rejects_bad_exposition() -> None:
    ok, out = promtool_check_metrics("# HELP a_total A.\n# TYPE a_total counter\na_total 1\n")
    assert ok, out
    bad = "# HELP d_milliseconds D.\n# TYPE d_milliseconds gauge\nd_milliseconds 1\n"
    ok, out = promtool_check_metrics(bad)
    assert not ok
    assert 'use base unit "seconds"' in out


def test_promtool_passes_a_real_scrape_of_the_traced_app(scraped: tuple[Prometheus, str]) -> None:
    _, text = scraped
    assert "gen_ai_client_token_usage" in text
    ok, out = promtool_check_metrics(text)
    assert ok, out

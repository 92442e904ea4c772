"""Prometheus exposition under gunicorn with two workers: one port, every worker counted."""

from __future__ import annotations

import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("gunicorn")

from tests.support.processes import agent_env, free_port, get, serve

ROOT = Path(__file__).parents[2]


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_scrape_covers_all_gunicorn_workers() -> None:
    port, metrics_port = free_port(), free_port()
    env = agent_env(
        None,
        LLM_INSTRUMENT_EXPORTER="none",
        LLM_INSTRUMENT_METRICS_PORT=str(metrics_port),
        PYTHONPATH=str(ROOT),
    )
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    args = [gunicorn, "-w", "2", "-b", f"127.0.0.1:{port}", "tests.apps.langchain_wsgi:app"]
    with serve(args, env, f"http://127.0.0.1:{port}/ready", cwd=ROOT, timeout=90):
        pids: set[bytes] = set()
        sent = 0  # /ready does not run the chain
        # the second worker may still be importing LangChain when the first one answers
        # /ready: keep sending (each request holds its sync worker for 50 ms) until both
        # have served, within a bound
        give_up = time.monotonic() + 60
        with ThreadPoolExecutor(8) as pool:
            while len(pids) < 2 and time.monotonic() < give_up:
                pids |= set(pool.map(lambda i: get(f"http://127.0.0.1:{port}/q{i}"), range(16)))
                sent += 16
        assert len(pids) == 2, "gunicorn never used its second worker"
        deadline = time.monotonic() + 20
        while True:
            text = get(f"http://127.0.0.1:{metrics_port}/metrics").decode()
            count = _sample(text, "gen_ai_client_operation_duration_seconds_count")
            if count >= sent or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    assert count == sent
    token = "gen_ai_client_token_usage_sum"
    assert _sample(text, token, gen_ai_token_type="input") == 11 * sent
    assert _sample(text, token, gen_ai_token_type="output") == 4 * sent
    assert re.search(r'gen_ai_client_token_usage_bucket\{.*le="16\.0".*\}', text)
    assert 'gen_ai_request_model="fake-chat-1"' in text


FORKING_APP = """
import os, sys, time, urllib.request
from llm_instrument import genai
h = genai.start_llm("chat", provider="fake", model="m1")
h.set_usage(genai.Usage(7, 3))
h.finish()
pid = os.fork()
if pid == 0:
    h = genai.start_llm("chat", provider="fake", model="m1")
    h.set_usage(genai.Usage(100, 30))
    h.finish()
    time.sleep(1.5)  # one spool interval
    os._exit(0)
os.waitpid(pid, 0)
port = os.environ["LLM_INSTRUMENT_METRICS_PORT"]
sys.stdout.write(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode())
"""


def test_a_forked_child_counts_only_what_it_recorded_itself() -> None:
    from tests.support.processes import run_traced

    env = agent_env(
        None, LLM_INSTRUMENT_EXPORTER="none", LLM_INSTRUMENT_METRICS_PORT=str(free_port())
    )
    done = run_traced([sys.executable, "-c", FORKING_APP], env)
    assert done.returncode == 0, done.stderr
    token = "gen_ai_client_token_usage_sum"
    assert _sample(done.stdout, token, gen_ai_token_type="input") == 107
    assert _sample(done.stdout, token, gen_ai_token_type="output") == 33
    assert _sample(done.stdout, "gen_ai_client_operation_duration_seconds_count") == 2

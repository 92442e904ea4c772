"""Scrape time of ``/metrics`` after many worker lifetimes (issue 10: <= 200 ms after 1,000).

The bench serves ``/metrics`` itself (the role of a gunicorn master), then forks
``--lifetimes`` short-lived workers, ``--live`` of which stay alive; each records GenAI
metrics under a few label sets, spools them like a recycled gunicorn worker and exits.
It times the first scrape after they are gone (which folds every dead worker it finds)
and the steady scrapes that follow, and counts the files left in the spool.

Run: ``.venv/bin/python bench/prometheus_scrape.py [--lifetimes 1000] [--live 4]``; results go
to ``bench/results/prometheus_scrape.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape(port: int) -> tuple[float, bytes]:
    start = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as response:
        body = response.read()
    return time.perf_counter() - start, body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetimes", type=int, default=1000)
    parser.add_argument("--live", type=int, default=4)
    args = parser.parse_args()
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider

    from llm_instrument import genai
    from llm_instrument.exporters import prometheus

    metrics.set_meter_provider(MeterProvider(metric_readers=[prometheus.reader()]))
    port = _free_port()
    prometheus.start(port, "127.0.0.1")
    live: list[int] = []
    for i in range(args.lifetimes):
        pid = os.fork()
        if pid == 0:
            for model in ("m1", "m2", "m3"):
                handle = genai.start_llm("chat", provider="fake", model=model)
                handle.set_usage(genai.Usage(7, 3))
                handle.finish()
            prometheus._spool_once()
            if i < args.live:
                time.sleep(3600)
            os._exit(0)
        if i < args.live:
            live.append(pid)
        else:
            os.waitpid(pid, 0)
    time.sleep(0.5)
    spool = os.environ[prometheus.SPOOL_ENV]
    before = len(os.listdir(spool))
    first, body = _scrape(port)
    steady = [_scrape(port)[0] for _ in range(10)]
    after = len(os.listdir(spool))
    count = sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith("gen_ai_client_operation_duration_seconds_count")
    )
    for pid in live:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    result = {
        "lifetimes": args.lifetimes,
        "live": args.live,
        "files_before_scrape": before,
        "files_after_scrape": after,
        "first_scrape_ms": first * 1000,
        "steady_scrape_ms": statistics.median(steady) * 1000,
        "operations_counted": count,
        "operations_expected": 3 * args.lifetimes,
    }
    print(json.dumps(result, indent=2))
    verdict = "ok" if result["steady_scrape_ms"] <= TARGET_MS else "OVER"
    print(f"steady scrape {result['steady_scrape_ms']:.1f} ms (target {TARGET_MS} ms: {verdict})")
    out = ROOT / "bench" / "results" / "prometheus_scrape.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

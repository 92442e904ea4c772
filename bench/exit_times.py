"""Exit time of a short script under the agent, by collector state, against bare Python.

The script (``tests/apps/genai_script.py``: 20 GenAI operations, so spans *and* metrics) runs
bare and under ``llm-instrument`` with OTLP (traces and metrics, the default once an endpoint
is set) going to: a healthy local receiver, a port that refuses connections, a black hole
(accepts, never answers) and a receiver answering 500. Variants run interleaved, so machine
load hits each alike; the table gives median wall times and deltas against bare and against
the healthy collector.

Targets (issue 10): refusing adds <= 1 s to the healthy run, a black hole <= 6 s (the 5 s
exit budget, ``LLM_INSTRUMENT_EXIT_TIMEOUT``).

Run: ``.venv/bin/python bench/exit_times.py [--runs 5]``; results go to
``bench/results/exit_times.json``.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.otlp_receiver import OTLPReceiver  # noqa: E402
from tests.support.processes import LAUNCHER, agent_env, free_port  # noqa: E402

SCRIPT = str(ROOT / "tests" / "apps" / "genai_script.py")
TARGETS = {"refused": 1.0, "blackhole": 6.0}


def _blackhole() -> str:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            held.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}"


def _time(args: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run(args, env=env, cwd="/tmp", capture_output=True, check=True, timeout=120)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    healthy = OTLPReceiver().start()
    failing = OTLPReceiver().start()
    failing.status_code = 500
    endpoints = {
        "healthy": healthy.endpoint,
        "refused": f"http://127.0.0.1:{free_port()}",
        "blackhole": _blackhole(),
        "500": failing.endpoint,
    }
    # the SDK's default batch delay and metric interval: only the exit delivers
    base = {"OTEL_BSP_SCHEDULE_DELAY": "5000", "OTEL_METRIC_EXPORT_INTERVAL": "60000"}
    times: dict[str, list[float]] = {"bare": [], **{name: [] for name in endpoints}}
    for _ in range(args.runs):
        times["bare"].append(_time([sys.executable, SCRIPT, "20"], agent_env(**base)))
        for name, url in endpoints.items():
            env = agent_env(url, **base)
            times[name].append(_time([LAUNCHER, "python", SCRIPT, "20"], env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    rows = []
    print(f"{'variant':<10} {'median s':>9} {'vs bare':>8} {'vs healthy':>11} {'target':>7}")
    for name, median in medians.items():
        vs_bare = median - medians["bare"]
        vs_healthy = median - medians["healthy"]
        target = TARGETS.get(name)
        mark = "" if target is None else ("ok" if vs_healthy <= target else "OVER")
        print(f"{name:<10} {median:>9.2f} {vs_bare:>+8.2f} {vs_healthy:>+11.2f} {mark:>7}")
        rows.append(
            {
                "variant": name,
                "median_s": median,
                "delta_bare_s": vs_bare,
                "delta_healthy_s": vs_healthy,
            }
        )
    out = ROOT / "bench" / "results" / "exit_times.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"runs": args.runs, "rows": rows, "times": times}, indent=2))
    healthy.stop()
    failing.stop()


if __name__ == "__main__":
    main()

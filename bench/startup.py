"""Start-up cost of the agent: ``llm-instrument python app.py`` against ``python app.py``
and the peer ``opentelemetry-instrument python app.py`` (opentelemetry-distro).

The app imports fastapi, requests and langchain-core, builds a FastAPI app and a runnable,
and exits: the wall time of the whole process is what a user waits for. Both agents export
traces and metrics over OTLP/HTTP to a local sink that answers 200 at once (a closed port
would measure the exporters' retry back-off instead of start-up), and print nothing. The
peer runs twice: with its defaults, which apply every installed instrumentor at start-up
(here the transformers one imports transformers and torch), and with the instrumentors of
libraries the app does not import disabled, which is the like-for-like comparison. Ours
also runs with no backend configured (the local store, a newcomer's default). All
variants run interleaved, so drift in machine load hits each alike; the table gives
medians and their ratios to bare Python.

Run: ``.venv/bin/python bench/startup.py [--runs 15]``; results go to
``bench/results/startup.json``. With this checkout on ``PYTHONPATH`` our variants run its
launcher and agent (``python -m llm_instrument.cli.launcher``) instead of the venv's
installed ``llm-instrument``. Target: llm-instrument at most 1.15x bare and below the peer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET_RATIO = 1.15
PEER = "opentelemetry-instrument"

APP = """\
import fastapi
import requests
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

app = fastapi.FastAPI()


@app.get("/")
def index():
    return {"ok": True}


chain = ChatPromptTemplate.from_template("say {x}") | RunnableLambda(lambda p: p.to_string())
session = requests.Session()
assert chain.invoke({"x": "hi"}) == "Human: say hi"
"""


class _Sink(BaseHTTPRequestHandler):
    """Accepts any OTLP/HTTP export with an empty 200."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _env(work: Path, endpoint: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "LLM_INSTRUMENT_"))
        # bytecode caches as a user has them (the warm-up runs write them): with
        # PYTHONDONTWRITEBYTECODE set, every run would compile whatever was edited last
        and k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    env["OTEL_SERVICE_NAME"] = "bench"
    env["LLM_INSTRUMENT_LOCAL_STORE"] = str(work / "traces.db")
    return env


def _variants(env: dict[str, str]) -> dict[str, tuple[list[str], dict[str, str]]]:
    python = str(BIN / "python")
    peer_env = dict(env)
    # the distro's defaults are OTLP for traces, metrics and logs; keep traces and metrics
    # over OTLP/HTTP like ours, and leave logs off (we export none)
    peer_env.update(
        OTEL_TRACES_EXPORTER="otlp_proto_http",
        OTEL_METRICS_EXPORTER="otlp_proto_http",
        OTEL_LOGS_EXPORTER="none",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
    )
    peer = [str(BIN / "opentelemetry-instrument"), python, "app.py"]
    # the newcomer's default: no backend configured, spans go to the local store
    local_env = {k: v for k, v in env.items() if k != "OTEL_EXPORTER_OTLP_ENDPOINT"}
    ours = [str(BIN / "llm-instrument"), python, "app.py"]
    ours_env = dict(env)
    if str(ROOT) in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        # this checkout rather than the venv's install (a worktree beside an editable one)
        ours = [python, "-m", "llm_instrument.cli.launcher", python, "app.py"]
        ours_env["PYTHONPATH"] = local_env["PYTHONPATH"] = str(ROOT)
    return {
        "python": ([python, "app.py"], env),
        "llm-instrument": (ours, ours_env),
        "llm-instrument (local store)": (ours, local_env),
        PEER: (peer, {**peer_env, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "transformers"}),
        "opentelemetry-instrument (defaults)": (peer, peer_env),
    }


def _time_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds, and CPU seconds (user + system) of the process and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per variant first")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "startup.json"))
    args = parser.parse_args()
    if shutil.which("opentelemetry-instrument", path=str(BIN)) is None:
        raise SystemExit("opentelemetry-instrument not found: pip install opentelemetry-distro")

    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{sink.server_address[1]}"
    with tempfile.TemporaryDirectory(prefix="llmi-bench-") as tmp:
        work = Path(tmp)
        (work / "app.py").write_text(APP)
        variants = _variants(_env(work, endpoint))
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for _ in range(args.warmup):
            for argv, env in variants.values():
                _time_once(argv, env, work)
        for _ in range(args.runs):
            for name, (argv, env) in variants.items():
                times[name].append(_time_once(argv, env, work))

    sink.shutdown()
    wall = {name: [w for w, _ in samples] for name, samples in times.items()}
    cpu = {name: [c for _, c in samples] for name, samples in times.items()}
    bare, bare_cpu = statistics.median(wall["python"]), statistics.median(cpu["python"])
    rows = []
    print(f"{'variant':<38}{'wall ms':>9}{'min':>7}{'max':>7}{'ratio':>8}{'cpu ms':>9}{'ratio':>8}")
    for name in times:
        median, cpu_median = statistics.median(wall[name]), statistics.median(cpu[name])
        rows.append(
            {
                "variant": name,
                "wall_median_s": round(median, 4),
                "wall_min_s": round(min(wall[name]), 4),
                "wall_max_s": round(max(wall[name]), 4),
                "wall_ratio_to_bare": round(median / bare, 3),
                "cpu_median_s": round(cpu_median, 4),
                "cpu_ratio_to_bare": round(cpu_median / bare_cpu, 3),
                "wall_samples_s": [round(s, 4) for s in wall[name]],
                "cpu_samples_s": [round(s, 4) for s in cpu[name]],
            }
        )
        print(
            f"{name:<38}{median * 1000:>9.0f}{min(wall[name]) * 1000:>7.0f}"
            f"{max(wall[name]) * 1000:>7.0f}{median / bare:>7.2f}x"
            f"{cpu_median * 1000:>9.0f}{cpu_median / bare_cpu:>7.2f}x"
        )
    ours = statistics.median(wall["llm-instrument"])
    peer = statistics.median(wall[PEER])
    met = ours / bare <= TARGET_RATIO and ours < peer
    print(f"target (<= {TARGET_RATIO}x bare and below {PEER}): {'met' if met else 'MISSED'}")
    result = {
        "benchmark": "startup",
        "command": f"{Path(sys.executable).name} bench/startup.py --runs {args.runs}",
        "runs": args.runs,
        "warmup": args.warmup,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "target_ratio": TARGET_RATIO,
        "target_met": met,
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Big prompts: memory with a black-holed collector, and the latency of one huge prompt.

1. **Memory** (issue 10, target: RSS growth <= 64 MiB). A script ends ``--spans`` spans,
   each carrying a 1 MB prompt attribute set by the app itself (so no content policy trims
   it: the span queue's byte bound, ``LLM_INSTRUMENT_MAX_QUEUE_BYTES``, must hold on its
   own), while the collector accepts connections and never answers. It reports its RSS
   after warming up and at the end; the same script runs bare in the same invocation.
2. **Latency**: one ``chat`` operation through the GenAI core with a 10 MB prompt (and, when
   langchain-core is installed, a LangChain ``FakeListChatModel`` call with it), median of
   ``--rounds`` calls, bare against traced. What the core does with 10 MB (truncation,
   redaction) is the content policy's part; this measures the whole.

Run: ``.venv/bin/python bench/big_prompt.py [--spans 300] [--rounds 5]``; results go to
``bench/results/big_prompt.json``.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.processes import LAUNCHER, agent_env  # noqa: E402

TARGET_GROWTH_MIB = 64

MEMORY = """
import json, sys, time
from opentelemetry import trace

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

tracer = trace.get_tracer("bench.big_prompt")
count = int(sys.argv[1])
prompt = "p" * 2**20
with tracer.start_as_current_span("warm-up"):  # the export thread and the exporter exist
    pass
time.sleep(0.5)
start = rss_mib()
for i in range(count):
    with tracer.start_as_current_span("llm") as span:
        span.set_attribute("gen_ai.prompt", prompt + str(i))
    if i % 50 == 0:
        time.sleep(0.05)  # let the export thread run, as between requests
end = rss_mib()
print(json.dumps({"start": start, "end": end}))
"""

LATENCY = """
import json, statistics, sys, time
from llm_instrument import genai

rounds = int(sys.argv[1])
prompt = "q" * (10 * 2**20)
out = {}

def core():
    h = genai.start_llm("chat", provider="fake", model="m",
                    inputs=[genai.Message("user", prompt)])
    h.set_usage(genai.Usage(10, 1))
    h.finish(outputs="ok")

def timed(fn):
    times = []
    for _ in range(rounds):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return statistics.median(times)

out["core"] = timed(core)
try:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    model = FakeListChatModel(responses=["ok"] * (rounds + 1))
    out["langchain"] = timed(lambda: model.invoke(prompt))
except ImportError:
    pass
print(json.dumps(out))
"""


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


def _run(code: str, arg: str, env: dict[str, str], traced: bool) -> dict[str, float]:
    command = [LAUNCHER, "python"] if traced else [sys.executable]
    proc = subprocess.run(
        [*command, "-c", code, arg],
        env=env,
        cwd="/tmp",
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    hole = _blackhole()
    env = agent_env(hole, OTEL_METRICS_EXPORTER="none", LLM_INSTRUMENT_EXIT_TIMEOUT="1")
    bare_mem = _run(MEMORY, str(args.spans), agent_env(), traced=False)
    traced_mem = _run(MEMORY, str(args.spans), env, traced=True)
    bare_growth = bare_mem["end"] - bare_mem["start"]
    traced_growth = traced_mem["end"] - traced_mem["start"]
    print(f"memory, {args.spans} spans with a 1 MB prompt each, black-holed collector:")
    print(f"  bare     RSS {bare_mem['start']:.0f} -> {bare_mem['end']:.0f} MiB")
    print(f"  traced   RSS {traced_mem['start']:.0f} -> {traced_mem['end']:.0f} MiB")
    verdict = "ok" if traced_growth - bare_growth <= TARGET_GROWTH_MIB else "OVER"
    print(f"  growth against bare {traced_growth - bare_growth:+.0f} MiB ({verdict})")
    bare_lat = _run(LATENCY, str(args.rounds), agent_env(), traced=False)
    traced_lat = _run(LATENCY, str(args.rounds), agent_env(LLM_INSTRUMENT_EXPORTER="none"), True)
    print("latency of one call with a 10 MB prompt (median):")
    for key in traced_lat:
        delta = traced_lat[key] - bare_lat.get(key, 0.0)
        bare_ms = bare_lat.get(key, 0) * 1000
        print(f"  {key:<10} bare {bare_ms:8.1f} ms   delta {delta * 1000:+8.1f} ms")
    out = ROOT / "bench" / "results" / "big_prompt.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "memory": {"bare": bare_mem, "traced": traced_mem, "spans": args.spans},
                "latency": {"bare": bare_lat, "traced": traced_lat},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

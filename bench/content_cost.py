"""What captured content costs the application: a GenAI chat span with a 10 MB prompt, and
one with a 10,000-message history, against the same span with a 100-character prompt.

Runs the GenAI core in-process (the code a LangChain or transformers call goes through)
with an in-memory exporter behind the agent's ``PolicyExporter``, alternating the three
cases; reports the median wall time of ``start()`` + ``finish()`` on the calling thread,
the time added over the small prompt, and the exported span's size. Targets (issue 10):
a 10 MB prompt adds at most 50 ms, a 10,000-message chat exports at most 256 KiB.

Run: ``.venv/bin/python bench/content_cost.py [--rounds 30]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_instrument import genai
from llm_instrument.agent import config
from llm_instrument.content_policy.exporter import PolicyExporter
from llm_instrument.genai import handle

CASES: dict[str, Any] = {
    "small prompt (100 chars)": "How do I reset? " * 6,
    "10 MB prompt": "How do I reset? " * 655_360,
    "10,000-message chat": [
        genai.Message("user" if i % 2 else "assistant", f"turn {i}: " + "lorem ipsum " * 8)
        for i in range(10_000)
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    config.reset(config.Settings())
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(PolicyExporter(memory)))
    handle._tracer = provider.get_tracer("llm_instrument.genai")
    times: dict[str, list[float]] = {name: [] for name in CASES}
    sizes: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, inputs in CASES.items():
            memory.clear()
            began = time.perf_counter()
            h = genai.start_llm("chat", model="m", inputs=inputs)
            h.finish(outputs="The answer.")
            times[name].append(time.perf_counter() - began)
            (span,) = memory.get_finished_spans()
            sizes[name] = sum(len(str(v).encode()) for v in (span.attributes or {}).values())
    base = statistics.median(times["small prompt (100 chars)"])
    print(f"{'case':<28} {'median':>10} {'added':>10} {'exported':>12}")
    for name in CASES:
        median = statistics.median(times[name])
        print(
            f"{name:<28} {median * 1000:>8.2f}ms {(median - base) * 1000:>8.2f}ms "
            f"{sizes[name] / 1024:>9.1f}KiB"
        )
    print("(the span is exported synchronously here, so 'median' includes PolicyExporter)")


if __name__ == "__main__":
    main()

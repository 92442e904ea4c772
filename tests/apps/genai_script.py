"""N GenAI operations under one root span (their spans and metrics), then exit (argv: N)."""

import sys

from opentelemetry import trace

from llm_instrument import genai

count = int(sys.argv[1])
with trace.get_tracer("tests.apps.genai_script").start_as_current_span("script-root"):
    for _ in range(count):
        handle = genai.start_llm("chat", provider="fake", model="m1")
        handle.set_usage(genai.Usage(7, 3))
        handle.finish()
print(f"done {count}", flush=True)

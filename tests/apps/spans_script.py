"""Ends N spans under one root and exits at once (argv: N [exit code] [--wait])."""

import os
import sys
import time

from opentelemetry import trace

count = int(sys.argv[1])
code = int(sys.argv[2]) if len(sys.argv) > 2 else 0
tracer = trace.get_tracer("tests.apps.spans_script")
start = time.monotonic()
with tracer.start_as_current_span("script-root"):
    for i in range(count):
        with tracer.start_as_current_span("work") as span:
            span.set_attribute("work.index", i)
print(f"done {count} spans in {time.monotonic() - start:.3f}s pid={os.getpid()}", flush=True)
if "--wait" in sys.argv:
    print("ready", flush=True)
    time.sleep(60)
sys.exit(code)

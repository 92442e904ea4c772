"""Writes N spans over about a second, starting at a wall-clock time shared with a twin
process (argv: N START_AT), so that two processes export into one local store at once."""

import os
import sys
import time

from opentelemetry import trace

count, start_at = int(sys.argv[1]), float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))
tracer = trace.get_tracer("tests.apps.store_writer")
with tracer.start_as_current_span("writer-root"):
    for i in range(count):
        with tracer.start_as_current_span("write") as span:
            span.set_attribute("write.index", i)
            span.set_attribute("write.tags", ["a", "b"])
        if i % 20 == 0:
            time.sleep(0.02)
print(f"pid={os.getpid()}", flush=True)

"""Fills the local store: N traces of SPANS spans, each span carrying about 1 KB, then
reports the modes of the store's files while its connection is still open (argv: N)."""

import json
import os
import stat
import sys

from opentelemetry import trace

SPANS = 5
count = int(sys.argv[1])
tracer = trace.get_tracer("tests.apps.store_filler")
for i in range(count):
    with tracer.start_as_current_span(f"fill-{i}") as root:
        root.set_attribute("fill.index", i)
        for j in range(SPANS - 1):
            with tracer.start_as_current_span("part") as span:
                span.set_attribute("fill.payload", f"{i}-{j}-" + "p" * 1000)
trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
store = os.environ["LLM_INSTRUMENT_LOCAL_STORE"]
modes = {}
for path in (os.path.dirname(store), store, store + "-wal", store + "-shm"):
    if os.path.exists(path):
        modes[os.path.basename(path)] = oct(stat.S_IMODE(os.stat(path).st_mode))
print(json.dumps(modes), flush=True)

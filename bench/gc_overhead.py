"""Garbage collection per ``chain.invoke``: bare, and under the agent with OTLP export and with
the exporter off.

    .venv/bin/python bench/gc_overhead.py [--iterations 2000]

Each mode runs the ``langchain_overhead`` chain in its own process (spans over OTLP/HTTP to a
local receiver here that discards them) and reports, for the timed invokes: the collections of
each generation and the milliseconds they took (``gc.callbacks``), their cost per invoke, and
the objects per invoke that only a collection frees (reference cycles: ``gc.DEBUG_SAVEALL``
over 100 more invokes). A bare run makes no collection at all here: every collection in the
other rows is the agent's doing, either cyclic garbage (none expected) or the spans the
export queue holds until a batch is full (the ones that outlive two young collections are
promoted, and enough promoted objects trigger a full collection of the whole heap).
"""

from __future__ import annotations

import argparse
import gc
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(BENCH))

from langchain_overhead import _Sink, build_chain  # noqa: E402 - after the path is set

MODES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "bare": ((), {}),
    "llm-instrument (OTLP)": ((str(BIN / "llm-instrument"),), {}),
    "llm-instrument (exporter none)": (
        (str(BIN / "llm-instrument"),),
        {"LLM_INSTRUMENT_EXPORTER": "none"},
    ),
}


def child(iterations: int) -> None:
    chain = build_chain()
    for i in range(300):
        chain.invoke(f"warm-up {i}")
    spent = [0.0, 0.0, 0.0]
    counts = [0, 0, 0]
    started: list[float] = []

    def timing(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            spent[info["generation"]] += time.perf_counter() - started.pop()
            counts[info["generation"]] += 1

    gc.callbacks.append(timing)
    begin = time.process_time()
    for i in range(iterations):
        chain.invoke(f"How long do cats sleep? {i}")
    cpu = time.process_time() - begin
    gc.callbacks.remove(timing)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    for i in range(100):
        chain.invoke(f"cycles {i}")
    gc.collect()
    kinds = Counter(type(o).__qualname__ for o in gc.garbage)
    gc.set_debug(0)
    gc.garbage.clear()
    record = {
        "cpu_us_per_invoke": cpu / iterations * 1e6,
        "collections": counts,
        "ms_by_generation": [round(s * 1000, 1) for s in spent],
        "gc_us_per_invoke": sum(spent) / iterations * 1e6,
        "cyclic_objects_per_invoke": sum(kinds.values()) / 100,
        "cyclic_kinds": dict(kinds.most_common(8)),
    }
    print(json.dumps(record))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.iterations)
        return
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLM_INSTRUMENT_"))}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"{'mode':<32}{'cpu us':>8}{'gc us':>7}  collections (ms) by generation   cyclic/inv")
    for name, (launcher, extra) in MODES.items():
        command = [*launcher, sys.executable, __file__, "--child", "--iterations",
                   str(args.iterations)]  # fmt: skip
        done = subprocess.run(
            command, env={**env, **extra}, capture_output=True, text=True, timeout=1800
        )
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        generations = ", ".join(
            f"{n} ({ms})" for n, ms in zip(r["collections"], r["ms_by_generation"], strict=True)
        )
        print(
            f"{name:<32}{r['cpu_us_per_invoke']:>8.0f}{r['gc_us_per_invoke']:>7.1f}  "
            f"{generations:<32}{r['cyclic_objects_per_invoke']:>8.1f} {r['cyclic_kinds'] or ''}"
        )
    server.shutdown()


if __name__ == "__main__":
    main()

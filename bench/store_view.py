"""``llm-instrument view`` on a local store at its size cap: how long listing and showing
one trace take, and that retention holds the store at the cap.

Fills a fresh store through the real ``LocalStoreExporter`` (retention on, cap ``--mb``)
with traces of 10 spans of about 1.3 KB each, written in batches as the SDK would, until
the rows written are twice the cap; then runs ``llm-instrument view`` (the list) and
``llm-instrument view TRACE`` as a user would, ``--runs`` times each, and reports medians
with the store's size. Target (issue 11): listing takes at most 2 s on a store at its cap.

Run: ``.venv/bin/python bench/store_view.py [--mb 512] [--runs 5]``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from llm_instrument.exporters.local_store import LocalStoreExporter
from llm_instrument.exporters.store_retention import used_bytes

LAUNCHER = str(Path(sys.executable).parent / "llm-instrument")
RESOURCE = Resource({"service.name": "bench", "process.pid": os.getpid()})
SPANS_PER_TRACE = 10


def _trace(number: int, now: int) -> list[ReadableSpan]:
    trace_id = 0x1000 + number
    root = SpanContext(trace_id, 1, False, TraceFlags(1))
    spans = [
        ReadableSpan(
            name="part",
            context=SpanContext(trace_id, 2 + i, False, TraceFlags(1)),
            parent=root,
            resource=RESOURCE,
            attributes={"bench.payload": "p" * 1200, "bench.index": i},
            kind=SpanKind.INTERNAL,
            start_time=now + i,
            end_time=now + i + 1000,
        )
        for i in range(SPANS_PER_TRACE - 1)
    ]
    spans.append(
        ReadableSpan(
            name=f"GET /bench/{number}",
            context=root,
            resource=RESOURCE,
            attributes={"http.request.method": "GET", "url.path": f"/bench/{number}"},
            kind=SpanKind.SERVER,
            start_time=now,
            end_time=now + 5000,
        )
    )
    return spans


def _time(args: list[str], store: Path, runs: int) -> float:
    took = []
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(
            [LAUNCHER, "view", "--store", str(store), "--color", "never", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        took.append(time.perf_counter() - began)
        assert done.stdout, done.stderr
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=512)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "traces.db"
        exporter = LocalStoreExporter(str(store), max_mb=args.mb, max_age_s=0)
        written = 0
        number = 0
        began = time.perf_counter()
        while written < 2 * args.mb * 1024 * 1024:
            batch = []
            for _ in range(50):  # 500 spans per batch, the SDK's batch size
                batch += _trace(number, time.time_ns())
                number += 1
            exporter.export(batch)
            written += len(batch) * 1300
        fill_s = time.perf_counter() - began
        exporter.shutdown()

        with sqlite3.connect(store) as conn:
            used = used_bytes(conn)
            traces = conn.execute("SELECT COUNT(*) FROM traces").fetchone()[0]
            newest = conn.execute(
                "SELECT trace_id FROM traces ORDER BY start_ns DESC LIMIT 1"
            ).fetchone()[0]
        listing = _time([], store, args.runs)
        tree = _time([newest], store, args.runs)
        size = store.stat().st_size
    print(f"filled {number} traces ({written / 2**20:.0f} MB of rows) in {fill_s:.1f} s")
    print(f"store: file {size / 2**20:.0f} MB, pages in use {used / 2**20:.0f} MB, {traces} traces")
    print(f"view (list): {listing:.2f} s   view TRACE: {tree:.2f} s   (median of {args.runs})")


if __name__ == "__main__":
    main()

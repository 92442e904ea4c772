"""Creating the local store from many processes at the same instant (services and workers
starting together): every one of them gets a working store, none sees "database is locked"."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

from llm_instrument.exporters import local_store

PROCESSES = 8
TRIALS = 20


def _open_at(path: str, start: float, results: Any) -> None:
    time.sleep(max(0.0, start - time.time()))
    try:
        local_store.connect(path, create=True).execute("SELECT COUNT(*) FROM spans")
        results.put("ok")
    except Exception as exc:
        results.put(repr(exc))


def test_store_created_by_many_processes_at_once(tmp_path: Path) -> None:
    fork = multiprocessing.get_context("fork")
    failures = []
    for trial in range(TRIALS):
        results = fork.Queue()
        start = time.time() + 0.3
        path = str(tmp_path / f"trial{trial}" / "traces.db")
        procs = [
            fork.Process(target=_open_at, args=(path, start, results)) for _ in range(PROCESSES)
        ]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=30) for _ in procs]
        for proc in procs:
            proc.join(30)
        failures += [o for o in outcomes if o != "ok"]
    assert failures == []

"""The local store is private and bounded: 0700/0600 whatever the umask, whole traces
deleted oldest first past its size cap, and a store from an older version adopted."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

from llm_instrument.exporters import local_store
from llm_instrument.exporters.store_retention import used_bytes
from tests.support.processes import LAUNCHER, agent_env

APPS = Path(__file__).resolve().parent.parent / "apps"
SPANS_PER_TRACE = 5  # store_filler.SPANS


def _fill(store: Path, traces: int, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = agent_env(LLM_INSTRUMENT_LOCAL_STORE=str(store), OTEL_BSP_SCHEDULE_DELAY="50", **extra)
    return subprocess.run(
        [LAUNCHER, "python", str(APPS / "store_filler.py"), str(traces)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )


def test_store_files_are_private_under_umask_022(tmp_path: Path) -> None:
    store = tmp_path / "new-folder" / "traces.db"
    proc = _fill(store, 3, tmp_path)
    assert proc.returncode == 0, proc.stderr
    modes = json.loads(proc.stdout.strip().splitlines()[-1])
    assert modes == {
        "new-folder": "0o700",
        "traces.db": "0o600",
        "traces.db-wal": "0o600",
        "traces.db-shm": "0o600",
    }


def test_an_older_world_readable_store_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / ".llm-instrument"
    folder.mkdir(mode=0o755)
    store = folder / "traces.db"
    store.touch(mode=0o644)
    os.chmod(folder, 0o755)
    os.chmod(store, 0o644)
    proc = _fill(store, 1, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])[".llm-instrument"] == "0o700"
    assert oct(store.stat().st_mode & 0o777) == "0o600"


def test_a_store_past_its_cap_keeps_the_newest_traces_whole(tmp_path: Path) -> None:
    store = tmp_path / "capped" / "traces.db"
    # 1500 traces of 5 spans of ~1.3 KB: about 10 MB of rows for a 1 MB cap
    proc = _fill(store, 1500, tmp_path, LLM_INSTRUMENT_LOCAL_STORE_MAX_MB="1")
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(store) as conn:
        per_trace = conn.execute(
            "SELECT trace_id, COUNT(*), MAX(CASE WHEN parent_span_id IS NULL THEN name END) "
            "FROM spans GROUP BY trace_id"
        ).fetchall()
        summaries = dict(conn.execute("SELECT trace_id, spans FROM traces").fetchall())
        used = used_bytes(conn)
    roots = sorted(int(name.split("-")[1]) for _, _, name in per_trace if name)
    assert used <= 1024 * 1024
    assert 10 < len(per_trace) < 1500  # pruned, not emptied
    assert all(count == SPANS_PER_TRACE for _, count, _ in per_trace)  # never half a trace
    assert summaries == {trace_id: count for trace_id, count, _ in per_trace}
    assert roots[-1] == 1499  # the newest is kept...
    assert roots == list(range(roots[0], 1500))  # ...and what is kept is the newest run


def test_a_store_from_before_the_traces_table_is_adopted(tmp_path: Path) -> None:
    store = tmp_path / "old.db"
    with sqlite3.connect(store) as conn:  # the previous version's schema and one trace
        conn.executescript(local_store._SCHEMA.split("CREATE TABLE IF NOT EXISTS traces")[0])
        now = time.time_ns()
        conn.execute(
            "INSERT INTO spans VALUES ('ab', '01', NULL, 'old-root', 'INTERNAL', ?, ?, 'UNSET',"
            " NULL, 'old', '{}', '{}', '[]')",
            (now - 2000, now - 1000),
        )
    proc = _fill(store, 2, tmp_path)
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(store) as conn:
        summaries = dict(conn.execute("SELECT trace_id, spans FROM traces").fetchall())
    assert summaries["ab"] == 1
    assert sorted(summaries.values()) == [1, SPANS_PER_TRACE, SPANS_PER_TRACE]


def test_traces_older_than_the_max_age_are_deleted(tmp_path: Path) -> None:
    store = tmp_path / "aged.db"
    _fill(store, 1, tmp_path)
    with sqlite3.connect(store) as conn:  # one trace that ended two hours ago
        old = time.time_ns() - 2 * 3600 * 10**9
        conn.execute(
            "INSERT INTO spans VALUES ('cd', '01', NULL, 'stale', 'INTERNAL', ?, ?, 'UNSET',"
            " NULL, 'old', '{}', '{}', '[]')",
            (old, old + 1000),
        )
        conn.execute("INSERT INTO traces VALUES ('cd', ?, ?, 1, 0, 100, 'old')", (old, old + 1000))
    proc = _fill(store, 1, tmp_path, LLM_INSTRUMENT_LOCAL_STORE_MAX_AGE="1h")
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(store) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM spans")}
        ids = {row[0] for row in conn.execute("SELECT trace_id FROM traces")}
    assert "stale" not in names and "cd" not in ids
    assert {"fill-0", "part"} <= names and len(ids) == 2

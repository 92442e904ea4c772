"""The local store: the default exporter, written by several traced processes at once and
read back by ``llm-instrument view``."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.support.processes import LAUNCHER, agent_env, run_traced

APPS = Path(__file__).resolve().parent.parent / "apps"
SPANS_EACH = 400


def _write_concurrently(store: Path, cwd: Path) -> list[int]:
    # small batches exported often: many short transactions from both processes interleave
    env = agent_env(
        LLM_INSTRUMENT_LOCAL_STORE=str(store),
        OTEL_BSP_SCHEDULE_DELAY="10",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="8",
    )
    start_at = f"{time.time() + 2.5:.3f}"  # both are up and waiting by then
    procs = [
        subprocess.Popen(
            [LAUNCHER, "python", str(APPS / "store_writer.py"), str(SPANS_EACH), start_at],
            env={**env, "OTEL_SERVICE_NAME": f"writer-{i}"},
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    pids = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert err == "", err  # no "database is locked" or export failure reported
        pids.append(int(out.split("pid=")[1]))
    return pids


def test_two_processes_write_at_once_and_view_shows_both(tmp_path: Path) -> None:
    store = tmp_path / "store" / "traces.db"
    pids = _write_concurrently(store, tmp_path)

    with sqlite3.connect(store) as conn:
        rows = conn.execute(
            "SELECT service_name, json_extract(resource, '$.\"process.pid\"'), name, "
            "json_extract(attributes, '$.\"write.tags\"') FROM spans"
        ).fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert len(rows) == 2 * (SPANS_EACH + 1)
    assert {(r[0], r[1]) for r in rows} == {("writer-0", pids[0]), ("writer-1", pids[1])}
    assert {r[3] for r in rows if r[2] == "write"} == {'["a","b"]'}

    env = agent_env(LLM_INSTRUMENT_LOCAL_STORE=str(store))
    listed = run_traced(["view", "--format", "json"], env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    traces = json.loads(listed.stdout)
    assert sorted((t["service"], t["root"], t["spans"]) for t in traces) == [
        ("writer-0", "writer-root", SPANS_EACH + 1),
        ("writer-1", "writer-root", SPANS_EACH + 1),
    ]

    text = run_traced(["view", "--store", str(store), "--color", "never"], agent_env(), tmp_path)
    assert text.returncode == 0, text.stderr
    lines = [line for line in text.stdout.splitlines() if "writer-root" in line]
    assert len(lines) == 2
    for service in ("writer-0", "writer-1"):
        assert len([line for line in lines if service in line.split()]) == 1, text.stdout

    trace_id = traces[0]["trace_id"]
    tree = run_traced(["view", trace_id[:10], "--color", "never"], env, cwd=tmp_path)
    assert tree.returncode == 0, tree.stderr
    assert tree.stdout.count("write ") + tree.stdout.count("write\n") >= SPANS_EACH
    assert "writer-root" in tree.stdout


def test_local_store_is_the_default_and_view_without_store_explains(tmp_path: Path) -> None:
    proc = run_traced(["python", str(APPS / "spans_script.py"), "2"], agent_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    store = tmp_path / ".llm-instrument" / "traces.db"
    with sqlite3.connect(store) as conn:
        names = sorted(r[0] for r in conn.execute("SELECT name FROM spans"))
    assert names == ["script-root", "work", "work"]

    empty = run_traced(["view", "--store", str(tmp_path / "nothing.db")], agent_env(), tmp_path)
    assert empty.returncode == 1
    assert empty.stdout == ""
    assert len(empty.stderr.splitlines()) == 1
    assert "no trace store" in empty.stderr


def test_processes_starting_together_on_a_new_store_all_write(tmp_path: Path) -> None:
    # two services (or gunicorn workers) started together on a store that does not exist
    # yet: creating it (WAL mode, tables) collides, and no process may lose its spans
    store = tmp_path / "fresh" / "traces.db"
    env = agent_env(LLM_INSTRUMENT_LOCAL_STORE=str(store), OTEL_BSP_SCHEDULE_DELAY="10")
    procs = [
        subprocess.Popen(
            [LAUNCHER, "python", str(APPS / "store_writer.py"), "20", "0"],
            env={**env, "OTEL_SERVICE_NAME": f"starter-{i}"},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert err == "", err  # no "tracing off (database is locked)"
    with sqlite3.connect(store) as conn:
        counts = dict(conn.execute("SELECT service_name, COUNT(*) FROM spans GROUP BY 1"))
    assert counts == {f"starter-{i}": 21 for i in range(6)}

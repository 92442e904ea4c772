"""``llm-instrument view`` as a terminal tool: no traceback, no raw control characters,
messages that tell an empty store from a filter that matched nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from tests.support.processes import LAUNCHER, agent_env, run_traced

APPS = Path(__file__).resolve().parent.parent / "apps"


def _store_with(tmp_path: Path, app: str, *args: str, **extra: str) -> Path:
    store = tmp_path / "store" / "traces.db"
    env = agent_env(LLM_INSTRUMENT_LOCAL_STORE=str(store), **extra)
    proc = run_traced(["python", str(APPS / app), *args], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return store


def _view(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_traced(["view", "--store", str(store), "--color", "never", *args], agent_env())


def test_control_characters_are_escaped(tmp_path: Path) -> None:
    store = _store_with(tmp_path, "odd_spans.py")
    listing = _view(store)
    assert listing.returncode == 0, listing.stderr
    assert "\x1b" not in listing.stdout and "\x07" not in listing.stdout
    assert "evil\\x1b]0;owned\\x07name" in listing.stdout
    (trace_id,) = [
        t["trace_id"]
        for t in json.loads(_view(store, "--format", "json").stdout)
        if t["spans"] and t["root"].startswith("evil")
    ]
    tree = _view(store, trace_id)
    assert tree.returncode == 0, tree.stderr
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in tree.stdout
    assert "http://h/\\x1b[2J\\x1b[31mred\\u202eevil" in tree.stdout
    assert "bad\\x1b[1mbold\\nline" in tree.stdout
    assert "  1 span  " in tree.stdout


def test_a_closed_pipe_ends_view_quietly(tmp_path: Path) -> None:
    store = _store_with(tmp_path, "store_filler.py", "400")
    # enough lines to fill the pipe long after head has gone
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{LAUNCHER} view --store {store} --limit 400 | head -1"],
        env=agent_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("TRACE")
    tree = subprocess.run(
        [
            "bash",
            "-o",
            "pipefail",
            "-c",
            f"{LAUNCHER} view --store {store} --format json | head -c 10",
        ],
        env=agent_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (tree.returncode, tree.stderr) == (0, "")


def test_a_file_that_is_not_a_store_gets_one_line_and_exit_2(tmp_path: Path) -> None:
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE spans (id INTEGER PRIMARY KEY, label TEXT)")
        conn.execute("INSERT INTO spans (label) VALUES ('x')")
    script = tmp_path / "app.py"
    script.write_text("print('hello')\n" * 200)
    for path, why in (
        (foreign, "its spans table has other columns"),
        (script, "it is not a SQLite database"),
    ):
        result = _view(path)
        assert result.returncode == 2, (path, result.stdout, result.stderr)
        assert result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"llm-instrument view: {path} is not an llm-instrument trace store")
        assert why in line
        assert "Traceback" not in result.stderr


def test_empty_store_and_unmatched_filter_say_different_things(tmp_path: Path) -> None:
    store = _store_with(tmp_path, "store_filler.py", "2", OTEL_SERVICE_NAME="filler")
    unmatched = _view(store, "--service", "nosuch")
    assert unmatched.returncode == 0, unmatched.stderr
    assert unmatched.stdout.strip() == (
        "No traces of service 'nosuch' among the 2 traces in the store (services: filler)."
    )
    matched = _view(store, "--service", "filler")
    assert len([line for line in matched.stdout.splitlines() if "fill-" in line]) == 2

    empty = tmp_path / "empty.db"
    empty.touch()  # a store whose first writer has not created its tables yet
    result = _view(empty)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("No traces in the store yet")

    missing = _view(tmp_path / "nothing.db")
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"llm-instrument view: no trace store at {tmp_path / 'nothing.db'}: run an application "
        "under llm-instrument first, or pass --store"
    )

"""Prometheus across many worker lifetimes: gunicorn recycling its workers every 3 requests,
scraped at a real /metrics. Totals stay exact, the spool holds one file per live worker, a
dead worker's in-flight count disappears; the spool itself with real writer processes; idle
scrape connections time out."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.processes import agent_env, free_port, get, serve

APPS = Path(__file__).resolve().parent.parent / "apps"
ROOT = Path(__file__).resolve().parents[2]


def _sample(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if re.match(rf"{name}(\{{| )", line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _spool_files(tmp: Path) -> list[str]:
    return [name for folder in tmp.glob("llm-instrument-metrics-*") for name in os.listdir(folder)]


def test_hundreds_of_worker_lifetimes_keep_exact_totals(tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    port, metrics_port = free_port(), free_port()
    spool_parent = tmp_path / "tmp"
    spool_parent.mkdir()
    env = agent_env(
        None,
        LLM_INSTRUMENT_EXPORTER="none",
        LLM_INSTRUMENT_METRICS_PORT=str(metrics_port),
        LLM_INSTRUMENT_METRICS_HOST="127.0.0.1",
        PYTHONPATH=str(APPS),
        TMPDIR=str(spool_parent),
    )
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    args = [gunicorn, "-w", "2", "--max-requests", "3", "--preload", "-b", f"127.0.0.1:{port}"]
    url = f"http://127.0.0.1:{port}"
    sent = 0
    with serve([*args, "stop_app:wsgi"], env, f"{url}/health", cwd=tmp_path, timeout=60):
        get(f"{url}/leak")  # in flight in a worker that will die
        pids = set()
        for _ in range(450):  # about 150 worker lifetimes
            pids.add(get(f"{url}/work"))
            sent += 1
        # recycled workers spool at exit; wait (bounded) until the scrape has them all
        deadline = time.monotonic() + 30
        while True:
            text = get(f"http://127.0.0.1:{metrics_port}/metrics").decode()
            count = _sample(text, "gen_ai_client_operation_duration_seconds_count")
            if count >= sent or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        files = _spool_files(spool_parent)
    assert len(pids) > 100, "gunicorn did not recycle its workers"
    assert count == sent
    assert _sample(text, "gen_ai_client_token_usage_sum") == 7 * sent
    assert _sample(text, "stop_in_flight") == 0  # the leaked +1 died with its worker
    assert len(files) <= 2 + 2, files


WRITER = textwrap.dedent("""
    import sys, time
    from llm_instrument.exporters.prometheus._spool import WorkerFile
    spool, value, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    records = [
        {"name": "c", "unit": "", "help": "", "type": "counter", "points": [[{}, value]]},
        {"name": "u", "unit": "", "help": "", "type": "updown", "points": [[{}, 1]]},
    ]
    WorkerFile(spool).write(records)
    print("written", flush=True)
    if mode == "live":
        time.sleep(60)
""")


def test_dead_writers_are_folded_and_their_files_removed(tmp_path: Path) -> None:
    from llm_instrument.exporters.prometheus import _records
    from llm_instrument.exporters.prometheus._spool import SpoolReader

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for value in (1, 2, 3):  # three lifetimes that ended
        subprocess.run([sys.executable, "-c", WRITER, str(tmp_path), str(value), "dead"], env=env)
    live = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), "10", "live"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert live.stdout is not None and live.stdout.readline() == "written\n"
        reader = SpoolReader(str(tmp_path))
        folded: list[list[_records.Record]] = []
        snapshots = reader.live(folded.append)
        assert len(folded) == 3 and len(snapshots) == 1
        assert len(os.listdir(tmp_path)) == 1  # only the live writer's file is left
        merged = _records.merge([*folded, *snapshots])
        assert merged["c"]["points"]["{}"][1] == 16
        live.send_signal(signal.SIGKILL)
        live.wait(10)
        folded.clear()
        assert reader.live(folded.append) == []
        retired = _records.merge([_records.cumulative_only(r) for r in folded])
        assert retired["c"]["points"]["{}"][1] == 10
        assert "u" not in retired  # a dead worker's in-flight count is gone
        assert os.listdir(tmp_path) == []
    finally:
        if live.poll() is None:
            live.kill()


def test_spool_names_survive_pid_reuse(tmp_path: Path) -> None:
    from llm_instrument.exporters.prometheus._spool import WorkerFile

    first, second = WorkerFile(str(tmp_path)), WorkerFile(str(tmp_path))
    assert first.path != second.path  # the same PID, two lifetimes, two names
    assert str(os.getpid()) in os.path.basename(first.path)


def test_idle_scrape_connections_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_instrument.exporters import prometheus

    monkeypatch.setattr(prometheus, "IDLE_TIMEOUT_S", 0.5)
    monkeypatch.setattr(prometheus, "_state", prometheus._State())
    monkeypatch.delenv(prometheus.SPOOL_ENV, raising=False)
    port = free_port()
    prometheus.start(port, "127.0.0.1")
    try:
        server = prometheus._state.server
        assert server is not None and server.server_address[0] == "127.0.0.1"
        idle = socket.create_connection(("127.0.0.1", port))
        idle.settimeout(10)
        assert get(f"http://127.0.0.1:{port}/metrics", timeout=5) is not None
        assert idle.recv(1) == b""  # the server gave up on the silent client
        idle.close()
    finally:
        if prometheus._state.server is not None:
            prometheus._state.server.shutdown()
            prometheus._state.server.server_close()
        prometheus._cleanup_server()
        os.environ.pop(prometheus.SPOOL_ENV, None)

"""Prometheus exposition: ``/metrics`` on ``LLM_INSTRUMENT_METRICS_PORT``, across workers.

- the first process to start the agent binds ``LLM_INSTRUMENT_METRICS_HOST`` (default
  ``0.0.0.0``: Prometheus in Kubernetes scrapes the pod IP) on the port and serves
  ``/metrics`` from a daemon thread (stdlib ``http.server``, idle connections closed after
  ``IDLE_TIMEOUT_S``; ``prometheus_client`` is imported on the first scrape and renders the
  text format);
- it also creates a spool directory and puts its path in ``LLM_INSTRUMENT_METRICS_DIR``,
  which every later process inherits. A process that does not serve (a gunicorn worker
  forked from the master, a uvicorn worker spawned by its supervisor, whose bind fails with
  "address in use") writes its cumulative metrics to its own file there (``_spool``) every
  ``SPOOL_INTERVAL_S`` seconds when they changed, and at exit within the exit budget;
- a scrape merges the server's live metrics, the retired record (the counters and histograms
  of every worker that died, folded in) and every live worker's file (``_records`` says how
  each kind merges). The server removes the directory when it exits.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from llm_instrument.agent import shutdown
from llm_instrument.agent.guard import guarded
from llm_instrument.exporters.prometheus import _records
from llm_instrument.exporters.prometheus._records import Record

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from llm_instrument.exporters.prometheus._spool import SpoolReader, WorkerFile

_logger = logging.getLogger(__name__)

SPOOL_ENV = "LLM_INSTRUMENT_METRICS_DIR"
SPOOL_INTERVAL_S = 1.0
FOLD_INTERVAL_S = 5.0
IDLE_TIMEOUT_S = 10.0


class _State:
    reader: InMemoryMetricReader | None = None
    spool_dir: str | None = None
    server: ThreadingHTTPServer | None = None
    server_pid: int | None = None
    spool: SpoolReader | None = None
    worker_file: WorkerFile | None = None
    writer_pid: int | None = None
    last_written = ""
    baseline: list[Record] | None = None
    lock = threading.Lock()


_state = _State()


def reader() -> InMemoryMetricReader:
    """The reader whose cumulative metrics this process serves or spools."""
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    _state.reader = InMemoryMetricReader()
    return _state.reader


def start(port: int, host: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` on ``host:port``, or spool to the server that already does."""
    # imported here: http.server alone costs tens of milliseconds of start-up
    import tempfile
    from http.server import ThreadingHTTPServer

    from llm_instrument.exporters.prometheus._spool import SpoolReader

    inherited = os.environ.get(SPOOL_ENV)
    try:
        server = ThreadingHTTPServer((host, port), _handler_class())
    except OSError as exc:
        if inherited and os.path.isdir(inherited):
            _become_writer(inherited)
            return
        raise RuntimeError(f"metrics port {host}:{port} unavailable: {exc.strerror}") from exc
    server.daemon_threads = True
    spool = tempfile.mkdtemp(prefix="llm-instrument-metrics-")
    os.environ[SPOOL_ENV] = spool
    _state.spool_dir, _state.server, _state.server_pid = spool, server, os.getpid()
    _state.spool = SpoolReader(spool)
    threading.Thread(
        target=server.serve_forever, name="llm-instrument-metrics", daemon=True
    ).start()
    threading.Thread(target=_fold_loop, name="llm-instrument-metrics-fold", daemon=True).start()
    atexit.register(_cleanup_server)
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _after_fork_in_child() -> None:
    """A forked worker inherits the listening socket but not the serving thread: spool."""
    if _state.spool_dir is None:
        return
    if _state.server is not None:
        _close_inherited_socket(_state.server)
        _state.server = None
    _state.lock = threading.Lock()
    if _state.worker_file is not None:
        _state.worker_file.close_inherited()
        _state.worker_file = None
    # what the parent recorded before the fork is the parent's, not this worker's
    _state.baseline = _records.snapshot(_state.reader) if _state.reader is not None else None
    _become_writer(_state.spool_dir)


@guarded("metrics: closing the inherited metrics socket")
def _close_inherited_socket(server: ThreadingHTTPServer) -> None:
    """The child never serves: it must not keep the port bound after the parent exits."""
    server.socket.close()


@guarded("metrics: starting the spool writer")
def _become_writer(spool: str) -> None:
    from llm_instrument.exporters.prometheus._spool import WorkerFile

    _state.spool_dir = spool
    _state.last_written = ""
    _state.writer_pid = os.getpid()
    _state.worker_file = WorkerFile(spool)
    threading.Thread(target=_spool_loop, name="llm-instrument-spool", daemon=True).start()
    shutdown.register(lambda deadline: _spool_once())


def _spool_loop() -> None:
    while not shutdown.exiting.is_set():
        time.sleep(SPOOL_INTERVAL_S)
        _spool_once()


@guarded("metrics: writing the spool file")
def _spool_once() -> None:
    if _state.reader is None or _state.worker_file is None or _state.writer_pid != os.getpid():
        return
    records = _records.snapshot(_state.reader)
    if _state.baseline:
        records = _records.subtract(records, _state.baseline)
    text = repr(records)
    with _state.lock:
        if text == _state.last_written:
            return
        _state.worker_file.write(records)
        _state.last_written = text


def _cleanup_server() -> None:
    if _state.server_pid != os.getpid() or _state.spool_dir is None:
        return
    import shutil

    shutil.rmtree(_state.spool_dir, ignore_errors=True)


# -- merging -----------------------------------------------------------------------------------
def _fold(records: list[Record]) -> None:
    """A dead worker's counters and histograms join the retired record."""
    assert _state.spool is not None
    merged = _records.merge([_state.spool.retired, _records.cumulative_only(records)])
    _state.spool.retired = _records.as_list(merged)


def _fold_loop() -> None:
    """Dead workers are folded even when nobody scrapes, so files never pile up."""
    while True:
        time.sleep(FOLD_INTERVAL_S)
        _fold_dead()


@guarded("metrics: folding dead workers")
def _fold_dead() -> list[list[Record]]:
    if _state.spool is None:
        return []
    with _state.lock:
        return _state.spool.live(_fold)


def merged() -> dict[str, Record]:
    """All processes' metrics merged by name and label set (also used by tests)."""
    snapshots: list[list[Record]] = []
    live = _fold_dead() or []
    if _state.spool is not None:
        snapshots.append(_state.spool.retired)
    snapshots.extend(live)
    if _state.reader is not None:
        snapshots.append(_records.snapshot(_state.reader))
    return _records.merge(snapshots)


def render() -> bytes:
    """The merged metrics in the Prometheus text format."""
    return _records.render(merged())


def _handler_class() -> Any:
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        timeout = IDLE_TIMEOUT_S  # an idle or trickling client must not pin a thread

        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = _render_safely()
            self.send_response(200 if body is not None else 500)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            payload = body or b"# llm-instrument: rendering failed, see the application log\n"
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes are not the application's business: no access log."""

    return Handler


@guarded("metrics: rendering /metrics")
def _render_safely() -> bytes | None:
    return render()

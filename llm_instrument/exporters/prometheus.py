"""Prometheus exposition: ``/metrics`` on ``LLM_INSTRUMENT_METRICS_PORT``, across workers.

- the first process to start the agent binds the port and serves ``/metrics`` from a
  daemon thread (stdlib ``http.server``; ``prometheus_client`` is imported on the first
  scrape and renders the text format);
- it also creates a spool directory and puts its path in ``LLM_INSTRUMENT_METRICS_DIR``,
  which every later process inherits. A process that does not serve (a gunicorn worker
  forked from the master, a uvicorn worker spawned by its supervisor, whose bind fails
  with "address in use") writes its cumulative OpenTelemetry metrics there, one JSON file
  per process, every ``SPOOL_INTERVAL_S`` seconds when they changed and at exit;
- a scrape merges the serving process's live metrics with every file (counters and
  histograms are summed per label set, gauges keep the latest value), so the numbers
  cover all workers, and a worker that exited or was recycled still counts. The server
  removes the directory when it exits.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from llm_instrument.agent.guard import guarded

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

_logger = logging.getLogger(__name__)

SPOOL_ENV = "LLM_INSTRUMENT_METRICS_DIR"
SPOOL_INTERVAL_S = 1.0


class _State:
    reader: InMemoryMetricReader | None = None
    spool_dir: str | None = None
    server: ThreadingHTTPServer | None = None
    server_pid: int | None = None
    writer: threading.Thread | None = None
    writer_pid: int | None = None
    last_written = ""
    baseline: list[dict[str, Any]] | None = None


_state = _State()


def reader() -> InMemoryMetricReader:
    """The reader whose cumulative metrics this process serves or spools."""
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    _state.reader = InMemoryMetricReader()
    return _state.reader


def start(port: int, host: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` on ``port``, or spool to the server that already does."""
    _start_prometheus(port)


# -- roles: server (binds the port) or writer (spools to the shared directory) -----------------
def _start_prometheus(port: int) -> None:
    # imported here: http.server alone costs tens of milliseconds of start-up
    import tempfile
    from http.server import ThreadingHTTPServer

    inherited = os.environ.get(SPOOL_ENV)
    try:
        server = ThreadingHTTPServer(("", port), _handler_class())
    except OSError as exc:
        if inherited and os.path.isdir(inherited):
            _become_writer(inherited)
            return
        raise RuntimeError(f"metrics port {port} unavailable: {exc.strerror}") from exc
    server.daemon_threads = True
    spool = tempfile.mkdtemp(prefix="llm-instrument-metrics-")
    os.environ[SPOOL_ENV] = spool
    _state.spool_dir, _state.server, _state.server_pid = spool, server, os.getpid()
    threading.Thread(
        target=server.serve_forever, name="llm-instrument-metrics", daemon=True
    ).start()
    atexit.register(_cleanup_server)
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _after_fork_in_child() -> None:
    """A forked worker inherits the listening socket but not the serving thread: spool."""
    if _state.spool_dir is not None:
        if _state.server is not None:
            _close_inherited_socket(_state.server)
            _state.server = None
        # what the parent recorded before the fork is the parent's, not this worker's
        _state.baseline = _snapshot(_state.reader) if _state.reader is not None else None
        _become_writer(_state.spool_dir)


@guarded("metrics: closing the inherited metrics socket")
def _close_inherited_socket(server: ThreadingHTTPServer) -> None:
    """The child never serves: it must not keep the port bound after the parent exits."""
    server.socket.close()


@guarded("metrics: starting the spool writer")
def _become_writer(spool: str) -> None:
    _state.spool_dir = spool
    _state.last_written = ""
    _state.writer_pid = os.getpid()
    _state.writer = threading.Thread(target=_spool_loop, name="llm-instrument-spool", daemon=True)
    _state.writer.start()
    atexit.register(_spool_once)


def _spool_loop() -> None:
    while True:
        time.sleep(SPOOL_INTERVAL_S)
        _spool_once()


@guarded("metrics: writing the spool file")
def _spool_once() -> None:
    if _state.reader is None or _state.spool_dir is None or _state.writer_pid != os.getpid():
        return
    snapshot = _snapshot(_state.reader)
    if _state.baseline:
        snapshot = _subtract(snapshot, _state.baseline)
    text = json.dumps(snapshot, separators=(",", ":"))
    if text == _state.last_written:
        return
    path = os.path.join(_state.spool_dir, f"{os.getpid()}.json")
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)
    _state.last_written = text


def _cleanup_server() -> None:
    if _state.server_pid != os.getpid() or _state.spool_dir is None:
        return
    import shutil

    shutil.rmtree(_state.spool_dir, ignore_errors=True)


# -- snapshots and merging ---------------------------------------------------------------------
def _snapshot(reader: InMemoryMetricReader) -> list[dict[str, Any]]:
    """The reader's cumulative metrics as plain JSON-able records."""
    from opentelemetry.sdk.metrics.export import Histogram, Sum

    records: list[dict[str, Any]] = []
    data = reader.get_metrics_data()
    if data is None:
        return records
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                record: dict[str, Any] = {
                    "name": metric.name,
                    "unit": metric.unit,
                    "help": metric.description,
                    "points": [],
                }
                if isinstance(metric.data, Histogram):
                    record["type"] = "histogram"
                    for h in metric.data.data_points:
                        record["points"].append(
                            [
                                dict(h.attributes or {}),
                                list(h.explicit_bounds),
                                list(h.bucket_counts),
                                h.sum,
                                h.count,
                            ]
                        )
                else:
                    monotonic = isinstance(metric.data, Sum) and metric.data.is_monotonic
                    record["type"] = "counter" if monotonic else "gauge"
                    for p in metric.data.data_points:
                        value = getattr(p, "value", None)
                        record["points"].append([dict(p.attributes or {}), value])
                records.append(record)
    return records


def _subtract(
    snapshot: list[dict[str, Any]], baseline: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``snapshot`` less the cumulative values already present in ``baseline``."""
    before: dict[tuple[str, str], list[Any]] = {}
    for record in baseline:
        if record["type"] == "gauge":
            continue
        for point in record["points"]:
            before[(record["name"], json.dumps(point[0], sort_keys=True))] = point
    for record in snapshot:
        for point in record["points"]:
            old = before.get((record["name"], json.dumps(point[0], sort_keys=True)))
            if old is None:
                continue
            if record["type"] == "histogram" and old[1] == point[1]:
                point[2] = [a - b for a, b in zip(point[2], old[2], strict=True)]
                point[3] -= old[3]
                point[4] -= old[4]
            elif record["type"] == "counter":
                point[1] -= old[1]
    return snapshot


def _all_snapshots() -> Iterator[list[dict[str, Any]]]:
    if _state.reader is not None:
        yield _snapshot(_state.reader)
    spool = _state.spool_dir
    if not spool:
        return
    for entry in sorted(os.listdir(spool)):
        if not entry.endswith(".json"):
            continue
        try:
            with open(os.path.join(spool, entry), encoding="utf-8") as handle:
                yield json.load(handle)
        except (OSError, ValueError):
            continue  # a file being replaced right now: the next scrape has it


def merged() -> dict[str, dict[str, Any]]:
    """All processes' metrics merged by name and label set (also used by tests)."""
    result: dict[str, dict[str, Any]] = {}
    for snapshot in _all_snapshots():
        for record in snapshot:
            target = result.setdefault(
                record["name"],
                {k: record[k] for k in ("name", "unit", "help", "type")} | {"points": {}},
            )
            points = target["points"]
            for point in record["points"]:
                key = tuple(sorted((str(k), str(v)) for k, v in point[0].items()))
                if record["type"] == "histogram":
                    attrs, bounds, counts, total, count = point
                    found = points.get(key)
                    if found is None or found[1] != bounds:
                        points[key] = [attrs, bounds, list(counts), total, count]
                    else:
                        found[2] = [a + b for a, b in zip(found[2], counts, strict=True)]
                        found[3] += total
                        found[4] += count
                elif record["type"] == "counter" and key in points:
                    points[key][1] += point[1]
                else:
                    points[key] = list(point)
    return result


# -- exposition --------------------------------------------------------------------------------
_UNIT_SUFFIX = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "%": "percent", "1": "ratio"}


def _prom_name(name: str, unit: str) -> str:
    base = "".join(c if c.isalnum() else "_" for c in name)
    suffix = _UNIT_SUFFIX.get(unit or "")
    if suffix and not base.endswith(suffix):
        base = f"{base}_{suffix}"
    return base


def _prom_labels(attrs: dict[str, Any]) -> dict[str, str]:
    return {"".join(c if c.isalnum() else "_" for c in str(k)): str(v) for k, v in attrs.items()}


def render() -> bytes:
    """The merged metrics in the Prometheus text format."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import Metric
    from prometheus_client.samples import Sample

    families: list[Any] = []
    for record in merged().values():
        name = _prom_name(record["name"], record["unit"])
        family = Metric(name, record["help"], record["type"])
        for point in record["points"].values():
            labels = _prom_labels(point[0])
            if record["type"] == "histogram":
                _, bounds, counts, total, count = point
                cumulative = 0
                for bound, bucket in zip([*bounds, None], counts, strict=False):
                    cumulative += bucket
                    le = "+Inf" if bound is None else repr(float(bound))
                    family.samples.append(
                        Sample(f"{name}_bucket", {**labels, "le": le}, cumulative)
                    )
                family.samples.append(Sample(f"{name}_count", labels, count))
                family.samples.append(Sample(f"{name}_sum", labels, total))
            elif record["type"] == "counter":
                family.samples.append(Sample(f"{name}_total", labels, point[1]))
            else:
                family.samples.append(Sample(name, labels, point[1]))
        families.append(family)

    class _Merged:
        def collect(self) -> list[Any]:
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged())
    return generate_latest(registry)


def _handler_class() -> Any:
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
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

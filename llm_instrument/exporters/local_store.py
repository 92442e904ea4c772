"""The local trace store: an embedded SQLite database that ``llm-instrument view`` reads.

It is the default exporter when no OTLP endpoint is configured, so a newcomer sees traces
with no backend. Several traced processes (gunicorn workers, a server and the service it
calls) write to the same file at once: the database runs in WAL mode with a busy timeout,
and each export batch is one short transaction. Rows keep the span's own fields plus its
attributes and resource as JSON, which is all ``view`` needs.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llm_instrument.agent.guard import report

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status_code TEXT NOT NULL,
    status_message TEXT,
    service_name TEXT,
    attributes TEXT NOT NULL,
    resource TEXT NOT NULL,
    events TEXT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_by_start ON spans (start_ns);
"""

_BUSY_TIMEOUT_S = 10.0


def connect(path: str, *, create: bool) -> sqlite3.Connection:
    """Open the store; with ``create`` make the folder, the file and the schema."""
    if create:
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
    elif not os.path.exists(path):
        raise FileNotFoundError(path)
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, check_same_thread=False)
    if create:
        _create_schema(conn)
    return conn


def _create_schema(conn: sqlite3.Connection) -> None:
    """WAL mode and the tables. Switching a new file to WAL needs it alone for a moment, and
    when several processes start at once (two services, gunicorn workers) SQLite answers
    "database is locked" without waiting for the busy timeout; so it is retried."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            return
        except sqlite3.OperationalError as exc:
            contended = "locked" in str(exc) or "busy" in str(exc)
            if not contended or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    return value


def _row(span: ReadableSpan) -> tuple[Any, ...]:
    ctx = span.get_span_context()
    parent = span.parent
    resource = dict(span.resource.attributes) if span.resource else {}
    events = [
        {
            "name": e.name,
            "timestamp": e.timestamp,
            "attributes": _jsonable(dict(e.attributes or {})),
        }
        for e in span.events
    ]
    return (
        format(ctx.trace_id, "032x"),
        format(ctx.span_id, "016x"),
        format(parent.span_id, "016x") if parent else None,
        span.name,
        span.kind.name,
        span.start_time or 0,
        span.end_time or span.start_time or 0,
        span.status.status_code.name,
        span.status.description,
        resource.get("service.name"),
        json.dumps({k: _jsonable(v) for k, v in (span.attributes or {}).items()}),
        json.dumps({k: _jsonable(v) for k, v in resource.items()}),
        json.dumps(events),
    )


class LocalStoreExporter(SpanExporter):
    """Writes finished spans into the SQLite store, one transaction per batch."""

    def __init__(self, path: str) -> None:
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"local store folder {folder} is not writable")
        self._path = path
        self._lock = threading.Lock()
        # opened on the first export, in the export thread: start-up never waits for a
        # file that another starting process holds
        self._conn: sqlite3.Connection | None = None
        self._inherited: list[sqlite3.Connection] = []
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            if self._closed:
                return SpanExportResult.FAILURE
            try:
                if self._conn is None:
                    self._conn = connect(self._path, create=True)
                with self._conn:
                    self._conn.executemany(
                        "INSERT OR REPLACE INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        [_row(span) for span in spans],
                    )
            except (sqlite3.Error, TypeError, ValueError) as exc:
                report("local store export", exc)
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def reopen_after_fork(self) -> None:
        """A SQLite connection must not cross ``fork()``: the child opens its own. The
        parent's is kept, never used nor closed here, since closing it could disturb the
        parent's locks."""
        with self._lock:
            if self._conn is not None:
                self._inherited.append(self._conn)
            self._conn = None


def iter_rows(
    conn: sqlite3.Connection, sql: str, args: Sequence[Any] = ()
) -> Iterator[dict[str, Any]]:
    """Rows as dicts with the JSON columns decoded (for ``view``)."""
    cursor = conn.execute(sql, args)
    names = [d[0] for d in cursor.description]
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        for column in ("attributes", "resource", "events"):
            if column in row and isinstance(row[column], str):
                row[column] = json.loads(row[column])
        yield row

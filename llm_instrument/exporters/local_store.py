"""The local trace store: an embedded SQLite database that ``llm-instrument view`` reads.

It is the default exporter when no OTLP endpoint is configured, so a newcomer sees traces
with no backend. Several traced processes (gunicorn workers, a server and the service it
calls) write to the same file at once: the database runs in WAL mode with a busy timeout,
and each export batch is one short transaction. Rows keep the span's own fields plus its
attributes and resource as JSON, which is all ``view`` needs; a ``traces`` table keeps one
summary row per trace (start, end, span count, errors, services, bytes) so that listing
and retention never scan the spans.

The store holds prompts and answers in clear, so it is private: a folder it creates is
0700, and the database and its ``-wal``/``-shm`` files are 0600, whatever the umask
(SQLite gives the two side files the database's own mode). It does not grow forever:
``store_retention`` deletes whole traces, oldest first, past ``LLM_INSTRUMENT_LOCAL_STORE_MAX_MB``
or ``LLM_INSTRUMENT_LOCAL_STORE_MAX_AGE``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llm_instrument.agent.guard import report
from llm_instrument.exporters.store_retention import Retention

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "status_code",
    "status_message",
    "service_name",
    "attributes",
    "resource",
    "events",
)

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
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    spans INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    services TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_by_start ON traces (start_ns);
CREATE INDEX IF NOT EXISTS traces_by_end ON traces (end_ns);
"""

# a store written before the traces table existed gets it filled once
_BACKFILL = """
INSERT OR IGNORE INTO traces
SELECT trace_id, MIN(start_ns), MAX(end_ns), COUNT(*), SUM(status_code = 'ERROR'),
       SUM(LENGTH(attributes) + LENGTH(events) + LENGTH(resource) + 200),
       COALESCE(GROUP_CONCAT(DISTINCT service_name), '')
FROM spans GROUP BY trace_id
"""

_UPSERT_TRACE = """
INSERT INTO traces VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (trace_id) DO UPDATE SET
    start_ns = MIN(start_ns, excluded.start_ns),
    end_ns = MAX(end_ns, excluded.end_ns),
    spans = spans + excluded.spans,
    errors = errors + excluded.errors,
    bytes = bytes + excluded.bytes,
    services = CASE WHEN instr(',' || services || ',', ',' || excluded.services || ',') > 0
                    THEN services ELSE services || ',' || excluded.services END
"""

_BUSY_TIMEOUT_S = 10.0
_WAL_SIZE_LIMIT = 8 * 1024 * 1024  # the -wal file is cut back to this after a checkpoint
_PRIVATE_FILE = 0o600
_PRIVATE_FOLDER = 0o700
DEFAULT_FOLDER_NAME = ".llm-instrument"


def _tighten(path: str, mode: int) -> None:
    """``chmod`` a file or folder of ours that others may read; another user's is left."""
    try:
        info = os.stat(path)
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & ~mode:
            os.chmod(path, mode)
    except FileNotFoundError:
        pass


def _private_folder(folder: str) -> None:
    """Create the store's folder 0700. An existing folder is someone's choice and is left
    as it is, except our own default ``.llm-instrument`` (older versions made it 0755)."""
    try:
        os.makedirs(folder, _PRIVATE_FOLDER)
    except FileExistsError:
        if os.path.basename(folder) == DEFAULT_FOLDER_NAME:
            _tighten(folder, _PRIVATE_FOLDER)
    else:
        os.chmod(folder, _PRIVATE_FOLDER)  # makedirs' mode is subject to the umask


def _private_files(path: str) -> None:
    """Create the database file 0600 before SQLite does (SQLite would use 0644 minus the
    umask), and tighten files an older version left readable."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, _PRIVATE_FILE))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        _tighten(name, _PRIVATE_FILE)


def connect(path: str, *, create: bool) -> sqlite3.Connection:
    """Open the store; with ``create`` make the folder, the file and the schema."""
    if create:
        _private_folder(os.path.dirname(os.path.abspath(path)))
        _private_files(path)
    elif not os.path.exists(path):
        raise FileNotFoundError(path)
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, check_same_thread=False)
    if create:
        _create_schema(conn)
        conn.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")
    return conn


def _create_schema(conn: sqlite3.Connection) -> None:
    """WAL mode and the tables. Switching a new file to WAL needs it alone for a moment, and
    when several processes start at once (two services, gunicorn workers) SQLite answers
    "database is locked" without waiting for the busy timeout; so it is retried."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            had_traces = has_trace_table(conn)
            conn.executescript(_SCHEMA)
            if not had_traces:
                with conn:
                    conn.execute(_BACKFILL)
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
    if ctx is None:
        raise ValueError(f"span {span.name!r} has no context")
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


def _trace_rows(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One summary per trace of the batch, merged into ``traces`` by ``_UPSERT_TRACE``."""
    found: dict[str, list[Any]] = {}
    for row in rows:
        size = len(row[10]) + len(row[11]) + len(row[12]) + 200  # JSON plus the fixed fields
        entry = found.get(row[0])
        if entry is None:
            found[row[0]] = [row[0], row[5], row[6], 1, row[7] == "ERROR", size, {row[9] or ""}]
            continue
        entry[1] = min(entry[1], row[5])
        entry[2] = max(entry[2], row[6])
        entry[3] += 1
        entry[4] += row[7] == "ERROR"
        entry[5] += size
        entry[6].add(row[9] or "")
    return [(*entry[:6], ",".join(sorted(entry[6]))) for entry in found.values()]


class LocalStoreExporter(SpanExporter):
    """Writes finished spans into the SQLite store, one transaction per batch, and keeps
    it within its size and age limits."""

    def __init__(self, path: str, max_mb: int = 512, max_age_s: float = 7 * 86400) -> None:
        folder = os.path.dirname(os.path.abspath(path))
        _private_folder(folder)
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"local store folder {folder} is not writable")
        self._path = path
        self._retention = Retention(max_mb * 1024 * 1024, int(max_age_s * 1e9))
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
                rows = [_row(span) for span in spans]
                with self._conn:
                    self._conn.executemany(
                        "INSERT OR REPLACE INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
                    )
                    self._conn.executemany(_UPSERT_TRACE, _trace_rows(rows))
            except (sqlite3.Error, TypeError, ValueError) as exc:
                report("local store export", exc)
                return SpanExportResult.FAILURE
            try:
                self._retention.maybe_prune(self._conn)
            except sqlite3.Error as exc:  # retention waits for the next batch
                report("local store retention", exc)
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


def problem(conn: sqlite3.Connection) -> str | None:
    """Why an opened SQLite file is not a trace store (``None`` when it is one, possibly
    still empty). Raises ``sqlite3.DatabaseError`` for a file that is not SQLite at all."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        return None  # a store whose first writer has not created its tables yet
    if "spans" not in tables:
        return "it has no spans table"
    columns = {row[1] for row in conn.execute("PRAGMA table_info(spans)")}
    missing = [c for c in SPAN_COLUMNS if c not in columns]
    if missing:
        return f"its spans table has other columns (no {', '.join(missing)})"
    return None


def has_trace_table(conn: sqlite3.Connection) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'traces'"
        ).fetchone()
        is not None
    )


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

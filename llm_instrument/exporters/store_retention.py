"""Keeping the local store within its limits: whole traces go, oldest first.

- Age (``LLM_INSTRUMENT_LOCAL_STORE_MAX_AGE``, default ``7d``): a trace whose last span
  ended longer ago than that is deleted.
- Size (``LLM_INSTRUMENT_LOCAL_STORE_MAX_MB``, default 512): when the pages in use pass the
  cap, the traces that ended first are deleted until the store is back under 90% of it
  (so the next batch does not start another round). Freed pages are reused by later
  writes, so the file stays at about the cap; the ``-wal`` file is cut back to a few MB.

A trace is deleted with its summary row in one transaction: ``view`` never sees half of
one. Traces are ordered by their *last* activity, so a trace still being written is the
newest, never a candidate, and the newest trace is always kept. Each round deletes in
small transactions (a few thousand spans) and stops after a fraction of a second, so
other processes writing to the same store wait at most one short transaction; the rest
waits for the next batch. The check after each batch is three ``PRAGMA`` reads and two
indexed lookups.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

_LOW_WATER = 0.9
_SPANS_PER_TRANSACTION = 2000
_WORK_PER_ROUND_S = 0.25


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the pages in use (free pages left by deletes are not counted)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def _delete(conn: sqlite3.Connection, trace_ids: list[str]) -> None:
    with conn:
        conn.executemany("DELETE FROM spans WHERE trace_id = ?", [(t,) for t in trace_ids])
        conn.executemany("DELETE FROM traces WHERE trace_id = ?", [(t,) for t in trace_ids])


def _oldest(conn: sqlite3.Connection, before_ns: int | None, want_bytes: float | None) -> list[str]:
    """The next transaction's worth of oldest traces (never the newest one)."""
    rows = conn.execute(
        "SELECT trace_id, spans, bytes FROM traces WHERE end_ns < ? ORDER BY end_ns LIMIT 500",
        (before_ns if before_ns is not None else 2**63 - 1,),
    ).fetchall()
    if not rows:
        return []
    newest = conn.execute("SELECT trace_id FROM traces ORDER BY end_ns DESC LIMIT 1").fetchone()
    chosen: list[str] = []
    spans = 0
    freed = 0
    for trace_id, count, size in rows:
        if newest and trace_id == newest[0]:
            break
        if want_bytes is not None and freed >= want_bytes:
            break
        chosen.append(trace_id)
        spans += count
        freed += size
        if spans >= _SPANS_PER_TRANSACTION:
            break
    return chosen


def prune(
    conn: sqlite3.Connection, max_bytes: int, max_age_ns: int, deadline: float | None = None
) -> int:
    """Delete what is past the limits (0: no limit); returns the number of traces deleted.
    Stops at ``deadline`` (``time.monotonic()``), leaving the rest for the next round."""
    deleted = 0

    def time_left() -> bool:
        return deadline is None or time.monotonic() < deadline

    if max_age_ns:
        cutoff = time.time_ns() - max_age_ns
        while time_left() and (ids := _oldest(conn, cutoff, None)):
            _delete(conn, ids)
            deleted += len(ids)
    if max_bytes and used_bytes(conn) > max_bytes:
        target = max_bytes * _LOW_WATER
        while time_left() and (used := used_bytes(conn)) > target:
            stored = conn.execute("SELECT TOTAL(bytes) FROM traces").fetchone()[0] or 1.0
            # the summary's byte counts leave out indexes and page slack: scale them
            ids = _oldest(conn, None, (used - target) * stored / used)
            if not ids:
                break
            _delete(conn, ids)
            deleted += len(ids)
    return deleted


@dataclass(frozen=True)
class Retention:
    """The limits of one store, checked after each export batch (a few indexed reads)."""

    max_bytes: int
    max_age_ns: int

    def maybe_prune(self, conn: sqlite3.Connection) -> int:
        if not (self.max_bytes or self.max_age_ns):
            return 0
        return prune(conn, self.max_bytes, self.max_age_ns, time.monotonic() + _WORK_PER_ROUND_S)

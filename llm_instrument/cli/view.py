"""``llm-instrument view``: the local store, read back as a list of traces or one trace tree.

Without a trace id it lists recent traces (service, root span, start, duration, span count,
errors); with one (a unique prefix is enough) it prints the trace as an indented tree with
durations and the attributes an engineer looks at first. ``--format json`` prints plain
data for scripts. The store is read-only here and may be written by running apps meanwhile.

It is a terminal tool fed with what applications recorded, so: every printed value has its
control characters escaped (a URL with an ESC byte cannot drive the terminal); a closed
pipe (``view | head``) ends it quietly; a file that is not a trace store gets one line
saying so and exit status 2, never a traceback. Listing reads the store's ``traces``
summary table, so it costs the same on a store at its size cap as on a small one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

from llm_instrument.agent import config
from llm_instrument.cli import jaeger_json
from llm_instrument.cli.view_text import Style, display_name, ms, plural, print_tree, safe, when
from llm_instrument.exporters.local_store import connect, has_trace_table, iter_rows, problem

NOT_A_STORE = 2

_ROOT = """SELECT name, service_name, attributes FROM spans s WHERE trace_id = ? AND (
               parent_span_id IS NULL OR NOT EXISTS (
                 SELECT 1 FROM spans p WHERE p.trace_id = s.trace_id
                 AND p.span_id = s.parent_span_id))
           ORDER BY start_ns LIMIT 1"""


def _summaries(conn: sqlite3.Connection, limit: int, service: str | None) -> list[dict[str, Any]]:
    if has_trace_table(conn):
        where, args = ("WHERE instr(',' || services || ',', ',' || ? || ',') > 0", [service])
        sql = f"""SELECT trace_id, start_ns, end_ns, spans, errors, services FROM traces
                  {where if service else ""} ORDER BY start_ns DESC LIMIT ?"""
        traces = list(iter_rows(conn, sql, [*(args if service else []), limit]))
    else:  # a store written before the traces table existed, read-only here
        where, args = ("WHERE service_name = ?", [service]) if service else ("", [])
        sql = f"""
            SELECT trace_id, MIN(start_ns) AS start_ns, MAX(end_ns) AS end_ns, COUNT(*) AS spans,
                   SUM(status_code = 'ERROR') AS errors,
                   GROUP_CONCAT(DISTINCT service_name) AS services
            FROM spans WHERE trace_id IN (SELECT trace_id FROM spans {where})
            GROUP BY trace_id ORDER BY start_ns DESC LIMIT ?
        """
        traces = list(iter_rows(conn, sql, [*args, limit]))
    for trace in traces:
        roots = list(iter_rows(conn, _ROOT, [trace["trace_id"]]))
        root = roots[0] if roots else None
        trace["root"] = display_name(root["name"], root["attributes"]) if root else "?"
        trace["service"] = root["service_name"] if root else trace["services"]
        trace["duration_ms"] = round((trace["end_ns"] - trace["start_ns"]) / 1e6, 3)
        trace["errors"] = int(trace["errors"] or 0)
    return traces


def _stored(conn: sqlite3.Connection) -> tuple[int, list[str]]:
    """How many traces the store holds, and its services (for a filter that matched none)."""
    if has_trace_table(conn):
        count = conn.execute("SELECT COUNT(*) FROM traces").fetchone()[0]
        joined = conn.execute("SELECT GROUP_CONCAT(DISTINCT services) FROM traces").fetchone()
    else:
        count = conn.execute("SELECT COUNT(DISTINCT trace_id) FROM spans").fetchone()[0]
        joined = conn.execute("SELECT GROUP_CONCAT(DISTINCT service_name) FROM spans").fetchone()
    services = sorted({s for s in (joined[0] or "").split(",") if s})
    return int(count), services


def _show_one_hint(store: str) -> str:
    """The command that shows one of the listed traces, as it can be pasted here: the
    launcher by the path it was run by when that is not what ``PATH`` finds, and the store
    when it is not the default one."""
    import shutil

    program = "llm-instrument"
    invoked = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    found = shutil.which(program)
    if (
        invoked
        and os.path.basename(invoked) == program
        and (found is None or os.path.realpath(found) != os.path.realpath(invoked))
    ):
        program = os.path.relpath(invoked) if not os.path.isabs(sys.argv[0]) else invoked
    words = [program, "view"]
    if os.path.normpath(store) != os.path.normpath(config.DEFAULT_LOCAL_STORE):
        words += ["--store", store]
    import shlex

    return " ".join(shlex.quote(w) for w in words) + " TRACE"


def _print_list(
    conn: sqlite3.Connection,
    traces: list[dict[str, Any]],
    service: str | None,
    style: Style,
    store: str,
) -> None:
    if not traces:
        count, services = _stored(conn) if service else (0, [])
        if count:
            print(
                f"No traces of service {safe(service)!r} among the {plural(count, 'trace')} "
                f"in the store (services: {', '.join(safe(s) for s in services) or '-'})."
            )
        else:
            print("No traces in the store yet: run an application under llm-instrument first.")
        return
    header = ("TRACE", "STARTED", "SERVICE", "ROOT SPAN", "DURATION", "SPANS", "ERRORS")
    rows = [
        (
            safe(t["trace_id"][:16]),
            when(t["start_ns"]),
            safe(t["service"] or "-"),
            safe(t["root"]),
            ms(t["end_ns"] - t["start_ns"]),
            str(t["spans"]),
            str(t["errors"]) if t["errors"] else "",
        )
        for t in traces
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(style("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), "1"))
    for row in rows:
        line = "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        print(style(line, "31") if row[-1] else line)
    print(style(f"\nShow one: {safe(_show_one_hint(store))}", "2"))


def _resolve(conn: sqlite3.Connection, prefix: str) -> str | None:
    prefix = prefix.lower()
    if not re.fullmatch(r"[0-9a-f]{1,32}", prefix):
        return None
    table = "traces" if has_trace_table(conn) else "spans"
    ids = [
        row[0]
        for row in conn.execute(
            f"SELECT DISTINCT trace_id FROM {table} WHERE trace_id >= ? AND trace_id < ? LIMIT 2",
            [prefix, prefix + "g"],  # 'g' sorts after every hex digit
        )
    ]
    if len(ids) > 1:
        raise SystemExit(f"llm-instrument view: trace id prefix {prefix!r} is ambiguous")
    return ids[0] if ids else None


def _json_span(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "trace_id": row["trace_id"],
        "span_id": row["span_id"],
        "parent_span_id": row["parent_span_id"],
        "name": row["name"],
        "kind": row["kind"],
        "start_time_unix_nano": row["start_ns"],
        "end_time_unix_nano": row["end_ns"],
        "duration_ms": round((row["end_ns"] - row["start_ns"]) / 1e6, 3),
        "status": {"code": row["status_code"], "message": row["status_message"]},
        "attributes": row["attributes"],
        "resource": row["resource"],
        "events": row["events"],
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-instrument view",
        description="Show traces from the local store: a list, or one trace as a tree.",
    )
    parser.add_argument("trace", nargs="?", help="trace id (or a unique prefix) to show as a tree")
    parser.add_argument(
        "--store",
        default=os.environ.get("LLM_INSTRUMENT_LOCAL_STORE") or config.DEFAULT_LOCAL_STORE,
        help="path of the local store (default: $LLM_INSTRUMENT_LOCAL_STORE or %(default)s)",
    )
    parser.add_argument("--limit", type=int, default=20, help="traces to list (default 20)")
    parser.add_argument("--service", help="only traces that touch this service")
    parser.add_argument(
        "--format",
        choices=("text", "json", "jaeger"),
        default="text",
        help="jaeger: one trace as a Jaeger-JSON file, for Jaeger UI's Upload tab",
    )
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    return parser


def _open(store: str) -> sqlite3.Connection | int:
    """The store, or the exit status after one line on stderr saying why it cannot be."""
    where = safe(store)
    try:
        conn = connect(store, create=False)
    except FileNotFoundError:
        print(
            f"llm-instrument view: no trace store at {where}: run an application under "
            "llm-instrument first, or pass --store",
            file=sys.stderr,
        )
        return 1
    except sqlite3.Error:
        conn = None
    why = None
    try:
        why = problem(conn) if conn is not None else "it cannot be opened"
    except sqlite3.DatabaseError:
        why = "it is not a SQLite database"
    if why is None and conn is not None:
        return conn
    print(
        f"llm-instrument view: {where} is not an llm-instrument trace store ({why})",
        file=sys.stderr,
    )
    return NOT_A_STORE


def _view(args: argparse.Namespace) -> int:
    opened = _open(args.store)
    if isinstance(opened, int):
        return opened
    colored = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    style = Style(colored and args.format == "text")
    with opened as conn:
        # a store whose first writer has not created its tables yet is an empty one
        tables = _has_spans(conn)
        if args.trace is None:
            traces = _summaries(conn, args.limit, args.service) if tables else []
            if args.format == "json":
                keys = ("trace_id", "service", "root", "start_ns", "duration_ms", "spans", "errors")
                print(json.dumps([{k: t[k] for k in keys} for t in traces], indent=2))
            else:
                _print_list(conn, traces, args.service, style, args.store)
            return 0
        trace_id = _resolve(conn, args.trace) if tables else None
        if trace_id is None:
            print(
                f"llm-instrument view: no trace {safe(args.trace)!r} in {safe(args.store)}",
                file=sys.stderr,
            )
            return 1
        spans = list(
            iter_rows(conn, "SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ns", [trace_id])
        )
    if args.format == "json":
        print(json.dumps([_json_span(s) for s in spans], indent=2))
    elif args.format == "jaeger":
        print(json.dumps(jaeger_json.document(spans), ensure_ascii=False))
    else:
        print_tree(spans, style)
    return 0


def _has_spans(conn: sqlite3.Connection) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'spans'"
    return conn.execute(query).fetchone() is not None


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    if args.limit <= 0:
        _parser().error("--limit must be positive")
    if args.format == "jaeger" and args.trace is None:
        _parser().error("--format jaeger writes one trace: give its id")
    try:
        status = _view(args)
        sys.stdout.flush()
        return status
    except sqlite3.Error as exc:  # e.g. a store damaged or changed under us
        print(f"llm-instrument view: cannot read {safe(args.store)} ({safe(exc)})", file=sys.stderr)
        return NOT_A_STORE
    except BrokenPipeError:
        # the reader went away (``view | head``): stop quietly, and keep the interpreter's
        # own flush at exit from failing on the closed pipe again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0

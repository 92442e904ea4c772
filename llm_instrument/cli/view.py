"""``llm-instrument view``: the local store, read back as a list of traces or one trace tree.

Without a trace id it lists recent traces (service, root span, start, duration, span count,
errors); with one (a unique prefix is enough) it prints the trace as an indented tree with
durations and the attributes an engineer looks at first. ``--format json`` prints plain
data for scripts. The store is read-only here and may be written by running apps meanwhile.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

from llm_instrument.agent import config
from llm_instrument.cli import jaeger_json
from llm_instrument.exporters.local_store import connect, iter_rows

# attributes shown after a span's name in the tree, in this order, with short labels
_KEY_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("openinference.span.kind", ""),
    ("gen_ai.request.model", "model"),
    ("gen_ai.usage.input_tokens", "in"),
    ("gen_ai.usage.output_tokens", "out"),
    ("gen_ai.response.time_to_first_chunk", "ttft"),
    ("gen_ai.data_source.id", "source"),
    ("http.request.method", ""),
    ("http.method", ""),
    ("http.route", ""),
    ("url.full", ""),
    ("http.url", ""),
    ("http.response.status_code", "status"),
    ("http.status_code", "status"),
)


class _Style:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


def _ms(ns: int) -> str:
    ms = ns / 1e6
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _when(ns: int) -> str:
    return datetime.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def _format_value(key: str, value: Any) -> str:
    if key.endswith("time_to_first_chunk") and isinstance(value, int | float):
        return f"{value * 1000:.1f} ms"
    return str(value)


def _summaries(conn: sqlite3.Connection, limit: int, service: str | None) -> list[dict[str, Any]]:
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
        roots = list(
            iter_rows(
                conn,
                """SELECT name, service_name FROM spans s WHERE trace_id = ? AND (
                       parent_span_id IS NULL OR NOT EXISTS (
                         SELECT 1 FROM spans p WHERE p.trace_id = s.trace_id
                         AND p.span_id = s.parent_span_id))
                   ORDER BY start_ns LIMIT 1""",
                [trace["trace_id"]],
            )
        )
        trace["root"] = roots[0]["name"] if roots else "?"
        trace["service"] = roots[0]["service_name"] if roots else trace["services"]
        trace["duration_ms"] = round((trace["end_ns"] - trace["start_ns"]) / 1e6, 3)
        trace["errors"] = int(trace["errors"] or 0)
    return traces


def _print_list(traces: list[dict[str, Any]], style: _Style) -> None:
    if not traces:
        print("No traces in the store yet: run an application under llm-instrument first.")
        return
    header = ("TRACE", "STARTED", "SERVICE", "ROOT SPAN", "DURATION", "SPANS", "ERRORS")
    rows = [
        (
            t["trace_id"][:16],
            _when(t["start_ns"]),
            t["service"] or "-",
            t["root"],
            _ms(t["end_ns"] - t["start_ns"]),
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
    print(style("\nShow one: llm-instrument view TRACE", "2"))


def _resolve(conn: sqlite3.Connection, prefix: str) -> str | None:
    ids = [
        r["trace_id"]
        for r in iter_rows(
            conn,
            "SELECT DISTINCT trace_id FROM spans WHERE trace_id LIKE ? LIMIT 2",
            [prefix.lower() + "%"],
        )
    ]
    if len(ids) > 1:
        raise SystemExit(f"llm-instrument view: trace id prefix {prefix!r} is ambiguous")
    return ids[0] if ids else None


def _print_tree(spans: list[dict[str, Any]], style: _Style) -> None:
    ids = {s["span_id"] for s in spans}
    kids: dict[str | None, list[dict[str, Any]]] = {}
    for span in sorted(spans, key=lambda s: s["start_ns"]):
        parent = span["parent_span_id"] if span["parent_span_id"] in ids else None
        kids.setdefault(parent, []).append(span)
    start = min(s["start_ns"] for s in spans)
    end = max(s["end_ns"] for s in spans)
    services = sorted({s["service_name"] or "-" for s in spans})
    summary = f"{_when(start)}  {_ms(end - start)}  {len(spans)} spans"
    print(
        style(f"trace {spans[0]['trace_id']}", "1")
        + f"  {summary}  services: {', '.join(services)}"
    )

    def show(span: dict[str, Any], prefix: str, last: bool, service: str | None) -> None:
        attrs = span["attributes"]
        bits = [
            f"{label}={_format_value(key, attrs[key])}" if label else _format_value(key, attrs[key])
            for key, label in _KEY_ATTRIBUTES
            if key in attrs
        ]
        name = style(span["name"], "1")
        if span["service_name"] != service:
            name = style(f"[{span['service_name']}] ", "36") + name
        status = style(" ERROR", "31") if span["status_code"] == "ERROR" else ""
        detail = style("  " + " ".join(bits), "2") if bits else ""
        branch = "└─ " if last else "├─ "
        duration = style(_ms(span["end_ns"] - span["start_ns"]), "33")
        print(f"{prefix}{branch}{name} {duration}{status}{detail}")
        if span["status_code"] == "ERROR" and span.get("status_message"):
            print(f"{prefix}{'   ' if last else '│  '}  {style(span['status_message'], '31')}")
        children = kids.get(span["span_id"], [])
        for i, child in enumerate(children):
            show(
                child,
                prefix + ("   " if last else "│  "),
                i == len(children) - 1,
                span["service_name"],
            )

    roots = kids.get(None, [])
    for i, root in enumerate(roots):
        show(root, "", i == len(roots) - 1, None)


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


def main(argv: Sequence[str]) -> int:
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
    args = parser.parse_args(list(argv))
    if args.limit <= 0:
        parser.error("--limit must be positive")
    if args.format == "jaeger" and args.trace is None:
        parser.error("--format jaeger writes one trace: give its id")
    try:
        conn = connect(args.store, create=False)
        conn.execute("SELECT 1 FROM spans LIMIT 1")
    except (FileNotFoundError, sqlite3.Error) as exc:
        print(
            f"llm-instrument view: no trace store at {args.store} ({exc.__class__.__name__}); "
            "run an application under llm-instrument first, or pass --store",
            file=sys.stderr,
        )
        return 1
    colored = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    style = _Style(colored and args.format == "text")
    with conn:
        if args.trace is None:
            traces = _summaries(conn, args.limit, args.service)
            if args.format == "json":
                keys = ("trace_id", "service", "root", "start_ns", "duration_ms", "spans", "errors")
                print(json.dumps([{k: t[k] for k in keys} for t in traces], indent=2))
            else:
                _print_list(traces, style)
            return 0
        trace_id = _resolve(conn, args.trace)
        if trace_id is None:
            print(f"llm-instrument view: no trace {args.trace!r} in {args.store}", file=sys.stderr)
            return 1
        spans = list(
            iter_rows(conn, "SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ns", [trace_id])
        )
    if args.format == "json":
        print(json.dumps([_json_span(s) for s in spans], indent=2))
    elif args.format == "jaeger":
        print(json.dumps(jaeger_json.document(spans), ensure_ascii=False))
    else:
        _print_tree(spans, style)
    return 0

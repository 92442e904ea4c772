"""How ``llm-instrument view`` writes spans as text: durations, times, key attributes, the
trace tree, and every recorded value escaped so that a control character in a request URL
cannot recolour or rewrite the user's terminal."""

from __future__ import annotations

import datetime
import re
from typing import Any

# attributes shown after a span's name in the tree, in this order, with short labels
KEY_ATTRIBUTES: tuple[tuple[str, str], ...] = (
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

_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
# bidirectional overrides and isolates reorder what the terminal shows
_BIDI = (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ESCAPES.update({code: f"\\u{code:04x}" for code in _BIDI})


def safe(value: Any) -> str:
    """``value`` as text with control characters escaped, safe to print to a terminal."""
    return str(value).translate(_ESCAPES)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class Style:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


def ms(ns: int) -> str:
    ms = ns / 1e6
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def when(ns: int) -> str:
    return datetime.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def format_value(key: str, value: Any) -> str:
    if key.endswith("time_to_first_chunk") and isinstance(value, int | float):
        return f"{value * 1000:.1f} ms"
    return safe(value)


_METHOD_ONLY = re.compile(r"[A-Z]+|_OTHER")


def display_name(name: str, attributes: dict[str, Any]) -> str:
    """A server span named by its method alone (no route matched: a 404) shows its path,
    ``GET /nosuch``; the span name itself stays as the HTTP conventions want it (a path
    has no bounded cardinality)."""
    if not _METHOD_ONLY.fullmatch(name):
        return name
    path = attributes.get("url.path")
    if not isinstance(path, str):
        target = attributes.get("http.target")
        path = target.split("?", 1)[0] if isinstance(target, str) else None
    return f"{name} {path}" if path else name


def print_tree(spans: list[dict[str, Any]], style: Style) -> None:
    ids = {s["span_id"] for s in spans}
    kids: dict[str | None, list[dict[str, Any]]] = {}
    for span in sorted(spans, key=lambda s: s["start_ns"]):
        parent = span["parent_span_id"] if span["parent_span_id"] in ids else None
        kids.setdefault(parent, []).append(span)
    start = min(s["start_ns"] for s in spans)
    end = max(s["end_ns"] for s in spans)
    services = sorted({safe(s["service_name"] or "-") for s in spans})
    summary = f"{when(start)}  {ms(end - start)}  {plural(len(spans), 'span')}"
    print(
        style(f"trace {safe(spans[0]['trace_id'])}", "1")
        + f"  {summary}  services: {', '.join(services)}"
    )

    def show(span: dict[str, Any], prefix: str, last: bool, service: str | None) -> None:
        attrs = span["attributes"] if isinstance(span["attributes"], dict) else {}
        bits = [
            f"{label}={format_value(key, attrs[key])}" if label else format_value(key, attrs[key])
            for key, label in KEY_ATTRIBUTES
            if key in attrs
        ]
        name = style(safe(display_name(span["name"], attrs)), "1")
        if span["service_name"] != service:
            name = style(f"[{safe(span['service_name'])}] ", "36") + name
        status = style(" ERROR", "31") if span["status_code"] == "ERROR" else ""
        detail = style("  " + " ".join(bits), "2") if bits else ""
        branch = "└─ " if last else "├─ "
        duration = style(ms(span["end_ns"] - span["start_ns"]), "33")
        print(f"{prefix}{branch}{name} {duration}{status}{detail}")
        if span["status_code"] == "ERROR" and span.get("status_message"):
            message = style(safe(span["status_message"]), "31")
            print(f"{prefix}{'   ' if last else '│  '}  {message}")
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

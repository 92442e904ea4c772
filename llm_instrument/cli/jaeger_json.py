"""One trace from the local store as a Jaeger-JSON file, for Jaeger UI's Upload tab.

``llm-instrument view TRACE --format jaeger > trace.json``; then, in Jaeger UI (2.20 or
later for the GenAI view), *Search* -> *Upload* -> ``trace.json``. The Upload tab reads a
file entirely in the browser only in Jaeger's own JSON shape (OTLP JSON needs a backend's
``/api/transform``), which is what the query API's ``/api/traces/{id}`` answers:

    {"data": [{"traceID", "spans": [...], "processes": {"p1": {"serviceName", "tags"}}}]}

Each span: ``traceID``, ``spanID``, ``operationName``, ``references`` (the parent as
``CHILD_OF``), ``startTime``/``duration`` in microseconds, ``tags``, ``logs`` (events),
``processID``. Attributes become tags the way Jaeger's own OTLP translator writes them:
typed ``string``/``bool``/``int64``/``float64``, arrays and maps as JSON strings, plus
``span.kind``, ``otel.status_code``/``otel.status_description`` and ``error`` for a failed
span (which is what Jaeger UI reads for kind and status). The resource becomes the process.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

_KINDS = {"CLIENT": "client", "SERVER": "server", "PRODUCER": "producer", "CONSUMER": "consumer"}


def _tag(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    return {"key": key, "type": "string", "value": json.dumps(value, ensure_ascii=False)}


def _tags(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [_tag(key, value) for key, value in attributes.items() if value is not None]


def _span_tags(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    tags = _tags(row["attributes"])
    kind = _KINDS.get(row["kind"], "internal")
    tags.append(_tag("span.kind", kind))
    if row["status_code"] in ("OK", "ERROR"):
        tags.append(_tag("otel.status_code", row["status_code"]))
    if row["status_code"] == "ERROR":
        tags.append(_tag("error", True))
        if row.get("status_message"):
            tags.append(_tag("otel.status_description", row["status_message"]))
    return tags


def _logs(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": int(event["timestamp"]) // 1000,
            "fields": [_tag("event", event["name"]), *_tags(event.get("attributes") or {})],
        }
        for event in events
    ]


def document(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The Jaeger-JSON document of one trace, from its local-store rows (``iter_rows``)."""
    if not rows:
        return {"data": []}
    trace_id = rows[0]["trace_id"]
    processes: dict[str, dict[str, Any]] = {}
    process_ids: dict[str, str] = {}
    spans = []
    for row in rows:
        resource = dict(row["resource"])
        service = str(resource.pop("service.name", None) or row["service_name"] or "unknown")
        key = json.dumps([service, resource], sort_keys=True, default=str)
        if key not in process_ids:
            process_ids[key] = f"p{len(process_ids) + 1}"
            processes[process_ids[key]] = {"serviceName": service, "tags": _tags(resource)}
        parent = row["parent_span_id"]
        references = (
            [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent}] if parent else []
        )
        start_us = int(row["start_ns"]) // 1000
        spans.append(
            {
                "traceID": trace_id,
                "spanID": row["span_id"],
                "operationName": row["name"],
                "references": references,
                "startTime": start_us,
                "duration": max(int(row["end_ns"]) // 1000 - start_us, 0),
                "tags": _span_tags(row),
                "logs": _logs(row["events"]),
                "processID": process_ids[key],
                "warnings": None,
            }
        )
    trace = {"traceID": trace_id, "spans": spans, "processes": processes, "warnings": None}
    return {"data": [trace], "total": 0, "limit": 0, "offset": 0, "errors": None}

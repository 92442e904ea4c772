"""``llm-instrument view TRACE --format jaeger``: a file Jaeger UI's Upload tab loads.

Jaeger UI cannot run here (a browser), so the test reads the file the way its upload code
does, restated from jaeger-ui v2.20.0 (the release Jaeger 2.20.0 bundles):
``components/SearchTracePage/FileLoader.tsx`` (``{data: [...]}`` -> traces),
``model/transform-trace-data.ts`` (a ``traceID``; spans without ``startTime`` dropped; the
process looked up by ``processID``; the parent found through a ``CHILD_OF`` reference, else
an orphan) and ``model/OtelSpanFacade.ts`` (tags become attributes by ``key``/``value``,
``span.kind`` the kind, ``error`` the status). The spans so rebuilt then go through Jaeger's
GenAI rules (``tests/support/jaeger_rules.py``), and must say what the store says.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from tests.support import jaeger_rules as jaeger
from tests.support.processes import agent_env, run_traced

APP = str(Path(__file__).parents[1] / "apps" / "langchain_app.py")
SPAN_KINDS = {"UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"}


def _as_jaeger_ui_loads_it(document: Any) -> list[dict[str, Any]]:
    """The spans of the uploaded file as Jaeger UI's upload builds them, checking what it
    needs on the way; as dicts in ``jaeger_rules``' shape."""
    traces = document["data"] if isinstance(document.get("data"), list) else [document]
    assert len(traces) == 1
    (trace,) = traces
    assert trace["traceID"]
    spans = [s for s in trace["spans"] if s["startTime"]]
    assert len(spans) == len(trace["spans"])  # none dropped for a missing start time
    by_id = {s["spanID"]: s for s in spans}
    assert len(by_id) == len(spans)  # no duplicate ids
    rebuilt = []
    for span in spans:
        assert span["processID"] in trace["processes"]
        assert trace["processes"][span["processID"]]["serviceName"]
        assert isinstance(span["duration"], int) and span["duration"] >= 0
        parents = [r for r in span["references"] if r["refType"] in ("CHILD_OF", "FOLLOWS_FROM")]
        for ref in parents:
            assert ref["spanID"] in by_id, "an orphan span"  # its parent is in the file
            assert ref["traceID"] == trace["traceID"]
        for tag in span["tags"]:
            assert {"key", "type", "value"} <= tag.keys()
            assert tag["type"] in ("string", "bool", "int64", "float64")
        attributes = {t["key"]: t["value"] for t in span["tags"]}
        kind = str(attributes.pop("span.kind", "internal")).upper()
        assert kind in SPAN_KINDS
        failed = bool(attributes.pop("error", False))
        for log in span["logs"]:
            assert isinstance(log["timestamp"], int)
            assert any(f["key"] == "event" for f in log["fields"])
        rebuilt.append(
            {
                "name": span["operationName"],
                "span_id": span["spanID"],
                "parent_span_id": parents[0]["spanID"] if parents else None,
                "kind": kind,
                "status": "ERROR" if failed else "UNSET",
                "attributes": attributes,
            }
        )
    return rebuilt


def test_a_stored_trace_uploads_to_jaeger_ui_with_its_genai_view(tmp_path: Path) -> None:
    store = tmp_path / "traces.db"
    env = agent_env(LLM_INSTRUMENT_LOCAL_STORE=str(store))
    done = run_traced([sys.executable, APP, "rag"], env)
    assert done.returncode == 0, done.stderr[-3000:]
    listed = run_traced(["view", "--format", "json"], env, cwd=tmp_path)
    (summary,) = json.loads(listed.stdout)
    out = run_traced(["view", summary["trace_id"][:12], "--format", "jaeger"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    (tmp_path / "trace.json").write_text(out.stdout)  # what a user hands to the Upload tab
    spans = _as_jaeger_ui_loads_it(json.loads((tmp_path / "trace.json").read_text()))
    stored = json.loads(run_traced(["view", summary["trace_id"], "--format", "json"], env).stdout)
    assert {s["span_id"] for s in spans} == {s["span_id"] for s in stored}
    by_id = {s["span_id"]: s for s in spans}
    for row in stored:
        span = by_id[row["span_id"]]
        assert span["parent_span_id"] == row["parent_span_id"]
        for key, value in row["attributes"].items():  # arrays arrive as JSON strings
            got = span["attributes"][key]
            assert (json.loads(got) if isinstance(value, list) else got) == value, key
    assert jaeger.is_genai_trace(spans)
    assert jaeger.UNKNOWN_GENAI not in {jaeger.classify(s) for s in spans}
    (chat,) = jaeger.by_kind([s for s in spans if s["name"].startswith("chat")], jaeger.LLM_CALL)
    assert jaeger.model_pill(chat) == "fake-chat-1"
    tab = jaeger.genai_tab(chat)
    assert tab["tokens"]["input_tokens"] == 11 and tab["tokens"]["output_tokens"] == 4
    assert tab["conversation"]["output"] == [{"role": "assistant", "content": "Cats sleep a lot."}]
    assert jaeger.trace_summary(spans)["input_tokens"] == 11


def test_view_format_jaeger_needs_a_trace(tmp_path: Path) -> None:
    store = tmp_path / "traces.db"
    env = agent_env(LLM_INSTRUMENT_LOCAL_STORE=str(store))
    assert run_traced([sys.executable, APP, "rag"], env).returncode == 0
    done = run_traced(["view", "--format", "jaeger"], env, cwd=tmp_path)
    assert done.returncode == 2
    assert "--format jaeger writes one trace" in done.stderr


def test_jaeger_is_pinned_to_a_release_with_the_genai_view() -> None:
    import re

    root = Path(__file__).parents[2]
    k8s = re.findall(
        r"image: jaegertracing/jaeger:(\S+)", (root / "k8s/observability/jaeger.yaml").read_text()
    )
    readme = re.findall(r"jaegertracing/[\w-]+:(\S+)", (root / "README.md").read_text())
    assert k8s and readme and set(readme) == set(k8s)  # one pinned release everywhere
    (version,) = set(k8s)
    assert tuple(int(p) for p in version.split(".")) >= (2, 20, 0)  # bundles jaeger-ui 2.20

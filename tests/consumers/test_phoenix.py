"""Phoenix, a real server, reading a real traced process: the harness sees what Phoenix shows.

The process is ``tests/apps/langchain_app.py`` under ``llm-instrument python``, sending traces
to Phoenix as its docs tell users (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``). Only facts that
hold today are asserted here; the conventions work (issues 11 and 12) adds its own tests on
this harness.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("langchain_core")

from tests.support.phoenix import Phoenix, PhoenixSpan
from tests.support.processes import agent_env, run_traced

APP = str(Path(__file__).parents[1] / "apps" / "langchain_app.py")


def run(phoenix: Phoenix, project: str, scenario: str, expect: int) -> list[PhoenixSpan]:
    env = agent_env(None, **phoenix.agent_env(project))
    done = run_traced([sys.executable, APP, scenario], env)
    assert done.returncode == 0, done.stderr
    return phoenix.wait_for_spans(project, lambda spans: len(spans) >= expect)


def one(spans: list[PhoenixSpan], name: str) -> PhoenixSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def test_phoenix_classifies_and_counts_a_rag_trace(phoenix: Phoenix, phoenix_project: str) -> None:
    spans = run(phoenix, phoenix_project, "rag", expect=6)
    assert len({s.trace_id for s in spans}) == 1
    request = one(spans, "request")
    chat = one(spans, "chat fake-chat-1")
    retrieval = one(spans, "retrieval InMemoryVectorStore")
    assert request.parent_id is None
    assert chat.kind == "LLM"
    assert retrieval.kind == "RETRIEVER"
    assert chat.model_name == "fake-chat-1"
    assert chat.tokens == {"prompt": 11, "completion": 4, "total": 15}
    assert chat.output_messages == [
        {"role": "assistant", "content": "Cats sleep a lot.", "finish_reason": "stop"}
    ]
    assert [m["role"] for m in chat.input_messages] == ["system", "user"]
    assert retrieval.input_value == "How long do cats sleep?"
    # parents are the OTel ones: the chat span sits under the sequence, under the request
    parents = {s.span_id: s for s in spans}
    assert parents[parents[chat.parent_id].parent_id] is request  # type: ignore[index]
    totals = phoenix.trace_tokens(chat.trace_id, phoenix_project)
    assert totals == {"prompt": 11, "completion": 4, "total": 15, "spans": len(spans)}
    assert phoenix.project_tokens(phoenix_project) == {"prompt": 11, "completion": 4, "total": 15}


def test_phoenix_shows_scored_retrieval_documents(phoenix: Phoenix, phoenix_project: str) -> None:
    spans = run(phoenix, phoenix_project, "scored", expect=2)
    retriever = one(spans, "retrieval ScoredRetriever")
    assert retriever.kind == "RETRIEVER"
    assert [(d["id"], d["content"], d["score"]) for d in retriever.documents] == [
        ("a", "A", 0.9),
        ("b", "B", 0.4),
    ]

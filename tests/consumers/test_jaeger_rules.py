"""Jaeger UI's GenAI rules (tests/support/jaeger_rules.py) on a real traced LangChain call,
and on the edge cases its source spells out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import jaeger_rules as jaeger
from tests.support.otlp_receiver import OTLPReceiver, by_name
from tests.support.processes import agent_env, run_traced

APP = str(Path(__file__).parents[1] / "apps" / "langchain_app.py")


def span(**attributes: Any) -> dict[str, Any]:
    return {"name": "s", "attributes": attributes, "status": "UNSET"}


def test_a_traced_rag_call_as_jaeger_shows_it(otlp: OTLPReceiver) -> None:
    pytest.importorskip("langchain_core")
    done = run_traced([sys.executable, APP, "rag"], agent_env(otlp.endpoint))
    assert done.returncode == 0, done.stderr
    spans = otlp.wait_for(lambda s: len(s) >= 6)
    [chat] = by_name(spans, "chat fake-chat-1")
    [retrieval] = by_name(spans, "retrieval InMemoryVectorStore")
    [request] = by_name(spans, "request")
    assert jaeger.is_genai_trace(spans)
    assert jaeger.classify(chat) == jaeger.LLM_CALL
    assert jaeger.classify(retrieval) == jaeger.RETRIEVAL
    assert jaeger.classify(request) is None
    assert jaeger.model_pill(chat) == "fake-chat-1"
    tab = jaeger.genai_tab(chat)
    assert tab["meta"] == {"provider": "fake", "model": "fake-chat-1"}
    assert tab["tokens"]["input_tokens"] == 11 and tab["tokens"]["output_tokens"] == 4
    assert tab["conversation"]["output"] == [{"role": "assistant", "content": "Cats sleep a lot."}]
    assert tab["conversation"]["system"] == "Answer from: Cats sleep sixteen hours a day."
    summary = jaeger.trace_summary(spans)
    assert (summary["input_tokens"], summary["output_tokens"]) == (11, 4)
    assert summary["errors"] == 0


@pytest.mark.parametrize(
    ("attributes", "kind"),
    [
        ({"gen_ai.operation.name": "chat"}, jaeger.LLM_CALL),
        ({"gen_ai.operation.name": "embeddings"}, jaeger.LLM_CALL),
        ({"gen_ai.operation.name": "invoke_workflow"}, jaeger.AGENT),
        ({"gen_ai.operation.name": "chain", "gen_ai.span.kind": "CHAIN"}, jaeger.UNKNOWN_GENAI),
        ({"gen_ai.operation.name": "chain", "gen_ai.tool.name": "t"}, jaeger.TOOL_CALL),
        ({"gen_ai.operation.name": "chat", "gen_ai.tool.name": "t"}, jaeger.LLM_CALL),
        ({"gen_ai.tool.call.id": "c1"}, None),
        ({"http.method": "GET"}, None),
    ],
)
def test_kind_rules(attributes: dict[str, Any], kind: str | None) -> None:
    assert jaeger.classify(span(**attributes)) == kind


def test_pill_reads_the_request_model_only() -> None:
    assert jaeger.model_pill(span(**{"gen_ai.response.model": "m"})) is None
    assert jaeger.model_pill(span(**{"gen_ai.request.model": "  "})) is None
    assert jaeger.model_pill(span(**{"gen_ai.request.model": " m1 "})) == "m1"


def test_tab_renders_tool_calls_and_counts_nested_usage_per_span() -> None:
    call = '[{"role": "assistant", "parts": [{"type": "tool_call", "name": "add", '
    call += '"arguments": "{\\"a\\": 2}"}]}]'
    assert jaeger.genai_tab(span(**{"gen_ai.output.messages": call}))["conversation"]["output"] == [
        {"role": "assistant", "content": '→ add({"a":2})'}
    ]
    model = {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 5}
    assert jaeger.trace_summary([span(**model), span(**model)])["input_tokens"] == 10
    assert jaeger.genai_tab(span(**{"gen_ai.span.kind": "LLM"}))["other"] == ["gen_ai.span.kind"]

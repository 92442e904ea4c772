"""What LangChain spans say, under the launcher with a real OTLP receiver: roles of streamed
chunks, the real scores a VectorStoreRetriever drops, cache and reasoning tokens, handled
tool errors, chain values as JSON, conversation ids, a client that disconnects mid-stream,
and the GenAI JSON schemas Phoenix validates with. Scenarios live in
``tests/apps/langchain_app.py`` (and ``langchain_sse.py`` for the server)."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from tests.support import genai_schema
from tests.support.otlp_receiver import OTLPReceiver, by_name, children
from tests.support.processes import agent_env, free_port, get, run_traced, serve

APPS = Path(__file__).parents[1] / "apps"
APP = str(APPS / "langchain_app.py")
CHAT = "chat fake-chat-1"

Span = dict[str, Any]


def run(otlp: OTLPReceiver, scenario: str, expect: int) -> tuple[Any, list[Span]]:
    result = run_traced([sys.executable, APP, scenario], agent_env(otlp.endpoint))
    assert result.returncode == 0, result.stderr
    assert "llm-instrument:" not in result.stderr, result.stderr  # no swallowed failure
    spans = otlp.wait_for(lambda s: len(s) >= expect)
    return json.loads(result.stdout.strip().splitlines()[-1]), spans


def only(spans: list[Span], name: str) -> Span:
    found = by_name(spans, name)
    assert len(found) == 1, (name, [s["name"] for s in spans])
    return found[0]


def messages(span: Span, key: str) -> list[dict[str, Any]]:
    value: list[dict[str, Any]] = json.loads(span["attributes"][f"gen_ai.{key}.messages"])
    return value


def test_streamed_chunks_are_assistant_messages(otlp: OTLPReceiver) -> None:
    out, spans = run(otlp, "roles", expect=3)
    assert out == "Cats sleep a lot."
    streamed, invoked = sorted(by_name(spans, CHAT), key=lambda s: s["start"])
    assert [m["role"] for m in messages(streamed, "output")] == ["assistant"]
    # the history holds the merged AIMessageChunk, and a ChatMessage with its own role
    assert [m["role"] for m in messages(invoked, "input")] == ["user", "assistant", "user"]
    assert messages(invoked, "input")[1]["parts"] == [
        {"type": "text", "content": "Cats sleep a lot."}
    ]


def store_scores(relevance: bool) -> dict[str, float]:
    """The scores the app's store gives its documents for the test's query (computed here,
    untraced; the fake embedding is deterministic)."""
    from tests.apps.langchain_app import RelevanceStore, rag_store

    if relevance:
        found = rag_store(RelevanceStore).similarity_search_with_relevance_scores(
            "How long do cats sleep?", k=2
        )
    else:
        found = rag_store().similarity_search_with_score("Dogs?", k=2)
    return {str(doc.id): float(score) for doc, score in found}


@pytest.mark.parametrize(
    ("scenario", "name", "relevance"),
    [
        ("threshold", "retrieval RelevanceStore", True),
        ("async_scored", "retrieval InMemoryVectorStore", False),
    ],
)
def test_retrievers_get_the_vector_stores_real_scores(
    otlp: OTLPReceiver, scenario: str, name: str, relevance: bool
) -> None:
    ids, spans = run(otlp, scenario, expect=3)
    docs = json.loads(only(spans, name)["attributes"]["gen_ai.retrieval.documents"])
    expected = store_scores(relevance)
    assert [d["id"] for d in docs] == ids == list(expected)
    assert [d["score"] for d in docs] == pytest.approx(list(expected.values()))
    assert not any("score_kind" in d for d in docs)  # real scores, not a rank stand-in


def test_handled_tool_errors_end_their_span_in_error(otlp: OTLPReceiver) -> None:
    out, spans = run(otlp, "handled_tool", expect=4)
    assert out == ["no weather for Oslo", "error", "Tool input validation error", 3]
    flaky = only(spans, "execute_tool flaky")
    assert flaky["status"] == "ERROR"
    assert flaky["attributes"]["error.type"] == "ToolException"
    assert flaky["attributes"]["gen_ai.tool.call.id"] == "call-9"
    assert [e["name"] for e in flaky["events"]] == ["exception"]
    strict = only(spans, "execute_tool strict")
    assert (strict["status"], strict["attributes"]["error.type"]) == ("ERROR", "ValidationError")
    fine = only(spans, "execute_tool add")
    assert fine["status"] == "UNSET" and "error.type" not in fine["attributes"]


def test_cache_and_reasoning_tokens_where_the_provider_reports_them(
    otlp: OTLPReceiver,
) -> None:
    _, spans = run(otlp, "usage_details", expect=3)
    raw = only(spans, "text_completion RawUsageLLM")["attributes"]  # OpenAI's raw usage
    assert raw["gen_ai.usage.input_tokens"] == 30
    assert raw["gen_ai.usage.output_tokens"] == 9
    assert raw["gen_ai.usage.cache_read.input_tokens"] == 12
    assert raw["gen_ai.usage.reasoning.output_tokens"] == 4
    assert raw["gen_ai.response.finish_reasons"] == ["length"]
    assert raw["gen_ai.response.model"] == "raw-llm-1"
    chat = only(spans, "chat claude-fake-1")["attributes"]  # Anthropic's, model as model_id
    assert chat["gen_ai.request.model"] == "claude-fake-1"
    assert chat["gen_ai.usage.input_tokens"] == 50 + 40 + 5  # cached input is input too
    assert chat["gen_ai.usage.cache_read.input_tokens"] == 40
    assert chat["gen_ai.usage.cache_creation.input_tokens"] == 5
    assert "gen_ai.usage.reasoning.output_tokens" not in chat  # not reported: absent
    assert chat["gen_ai.response.finish_reasons"] == ["end_turn"]


def test_chain_values_are_json_with_documents_and_messages_as_objects(
    otlp: OTLPReceiver,
) -> None:
    _, spans = run(otlp, "documents_output", expect=4)
    chain = only(spans, "invoke_workflow RunnableSequence")["attributes"]
    assert chain["output.mime_type"] == "application/json"
    assert json.loads(chain["output.value"]) == {
        "question": "How long do cats sleep?",
        "documents": [{"id": "doc-cats", "content": "Cats sleep sixteen hours a day."}],
        "answer": {"role": "assistant", "parts": [{"type": "text", "content": "Sixteen hours."}]},
    }


def test_a_session_id_in_metadata_is_the_conversation_id(otlp: OTLPReceiver) -> None:
    _, spans = run(otlp, "session", expect=3)
    for name in ("invoke_workflow RunnableSequence", CHAT):
        assert only(spans, name)["attributes"]["gen_ai.conversation.id"] == "session-5"
    assert "gen_ai.conversation.id" not in only(spans, "request")["attributes"]


@pytest.mark.parametrize(
    "scenario", ["rag", "stream", "legacy", "tools", "agent", "roles", "threshold", "usage_details"]
)
def test_json_attributes_pass_the_genai_schemas(otlp: OTLPReceiver, scenario: str) -> None:
    if scenario in ("legacy", "agent"):
        pytest.importorskip("langchain_classic")
    _, spans = run(otlp, scenario, expect=2)
    checked = [s for s in spans if any(k in s["attributes"] for k in genai_schema.MODELS)]
    assert checked
    assert genai_schema.span_errors(spans) == {}


def _read_events_then_leave(port: int, path: str, events: int) -> None:
    """A client that reads a few server-sent events, then closes its connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        received = b""
        while received.count(b"data: ") < events:
            chunk = client.recv(4096)
            assert chunk, received
            received += chunk


@pytest.mark.parametrize("path", ["/stream", "/stream_sync"])
def test_a_client_that_disconnects_leaves_spans_unset_with_the_partial_output(
    otlp: OTLPReceiver, path: str
) -> None:
    pytest.importorskip("fastapi")
    port = free_port()
    args = ["uvicorn", "langchain_sse:app", "--port", str(port)]
    with serve(args, agent_env(otlp.endpoint), f"http://127.0.0.1:{port}/health", cwd=APPS):
        _read_events_then_leave(port, path, events=5)
        if path == "/stream_sync":
            # Starlette drops an abandoned sync generator into a reference cycle; it (and
            # the stream) close when the garbage collector runs
            otlp.wait_for(lambda s: any(x["name"] == f"GET {path}" for x in s))
            get(f"http://127.0.0.1:{port}/gc")
        spans = otlp.wait_for(lambda s: len(by_name(s, "chat slow-chat-1")) == 1, timeout=60)
    chat = only(spans, "chat slow-chat-1")
    chain = only(spans, "invoke_workflow RunnableSequence")
    assert chat["parent_span_id"] == chain["span_id"]
    for span in (chat, chain):
        assert span["status"] == "UNSET", span
        assert "error.type" not in span["attributes"]
        assert not span["events"]
    [answer] = messages(chat, "output")
    words = answer["parts"][0]["content"].split()
    assert words[:5] == ["word0", "word1", "word2", "word3", "word4"]
    if path == "/stream":  # cancelled mid-answer: what it had said so far
        assert 5 <= len(words) < 200
    assert children(spans, chat) == []

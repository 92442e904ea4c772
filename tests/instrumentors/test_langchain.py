"""LangChain under the launcher: real chains, fake models that report usage, a real OTLP
receiver. Each test runs one scenario of ``tests/apps/langchain_app.py`` and checks the exact
span tree, the key attributes and the token numbers."""

from __future__ import annotations

import http.server
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from tests.support.otlp_receiver import OTLPReceiver, by_name, children
from tests.support.processes import agent_env, run_traced

APP = str(Path(__file__).parents[1] / "apps" / "langchain_app.py")
CHAT = "chat fake-chat-1"
RETRIEVAL = "retrieval InMemoryVectorStore"
EMBED = "embeddings DeterministicFakeEmbedding"
SEQ = "invoke_workflow RunnableSequence"


def run(
    otlp: OTLPReceiver, *args: str, expect: int, **env: str
) -> tuple[Any, list[dict[str, Any]]]:
    result = run_traced([sys.executable, APP, *args], agent_env(otlp.endpoint, **env))
    assert result.returncode == 0, result.stderr
    assert "llm-instrument:" not in result.stderr, result.stderr  # no swallowed failure
    spans = otlp.wait_for(lambda s: len(s) >= expect)
    return json.loads(result.stdout.strip().splitlines()[-1]), spans


def store_score(query: str, doc_id: str) -> float:
    """The score the app's vector store gives ``doc_id`` for ``query`` (computed here,
    untraced: the fake embedding is deterministic)."""
    from tests.apps.langchain_app import rag_store

    scores = {d.id: s for d, s in rag_store().similarity_search_with_score(query, k=2)}
    return float(scores[doc_id])


def tree(spans: list[dict[str, Any]], root: dict[str, Any]) -> list[Any]:
    """``[name, [child trees sorted by start]]`` below ``root``."""
    kids = sorted(children(spans, root), key=lambda s: s["start"])
    return [root["name"], [tree(spans, k) for k in kids]]


def only(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = by_name(spans, name)
    assert len(found) == 1, (name, [s["name"] for s in spans])
    return found[0]


def test_rag_chain_tree_attributes_and_tokens(otlp: OTLPReceiver) -> None:
    out, spans = run(otlp, "rag", expect=6)
    assert out == "Cats sleep a lot."
    assert tree(spans, only(spans, "request")) == [
        "request",
        [
            [EMBED, []],  # add_documents
            [SEQ, [[RETRIEVAL, [[EMBED, []]]], [CHAT, []]]],
        ],
    ]
    assert len({s["trace_id"] for s in spans}) == 1
    chain = only(spans, SEQ)["attributes"]
    assert chain["openinference.span.kind"] == "CHAIN"
    assert chain["input.value"] == "How long do cats sleep?"
    assert chain["output.value"] == "Cats sleep a lot."
    retrieval = only(spans, RETRIEVAL)["attributes"]
    assert retrieval["openinference.span.kind"] == "RETRIEVER"
    assert retrieval["gen_ai.data_source.id"] == "InMemoryVectorStore"
    assert retrieval["gen_ai.retrieval.query.text"] == "How long do cats sleep?"
    # the VectorStoreRetriever drops the scores; the span has the store's real one
    assert json.loads(retrieval["gen_ai.retrieval.documents"]) == [
        {
            "id": "doc-cats",
            "score": pytest.approx(store_score("How long do cats sleep?", "doc-cats")),
            "content": "Cats sleep sixteen hours a day.",
        }
    ]
    chat = only(spans, CHAT)
    a = chat["attributes"]
    assert chat["kind"] == "CLIENT"
    assert a["openinference.span.kind"] == "LLM"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "fake-chat-1"
    assert a["gen_ai.request.temperature"] == 0.3
    assert a["gen_ai.response.model"] == "fake-chat-1"
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 4)
    assert json.loads(a["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "Answer from: Cats sleep sixteen hours a day."}
    ]
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "How long do cats sleep?"}]}
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Cats sleep a lot."}],
            "finish_reason": "stop",
        }
    ]
    embed = by_name(spans, EMBED)[1]["attributes"]
    assert embed["openinference.span.kind"] == "EMBEDDING"
    assert embed["gen_ai.embeddings.dimension.count"] == 16


def test_token_metrics_are_exported_over_otlp(otlp: OTLPReceiver) -> None:
    run(otlp, "rag", expect=6)
    deadline = time.monotonic() + 10
    while not any(m["name"] == "gen_ai.client.token.usage" for m in otlp.metrics):
        assert time.monotonic() < deadline, [m["name"] for m in otlp.metrics]
        time.sleep(0.1)
    usage = [m for m in otlp.metrics if m["name"] == "gen_ai.client.token.usage"][-1]
    assert usage["unit"] == "{token}"
    sums = {p["attributes"]["gen_ai.token.type"]: p["sum"] for p in usage["points"]}
    assert sums == {"input": 11, "output": 4}
    point = usage["points"][0]["attributes"]
    assert point["gen_ai.request.model"] == "fake-chat-1"
    assert point["gen_ai.operation.name"] == "chat"
    names = {m["name"] for m in otlp.metrics}
    assert "gen_ai.client.operation.duration" in names


def test_all_chain_spans_switch(otlp: OTLPReceiver) -> None:
    _, spans = run(otlp, "rag", expect=12, LLM_INSTRUMENT_LANGCHAIN_CHAIN_SPANS="all")
    names = {s["name"] for s in spans}
    assert {
        "invoke_workflow ChatPromptTemplate",
        "invoke_workflow StrOutputParser",
        "invoke_workflow join_docs",
    } <= names


def test_streamed_chain_records_time_to_first_chunk_and_tokens(otlp: OTLPReceiver) -> None:
    out, spans = run(otlp, "stream", expect=6)
    assert out == "Cats sleep a lot."
    chat = only(spans, CHAT)
    assert chat["parent_span_id"] == only(spans, SEQ)["span_id"]
    a = chat["attributes"]
    assert 0 < a["gen_ai.response.time_to_first_chunk"] < (chat["end"] - chat["start"]) / 1e9
    assert a["gen_ai.request.stream"] is True
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 4)
    assert only(spans, SEQ)["attributes"]["input.value"] == "How long do cats sleep?"


@pytest.mark.parametrize("scenario", ["stream_close", "stream_drop"])
def test_stream_stopped_early_ends_its_span_once(otlp: OTLPReceiver, scenario: str) -> None:
    out, _ = run(otlp, scenario, expect=2)
    assert out == "Cats "
    otlp.wait_for(lambda s: len(by_name(s, CHAT)) >= 1)
    chat = only(otlp.snapshot(), CHAT)
    assert chat["status"] == "UNSET"
    assert "gen_ai.response.time_to_first_chunk" in chat["attributes"]
    assert chat["parent_span_id"] is not None


def test_parallel_and_batch_keep_their_parents(otlp: OTLPReceiver) -> None:
    _, spans = run(otlp, "parallel", expect=23)
    request = only(spans, "request")
    parallel = only(spans, "invoke_workflow RunnableParallel<a,b>")
    assert parallel["parent_span_id"] == request["span_id"]
    assert sorted(s["name"] for s in children(spans, parallel)) == [
        CHAT,
        CHAT,
        RETRIEVAL,
        RETRIEVAL,
    ]
    batch = [s for s in by_name(spans, SEQ) if s["parent_span_id"] == request["span_id"]]
    assert len(batch) == 3
    for chain in batch:
        assert sorted(s["name"] for s in children(spans, chain)) == [CHAT, RETRIEVAL]
    assert len({s["trace_id"] for s in spans}) == 1


def test_concurrent_async_requests_never_mix(otlp: OTLPReceiver) -> None:
    _, spans = run(otlp, "async", expect=30)
    for i in range(3):
        request = only(spans, f"request-{i}")
        chains = children(spans, request)
        seqs = [c for c in chains if c["name"] == SEQ]
        assert sorted(c["attributes"]["input.value"] for c in seqs) == [
            f"question {i}",
            f"streamed {i}",
        ]
        for chain in seqs:
            kids = children(spans, chain)
            assert sorted(k["name"] for k in kids) == [CHAT, RETRIEVAL]
            query = next(k for k in kids if k["name"] == RETRIEVAL)
            assert (
                query["attributes"]["gen_ai.retrieval.query.text"]
                == chain["attributes"]["input.value"]
            )
            assert all(k["trace_id"] == request["trace_id"] for k in kids)
    assert len({s["trace_id"] for s in spans}) == 3


def test_legacy_llm_chain(otlp: OTLPReceiver) -> None:
    pytest.importorskip("langchain_classic")
    out, spans = run(otlp, "legacy", expect=3)
    assert out == "Paris is the capital."
    assert tree(spans, only(spans, "request")) == [
        "request",
        [["invoke_workflow LLMChain", [["text_completion FakeListLLM", []]]]],
    ]
    a = only(spans, "text_completion FakeListLLM")["attributes"]
    assert a["gen_ai.operation.name"] == "text_completion"
    assert json.loads(a["gen_ai.input.messages"])[0]["parts"][0]["content"] == "Capital of France?"
    assert "Paris" in a["gen_ai.output.messages"]
    assert "gen_ai.usage.input_tokens" not in a  # not reported: absent, never a made-up 0


def test_tool_span(otlp: OTLPReceiver) -> None:
    out, spans = run(otlp, "tools", expect=4)
    assert out == "5"
    chain = only(spans, SEQ)
    tool = only(spans, "execute_tool add")
    assert tool["parent_span_id"] == chain["span_id"]
    a = tool["attributes"]
    assert a["openinference.span.kind"] == "TOOL"
    assert a["gen_ai.tool.name"] == "add"
    assert a["gen_ai.tool.call.id"] == "call-1"
    assert json.loads(a["gen_ai.tool.call.arguments"]) == {"a": 2, "b": 3}
    assert a["gen_ai.tool.call.result"] == "5"
    tool_call = json.loads(only(spans, CHAT)["attributes"]["gen_ai.output.messages"])[0]["parts"]
    assert tool_call == [
        {"type": "tool_call", "id": "call-1", "name": "add", "arguments": {"a": 2, "b": 3}}
    ]


def test_agent_with_its_model_calls_and_tool(otlp: OTLPReceiver) -> None:
    pytest.importorskip("langchain_classic")
    out, spans = run(otlp, "agent", expect=5)
    assert out == "5"
    llm = "text_completion FakeListLLM"
    assert tree(spans, only(spans, "request")) == [
        "request",
        [["invoke_agent AgentExecutor", [[llm, []], ["execute_tool plus", []], [llm, []]]]],
    ]
    agent = only(spans, "invoke_agent AgentExecutor")["attributes"]
    assert agent["openinference.span.kind"] == "AGENT"
    assert agent["gen_ai.agent.name"] == "AgentExecutor"
    assert only(spans, "execute_tool plus")["attributes"]["gen_ai.tool.call.result"] == "5"


def test_retrieved_documents_carry_ids_and_scores(otlp: OTLPReceiver) -> None:
    out, spans = run(otlp, "scored", expect=2)
    assert out == ["a", "b"]
    docs = only(spans, "retrieval ScoredRetriever")["attributes"]["gen_ai.retrieval.documents"]
    assert json.loads(docs) == [
        {"id": "a", "score": 0.9, "content": "A"},
        {"id": "b", "score": 0.4, "content": "B"},
    ]


@pytest.fixture
def http_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_calls_nest_under_the_model_and_tool_that_made_them(
    otlp: OTLPReceiver, http_server: str
) -> None:
    _, spans = run(otlp, "http", http_server, expect=8)
    gets = {s["attributes"]["url.full"].rsplit("/", 1)[1]: s for s in by_name(spans, "GET")}
    chats = by_name(spans, CHAT)
    by_id = {s["span_id"]: s for s in spans}
    assert by_id[gets["model"]["parent_span_id"]]["name"] == CHAT
    assert by_id[gets["tool"]["parent_span_id"]]["name"] == "execute_tool fetch"
    assert by_id[gets["stream"]["parent_span_id"]]["name"] == CHAT
    assert len(chats) == 2


def test_errors_are_recorded_and_reraised(otlp: OTLPReceiver) -> None:
    out, spans = run(otlp, "error", expect=3)
    assert out == "model exploded"
    chat = only(spans, CHAT)
    assert chat["status"] == "ERROR"
    assert chat["attributes"]["error.type"] == "ValueError"
    assert [e["name"] for e in chat["events"]] == ["exception"]
    assert only(spans, SEQ)["status"] == "ERROR"


def test_capture_off_no_content_leaves_the_process(otlp: OTLPReceiver) -> None:
    _, spans = run(otlp, "rag", expect=6, LLM_INSTRUMENT_CAPTURE_CONTENT="false")
    exported = json.dumps(spans)
    for text in ("cats sleep", "Cats sleep", "Dogs like walks", "How long", "Answer from"):
        assert text not in exported
    a = only(spans, CHAT)["attributes"]
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 4)
    assert json.loads(only(spans, RETRIEVAL)["attributes"]["gen_ai.retrieval.documents"]) == [
        {
            "id": "doc-cats",
            "score": pytest.approx(store_score("How long do cats sleep?", "doc-cats")),
        }
    ]


def test_secrets_redacted_and_content_truncated(otlp: OTLPReceiver) -> None:
    _, spans = run(otlp, "secret", expect=3, LLM_INSTRUMENT_MAX_CONTENT_LENGTH="100")
    exported = json.dumps(spans)
    assert "sk-abcdefghijklmnopqrstuvwxyz123456" not in exported
    content = json.loads(only(spans, CHAT)["attributes"]["gen_ai.input.messages"])[0]["parts"][0]
    assert content["content"].startswith("my key is [REDACTED] xxx")
    assert content["content"].endswith("...[truncated 221 chars]")


@pytest.mark.slow
def test_ten_thousand_invocations_leave_no_run_behind() -> None:
    result = run_traced(
        [sys.executable, APP, "leak", "10000"],
        agent_env(None, LLM_INSTRUMENT_EXPORTER="none"),
        timeout=280,
    )
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["sizes"] == [0, 0]
    assert facts["failures"] == {}

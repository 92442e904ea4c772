"""LangChain and LangGraph traces as a real Phoenix shows them (its own ingest, its own
schema validation): a RAG retriever's documents with their real scores, chains and agents
of their own kinds (never UNKNOWN), a LangGraph agent's session. Phoenix runs from its venv
(``tests/support/phoenix.py``); one server for this module."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("langchain_core")

from tests.support.phoenix import Phoenix, PhoenixSpan, phoenix_server
from tests.support.processes import agent_env, run_traced

APPS = Path(__file__).parents[1] / "apps"


@pytest.fixture(scope="module")
def phoenix() -> Iterator[Phoenix]:
    with phoenix_server() as server:
        yield server


def run(phoenix: Phoenix, project: str, app: str, scenario: str, expect: int) -> list[PhoenixSpan]:
    env = agent_env(None, **phoenix.agent_env(project))
    done = run_traced([sys.executable, str(APPS / app), scenario], env)
    assert done.returncode == 0, done.stderr
    return phoenix.wait_for_spans(project, lambda spans: len(spans) >= expect)


def project(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")


def test_rag_retriever_shows_its_documents_with_real_scores(
    phoenix: Phoenix, request: pytest.FixtureRequest
) -> None:
    spans = run(phoenix, project(request), "langchain_app.py", "rag", expect=6)
    kinds = {s.name: s.kind for s in spans if s.name != "request"}
    assert kinds == {
        "invoke_workflow RunnableSequence": "CHAIN",
        "retrieval InMemoryVectorStore": "RETRIEVER",
        "embeddings DeterministicFakeEmbedding": "EMBEDDING",
        "chat fake-chat-1": "LLM",
    }
    [retriever] = [s for s in spans if s.kind == "RETRIEVER"]
    [doc] = retriever.documents  # before: dropped whole for want of a score
    assert (doc["id"], doc["content"]) == ("doc-cats", "Cats sleep sixteen hours a day.")
    assert isinstance(doc["score"], float) and 0 < doc["score"] < 1


def test_langgraph_agent_is_an_agent_with_a_session(
    phoenix: Phoenix, request: pytest.FixtureRequest
) -> None:
    pytest.importorskip("langgraph")
    spans = run(phoenix, project(request), "langgraph_agent.py", "react", expect=10)
    assert sorted({s.kind for s in spans}) == ["AGENT", "LLM", "TOOL"]
    agents = [s for s in spans if s.kind == "AGENT"]
    assert len(agents) == 2
    for agent in agents:
        assert agent.attributes["session.id"] == "thread-42"
        assert "It is sunny in" in str(agent.output_value)
    for model in (s for s in spans if s.kind == "LLM"):
        assert model.attributes["session.id"] == "thread-42"
        assert model.model_name == "fake-agent-model"
        assert model.output_messages  # kept: every message has its finish reason

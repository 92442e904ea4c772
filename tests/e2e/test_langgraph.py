"""LangGraph agents under the launcher, a real OTLP receiver: agent graphs are
``invoke_agent`` spans with their model and tool calls beneath them, one conversation id per
thread, workflows stay workflows, and concurrent requests keep their traces apart. Each test
runs one scenario of ``tests/apps/langgraph_agent.py``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph")

from tests.support import genai_schema, jaeger_rules
from tests.support.otlp_receiver import OTLPReceiver, by_name, children
from tests.support.processes import agent_env, run_traced

APP = str(Path(__file__).parents[1] / "apps" / "langgraph_agent.py")
CHAT = "chat fake-agent-model"
TOOLS = ["execute_tool get_time", "execute_tool get_weather"]

Span = dict[str, Any]


def run(otlp: OTLPReceiver, scenario: str, expect: int) -> tuple[Any, list[Span]]:
    result = run_traced([sys.executable, APP, scenario], agent_env(otlp.endpoint))
    assert result.returncode == 0, result.stderr
    assert "llm-instrument:" not in result.stderr, result.stderr  # no swallowed failure
    spans = otlp.wait_for(lambda s: len(s) >= expect)
    return json.loads(result.stdout.strip().splitlines()[-1]), spans


def kids(spans: list[Span], parent: Span) -> list[Span]:
    return sorted(children(spans, parent), key=lambda s: s["start"])


def assert_agent_turn(spans: list[Span], agent: Span, city: str) -> list[Span]:
    """One ReAct turn under ``agent``: model, both tools (in parallel), model. Returns the
    two model spans."""
    below = kids(spans, agent)
    assert [below[0]["name"], sorted(s["name"] for s in below[1:3]), below[3]["name"]] == [
        CHAT,
        TOOLS,
        CHAT,
    ], [s["name"] for s in below]
    assert not any(children(spans, s) for s in below)
    for tool in below[1:3]:
        a = tool["attributes"]
        assert a["gen_ai.tool.call.arguments"] == json.dumps({"city": city})
        assert city in a["gen_ai.tool.call.result"]
    first, last = below[0]["attributes"], below[3]["attributes"]
    assert first["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert last["gen_ai.response.finish_reasons"] == ["stop"]
    calls = json.loads(first["gen_ai.output.messages"])[0]["parts"]
    assert [(c["type"], c["name"]) for c in calls] == [
        ("tool_call", "get_weather"),
        ("tool_call", "get_time"),
    ]
    return [below[0], below[3]]


def test_react_agent_run_twice_in_one_thread(otlp: OTLPReceiver) -> None:
    out, spans = run(otlp, "react", expect=10)
    assert out == [
        "It is sunny in Paris and 12:00 in Paris.",
        "It is sunny in Rome and 12:00 in Rome.",
    ]
    agents = sorted(by_name(spans, "invoke_agent LangGraph"), key=lambda s: s["start"])
    assert len(agents) == 2
    assert len({s["trace_id"] for s in spans}) == 2  # one trace per question
    for agent, city, answer in zip(agents, ["Paris", "Rome"], out, strict=True):
        assert agent["parent_span_id"] is None
        a = agent["attributes"]
        assert a["gen_ai.operation.name"] == "invoke_agent"
        assert a["gen_ai.agent.name"] == "LangGraph"
        assert a["openinference.span.kind"] == "AGENT"
        assert a["gen_ai.conversation.id"] == "thread-42"
        assert json.loads(a["gen_ai.output.messages"])[0]["parts"][0]["content"] == answer
        models = assert_agent_turn(spans, agent, city)
        for model in models:
            m = model["attributes"]
            assert m["gen_ai.conversation.id"] == "thread-42"
            assert m["gen_ai.request.model"] == "fake-agent-model"
            assert (m["gen_ai.usage.input_tokens"], m["gen_ai.usage.output_tokens"]) == (20, 6)
            assert m["gen_ai.usage.cache_read.input_tokens"] == 8
            assert m["gen_ai.usage.reasoning.output_tokens"] == 2
    # the second question's first model call sees the first turn, from the checkpointer
    history = json.loads(kids(spans, agents[1])[0]["attributes"]["gen_ai.input.messages"])
    assert [m["role"] for m in history] == [
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "user",
    ]
    assert history[-1]["parts"][0]["content"] == "and in Rome?"
    assert json.loads(agents[1]["attributes"]["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "and in Rome?"}]}
    ]
    # Jaeger gives every span a GenAI kind of its own: no "unknown GenAI span"
    assert {jaeger_rules.classify(s) for s in spans} == {
        jaeger_rules.AGENT,
        jaeger_rules.LLM_CALL,
        jaeger_rules.TOOL_CALL,
    }


def test_agent_spans_pass_the_genai_schemas(otlp: OTLPReceiver) -> None:
    _, spans = run(otlp, "react", expect=10)
    assert genai_schema.span_errors(spans) == {}


def test_langchain_create_agent_is_an_agent(otlp: OTLPReceiver) -> None:
    pytest.importorskip("langchain.agents")
    out, spans = run(otlp, "create_agent", expect=5)
    assert out == "It is sunny in Lima and 12:00 in Lima."
    agent = by_name(spans, "invoke_agent LangGraph")
    assert len(agent) == 1 and len(spans) == 5, [s["name"] for s in spans]
    assert agent[0]["attributes"]["gen_ai.conversation.id"] == "thread-7"
    assert_agent_turn(spans, agent[0], "Lima")


def test_a_named_graph_is_an_agent_of_that_name(otlp: OTLPReceiver) -> None:
    _, spans = run(otlp, "named", expect=5)
    [agent] = by_name(spans, "invoke_agent weather_agent")
    assert agent["attributes"]["gen_ai.agent.name"] == "weather_agent"
    assert_agent_turn(spans, agent, "Oslo")


def test_a_plain_graph_is_a_workflow_of_nodes(otlp: OTLPReceiver) -> None:
    _, spans = run(otlp, "workflow", expect=4)
    [graph] = by_name(spans, "invoke_workflow LangGraph")
    assert graph["attributes"]["gen_ai.workflow.name"] == "LangGraph"
    assert "gen_ai.agent.name" not in graph["attributes"]
    nodes = kids(spans, graph)
    assert [n["name"] for n in nodes] == ["invoke_workflow prepare", "invoke_workflow answer"]
    assert [s["name"] for s in children(spans, nodes[1])] == [CHAT]
    # the graph's state: messages as objects, never Python reprs
    state = json.loads(graph["attributes"]["input.value"])
    assert state == {"messages": [{"role": "user", "parts": [{"type": "text", "content": "go"}]}]}


def test_concurrent_async_agents_keep_their_traces_apart(otlp: OTLPReceiver) -> None:
    out, spans = run(otlp, "async", expect=18)
    assert out == [f"It is sunny in city{i} and 12:00 in city{i}." for i in range(3)]
    assert len({s["trace_id"] for s in spans}) == 3
    for i in range(3):
        [request] = by_name(spans, f"request-{i}")
        [agent] = children(spans, request)
        assert agent["name"] == "invoke_agent LangGraph"
        assert agent["attributes"]["gen_ai.conversation.id"] == f"thread-{i}"
        for model in assert_agent_turn(spans, agent, f"city{i}"):
            assert model["attributes"]["gen_ai.conversation.id"] == f"thread-{i}"
        assert all(s["trace_id"] == request["trace_id"] for s in kids(spans, agent))

"""Chains as workflows, agents, conversations and the detailed token counts, as the core
writes them: the conventions' names for Jaeger, OpenInference's beside them for Phoenix."""

from __future__ import annotations

import json

from llm_instrument import genai
from llm_instrument.genai import names
from tests.genai.conftest import Telemetry


def test_a_chain_is_an_invoke_workflow_span_with_its_input_and_output(
    telemetry: Telemetry,
) -> None:
    h = genai.start_chain("RunnableSequence", inputs={"question": "Why?"}, conversation_id="c-1")
    h.finish(outputs="Because.")
    span = telemetry.span("invoke_workflow RunnableSequence")
    a = dict(span.attributes or {})
    assert a["gen_ai.operation.name"] == "invoke_workflow"
    assert a["gen_ai.workflow.name"] == "RunnableSequence"
    assert a["gen_ai.conversation.id"] == "c-1"
    assert a["openinference.span.kind"] == "CHAIN"
    assert json.loads(a["input.value"]) == {"question": "Why?"}
    assert a["input.mime_type"] == "application/json"
    assert a["output.value"] == "Because."
    assert "output.mime_type" not in a  # plain text: OpenInference's default MIME type
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": '{"question": "Why?"}'}]}
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Because."}],
            "finish_reason": "stop",
        }
    ]
    assert not any(k.startswith("llm_instrument.") or k == "gen_ai.span.kind" for k in a)


def test_an_agent_names_itself_in_the_conventions_terms(telemetry: Telemetry) -> None:
    h = genai.start_agent(
        "Math Tutor",
        inputs=[genai.Message("human", "2+2?")],
        agent_id="asst_1",
        description="Helps with math",
        conversation_id="thread-9",
    )
    h.finish(outputs=genai.Message("ai", "4"))
    a = dict(telemetry.span("invoke_agent Math Tutor").attributes or {})
    assert a["gen_ai.operation.name"] == "invoke_agent"
    assert a["openinference.span.kind"] == "AGENT"
    assert (a["gen_ai.agent.name"], a["gen_ai.agent.id"]) == ("Math Tutor", "asst_1")
    assert a["gen_ai.agent.description"] == "Helps with math"
    assert a["gen_ai.conversation.id"] == "thread-9"
    # roles in the conventions' terms, whatever the framework called them
    assert [m["role"] for m in json.loads(a["gen_ai.input.messages"])] == ["user"]
    (out,) = json.loads(a["gen_ai.output.messages"])
    assert (out["role"], out["finish_reason"]) == ("assistant", "stop")
    assert a["input.mime_type"] == a["output.mime_type"] == "application/json"


def test_a_model_call_takes_a_conversation_id(telemetry: Telemetry) -> None:
    genai.start_llm("chat", model="m", conversation_id="s-2").finish()
    assert telemetry.span("chat m").attributes["gen_ai.conversation.id"] == "s-2"  # type: ignore[index]


def test_cache_and_reasoning_tokens_are_written_and_summed(telemetry: Telemetry) -> None:
    first = genai.Usage(10, 5, cache_read_input_tokens=4, reasoning_output_tokens=2)
    second = genai.Usage(3, 1, cache_creation_input_tokens=3)
    assert first + second == genai.Usage(13, 6, 4, 3, 2)
    assert genai.Usage(cache_read_input_tokens=1).known
    h = genai.start_llm("chat", model="m")
    h.set_usage(first + second)
    h.finish()
    a = dict(telemetry.span("chat m").attributes or {})
    assert a["gen_ai.usage.input_tokens"] == 13
    assert a["gen_ai.usage.output_tokens"] == 6
    assert a["gen_ai.usage.cache_read.input_tokens"] == 4
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 3
    assert a["gen_ai.usage.reasoning.output_tokens"] == 2


def test_unknown_detail_counts_are_left_out(telemetry: Telemetry) -> None:
    h = genai.start_llm("chat", model="m")
    h.set_usage(genai.Usage(2, 1))
    h.finish()
    a = dict(telemetry.span("chat m").attributes or {})
    assert {k for k in a if k.startswith("gen_ai.usage.")} == {
        names.USAGE_INPUT_TOKENS,
        names.USAGE_OUTPUT_TOKENS,
    }

"""Whatever facts the core gets, its JSON attributes pass the conventions' schemas, checked
with a real validator: Phoenix's own pydantic models (``tests/support/genai_schema.py``), the
ones it drops a whole list with on ingest."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_instrument import genai
from llm_instrument.agent import config
from tests.genai.conftest import Telemetry
from tests.support import genai_schema, phoenix


@pytest.fixture(autouse=True)
def _validator() -> None:
    try:
        phoenix.python()
    except AssertionError as exc:
        pytest.skip(str(exc))


def _awkward_calls() -> None:
    """Facts as instrumentors hand them at their worst: roles from other libraries, no finish
    reason, tool calls and results, multimodal parts, documents without id or score."""
    call = genai.ToolCall("c1", "add", {"a": 2, "b": 3})
    h = genai.start_llm(
        "chat",
        model="m",
        inputs=[
            genai.Message("system", "Be brief."),
            genai.Message("human", "What is 2+3? And this?"),
            genai.Message("ai", None, tool_calls=(call,)),
            genai.Message("tool", "5", tool_call_id="c1"),
            genai.Message(
                "user",
                [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
                    {"type": "audio", "source": "mic"},
                    7,
                ],
            ),
            genai.Message("critic", "an unknown role"),
        ],
    )
    h.finish(outputs=[genai.Message("ai", "5"), genai.Message("bot", None, tool_calls=(call,))])
    genai.start_llm("text_completion", model="m", inputs="once").finish(outputs="upon")
    streamed = genai.start_llm("chat", model="m", stream=True)
    stream = genai.GenAIStream(iter(["a", "b"]), streamed, chunk_text=str)
    next(stream)
    stream.close()  # cut short: a partial output, no finish reason
    r = genai.start_retrieval("store", query="q")
    r.finish(
        documents=[
            genai.Document("no id, no score"),
            genai.Document("scored", id="d2", score=0.5),
            genai.Document("nan", id="", score=float("nan")),
        ]
    )
    genai.start_chain("rag", inputs={"question": "q"}).finish(outputs={"answer": "a"})
    genai.start_agent("helper", inputs="hi").finish(outputs=genai.Message("assistant", "hello"))


def _attributes(telemetry: Telemetry) -> list[tuple[str, str]]:
    found = []
    for span in telemetry.spans():
        for key, value in (span.attributes or {}).items():
            if key in genai_schema.MODELS:
                assert isinstance(value, str), key
                found.append((key, value))
    return found


@pytest.mark.parametrize("capture", [True, False])
def test_every_json_attribute_passes_the_schemas(telemetry: Telemetry, capture: bool) -> None:
    config.reset(config.Settings(capture_content=capture))
    _awkward_calls()
    pairs = _attributes(telemetry)
    names = {name for name, _ in pairs}
    expected = {"gen_ai.retrieval.documents"}
    if capture:
        expected |= {"gen_ai.input.messages", "gen_ai.output.messages"}
        expected.add("gen_ai.system_instructions")
    assert expected <= names
    errors = genai_schema.validate_many(pairs)
    assert [(pair[0], e) for pair, e in zip(pairs, errors, strict=True) if e] == []


def test_roles_and_finish_reasons_are_always_there(telemetry: Telemetry) -> None:
    _awkward_calls()
    outputs: list[Any] = []
    inputs: list[Any] = []
    for name, value in _attributes(telemetry):
        if name == "gen_ai.output.messages":
            outputs += json.loads(value)
        elif name == "gen_ai.input.messages":
            inputs += json.loads(value)
    assert {m["role"] for m in outputs} == {"assistant"}
    assert all(m["finish_reason"] for m in outputs)
    assert {m["role"] for m in inputs} <= {"system", "user", "assistant", "tool"}
    reasons = {m["finish_reason"] for m in outputs}
    assert "unknown" in reasons  # the chat call above was given no finish reason
    assert "stop" in reasons  # a workflow or agent that returned


def test_documents_always_have_an_id_and_a_numeric_score(telemetry: Telemetry) -> None:
    _awkward_calls()
    (docs,) = [json.loads(v) for n, v in _attributes(telemetry) if n.endswith("documents")]
    assert [d["id"] for d in docs][1] == "d2"
    assert all(d["id"] for d in docs) and docs[0]["id"].startswith("sha256:")
    assert [d["score"] for d in docs] == [1.0, 0.5, 1 / 3]
    assert [d.get("score_kind") for d in docs] == ["reciprocal_rank", None, "reciprocal_rank"]

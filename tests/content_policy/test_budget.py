"""The per-span content budget: long histories and values are cut, with a marker."""

from __future__ import annotations

import json
from typing import Any

from llm_instrument import genai
from llm_instrument.agent import config
from llm_instrument.content_policy.budget import fit_items, fit_span, size
from llm_instrument.genai import content
from tests.content_policy.conftest import Pipeline

BUDGET = config.DEFAULT_MAX_SPAN_CONTENT_BYTES


def _span_bytes(attributes: Any) -> int:
    return sum(size(v) if isinstance(v, str) else 16 for v in attributes.values())


def test_a_ten_thousand_message_chat_exports_a_span_within_the_budget(pipeline: Pipeline) -> None:
    history = [
        genai.Message("user" if i % 2 else "assistant", f"message {i} " + "lorem ipsum " * 8)
        for i in range(10_000)
    ]
    h = genai.start_llm("chat", model="m", inputs=history)
    h.finish(outputs="the answer " * 2000)
    attributes = pipeline.span("chat m").attributes or {}
    assert _span_bytes(attributes) <= BUDGET
    messages = json.loads(attributes["gen_ai.input.messages"])
    marker = messages[0]["parts"][0]["content"]
    left_out = int(marker.split("[")[1].split()[0])
    assert marker == f"...[{left_out} earlier messages left out]"
    assert left_out + len(messages) - 1 == 10_000
    assert messages[-1]["parts"][0]["content"].startswith("message 9999 ")  # newest kept
    assert json.loads(attributes["gen_ai.output.messages"])[0]["role"] == "assistant"


def test_a_huge_prompt_is_cut_to_the_limit(pipeline: Pipeline) -> None:
    prompt = "How do I reset? " * 700_000  # ~11 MB
    h = genai.start_llm("chat", model="m", inputs=prompt)
    h.finish(outputs="ok")
    (message,) = json.loads(pipeline.span("chat m").attributes["gen_ai.input.messages"])  # type: ignore[index]
    text = message["parts"][0]["content"]
    assert text == prompt[:4096] + f"...[truncated {len(prompt) - 4096} chars]"


def test_a_huge_chain_input_is_cut_with_a_marker(pipeline: Pipeline) -> None:
    config.reset(config.Settings(max_span_content_bytes=10_000))
    h = genai.start_chain("c", inputs={"items": list(range(100_000))})
    h.finish(outputs=None)
    value = json.loads(pipeline.span("invoke_workflow c").attributes["input.value"])  # type: ignore[index]
    items = value["items"]
    assert items[:3] == [0, 1, 2]
    assert items[-1] == f"...[{100_000 - len(items) + 1} items left out]"
    assert len(json.dumps(value)) < 20_000


def test_fit_items_keeps_everything_that_fits() -> None:
    assert fit_items([1, 2, 3], json.dumps, 1000) == "[1,2,3]"
    cut = json.loads(fit_items(list(range(1000)), json.dumps, 400))
    assert cut[-1] == f"...[{1000 - len(cut) + 1} items left out]"
    assert cut[0] == 0


def test_fit_span_evens_out_input_and_output() -> None:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "x" * 100}]}] * 100
    attributes = {
        "gen_ai.input.messages": json.dumps(messages),
        "gen_ai.output.messages": json.dumps(messages),
        "gen_ai.request.model": "m",
    }
    fit_span(attributes, ["gen_ai.input.messages", "gen_ai.output.messages"], 10_000)
    total = size(attributes["gen_ai.input.messages"]) + size(attributes["gen_ai.output.messages"])
    assert total <= 10_000
    for key in ("gen_ai.input.messages", "gen_ai.output.messages"):
        kept = json.loads(attributes[key])
        assert "left out" in kept[0]["parts"][0]["content"]


def test_messages_json_alone_uses_the_policy_budget() -> None:
    config.reset(config.Settings(max_span_content_bytes=2000))
    try:
        text = content.messages_json([genai.Message("user", "x" * 100)] * 50, 4096)
    finally:
        config.reset(None)
    assert size(text) <= 2000
    assert json.loads(text)[0]["role"] == "user"

"""The GenAI JSON-schema validator (Phoenix's generated models) on known values and on the
messages of a real traced LangChain call."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support import genai_schema
from tests.support.otlp_receiver import OTLPReceiver, by_name
from tests.support.processes import agent_env, run_traced

APP = str(Path(__file__).parents[1] / "apps" / "langchain_app.py")
TEXT = [{"type": "text", "content": "hi"}]


def test_known_good_and_bad_values_in_one_batch() -> None:
    good_output = [{"role": "assistant", "parts": TEXT, "finish_reason": "stop"}]
    results = genai_schema.validate_many(
        [
            ("gen_ai.input.messages", json.dumps([{"role": "user", "parts": TEXT}])),
            ("gen_ai.output.messages", json.dumps(good_output)),
            ("gen_ai.system_instructions", json.dumps(TEXT)),
            ("gen_ai.retrieval.documents", json.dumps([{"id": "d1", "score": 0.5}])),
            ("gen_ai.tool.definitions", json.dumps([{"type": "function", "name": "add"}])),
            ("gen_ai.output.messages", json.dumps([{"role": "assistant", "parts": TEXT}])),
            ("gen_ai.retrieval.documents", json.dumps([{"id": "d1", "content": "x"}])),
            ("gen_ai.input.messages", "not json"),
        ]
    )
    assert results[:5] == [[], [], [], [], []]
    assert results[5] == ["0.finish_reason: Field required"]
    assert results[6] == ["0.score: Field required"]
    assert len(results[7]) == 1 and "Invalid JSON" in results[7][0]


def test_unknown_attribute_is_refused() -> None:
    with pytest.raises(ValueError, match="no GenAI JSON schema"):
        genai_schema.validate("gen_ai.prompt", "[]")


def test_a_traced_chat_span_carries_valid_messages(otlp: OTLPReceiver) -> None:
    pytest.importorskip("langchain_core")
    done = run_traced([sys.executable, APP, "rag"], agent_env(otlp.endpoint))
    assert done.returncode == 0, done.stderr
    spans = otlp.wait_for(lambda s: len(by_name(s, "chat fake-chat-1")) == 1)
    [chat] = by_name(spans, "chat fake-chat-1")
    names = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")
    assert all(name in chat["attributes"] for name in names)
    assert genai_schema.span_errors([chat]) == {}

"""With content capture off the LangChain handler does not even build the content the
policy would drop (message lists, plain copies of chain inputs and outputs)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from langchain_core.callbacks.base import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_instrument import genai
from llm_instrument.agent import config
from llm_instrument.instrumentors.langchain import _callbacks, _extract


@pytest.fixture
def memory() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    genai.configure(provider, None)
    yield exporter
    genai.configure(None, None)
    config.reset(None)


def _run(monkeypatch: pytest.MonkeyPatch, capture: bool) -> list[str]:
    config.reset(config.Settings(capture_content=capture))
    built: list[str] = []
    for name in ("chat_inputs", "plain"):
        real = getattr(_extract, name)

        def counted(*args: Any, _real: Any = real, _name: str = name) -> Any:
            built.append(_name)
            return _real(*args)

        monkeypatch.setattr(_extract, name, counted)
    handler = _callbacks.handler_class(BaseCallbackHandler, False)()
    chain, model = uuid.uuid4(), uuid.uuid4()
    handler.on_chain_start({}, {"question": "hi"}, run_id=chain, name="RunnableSequence")
    handler.on_chat_model_start(
        {}, [[HumanMessage("hi")]], run_id=model, parent_run_id=chain, name="FakeChat"
    )
    handler.on_llm_end(
        LLMResult(generations=[[ChatGeneration(message=AIMessage("ok"))]]), run_id=model
    )
    handler.on_chain_end({"answer": "ok"}, run_id=chain)
    return built


def test_capture_off_builds_no_content(
    memory: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _run(monkeypatch, capture=False)
    assert built == []
    spans = {s.name: dict(s.attributes or {}) for s in memory.get_finished_spans()}
    assert set(spans) == {"invoke_workflow RunnableSequence", "chat FakeChat"}
    assert not any(
        "input.messages" in key or key == "input.value" for a in spans.values() for key in a
    )


def test_capture_on_builds_each_content_once(
    memory: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _run(monkeypatch, capture=True)
    assert built.count("chat_inputs") == 1 and "plain" in built
    spans = {s.name: dict(s.attributes or {}) for s in memory.get_finished_spans()}
    assert "hi" in str(spans["chat FakeChat"]["gen_ai.input.messages"])
    assert spans["invoke_workflow RunnableSequence"]["input.value"] == '{"question": "hi"}'

"""One model call, one usage: nested model spans of one call carry ``gen_ai.usage.*`` once.

Each test sums the usage the way the viewers do (every span's ``gen_ai.usage.*``: Phoenix per
trace, Jaeger UI's trace summary) and the token metric, and compares with the true count.
"""

from __future__ import annotations

import gc
import json
from typing import Any

from llm_instrument import genai
from tests.genai.conftest import Telemetry


def _summed(telemetry: Telemetry, key: str) -> int:
    return sum(int((s.attributes or {}).get(key, 0)) for s in telemetry.spans())


def _tokens(telemetry: Telemetry) -> dict[str, float]:
    points = telemetry.points("gen_ai.client.token.usage")
    found: dict[str, float] = {}
    for p in points:
        kind = p.attributes["gen_ai.token.type"]
        found[kind] = found.get(kind, 0) + p.sum
    return found


def _attrs(telemetry: Telemetry, provider: str) -> dict[str, Any]:
    (span,) = [s for s in telemetry.spans() if s.attributes["gen_ai.provider.name"] == provider]  # type: ignore[index]
    return dict(span.attributes or {})


def test_three_nested_model_spans_count_the_call_once(telemetry: Telemetry) -> None:
    # ChatHuggingFace (names no model) -> pipeline -> generate(): 29 tokens, not 87
    chat = genai.start_llm("chat", provider="langchain", name="ChatHuggingFace")
    pipe = genai.start_llm("chat", provider="pipeline", model="SmolLM2", parent=chat.context)
    gen = genai.start_llm(
        "text_completion", provider="huggingface", model="SmolLM2", parent=pipe.context
    )
    gen.set_usage(genai.Usage(20, 9))
    gen.finish(finish_reasons=["stop"])
    pipe.set_usage(genai.Usage(20, 9))
    pipe.finish()
    chat.finish(outputs="Hi there")
    assert _summed(telemetry, "gen_ai.usage.input_tokens") == 20
    assert _summed(telemetry, "gen_ai.usage.output_tokens") == 9
    assert _tokens(telemetry) == {"input": 20, "output": 9}
    outer = _attrs(telemetry, "langchain")
    assert (outer["gen_ai.usage.input_tokens"], outer["gen_ai.usage.output_tokens"]) == (20, 9)
    for provider in ("pipeline", "huggingface"):
        inner = _attrs(telemetry, provider)
        assert not any(k.startswith("gen_ai.usage.") for k in inner)
        assert inner["llm_instrument.usage.input_tokens"] == 20
        assert inner["llm_instrument.usage.output_tokens"] == 9
    # the wrapper learns its model and its finish reason from the call beneath it
    assert outer["gen_ai.request.model"] == "SmolLM2"
    (message,) = json.loads(outer["gen_ai.output.messages"])
    assert message["finish_reason"] == "stop"
    assert outer["gen_ai.response.finish_reasons"] == ("stop",)
    assert len(telemetry.points("gen_ai.client.operation.duration")) == 1


def test_the_outer_providers_own_usage_wins_and_is_the_only_one(telemetry: Telemetry) -> None:
    outer = genai.start_llm("chat", provider="langchain", model="m")
    inner = genai.start_llm("chat", provider="huggingface", model="m", parent=outer.context)
    inner.set_usage(genai.Usage(10, 3))
    inner.finish()
    outer.set_usage(genai.Usage(11, 4))
    outer.finish()
    assert _summed(telemetry, "gen_ai.usage.input_tokens") == 11
    assert _summed(telemetry, "gen_ai.usage.output_tokens") == 4
    assert _tokens(telemetry) == {"input": 11, "output": 4}


def test_an_inner_span_ending_after_its_outer_counts_what_the_outer_did_not(
    telemetry: Telemetry,
) -> None:
    outer = genai.start_llm("chat", provider="langchain", model="m")
    inner = genai.start_llm("chat", provider="huggingface", model="m", parent=outer.context)
    outer.finish()  # e.g. a stream drained after the wrapper returned
    inner.set_usage(genai.Usage(5, 6))
    inner.finish()
    assert _summed(telemetry, "gen_ai.usage.input_tokens") == 5
    assert _attrs(telemetry, "huggingface")["gen_ai.usage.output_tokens"] == 6
    assert _tokens(telemetry) == {"input": 5, "output": 6}
    assert len(telemetry.points("gen_ai.client.operation.duration")) == 1


def test_an_inner_span_ending_late_under_a_counted_outer_is_not_counted_again(
    telemetry: Telemetry,
) -> None:
    outer = genai.start_llm("chat", provider="langchain", model="m")
    inner = genai.start_llm("chat", provider="huggingface", model="m", parent=outer.context)
    outer.set_usage(genai.Usage(7, 2))
    outer.finish()
    inner.set_usage(genai.Usage(7, 2))
    inner.finish()
    assert _summed(telemetry, "gen_ai.usage.input_tokens") == 7
    assert _attrs(telemetry, "huggingface")["llm_instrument.usage.input_tokens"] == 7
    assert _tokens(telemetry) == {"input": 7, "output": 2}


def test_nested_embedding_spans_count_the_input_once(telemetry: Telemetry) -> None:
    outer = genai.start_embedding(provider="langchain", model="all-MiniLM-L6-v2")
    inner = genai.start_embedding(
        provider="huggingface", model="all-MiniLM-L6-v2", parent=outer.context
    )
    inner.set_usage(genai.Usage(input_tokens=12))
    inner.finish()
    outer.finish()
    assert _summed(telemetry, "gen_ai.usage.input_tokens") == 12
    assert _attrs(telemetry, "langchain")["gen_ai.usage.input_tokens"] == 12
    assert _tokens(telemetry) == {"input": 12}


def test_sibling_calls_under_a_chain_each_count(telemetry: Telemetry) -> None:
    chain = genai.start_chain("rag")
    for usage in (genai.Usage(3, 1), genai.Usage(4, 2)):
        call = genai.start_llm("chat", model="m", parent=chain.context)
        call.set_usage(usage)
        call.finish()
    chain.finish()
    assert _summed(telemetry, "gen_ai.usage.input_tokens") == 7
    assert _tokens(telemetry) == {"input": 7, "output": 3}


def test_every_model_span_names_a_request_model(telemetry: Telemetry) -> None:
    genai.start_llm("text_completion", name="FakeListLLM").finish(outputs="x")
    genai.start_llm("chat", name="Wrapper").finish(response_model="gpt-x-0613")
    genai.start_embedding(name="MyEmbeddings").finish()
    models = {s.name: (s.attributes or {}).get("gen_ai.request.model") for s in telemetry.spans()}
    assert models == {
        "text_completion FakeListLLM": "FakeListLLM",
        "chat Wrapper": "gpt-x-0613",
        "embeddings MyEmbeddings": "MyEmbeddings",
    }


def test_ended_model_calls_leave_no_reference_cycle(telemetry: Telemetry) -> None:
    # a model handle's context names the handle (for the calls nested in it); ended, the two
    # must not stay a cycle that only the garbage collector frees, with the span and all it
    # holds: ~35 objects per model call, a young collection every ~20 LangChain invokes
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            outer = genai.start_llm("chat", provider="langchain", model="m")
            inner = genai.start_llm("chat", provider="hf", model="m", parent=outer.context)
            embedding = genai.start_embedding(provider="hf", model="e", parent=outer.context)
            embedding.finish()
            inner.set_usage(genai.Usage(3, 1))
            inner.finish()
            outer.fail(RuntimeError("boom"))
        del outer, inner, embedding
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        cycles = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert "Handle" not in cycles and "Context" not in cycles, cycles[:20]
    assert _tokens(telemetry) == {"input": 60, "output": 20}

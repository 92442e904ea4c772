"""An ordinary LangChain program over an OpenAI-compatible server: ``ChatOpenAI`` and
``OpenAIEmbeddings`` pointed at ``OPENAI_BASE_URL`` (the ``openai`` SDK beneath them).

``python openai_langchain.py`` runs each scenario under a span of its own
(``scenario <name>``) and prints one JSON line per scenario with its trace id and the usage
LangChain reported, as ``tests/apps/openai_client.py`` does for the bare SDK.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from opentelemetry import trace

tracer = trace.get_tracer("tests.apps.openai_langchain")
MODEL = os.environ.get("OPENAI_MODEL", "tiny")
QUESTION = "What is the weather in Paris?"


def chat() -> ChatOpenAI:
    return ChatOpenAI(
        model=MODEL, api_key="not-needed", max_tokens=5, temperature=0, stream_usage=True,
        max_retries=0,
    )  # fmt: skip


def invoke() -> dict[str, Any]:
    return {"usage": chat().invoke(QUESTION).usage_metadata}


def stream() -> dict[str, Any]:
    total = None
    for chunk in chat().stream(QUESTION):
        total = chunk if total is None else total + chunk
    return {"usage": total.usage_metadata if total is not None else None}


def ainvoke() -> dict[str, Any]:
    return {"usage": asyncio.run(chat().ainvoke(QUESTION)).usage_metadata}


def embed() -> dict[str, Any]:
    # no tiktoken pre-tokenising: its encodings would come from the internet
    embeddings = OpenAIEmbeddings(
        model=f"{MODEL}-embeddings", api_key="not-needed", check_embedding_ctx_length=False
    )
    return {"dimension": len(embeddings.embed_documents(["hello world", "the fox"])[0])}


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "invoke": invoke,
    "stream": stream,
    "ainvoke": ainvoke,
    "embed": embed,
}

if __name__ == "__main__":
    for name, scenario in SCENARIOS.items():
        with tracer.start_as_current_span(f"scenario {name}") as span:
            result = scenario()
        trace_id = f"{span.get_span_context().trace_id:032x}"
        print(json.dumps({"scenario": name, "trace_id": trace_id, **result}), flush=True)

"""The front service: forwards questions to the chatbot, in the reference demo's pattern.

Each handler opens its own span with the OpenTelemetry API (a no-op when the process is not
traced), hands the call to a thread pool, and the pool worker, inside a span of its own,
calls the chatbot with ``requests``. Under ``llm-instrument`` the trace therefore reads:
server request -> handler span -> thread-pool span -> HTTP client call -> chatbot.

Endpoints: ``GET /`` (calls the chatbot's ``GET /``), ``GET /ask?q=...`` (forwards a
question to ``POST /chat`` and returns the answer with its sources), ``GET /healthz``.
The chatbot's address comes from ``CHATBOT_URL`` (default ``http://127.0.0.1:8001``).
Run: ``uvicorn demo_server.app:app``. No agent code here.
"""

from __future__ import annotations

import os
from concurrent import futures
from typing import Any

import requests
from fastapi import FastAPI, HTTPException, Query
from opentelemetry import trace

CHATBOT_URL = os.environ.get("CHATBOT_URL", "http://127.0.0.1:8001").rstrip("/")
TIMEOUT_S = float(os.environ.get("CHATBOT_TIMEOUT", "120"))

tracer = trace.get_tracer("demo_server")
app = FastAPI(title="Kestrel K1 support front end")


def call_chatbot(method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
    """Runs in the thread pool: one span for the work, one HTTP call to the chatbot."""
    with tracer.start_as_current_span("call_chatbot") as span:
        span.set_attribute("demo.chatbot.path", path)
        response = requests.request(method, CHATBOT_URL + path, json=payload, timeout=TIMEOUT_S)
        response.raise_for_status()
        return response.json()


def in_pool(method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
    with futures.ThreadPoolExecutor(max_workers=2) as executor:
        future = executor.submit(call_chatbot, method, path, payload)
        try:
            return future.result()
        except requests.RequestException as exc:
            raise HTTPException(502, f"chatbot call failed: {exc}") from exc


@app.get("/")
def call() -> dict[str, Any]:
    with tracer.start_as_current_span("parent") as span:
        span.set_attribute("parent.value", "parent")
        result = in_pool("GET", "/")
    return {"data": result["data"]}


@app.get("/ask")
def ask(q: str = Query(min_length=1, max_length=500)) -> dict[str, Any]:
    with tracer.start_as_current_span("ask") as span:
        span.set_attribute("demo.question.length", len(q))
        result = in_pool("POST", "/chat", {"question": q})
    return {"question": q, **result}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok", "chatbot": CHATBOT_URL}

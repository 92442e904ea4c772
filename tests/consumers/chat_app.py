"""A FastAPI RAG service for the consumer tests (``uvicorn tests.consumers.chat_app:app``).

``GET /chat?q=...`` runs the LangChain RAG chain of ``tests/apps/langchain_app.py`` (an
in-memory retriever, a prompt, a fake chat model reporting 11 input and 4 output tokens, a
parser) and returns the answer; ``GET /health`` is readiness and runs nothing.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from tests.apps.langchain_app import rag_chain

app = FastAPI()
chain = rag_chain()


@app.get("/health")
def health() -> dict[str, object]:
    return {"pid": os.getpid()}


@app.get("/chat")
def chat(q: str) -> dict[str, object]:
    return {"answer": chain.invoke(q), "pid": os.getpid()}

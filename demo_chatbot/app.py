"""The chatbot service: answers questions about the Kestrel K1 manual with LangChain RAG.

Endpoints:
- ``GET /``: answers one fixed question, as the reference demo's chatbot does;
- ``POST /chat``: ``{"question": ...}`` -> ``{"answer", "sources", "model"}``;
- ``POST /chat/stream``: the same, as server-sent events: one ``sources`` event, then one
  ``token`` event per piece of the answer, then ``done``;
- ``GET /healthz``: ready once the models are loaded and the manual is indexed.

Run: ``uvicorn demo_chatbot.app:app``. The model is chosen by ``CHATBOT_LLM`` (see
``demo_chatbot.model``). This is an ordinary, uninstrumented application.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from demo_chatbot import rag

log = logging.getLogger("demo_chatbot")
DEFAULT_QUESTION = "How do I restart the thermostat without losing my settings?"
state: dict[str, rag.Rag] = {}


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=500)


class Answer(BaseModel):
    answer: str
    sources: list[str]
    model: str


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    state["rag"] = rag.build()
    log.warning(
        "chatbot ready: model %s, %d passages", state["rag"].model_name, state["rag"].passages
    )
    yield
    state.clear()


app = FastAPI(title="Kestrel K1 support chatbot", lifespan=lifespan)


def _ask(question: str) -> Answer:
    result = state["rag"].chain.invoke(question)
    return Answer(
        answer=result["answer"].strip(),
        sources=[d.metadata["id"] for d in result["documents"]],
        model=state["rag"].model_name,
    )


@app.get("/")
def call_langchain() -> dict[str, str]:
    return {"data": _ask(DEFAULT_QUESTION).answer}


@app.post("/chat")
def chat(body: Question) -> Answer:
    return _ask(body.question)


def _event(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


def _stream(question: str) -> Iterator[str]:
    for chunk in state["rag"].chain.stream(question):
        if "documents" in chunk:
            yield _event("sources", [d.metadata["id"] for d in chunk["documents"]])
        if chunk.get("answer"):
            yield _event("token", chunk["answer"])
    yield _event("done", {"model": state["rag"].model_name})


@app.post("/chat/stream")
def chat_stream(body: Question) -> StreamingResponse:
    return StreamingResponse(_stream(body.question), media_type="text/event-stream")


@app.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"status": "ok", "model": state["rag"].model_name, "passages": state["rag"].passages}

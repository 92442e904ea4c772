"""A FastAPI app that streams a LangChain chain as server-sent events, for the client
disconnect test in tests/instrumentors/test_langchain_content.py.

``GET /stream`` (async, ``astream``) and ``GET /stream_sync`` (a sync generator over
``stream``, which Starlette runs in its thread pool) send one event per word of a long
answer, slowly, so a client can go away mid-answer. ``GET /health``: readiness.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.prompts import ChatPromptTemplate

WORDS = [f"word{i}" for i in range(200)]


class SlowChat(BaseChatModel):
    """Streams WORDS, one every 20 ms."""

    model_name: str = "slow-chat-1"

    @property
    def _llm_type(self) -> str:
        return "slow-chat"

    def _generate(self, messages: list[BaseMessage], **kw: Any) -> ChatResult:
        raise NotImplementedError

    def _stream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        for word in WORDS:
            time.sleep(0.02)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
            if run_manager:
                run_manager.on_llm_new_token(word + " ", chunk=chunk)
            yield chunk

    async def _astream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for word in WORDS:
            await asyncio.sleep(0.02)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
            if run_manager:
                await run_manager.on_llm_new_token(word + " ", chunk=chunk)
            yield chunk


chain = ChatPromptTemplate.from_template("{q}") | SlowChat() | StrOutputParser()
app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"ok": "yes"}


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        async for text in chain.astream({"q": "talk"}):
            yield f"data: {text}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@app.get("/stream_sync")
def stream_sync() -> StreamingResponse:
    def events() -> Iterator[str]:
        for text in chain.stream({"q": "talk"}):
            yield f"data: {text}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@app.get("/gc")
def collect() -> dict[str, int]:
    import gc

    return {"collected": gc.collect()}

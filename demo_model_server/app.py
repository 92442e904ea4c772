"""A small OpenAI-compatible model server over transformers, for the demo and the tests.

Endpoints (the OpenAI API's shapes, so the ``openai`` SDK and LangChain's ``ChatOpenAI``
talk to it unchanged):
- ``POST /v1/chat/completions``: plain, or server-sent events with ``"stream": true``; with
  ``stream_options: {"include_usage": true}`` a last chunk carries the usage; ``tools``
  give ``tool_calls`` when the model answers with one (see ``engine``);
- ``POST /v1/completions``: a prompt (or a list of prompts), plain or streamed;
- ``POST /v1/responses``: the Responses API for text (``input`` a string or messages,
  ``instructions``), plain or as its stream of events;
- ``POST /v1/embeddings``: a string or a list of strings, vectors as floats or base64;
- ``GET /v1/models``; ``GET /healthz``: ready once the model is loaded.

Usage is exact (the tokenizer and the ids ``generate()`` returned). Run:
``MODEL_SERVER_MODEL_PATH=/path/to/model uvicorn demo_model_server.app:app``; settings in
``demo_model_server.engine``. An ordinary, uninstrumented application: run it under
``llm-instrument`` and each request's trace holds its ``generate()`` span.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict

from demo_model_server.engine import Engine, Generation, Params, RequestError

state: dict[str, Engine] = {}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    state["engine"] = Engine()
    yield
    state.clear()


app = FastAPI(title="demo model server (OpenAI-compatible)", lifespan=lifespan)


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


@app.exception_handler(ApiError)
def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    body = {"error": {"message": str(exc), "type": exc.kind, "param": None, "code": None}}
    return JSONResponse(body, status_code=exc.status)


@app.exception_handler(RequestError)
def _request_error(request: Request, exc: RequestError) -> JSONResponse:
    return _api_error(request, ApiError(400, str(exc)))


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = 1
    repetition_penalty: float | None = None  # not OpenAI's; vLLM and others accept it
    stream: bool = False
    stream_options: dict[str, Any] | None = None

    def params(self, engine: Engine) -> Params:
        if self.n != 1:
            raise ApiError(400, "only n=1 is supported")
        wanted = self.max_completion_tokens or self.max_tokens or engine.max_tokens
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return Params(
            min(wanted, engine.max_tokens), self.temperature, self.top_p, stop, self.seed,
            self.repetition_penalty,
        )  # fmt: skip

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.get("include_usage"))


class ChatBody(_Body):
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None


class CompletionBody(_Body):
    prompt: str | list[str]


class ResponsesBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stream: bool = False

    def messages(self) -> list[dict[str, Any]]:
        if isinstance(self.input, str):
            given = [{"role": "user", "content": self.input}]
        else:  # messages; other items (tool calls and their outputs) are not supported here
            given = [m for m in self.input if "role" in m]
        if self.instructions:
            given.insert(0, {"role": "system", "content": self.instructions})
        return given


class EmbeddingBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    input: str | list[str]
    encoding_format: str = "float"


def _engine(model: str, embeddings: bool = False) -> Engine:
    engine = state["engine"]
    served = engine.embedding_name if embeddings else engine.name
    if model != served:
        raise ApiError(404, f"The model '{model}' does not exist; this server has '{served}'")
    return engine


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _sse(events: Iterator[dict[str, Any]]) -> StreamingResponse:
    def lines() -> Iterator[str]:
        for event in events:
            yield f"data: {json.dumps(event)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream")


def _tool_calls(generation: Generation) -> list[dict[str, Any]]:
    return [
        {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function", "function": call}
        for call in generation.tool_calls
    ]


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/v1/models")
def models() -> dict[str, Any]:
    engine = state["engine"]
    names = (engine.name, engine.embedding_name)
    return {
        "object": "list",
        "data": [{"id": n, "object": "model", "created": 0, "owned_by": "local"} for n in names],
    }


@app.post("/v1/chat/completions", response_model=None)
def chat_completions(body: ChatBody) -> dict[str, Any] | StreamingResponse:
    engine = _engine(body.model)
    params = body.params(engine)
    prompt = engine.chat_prompt(body.messages, body.tools)
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": engine.name}
    if not body.stream:
        done = engine.generate(prompt, params, body.tools)
        message: dict[str, Any] = {"role": "assistant", "content": done.text or None}
        if done.tool_calls:
            message["tool_calls"] = _tool_calls(done)
        choice = {"index": 0, "message": message, "finish_reason": done.finish_reason}
        usage = _usage(done.prompt_tokens, done.completion_tokens)
        return {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
    return _sse(_chat_chunks(engine.stream(prompt, params, body.tools), body, base))


def _chat_chunks(
    pieces: Iterator[str | Generation], body: ChatBody, base: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    usage_field = {"usage": None} if body.include_usage() else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**base, "object": "chat.completion.chunk", "choices": [choice], **usage_field}

    yield chunk({"role": "assistant", "content": ""})
    for piece in pieces:
        if isinstance(piece, str):
            if not body.tools:  # with tools, the reply is judged whole at the end
                yield chunk({"content": piece})
            continue
        if body.tools and piece.tool_calls:
            calls = [{"index": i, **call} for i, call in enumerate(_tool_calls(piece))]
            yield chunk({"tool_calls": calls})
        elif body.tools and piece.text:
            yield chunk({"content": piece.text})
        yield chunk({}, piece.finish_reason)
        if body.include_usage():
            usage = _usage(piece.prompt_tokens, piece.completion_tokens)
            yield {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}


@app.post("/v1/completions", response_model=None)
def completions(body: CompletionBody) -> dict[str, Any] | StreamingResponse:
    engine = _engine(body.model)
    params = body.params(engine)
    base = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": engine.name}
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if body.stream:
        if len(prompts) != 1:
            raise ApiError(400, "streaming takes one prompt")
        return _sse(_completion_chunks(engine.stream(prompts[0], params), body, base))
    choices, prompt_tokens, completion_tokens = [], 0, 0
    for index, prompt in enumerate(prompts):
        done = engine.generate(prompt, params)
        choices.append(
            {
                "index": index,
                "text": done.text,
                "finish_reason": done.finish_reason,
                "logprobs": None,
            }
        )
        prompt_tokens += done.prompt_tokens
        completion_tokens += done.completion_tokens
    usage = _usage(prompt_tokens, completion_tokens)
    return {**base, "object": "text_completion", "choices": choices, "usage": usage}


def _completion_chunks(
    pieces: Iterator[str | Generation], body: CompletionBody, base: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
        return {**base, "object": "text_completion", "choices": [choice]}

    for piece in pieces:
        if isinstance(piece, str):
            yield chunk(piece)
            continue
        yield chunk("", piece.finish_reason)
        if body.include_usage():
            usage = _usage(piece.prompt_tokens, piece.completion_tokens)
            yield {**base, "object": "text_completion", "choices": [], "usage": usage}


@app.post("/v1/responses", response_model=None)
def responses(body: ResponsesBody) -> dict[str, Any] | StreamingResponse:
    engine = _engine(body.model)
    wanted = min(body.max_output_tokens or engine.max_tokens, engine.max_tokens)
    params = Params(wanted, body.temperature, body.top_p)
    prompt = engine.chat_prompt(body.messages())
    base = {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": int(time.time()),
        "model": engine.name,
        "output": [],
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
    }
    if not body.stream:
        return _response_object(base, engine.generate(prompt, params))
    return _sse(_response_events(engine.stream(prompt, params), base))


def _response_object(base: dict[str, Any], done: Generation) -> dict[str, Any]:
    text = {"type": "output_text", "text": done.text, "annotations": []}
    item = {
        "type": "message",
        "id": f"msg_{uuid.uuid4().hex}",
        "status": "completed",
        "role": "assistant",
        "content": [text],
    }
    stopped = done.finish_reason == "length"
    return {
        **base,
        "status": "incomplete" if stopped else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if stopped else None,
        "output": [item],
        "usage": {
            "input_tokens": done.prompt_tokens,
            "output_tokens": done.completion_tokens,
            "total_tokens": done.prompt_tokens + done.completion_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _response_events(
    pieces: Iterator[str | Generation], base: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    sequence = iter(range(1_000_000))
    started = {**base, "status": "in_progress"}
    yield {"type": "response.created", "sequence_number": next(sequence), "response": started}
    item = f"msg_{uuid.uuid4().hex}"
    for piece in pieces:
        if isinstance(piece, str):
            yield {
                "type": "response.output_text.delta",
                "sequence_number": next(sequence),
                "item_id": item,
                "output_index": 0,
                "content_index": 0,
                "delta": piece,
                "logprobs": [],
            }
            continue
        final = _response_object(base, piece)
        kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
        yield {"type": kind, "sequence_number": next(sequence), "response": final}


@app.post("/v1/embeddings")
def embeddings(body: EmbeddingBody) -> dict[str, Any]:
    engine = _engine(body.model, embeddings=True)
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or body.encoding_format not in ("float", "base64"):
        raise ApiError(400, "input must be a non-empty string or list; encoding float|base64")
    vectors, tokens = engine.embed(texts)
    data = []
    for index, vector in enumerate(vectors):
        value: Any = vector
        if body.encoding_format == "base64":  # little-endian float32, as OpenAI sends it
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": engine.embedding_name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }

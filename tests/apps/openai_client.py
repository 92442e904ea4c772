"""An ordinary ``openai`` SDK program: every kind of call, against ``OPENAI_BASE_URL``.

``python openai_client.py SCENARIO...`` runs each scenario under a span of its own
(``scenario <name>``, opened with the OpenTelemetry API, as an app might) and prints one JSON
line per scenario: its trace id and what the SDK handed back (usage, finish reasons, tool
calls, chunk counts), for the test to hold the spans against. ``OPENAI_MODEL`` and
``OPENAI_EMBEDDING_MODEL`` name the served models.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import openai
from opentelemetry import trace

tracer = trace.get_tracer("tests.apps.openai_client")
MODEL = os.environ.get("OPENAI_MODEL", "tiny")
EMBEDDING_MODEL = os.environ.get("OPENAI_EMBEDDING_MODEL", f"{MODEL}-embeddings")
SYSTEM = {"role": "system", "content": "You answer briefly."}
QUESTION = {"role": "user", "content": "What is the weather in Paris?"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def client() -> openai.OpenAI:
    return openai.OpenAI(api_key="not-needed", max_retries=0)


def usage(raw: Any) -> dict[str, Any] | None:
    return None if raw is None else raw.model_dump(exclude_none=True)


def plain() -> dict[str, Any]:
    reply = client().chat.completions.create(
        model=MODEL, messages=[SYSTEM, QUESTION], max_tokens=6, temperature=0, seed=7
    )
    choice = reply.choices[0]
    return {
        "usage": usage(reply.usage),
        "finish": choice.finish_reason,
        "text": choice.message.content,
        "id": reply.id,
    }


def streamed() -> dict[str, Any]:
    stream = client().chat.completions.create(
        model=MODEL,
        messages=[QUESTION],
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks, text, final = 0, "", None
    with stream:
        for chunk in stream:
            chunks += 1
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            final = chunk.usage or final
    return {"usage": usage(final), "chunks": chunks, "text": text}


def streamed_without_usage() -> dict[str, Any]:
    stream = client().chat.completions.create(
        model=MODEL, messages=[QUESTION], max_tokens=4, stream=True
    )
    return {"chunks": sum(1 for _ in stream)}


def closed_early() -> dict[str, Any]:
    stream = client().chat.completions.create(
        model=MODEL, messages=[QUESTION], max_tokens=8, stream=True
    )
    first = next(iter(stream))
    stream.close()
    return {"first": first.id}


def abandoned() -> dict[str, Any]:
    stream = client().chat.completions.create(
        model=MODEL, messages=[QUESTION], max_tokens=8, stream=True
    )
    next(iter(stream))
    del stream
    gc.collect()
    return {}


def asynchronous() -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async with openai.AsyncOpenAI(api_key="not-needed", max_retries=0) as client:
            reply = await client.chat.completions.create(
                model=MODEL, messages=[QUESTION], max_tokens=5
            )
            stream = await client.chat.completions.create(
                model=MODEL,
                messages=[QUESTION],
                max_tokens=5,
                stream=True,
                stream_options={"include_usage": True},
            )
            final = None
            async with stream:
                async for chunk in stream:
                    final = chunk.usage or final
            return {"usage": usage(reply.usage), "stream_usage": usage(final)}

    return asyncio.run(run())


def embeddings() -> dict[str, Any]:
    reply = client().embeddings.create(model=EMBEDDING_MODEL, input=["hello world", "the fox"])
    return {"usage": usage(reply.usage), "dimension": len(reply.data[0].embedding)}


def completion() -> dict[str, Any]:
    reply = client().completions.create(model=MODEL, prompt="the quick brown", max_tokens=4)
    return {"usage": usage(reply.usage), "finish": reply.choices[0].finish_reason}


def tool_call() -> dict[str, Any]:
    """A tool call, then the conversation with its result sent back."""
    sdk = client()
    reply = sdk.chat.completions.create(
        model=MODEL, messages=[QUESTION], tools=TOOLS, max_tokens=80
    )
    message = reply.choices[0].message
    calls = message.tool_calls or []
    result = {"role": "tool", "tool_call_id": calls[0].id if calls else "none", "content": "sunny"}
    after = sdk.chat.completions.create(
        model=MODEL,
        messages=[QUESTION, message.model_dump(exclude_none=True), result],
        tools=TOOLS,
        max_tokens=4,
    )
    return {
        "usage": usage(reply.usage),
        "finish": reply.choices[0].finish_reason,
        "calls": [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for c in calls
        ],
        "after_usage": usage(after.usage),
    }


def raw_response() -> dict[str, Any]:
    raw = client().chat.completions.with_raw_response.create(
        model=MODEL, messages=[QUESTION], max_tokens=3
    )
    return {"usage": usage(raw.parse().usage), "status": raw.http_response.status_code}


def responses() -> dict[str, Any]:
    sdk = client()
    reply = sdk.responses.create(
        model=MODEL, instructions="You answer briefly.", input="Hello!", max_output_tokens=5
    )
    final = None
    for event in sdk.responses.create(
        model=MODEL, input="Hello!", max_output_tokens=5, stream=True
    ):
        final = getattr(event, "response", None) or final
    return {
        "usage": usage(reply.usage),
        "status": reply.status,
        "stream_usage": usage(final.usage if final is not None else None),
    }


def unknown_model() -> dict[str, Any]:
    try:
        client().chat.completions.create(model="no-such-model", messages=[QUESTION])
    except openai.NotFoundError as exc:
        return {"error": type(exc).__name__, "status": exc.status_code}
    raise AssertionError("the server accepted an unknown model")


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "plain": plain,
    "stream": streamed,
    "stream_without_usage": streamed_without_usage,
    "closed_early": closed_early,
    "abandoned": abandoned,
    "async": asynchronous,
    "embeddings": embeddings,
    "completion": completion,
    "tool_call": tool_call,
    "raw_response": raw_response,
    "responses": responses,
    "unknown_model": unknown_model,
}


def main(names: list[str]) -> None:
    for name in names or list(SCENARIOS):
        with tracer.start_as_current_span(f"scenario {name}") as span:
            result = SCENARIOS[name]()
        trace_id = f"{span.get_span_context().trace_id:032x}"
        print(json.dumps({"scenario": name, "trace_id": trace_id, **result}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

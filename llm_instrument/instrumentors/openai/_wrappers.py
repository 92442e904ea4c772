"""The wrappers of ``SyncAPIClient.request`` and ``AsyncAPIClient.request``.

Every SDK call goes through ``request`` once (retries loop inside it), whichever helper made
it: ``create``, ``parse``, ``stream()``, ``with_raw_response``. A POST to a model endpoint
opens a span (made current, so the httpx span of each attempt nests under it); anything
else passes straight through. The response decides how the span ends:
- a parsed object: finished at once with its usage, outputs and finish reasons;
- a ``Stream``/``AsyncStream``: returned as the stream proxy, which ends the span;
- a raw response (``with_raw_response``, which LangChain's ``ChatOpenAI`` uses): parsed
  (the SDK caches the parse, so the caller's own ``parse()`` costs nothing more); a raw
  *streamed* or ``with_streaming_response`` response is ended at once without response facts
  (reading its body would take it from the caller).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context

from llm_instrument import genai
from llm_instrument.agent.guard import guard, guarded
from llm_instrument.genai import names
from llm_instrument.instrumentors.openai import _extract
from llm_instrument.instrumentors.openai._stream import (
    Accumulator,
    AsyncOpenAIStream,
    OpenAIStream,
)


class _Call:
    __slots__ = ("handle", "kind", "stream")

    def __init__(self, kind: str, handle: genai.Handle, stream: bool) -> None:
        self.kind, self.handle, self.stream = kind, handle, stream


@functools.cache
def _sdk_types() -> tuple[type[Any], type[Any], type[Any] | None, type[Any] | None]:
    """(Stream, AsyncStream, LegacyAPIResponse, BaseAPIResponse), read once from the SDK."""
    import openai

    legacy = base = None
    with guard("openai: finding the raw response types"):
        from openai._legacy_response import LegacyAPIResponse
        from openai._response import BaseAPIResponse

        legacy, base = LegacyAPIResponse, BaseAPIResponse
    return openai.Stream, openai.AsyncStream, legacy, base


@guarded("openai: starting a span")
def _start(client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call | None:
    options = args[1] if len(args) > 1 else kwargs.get("options")
    kind = _extract.endpoint(options)
    if kind is None:
        return None
    body = _extract.get(options, "json_data")
    facts = _extract.request(kind, body if isinstance(body, dict) else {})
    stream = bool(kwargs.get("stream"))
    where = _extract.server(str(client.base_url))
    if kind == _extract.EMBEDDINGS:
        handle = genai.start_embedding(
            provider=where.provider,
            model=facts.model,
            inputs=facts.inputs,
            attributes=where.attributes,
        )
    else:
        handle = genai.start_llm(
            facts.operation,
            provider=where.provider,
            model=facts.model,
            request=facts.params,
            inputs=facts.inputs,
            attributes=where.attributes,
            stream=stream,
        )
    return _Call(kind, handle, stream)


def _finish_parsed(call: _Call, parsed: Any) -> None:
    facts = _extract.response(call.kind, parsed)
    handle = call.handle
    handle.set_attributes({names.RESPONSE_ID: facts.id})
    if facts.usage is not None:
        handle.set_usage(facts.usage)
    handle.finish(facts.outputs, facts.finish_reasons or None, response_model=facts.model)


def _settle(call: _Call, result: Any) -> Any:
    """The result the caller gets (the result itself, or its stream proxy), span handled."""
    stream, async_stream, legacy, raw = _sdk_types()
    if isinstance(result, (stream, async_stream)):
        accumulator = Accumulator(call.kind, call.handle)
        proxy = OpenAIStream if isinstance(result, stream) else AsyncOpenAIStream
        return proxy(result, call.handle, accumulator.chunk_text, accumulator.on_end)
    if legacy is not None and isinstance(result, legacy):
        if not call.stream:
            _finish_parsed(call, result.parse())
    elif not (raw is not None and isinstance(result, raw)):
        _finish_parsed(call, result)
    call.handle.finish()  # no-op when finished above
    return result


def _after(call: _Call, result: Any) -> Any:
    with guard("openai: reading the response") as outcome:
        settled = _settle(call, result)
    if outcome.error is not None:
        call.handle.finish()
        return result
    return settled


def wrap_request(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``SyncAPIClient.request``: a span per model call, current while the call runs."""
    call = _start(instance, args, kwargs)
    if call is None:
        return wrapped(*args, **kwargs)
    token = otel_context.attach(call.handle.context)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        call.handle.fail(exc)
        raise
    finally:
        otel_context.detach(token)
    return _after(call, result)


async def wrap_async_request(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``AsyncAPIClient.request``: the same, awaited."""
    call = _start(instance, args, kwargs)
    if call is None:
        return await wrapped(*args, **kwargs)
    token = otel_context.attach(call.handle.context)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        call.handle.fail(exc)
        raise
    finally:
        otel_context.detach(token)
    return _after(call, result)

"""Streamed ``openai`` responses: what the chunks say, and the proxies the caller gets.

The span ends through the core's ``GenAIStream`` (once: on exhaustion, on an error, on
``close()``, or when the stream is dropped). Here:
- ``Accumulator`` reads each chunk as it passes: the text of the first choice (the core
  joins it), tool-call fragments, finish reasons, the response id and model, and the usage
  (``stream_options={"include_usage": True}`` puts it on a last chunk with no choices; the
  Responses API on its ``response.completed`` event). Usage is handed to the span when it
  arrives, so a stream closed after it still reports it.
- ``OpenAIStream``/``AsyncOpenAIStream`` add what the SDK's ``Stream``/``AsyncStream`` offer
  beyond iteration: ``with``/``async with`` give the proxy itself (a plain proxy would give
  the unwrapped stream, whose chunks the span would never see), and ``AsyncStream.close``
  is a coroutine.
"""

from __future__ import annotations

from collections.abc import Coroutine
from types import TracebackType
from typing import Any

from llm_instrument import genai
from llm_instrument.genai import names
from llm_instrument.instrumentors.openai import _extract
from llm_instrument.instrumentors.openai._extract import get

_FINAL_EVENTS = frozenset(("response.completed", "response.incomplete", "response.failed"))


class Accumulator:
    """The facts of one stream, kept small: joined text, tool-call fragments, reasons."""

    __slots__ = ("_calls", "_final", "_handle", "_id", "_kind", "_model", "_reasons", "_texts")

    def __init__(self, kind: str, handle: genai.Handle) -> None:
        self._kind = kind
        self._handle = handle
        self._id: str | None = None
        self._model: str | None = None
        self._reasons: dict[int, str] = {}
        self._texts: dict[int, list[str]] = {}  # choices after the first (n > 1)
        self._calls: dict[tuple[int, int], list[Any]] = {}  # (choice, index) -> [id, name, args]
        self._final: Any = None  # the Responses API's last Response

    def chunk_text(self, chunk: Any) -> str | None:
        """Note what ``chunk`` says; return the text it adds to the first choice."""
        if self._kind == _extract.RESPONSES:
            return self._event(chunk)
        if self._id is None:
            self._id, self._model = get(chunk, "id"), get(chunk, "model")
        found = _extract.usage(get(chunk, "usage"))
        if found is not None:
            self._handle.set_usage(found)
        first: str | None = None
        for choice in get(chunk, "choices") or ():
            index = get(choice, "index") or 0
            reason = get(choice, "finish_reason")
            if reason:
                self._reasons[index] = str(reason)
            if self._kind == _extract.CHAT:
                delta = get(choice, "delta")
                text = get(delta, "content")
                for call in get(delta, "tool_calls") or ():
                    self._add_call(index, call)
            else:
                text = get(choice, "text")
            if not text:
                continue
            if index == 0:
                first = text
            else:
                self._texts.setdefault(index, []).append(text)
        return first

    def _add_call(self, choice: int, fragment: Any) -> None:
        """Tool calls arrive in pieces: id and name first, then the arguments' text."""
        key = (choice, get(fragment, "index") or 0)
        entry = self._calls.setdefault(key, [None, "", []])
        function = get(fragment, "function")
        entry[0] = entry[0] or get(fragment, "id")
        entry[1] = entry[1] or get(function, "name") or ""
        arguments = get(function, "arguments")
        if arguments:
            entry[2].append(arguments)

    def _event(self, event: Any) -> str | None:
        kind = get(event, "type")
        if kind == "response.output_text.delta":
            delta = get(event, "delta")
            return delta if isinstance(delta, str) else None
        if kind in _FINAL_EVENTS:
            self._final = get(event, "response")
            found = _extract.usage(get(self._final, "usage"))
            if found is not None:
                self._handle.set_usage(found)
        return None

    def on_end(self, handle: genai.Handle, text: str) -> None:
        """The stream is exhausted: finish the span with everything it said."""
        if self._kind == _extract.RESPONSES and self._final is not None:
            facts = _extract.response(self._kind, self._final)
            handle.set_attributes({names.RESPONSE_ID: facts.id})
            handle.finish(facts.outputs, facts.finish_reasons, response_model=facts.model)
            return
        handle.set_attributes({names.RESPONSE_ID: self._id})
        indexes = sorted({0, *self._reasons, *self._texts, *(c for c, _ in self._calls)})
        messages = []
        for index in indexes:
            content = text if index == 0 else "".join(self._texts.get(index, ()))
            calls = tuple(
                genai.ToolCall(entry[0], entry[1], _extract.arguments("".join(entry[2])))
                for (choice, _), entry in sorted(self._calls.items())
                if choice == index
            )
            reason = self._reasons.get(index)
            messages.append(
                genai.Message("assistant", content or None, calls, finish_reason=reason)
            )
        reasons = [self._reasons[i] for i in indexes if i in self._reasons]
        handle.finish(messages, reasons, response_model=self._model)


class OpenAIStream(genai.GenAIStream):
    """An SDK ``Stream`` whose span ends once; ``with stream:`` keeps the proxy."""

    def __enter__(self) -> OpenAIStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncOpenAIStream(genai.GenAIStream):
    """An SDK ``AsyncStream`` whose span ends once; ``async with`` keeps the proxy."""

    async def __aenter__(self) -> AsyncOpenAIStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._self_close()

    def close(self) -> Coroutine[Any, Any, None]:  # type: ignore[override]
        """``AsyncStream.close`` is a coroutine: so is this one."""
        return self._self_close()

    async def _self_close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            await self.aclose()  # the SDK stream has no ``aclose``: this ends the span

"""One stream proxy for every instrumentor: a wrapt ``BaseObjectProxy`` that ends its span once.

``GenAIStream(stream, handle, chunk_text=..., on_end=...)`` wraps a sync or async iterator
(or an iterable) and forwards every chunk unchanged. Each chunk counts for
``time_to_first_chunk``/``time_per_output_chunk`` and ``chunk_text(chunk)`` (optional) adds
its text to one joined buffer, so no chunk list is kept. The span ends exactly once:

- exhaustion: ``on_end(handle, text)`` (optional, for usage and finish reasons), then
  ``handle.finish(outputs=text)``, status OK/UNSET;
- any ``BaseException`` from the stream, cancellation included: ``handle.fail`` (status
  ERROR, the partial text kept) and the same exception re-raised;
- ``close()``/``aclose()`` or the proxy being garbage collected before the end: the span
  ends with the partial output and status UNSET, so a truncated stream is told apart.

Instrumentor callbacks run under ``guard``; the stream itself never sees our failures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wrapt

from llm_instrument.agent.guard import guarded
from llm_instrument.genai.handle import Handle


@guarded("genai: reading a stream chunk")
def _on_chunk(proxy: GenAIStream, chunk: Any) -> None:
    proxy._self_handle.chunk()
    extract = proxy._self_chunk_text
    if extract is not None:
        piece = extract(chunk)
        if piece:
            proxy._self_text.append(piece)


@guarded("genai: ending a stream")
def _complete(proxy: GenAIStream) -> None:
    text = "".join(proxy._self_text)
    if proxy._self_on_end is not None:
        proxy._self_on_end(proxy._self_handle, text)
    proxy._self_handle.finish(outputs=text or None)


@guarded("genai: ending an abandoned stream")
def _abandon(proxy: GenAIStream) -> None:
    handle = proxy._self_handle
    if not handle.ended:
        handle.finish(outputs="".join(proxy._self_text) or None)


class GenAIStream(wrapt.BaseObjectProxy[Any]):
    """A stream whose span ends when it completes, fails, is closed or is dropped."""

    def __init__(
        self,
        wrapped: Any,
        handle: Handle,
        chunk_text: Callable[[Any], str | None] | None = None,
        on_end: Callable[[Handle, str], None] | None = None,
    ) -> None:
        super().__init__(wrapped)
        self._self_handle = handle
        self._self_chunk_text = chunk_text
        self._self_on_end = on_end
        self._self_text: list[str] = []
        self._self_iterator: Any = None

    @property
    def handle(self) -> Handle:
        return self._self_handle

    # -- sync --------------------------------------------------------------------------------
    def __iter__(self) -> GenAIStream:
        if self._self_iterator is None:
            self._self_iterator = iter(self.__wrapped__)
        return self

    def __next__(self) -> Any:
        if self._self_iterator is None:
            self._self_iterator = iter(self.__wrapped__)
        try:
            chunk = next(self._self_iterator)
        except StopIteration:
            _complete(self)
            raise
        except BaseException as exc:
            self._self_handle.fail(exc)
            raise
        _on_chunk(self, chunk)
        return chunk

    def close(self) -> None:
        try:
            close = getattr(self.__wrapped__, "close", None)
            if close is not None:
                close()
        finally:
            _abandon(self)

    # -- async -------------------------------------------------------------------------------
    def __aiter__(self) -> GenAIStream:
        if self._self_iterator is None:
            self._self_iterator = self.__wrapped__.__aiter__()
        return self

    async def __anext__(self) -> Any:
        if self._self_iterator is None:
            self._self_iterator = self.__wrapped__.__aiter__()
        try:
            chunk = await self._self_iterator.__anext__()
        except StopAsyncIteration:
            _complete(self)
            raise
        except BaseException as exc:
            self._self_handle.fail(exc)
            raise
        _on_chunk(self, chunk)
        return chunk

    async def aclose(self) -> None:
        try:
            aclose = getattr(self.__wrapped__, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            _abandon(self)

    def __del__(self) -> None:
        _abandon(self)

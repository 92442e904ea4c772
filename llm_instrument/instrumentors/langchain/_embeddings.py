"""Embeddings: LangChain has no embedding callback, so the ``Embeddings`` interface is wrapped.

``embed_documents``/``embed_query`` (and the async twins) are abstract or overridden in each
provider class, so they are wrapped on every subclass (``_subclasses``), defined before or
after patching. One EMBEDDING span per call (``embeddings {model}``);
a call that re-enters another wrapped method of the same object (``aembed_query`` running
``embed_query`` in an executor, a subclass calling ``super()``) adds no second span. The
text is captured as ``llm_instrument.input``; the vectors only as their dimension count.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from llm_instrument import genai
from llm_instrument.agent.guard import guarded
from llm_instrument.genai import names
from llm_instrument.instrumentors.langchain import _extract
from llm_instrument.instrumentors.langchain._subclasses import SubclassWraps

METHODS = ("embed_documents", "embed_query", "aembed_documents", "aembed_query")
_active: ContextVar[int | None] = ContextVar("llm_instrument_langchain_embedding", default=None)


@guarded("langchain: starting an embedding span")
def _start(instance: Any, method: str, texts: Any) -> genai.Handle | None:
    model = _extract.model_of(instance)
    return genai.start_embedding(
        provider=_extract.provider_of(instance),
        model=model,
        name=type(instance).__name__,
        inputs=texts,
        attributes={names.REQUEST_BATCH_SIZE: len(texts) if isinstance(texts, list) else 1},
    )


def _wrap_embed(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """One EMBEDDING span around a sync embedding call."""
    if _active.get() == id(instance):
        return wrapped(*args, **kwargs)
    handle = _start(instance, wrapped.__name__, args[0] if args else kwargs.get("texts"))
    if handle is None:
        return wrapped(*args, **kwargs)
    token = _active.set(id(instance))
    try:
        with handle:
            result = wrapped(*args, **kwargs)
            vectors = result if wrapped.__name__ == "embed_documents" else [result]
            handle.finish(outputs=vectors)
            return result
    finally:
        _active.reset(token)


def _wrap_aembed(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """One EMBEDDING span around an async embedding call."""
    if _active.get() == id(instance):
        return wrapped(*args, **kwargs)

    async def run() -> Any:
        handle = _start(instance, wrapped.__name__, args[0] if args else kwargs.get("texts"))
        if handle is None:
            return await wrapped(*args, **kwargs)
        token = _active.set(id(instance))
        try:
            with handle:
                result = await wrapped(*args, **kwargs)
                vectors = result if wrapped.__name__ == "aembed_documents" else [result]
                handle.finish(outputs=vectors)
                return result
        finally:
            _active.reset(token)

    return run()


EMBEDDINGS = SubclassWraps("Embeddings", METHODS, _wrap_embed, _wrap_aembed)

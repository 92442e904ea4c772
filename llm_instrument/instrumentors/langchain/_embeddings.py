"""Embeddings: LangChain has no embedding callback, so the ``Embeddings`` interface is wrapped.

``embed_documents``/``embed_query`` (and the async twins) are abstract or overridden in each
provider class, so wrapping the base class alone would miss them. ``patch`` wraps the
methods each existing subclass defines itself and hooks ``Embeddings.__init_subclass__`` to
do the same for classes defined later. One EMBEDDING span per call (``embeddings {model}``);
a call that re-enters another wrapped method of the same object (``aembed_query`` running
``embed_query`` in an executor, a subclass calling ``super()``) adds no second span. The
text is captured as ``llm_instrument.input``; the vectors only as their dimension count.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextvars import ContextVar
from types import ModuleType
from typing import Any

from llm_instrument import genai
from llm_instrument.agent.guard import guarded
from llm_instrument.genai import names
from llm_instrument.instrumentors.langchain import _extract

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


def wrap_class(module: str, cls: type) -> None:
    """Wrap the embedding methods ``cls`` defines itself (idempotent)."""
    from llm_instrument.instrumentors.langchain import WRAPPING

    owner = f"{module}:{cls.__module__}.{cls.__qualname__}"
    for method in METHODS:
        original = cls.__dict__.get(method)
        if original is None or getattr(original, "__isabstractmethod__", False):
            continue
        wrapper = _wrap_aembed if inspect.iscoroutinefunction(original) else _wrap_embed
        WRAPPING.wrap_attribute(f"{owner}.{method}", cls, method, wrapper)


def _all_subclasses(cls: type) -> list[type]:
    found: list[type] = []
    todo = [cls]
    while todo:
        subs: list[type] = type.__subclasses__(todo.pop())
        for sub in subs:
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return found


@guarded("langchain: wrapping an Embeddings subclass")
def _wrap_new_subclass(module: str, cls: type) -> None:
    from llm_instrument.instrumentors.langchain import WRAPPING

    if WRAPPING.enabled:
        wrap_class(module, cls)


def patch_embeddings(module: ModuleType) -> None:
    """Wrap every ``Embeddings`` subclass there is, and every one defined later."""
    base = module.Embeddings
    name = module.__name__
    if "__init_subclass__" not in base.__dict__:

        def __init_subclass__(cls: Any, /, **kwargs: Any) -> None:
            super(base, cls).__init_subclass__(**kwargs)
            _wrap_new_subclass(name, cls)

        setattr(base, "__init_subclass__", classmethod(__init_subclass__))  # noqa: B010
    wrap_class(name, base)
    for sub in _all_subclasses(base):
        wrap_class(name, sub)


def unpatch_embeddings(module: ModuleType) -> None:
    """Remove the subclass hook (the wrapped methods are restored by ``WRAPPING``)."""
    base = module.Embeddings
    if "__init_subclass__" in base.__dict__:
        delattr(base, "__init_subclass__")

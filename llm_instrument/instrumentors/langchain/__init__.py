"""LangChain (langchain-core 1.x, and langchain-classic's legacy chains): spans for chat
models and LLMs, chains and runnables, retrievers, embeddings, tools and agents.

Wrapped, each when its defining module is first imported:

- ``callbacks.manager._configure``: every callback manager LangChain builds gets our one
  ``run_inline`` handler (``_callbacks``), unless it already has it. The handler turns runs
  into GenAI core handles and keeps a bounded ``run_id`` map (``_runs``).
- ``runnables.config._set_config_context``, the model call helpers, ``stream``/``astream``
  and ``BaseRetriever.invoke``/``ainvoke`` (``_context``): the run's span is current while
  its work runs, so HTTP calls nest under the model, tool or retriever that made them.
- ``embeddings.embeddings.Embeddings`` subclasses (``_embeddings``): LangChain has no
  embedding callback.

Settings: ``LLM_INSTRUMENT_LANGCHAIN_CHAIN_SPANS`` = ``outer`` (default: plumbing steps such
as prompts, parsers, lambdas and sequence steps are folded) or ``all``. Content capture and
truncation are the core's (``LLM_INSTRUMENT_CAPTURE_CONTENT``, ``..._MAX_CONTENT_LENGTH``).
Known limits: a multi-prompt legacy ``generate`` keeps its chain's span current during the
provider call; a stream iterated without LangChain's ``stream()`` (calling ``_stream``
directly) is not seen at all.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import wrapt

from llm_instrument.agent import config
from llm_instrument.agent.config import parse_choice
from llm_instrument.agent.guard import guarded
from llm_instrument.agent.plugin import DidNotEnable, Plugin

_Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


def _table() -> dict[str, tuple[tuple[str, _Wrapper], ...]]:
    from llm_instrument.instrumentors.langchain import _context as c

    return {
        "langchain_core.callbacks.manager": (("_configure", _wrap_configure),),
        "langchain_core.runnables.config": (("_set_config_context", c._wrap_set_config_context),),
        "langchain_core.language_models.chat_models": (
            ("BaseChatModel._generate_with_cache", c._wrap_generate_with_cache),
            ("BaseChatModel._agenerate_with_cache", c._wrap_agenerate_with_cache),
            ("BaseChatModel.stream", c._wrap_stream),
            ("BaseChatModel.astream", c._wrap_astream),
        ),
        "langchain_core.language_models.llms": (
            ("BaseLLM._generate_helper", c._wrap_generate_helper),
            ("BaseLLM._agenerate_helper", c._wrap_agenerate_helper),
            ("BaseLLM.stream", c._wrap_stream),
            ("BaseLLM.astream", c._wrap_astream),
        ),
        "langchain_core.retrievers": (
            ("BaseRetriever.invoke", c._wrap_retriever_invoke),
            ("BaseRetriever.ainvoke", c._wrap_retriever_ainvoke),
        ),
    }


class _State:
    enabled = False
    handler: Any = None
    originals: dict[tuple[str, str], tuple[Any, str, Any]] = {}  # noqa: RUF012


_state = _State()


def _enabled(wrapper: _Wrapper) -> _Wrapper:
    """Aliases captured before ``unpatch`` go quiet: they call straight through."""

    def call(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not _state.enabled:
            return wrapped(*args, **kwargs)
        return wrapper(wrapped, instance, args, kwargs)

    return call


@guarded("langchain: adding the callback handler")
def _add_handler(manager: Any) -> None:
    handler = _state.handler
    if handler is not None and handler not in manager.handlers:
        manager.add_handler(handler, inherit=True)


def _wrap_configure(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Every callback manager LangChain configures carries our handler."""
    manager = wrapped(*args, **kwargs)
    _add_handler(manager)
    return manager


def _make_handler() -> Any:
    from langchain_core.callbacks.base import BaseCallbackHandler

    from llm_instrument.instrumentors.langchain._callbacks import handler_class

    mode = config.current().plugin_setting(
        "langchain", "chain_spans", "outer", parse_choice(("outer", "all"))
    )
    return handler_class(BaseCallbackHandler, mode == "all")()


def patch(module: ModuleType) -> None:
    if module.__name__ == "langchain_core.embeddings.embeddings":
        from llm_instrument.instrumentors.langchain._embeddings import patch_embeddings

        patch_embeddings(module.Embeddings)
        return
    table = _table()
    if module.__name__ not in table:
        raise DidNotEnable(f"no wraps for {module.__name__}")
    if module.__name__ == "langchain_core.callbacks.manager" and _state.handler is None:
        _state.handler = _make_handler()
    _state.enabled = True
    for path, wrapper in table[module.__name__]:
        key = (module.__name__, path)
        if key in _state.originals:
            continue
        parent, name, original = wrapt.resolve_path(module, path)
        _state.originals[key] = (parent, name, original)
        wrapt.apply_patch(parent, name, wrapt.FunctionWrapper(original, _enabled(wrapper)))


def unpatch(module: ModuleType) -> None:
    if module.__name__ == "langchain_core.embeddings.embeddings":
        from llm_instrument.instrumentors.langchain._embeddings import unpatch_embeddings

        unpatch_embeddings(module.Embeddings)
        return
    for key in [key for key in _state.originals if key[0] == module.__name__]:
        parent, name, original = _state.originals.pop(key)
        setattr(parent, name, original)
    if not _state.originals:
        _state.enabled = False


PLUGIN = Plugin(
    name="langchain",
    hooks=(
        "langchain_core.callbacks.manager",
        "langchain_core.runnables.config",
        "langchain_core.language_models.chat_models",
        "langchain_core.language_models.llms",
        "langchain_core.retrievers",
        "langchain_core.embeddings.embeddings",
    ),
    distribution="langchain-core",
    supported=">=1.0,<2",
    patch=patch,
    unpatch=unpatch,
    description="LangChain chains, models, retrievers, embeddings, tools and agents",
)

"""LangChain (langchain-core 1.x, and langchain-classic's legacy chains) and LangGraph: spans
for chat models and LLMs, chains and runnables, retrievers, embeddings, tools, agents and
graphs.

Wrapped, each when its defining module is first imported:

- ``callbacks.manager._configure``: every callback manager LangChain builds gets our one
  ``run_inline`` handler (``_callbacks``), unless it already has it. The handler turns runs
  into GenAI core handles and keeps a bounded ``run_id`` map (``_runs``).
- ``runnables.config._set_config_context``, the model call helpers, ``stream``/``astream``
  and ``BaseRetriever.invoke``/``ainvoke`` (``_context``): the run's span is current while
  its work runs, so HTTP calls nest under the model, tool or retriever that made them.
- ``embeddings.embeddings.Embeddings`` subclasses (``_embeddings``): LangChain has no
  embedding callback.
- ``vectorstores.base.VectorStore`` subclasses' scored searches (``_scores``): the real
  scores of the documents a ``VectorStoreRetriever`` returns without them.
- ``BaseChatModel._get_invocation_params`` (``_models``): the model a class keeps under
  another name (``ChatHuggingFace.model_id``); ``tools.base._handle_tool_error`` and
  ``_handle_validation_error`` (``_tools``): tool errors LangChain handled itself.
- ``langgraph.pregel.main.Pregel.stream``/``astream`` (``_graphs``): which graph a run is,
  so an agent graph is an agent span.

Settings: ``LLM_INSTRUMENT_LANGCHAIN_CHAIN_SPANS`` = ``outer`` (default: plumbing steps such
as prompts, parsers, lambdas and sequence steps are folded) or ``all``. Content capture and
truncation are the core's (``LLM_INSTRUMENT_CAPTURE_CONTENT``, ``..._MAX_CONTENT_LENGTH``).
Known limits: a multi-prompt legacy ``generate`` keeps its chain's span current during the
provider call; a stream iterated without LangChain's ``stream()`` (calling ``_stream``
directly) is not seen at all; a sync stream that Starlette abandons when its client goes
away ends only when the garbage collector closes it; a handled tool error's span keeps the
exception, not the error text the model was given; documents come back scored only from a
vector store's scored search (not MMR).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from llm_instrument.agent import config
from llm_instrument.agent.config import parse_choice
from llm_instrument.agent.guard import guarded
from llm_instrument.agent.plugin import Plugin, Setting
from llm_instrument.agent.wrapping import Wrap, Wrapping

CHAIN_SPANS = Setting(
    "LLM_INSTRUMENT_LANGCHAIN_CHAIN_SPANS",
    "outer",
    "'outer': fold prompts, parsers, lambdas and sequence steps into their chain; "
    "'all': one span per runnable",
    parse_choice(("outer", "all")),
    "MODE",
)

_PACKAGE = "llm_instrument.instrumentors.langchain"
_CONTEXT = f"{_PACKAGE}._context"
_MANAGER = "langchain_core.callbacks.manager"
_EMBEDDINGS = "langchain_core.embeddings.embeddings"
_VECTOR_STORES = "langchain_core.vectorstores.base"
_TOOLS = "langchain_core.tools.base"
_PREGEL = "langgraph.pregel.main"
_CHAT = "langchain_core.language_models.chat_models"
_LLMS = "langchain_core.language_models.llms"


class _State:
    handler: Any = None


_state = _State()


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


WRAPPING = Wrapping(
    (
        Wrap(_MANAGER, "_configure", _wrap_configure),
        Wrap("langchain_core.runnables.config", "_set_config_context",
             f"{_CONTEXT}:_wrap_set_config_context"),
        Wrap(_CHAT, "BaseChatModel._generate_with_cache", f"{_CONTEXT}:_wrap_generate_with_cache"),
        Wrap(_CHAT, "BaseChatModel._agenerate_with_cache",
             f"{_CONTEXT}:_wrap_agenerate_with_cache"),
        Wrap(_CHAT, "BaseChatModel.stream", f"{_CONTEXT}:_wrap_stream"),
        Wrap(_CHAT, "BaseChatModel.astream", f"{_CONTEXT}:_wrap_astream"),
        Wrap(_LLMS, "BaseLLM._generate_helper", f"{_CONTEXT}:_wrap_generate_helper"),
        Wrap(_LLMS, "BaseLLM._agenerate_helper", f"{_CONTEXT}:_wrap_agenerate_helper"),
        Wrap(_LLMS, "BaseLLM.stream", f"{_CONTEXT}:_wrap_stream"),
        Wrap(_LLMS, "BaseLLM.astream", f"{_CONTEXT}:_wrap_astream"),
        Wrap("langchain_core.retrievers", "BaseRetriever.invoke",
             f"{_CONTEXT}:_wrap_retriever_invoke"),
        Wrap("langchain_core.retrievers", "BaseRetriever.ainvoke",
             f"{_CONTEXT}:_wrap_retriever_ainvoke"),
        Wrap(_CHAT, "BaseChatModel._get_invocation_params",
             f"{_PACKAGE}._models:_wrap_get_invocation_params"),
        Wrap(_TOOLS, "_handle_tool_error", f"{_PACKAGE}._tools:_wrap_handle_error", True),
        Wrap(_TOOLS, "_handle_validation_error", f"{_PACKAGE}._tools:_wrap_handle_error", True),
        Wrap(_PREGEL, "Pregel.stream", f"{_PACKAGE}._graphs:_wrap_stream", True),
        Wrap(_PREGEL, "Pregel.astream", f"{_PACKAGE}._graphs:_wrap_astream", True),
    )
)  # fmt: skip


def _make_handler() -> Any:
    from langchain_core.callbacks.base import BaseCallbackHandler

    from llm_instrument.instrumentors.langchain._callbacks import handler_class

    mode = config.current().value(CHAIN_SPANS)
    return handler_class(BaseCallbackHandler, mode == "all")()


def _subclass_wraps(module: ModuleType) -> Any:
    """The subclass wraps hooked on ``module``, if any."""
    if module.__name__ == _EMBEDDINGS:
        from llm_instrument.instrumentors.langchain._embeddings import EMBEDDINGS

        return EMBEDDINGS
    if module.__name__ == _VECTOR_STORES:
        from llm_instrument.instrumentors.langchain._scores import VECTOR_STORES

        return VECTOR_STORES
    return None


def patch(module: ModuleType) -> None:
    if module.__name__ == _MANAGER and _state.handler is None:
        _state.handler = _make_handler()
    WRAPPING.patch(module)
    wraps = _subclass_wraps(module)
    if wraps is not None:
        wraps.patch(module)


def unpatch(module: ModuleType) -> None:
    WRAPPING.unpatch(module)
    wraps = _subclass_wraps(module)
    if wraps is not None:
        wraps.unpatch(module)


PLUGIN = Plugin(
    name="langchain",
    hooks=(*WRAPPING.hooks, _EMBEDDINGS, _VECTOR_STORES),
    distribution="langchain-core",
    supported=">=1.0,<2",
    patch=patch,
    unpatch=unpatch,
    description="LangChain and LangGraph chains, models, retrievers, embeddings, tools, agents",
    settings=(CHAIN_SPANS,),
    wrapping=WRAPPING,
)

"""LangChain plugin lifecycle, each case in a fresh interpreter: import order, idempotence,
unpatch restoring the originals and silencing aliases."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("langchain_core")

PRELUDE = """
import sys, wrapt
from llm_instrument.instrumentors import langchain as plugin

def manager_has_handler():
    from langchain_core.callbacks.manager import CallbackManager
    m = CallbackManager.configure()
    return any(type(h).__name__ == "LLMInstrumentCallbackHandler" for h in m.handlers)

def hooked():
    import importlib
    found = []
    for name in plugin.PLUGIN.hooks:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError:  # langgraph is optional
            pass
    return found
"""


def run(code: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_importing_the_instrumentor_leaves_langchain_unimported() -> None:
    run(
        """
        assert plugin.PLUGIN.name == "langchain"
        assert not [m for m in sys.modules if m.startswith(("langchain", "langchain_core"))]
        """
    )


def test_patched_whether_imported_before_or_after_the_hooks() -> None:
    run(
        """
        import langchain_core.callbacks.manager  # imported before the hooks
        from llm_instrument.agent import registry
        registry.install()
        assert manager_has_handler()
        import langchain_core.retrievers  # imported after
        invoke = langchain_core.retrievers.BaseRetriever.__dict__["invoke"]
        assert isinstance(invoke, wrapt.FunctionWrapper)
        assert registry.statuses()["langchain"] == "patched"
        """
    )


def test_patch_twice_wraps_once_and_unpatch_restores_and_silences() -> None:
    run(
        """
        modules = hooked()
        from langchain_core.callbacks import manager
        from langchain_core.embeddings import DeterministicFakeEmbedding
        original = manager._configure
        original_embed = DeterministicFakeEmbedding.__dict__["embed_query"]
        for m in modules: plugin.patch(m)
        for m in modules: plugin.patch(m)
        assert manager._configure.__wrapped__ is original
        assert manager_has_handler()
        alias = manager._configure
        embed = DeterministicFakeEmbedding.__dict__["embed_query"]
        assert embed.__wrapped__ is original_embed
        for m in modules: plugin.unpatch(m)
        assert manager._configure is original
        assert DeterministicFakeEmbedding.__dict__["embed_query"] is original_embed
        assert not manager_has_handler()
        from langchain_core.callbacks.manager import CallbackManager
        quiet = alias(CallbackManager)
        assert not any(type(h).__name__ == "LLMInstrumentCallbackHandler" for h in quiet.handlers)
        for m in modules: plugin.patch(m)
        assert manager_has_handler()
        """
    )


def test_vector_stores_and_graphs_are_wrapped_once_and_restored() -> None:
    run(
        """
        modules = hooked()
        from langchain_core.vectorstores import InMemoryVectorStore, VectorStore
        original = InMemoryVectorStore.__dict__["similarity_search_with_score"]
        for m in modules: plugin.patch(m)
        for m in modules: plugin.patch(m)
        wrapped = InMemoryVectorStore.__dict__["similarity_search_with_score"]
        assert wrapped.__wrapped__ is original
        class Mine(VectorStore):  # defined after patching
            def similarity_search_with_score(self, query, k=4, **kw): return []
        assert isinstance(Mine.__dict__["similarity_search_with_score"], wrapt.FunctionWrapper)
        try:
            from langgraph.pregel.main import Pregel
        except ModuleNotFoundError:
            Pregel = None
        if Pregel is not None:
            assert Pregel.__dict__["stream"].__wrapped__.__name__ == "stream"
        for m in modules: plugin.unpatch(m)
        assert InMemoryVectorStore.__dict__["similarity_search_with_score"] is original
        assert "__init_subclass__" not in VectorStore.__dict__
        if Pregel is not None:
            assert not isinstance(Pregel.__dict__["stream"], wrapt.FunctionWrapper)
        """
    )


def test_embeddings_defined_after_patching_are_wrapped() -> None:
    run(
        """
        for m in hooked(): plugin.patch(m)
        from langchain_core.embeddings import Embeddings
        class Mine(Embeddings):
            def embed_documents(self, texts): return [[1.0] for _ in texts]
            def embed_query(self, text): return [1.0]
        assert isinstance(Mine.__dict__["embed_query"], wrapt.FunctionWrapper)
        assert Mine().embed_query("x") == [1.0]
        """
    )


def test_a_failing_callback_never_reaches_the_app() -> None:
    run(
        """
        import logging
        records = []
        class Keep(logging.Handler):
            def emit(self, record): records.append(record)
        logging.getLogger("llm_instrument").addHandler(Keep())
        logging.getLogger("llm_instrument").setLevel(logging.DEBUG)
        for m in hooked(): plugin.patch(m)
        from llm_instrument.instrumentors.langchain import _extract
        def broken(*args, **kwargs): raise RuntimeError("extractor broke")
        _extract.model_facts = broken
        _extract.result_facts = broken
        from langchain_core.language_models import FakeListLLM
        llm = FakeListLLM(responses=["a", "b", "c"])
        assert [llm.invoke("x") for _ in range(3)] == ["a", "b", "c"]
        warnings = [r for r in records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in records]
        from llm_instrument.instrumentors.langchain._runs import runs
        assert len(runs) == 0
        """
    )

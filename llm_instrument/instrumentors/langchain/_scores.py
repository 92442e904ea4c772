"""Retrieved documents' real scores, which LangChain's ``VectorStoreRetriever`` drops.

A ``VectorStoreRetriever`` returns bare documents, yet most vector stores rank them with a
scored search: ``similarity_search`` of ``InMemoryVectorStore``, Chroma or FAISS runs
``similarity_search_with_score``, the ``similarity_score_threshold`` search type runs
``similarity_search_with_relevance_scores``. Those scored methods are wrapped on every
``VectorStore`` subclass (``_subclasses``). While a retriever's ``invoke``/``ainvoke`` runs
(its ``Slot`` is open), each ``(document, score)`` pair they return is noted by the
document's identity, and ``scored()`` gives the retriever's end callback the scores of the
documents that came back. The outermost scored call returns last and so wins: relevance
scores over raw distances when the retriever asked for relevance. A search done without a
scored method (MMR) leaves its documents unscored. The app's results are never changed.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from llm_instrument.agent.guard import guarded
from llm_instrument.instrumentors.langchain._runs import SLOT
from llm_instrument.instrumentors.langchain._subclasses import SubclassWraps

METHODS = (
    "similarity_search_with_score",
    "asimilarity_search_with_score",
    "similarity_search_with_score_by_vector",
    "asimilarity_search_with_score_by_vector",
    "similarity_search_with_relevance_scores",
    "asimilarity_search_with_relevance_scores",
    "_similarity_search_with_relevance_scores",
    "_asimilarity_search_with_relevance_scores",
)


@guarded("langchain: noting retrieval scores")
def _note(result: Any) -> None:
    slot = SLOT.get()
    if slot is None or slot.kind != "retriever" or not isinstance(result, list):
        return
    for item in result:
        if not (isinstance(item, tuple) and len(item) >= 2):
            return
        doc, score = item[0], item[1]
        if isinstance(score, numbers.Real) and not isinstance(score, bool):
            if slot.scores is None:
                slot.scores = {}
            slot.scores[id(doc)] = (doc, float(score))


def _wrap_scored(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Note the scores a vector store's scored search returns inside a retriever run."""
    result = wrapped(*args, **kwargs)
    _note(result)
    return result


def _wrap_ascored(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Async twin of ``_wrap_scored``."""

    async def run() -> Any:
        result = await wrapped(*args, **kwargs)
        _note(result)
        return result

    return run()


VECTOR_STORES = SubclassWraps("VectorStore", METHODS, _wrap_scored, _wrap_ascored)


def scored(documents: Any) -> dict[int, float]:
    """``id(document) -> score`` for the documents of the retriever run ending now."""
    slot = SLOT.get()
    noted = slot.scores if slot is not None and slot.kind == "retriever" else None
    if not noted:
        return {}
    by_key = {
        (getattr(d, "id", None), getattr(d, "page_content", None)): s for d, s in noted.values()
    }
    found: dict[int, float] = {}
    for doc in documents or ():
        entry = noted.get(id(doc))
        if entry is not None and entry[0] is doc:
            found[id(doc)] = entry[1]
            continue
        key = (getattr(doc, "id", None), getattr(doc, "page_content", None))
        if key in by_key:  # a store that copies its documents before returning them
            found[id(doc)] = by_key[key]
    return found

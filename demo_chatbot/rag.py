"""Retrieval-augmented generation over the bundled Kestrel K1 manual, with LangChain.

``build()`` splits the manual into passages of one sentence each, embeds them with
all-MiniLM-L6-v2 into an in-memory vector store, and returns a ``Rag`` whose ``chain`` does,
for one question: retrieve the top passages -> fill the prompt template -> call the model ->
parse the text. The chain's output is ``{"question", "documents", "answer"}``; streaming it
yields the documents first, then the answer piece by piece.

Why one sentence per passage and this prompt: the default model has 135M parameters. Given
three whole sections it mixes them up (a "blinking amber" question answered from the "steady
red" sentence next to it); given the three sentences closest to the question and asked for
one short sentence from them, it repeats the right one.

Plain LangChain and transformers code: nothing here knows it may be traced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo_chatbot import generation, model

log = logging.getLogger("demo_chatbot")

MANUAL = Path(__file__).with_name("manual.md")
TOP_K = 3
# the most an answer may have; it ends at the first sentence end after half of it
MAX_NEW_TOKENS = int(os.environ.get("CHATBOT_MAX_NEW_TOKENS") or 80)

INSTRUCTION = "Answer in one short sentence, using only the text above:"
FAKE_ANSWERS = [
    "Hold the centre button for 30 seconds until the light blinks red three times.",
    "Blinking amber means the thermostat lost Wi-Fi but keeps following its schedule.",
    "The warranty lasts two years, or three when you register within 60 days.",
]


@dataclass
class Rag:
    chain: Any  # Runnable: question (str) -> {"question", "documents", "answer"}
    model_name: str
    passages: int


def load_manual(path: Path = MANUAL) -> list[Any]:
    """One ``Document`` per ``## id: title`` section of the manual, its title first."""
    from langchain_core.documents import Document

    text = path.read_text(encoding="utf-8")
    documents = []
    for match in re.finditer(r"^## ([\w-]+): (.+?)\n(.*?)(?=^## |\Z)", text, re.M | re.S):
        section, title, body = match.groups()
        content = f"{title}. {' '.join(body.split())}"
        documents.append(Document(page_content=content, metadata={"section": section}))
    return documents


def split(documents: list[Any]) -> list[Any]:
    """One passage per sentence of each section's text; ids are ``section-N``."""
    from langchain_core.documents import Document

    passages = []
    for document in documents:
        title, text = document.page_content.split(". ", 1)
        for n, sentence in enumerate(re.split(r"(?<=[.!?])\s+(?=[A-Z])", text), 1):
            metadata = {
                **document.metadata,
                "title": title,
                "id": f"{document.metadata['section']}-{n}",
            }
            passages.append(Document(page_content=sentence, metadata=metadata))
    return passages


def _embeddings() -> Any:
    if os.environ.get("CHATBOT_EMBEDDINGS", "").lower() == "fake":  # no torch at all
        from langchain_core.embeddings import DeterministicFakeEmbedding

        return DeterministicFakeEmbedding(size=384)
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=str(model.embedding_folder()),
        model_kwargs={"device": model.device()},
        encode_kwargs={"normalize_embeddings": True},
    )


def _fake_llm() -> Any:
    """LangChain's ``FakeListLLM``, streaming its canned answers word by word.

    ``FakeListLLM`` has no ``_stream`` (and ``FakeStreamingListLLM`` yields characters
    without LangChain's token callbacks), so a streamed answer would arrive in one piece.
    """
    from langchain_core.language_models.fake import FakeListLLM
    from langchain_core.outputs import GenerationChunk

    class WordStreamingFakeListLLM(FakeListLLM):
        def _stream(
            self, prompt: str, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> Iterator[GenerationChunk]:
            for word in re.findall(r"\S+\s*", self._call(prompt, stop, run_manager, **kwargs)):
                chunk = GenerationChunk(text=word)
                if run_manager is not None:
                    run_manager.on_llm_new_token(word, chunk=chunk)
                yield chunk

    return WordStreamingFakeListLLM(responses=FAKE_ANSWERS)


def _language_model(choice: model.ModelChoice) -> Any:
    """A LangChain model for ``choice``: a chat model over a local transformers pipeline."""
    if choice.kind == "fake":
        return _fake_llm()
    if choice.kind == "openai":
        return model.openai_chat_model(choice, MAX_NEW_TOKENS)
    from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert choice.folder is not None
    if choice.kind == "smollm2" and not model.is_prepared(choice.folder):
        model.prepare(choice.folder, say=log.warning)  # normally done by demo.sh or the image
    tokenizer = AutoTokenizer.from_pretrained(choice.folder)
    llm: Any = AutoModelForCausalLM.from_pretrained(choice.folder)
    llm = llm.to(model.device())
    # greedy: the same answer every run, and the likeliest one
    llm.generation_config.do_sample = False
    for name in ("temperature", "top_p", "top_k", "repetition_penalty"):
        setattr(llm.generation_config, name, None)
    generator = generation.answer_pipeline(
        llm, tokenizer, max_new_tokens=MAX_NEW_TOKENS, min_tokens=MAX_NEW_TOKENS // 2
    )
    base = HuggingFacePipeline(pipeline=generator, model_id=choice.name)
    if not tokenizer.chat_template:  # a base model: plain text completion
        return base
    return ChatHuggingFace(llm=base, tokenizer=tokenizer, model_id=choice.name)


def _prompt(chat: bool) -> Any:
    from langchain_core.prompts import ChatPromptTemplate, PromptTemplate

    # one user message: the model's own chat template adds its usual system prompt
    if chat:
        return ChatPromptTemplate.from_messages(
            [("human", "{context}\n\n" + INSTRUCTION + " {question}")]
        )
    return PromptTemplate.from_template(
        "{context}\n\nQuestion: {question}\n" + INSTRUCTION.replace(":", ".") + "\nAnswer:"
    )


def format_passages(documents: list[Any]) -> str:
    return "\n".join(f"- {d.page_content}" for d in documents)


def index(passages: list[Any]) -> Any:
    """The passages in an in-memory vector store.

    With ``CHATBOT_INDEX_CACHE`` (a folder; ``demo.sh`` sets ``.demo/index``) the embedded
    store is saved there, named by a hash of the embedding model and the passages, and loaded
    from there by later starts: embedding 84 passages costs a few seconds of CPU, loading
    them a few milliseconds. Questions are always embedded by the model.
    """
    from langchain_core.vectorstores import InMemoryVectorStore

    embeddings = _embeddings()
    folder = os.environ.get("CHATBOT_INDEX_CACHE")
    key = hashlib.sha256(
        json.dumps(
            [type(embeddings).__name__, getattr(embeddings, "model_name", "")]
            + [[p.metadata["id"], p.page_content] for p in passages]
        ).encode()
    ).hexdigest()[:16]
    cached = Path(folder, f"manual-{key}.json") if folder else None
    if cached is not None and cached.is_file():
        return InMemoryVectorStore.load(str(cached), embeddings)
    store = InMemoryVectorStore(embeddings)
    store.add_documents(passages, ids=[p.metadata["id"] for p in passages])
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.partial")  # workers may start together
        store.dump(str(partial))
        partial.rename(cached)
    return store


def build() -> Rag:
    """Load the models, index the manual, and assemble the chain."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough

    choice = model.choice()
    passages = split(load_manual())
    retriever = index(passages).as_retriever(search_kwargs={"k": TOP_K})

    llm = _language_model(choice)
    is_chat = type(llm).__name__.startswith("Chat")
    fill: Any = RunnableLambda(
        lambda state: {"context": format_passages(state["documents"]), **state},
        name="format_passages",
    )
    answer = fill | _prompt(is_chat) | llm | StrOutputParser()
    chain = (
        RunnableParallel(question=RunnablePassthrough(), documents=retriever)
        | RunnablePassthrough.assign(answer=answer)
    ).with_config(run_name="rag")
    return Rag(chain=chain, model_name=choice.name, passages=len(passages))

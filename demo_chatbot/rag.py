"""Retrieval-augmented generation over the bundled Kestrel K1 manual, with LangChain.

``build()`` splits the manual into passages, embeds them with all-MiniLM-L6-v2 into an
in-memory vector store, and returns a ``Rag`` whose ``chain`` does, for one question:
retrieve the top passages -> fill the prompt template -> call the model -> parse the text.
The chain's output is ``{"question", "documents", "answer"}``; streaming it yields the
documents first, then the answer piece by piece.

Plain LangChain and transformers code: nothing here knows it may be traced.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo_chatbot import model

log = logging.getLogger("demo_chatbot")

MANUAL = Path(__file__).with_name("manual.md")
TOP_K = 3
MAX_NEW_TOKENS = int(os.environ.get("CHATBOT_MAX_NEW_TOKENS") or 64)

SYSTEM = (
    "You are the support assistant for the Kestrel K1 smart thermostat. Answer the question "
    "in one or two sentences, using only the manual excerpts below.\n\n{context}"
)
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
    """One ``Document`` per ``## id: title`` section of the manual."""
    from langchain_core.documents import Document

    text = path.read_text(encoding="utf-8")
    documents = []
    for match in re.finditer(r"^## ([\w-]+): (.+?)\n(.*?)(?=^## |\Z)", text, re.M | re.S):
        section, title, body = match.groups()
        content = f"{title}. {' '.join(body.split())}"
        documents.append(Document(page_content=content, metadata={"section": section}))
    return documents


def split(documents: list[Any]) -> list[Any]:
    """Split sections into passages of a few sentences; ids are ``section`` or ``section-N``."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=300, chunk_overlap=50, separators=[". ", " ", ""], keep_separator="end"
    )
    passages = []
    for document in documents:
        pieces = splitter.split_documents([document])
        for n, piece in enumerate(pieces, 1):
            section = piece.metadata["section"]
            piece.metadata["id"] = section if len(pieces) == 1 else f"{section}-{n}"
            passages.append(piece)
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
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    assert choice.folder is not None
    if choice.kind == "smollm2" and not model.is_prepared(choice.folder):
        model.prepare(choice.folder, say=log.warning)  # normally done by demo.sh or the image
    tokenizer = AutoTokenizer.from_pretrained(choice.folder)
    llm = AutoModelForCausalLM.from_pretrained(choice.folder).to(model.device())
    # greedy and short: sane on 2 CPU cores, and the same answer every run
    llm.generation_config.max_new_tokens = MAX_NEW_TOKENS
    llm.generation_config.do_sample = False
    for name in ("temperature", "top_p", "top_k"):
        setattr(llm.generation_config, name, None)
    generator = pipeline(
        "text-generation",
        model=llm,
        tokenizer=tokenizer,
        max_new_tokens=MAX_NEW_TOKENS,
        do_sample=False,
        repetition_penalty=1.1,
        return_full_text=False,
    )
    base = HuggingFacePipeline(pipeline=generator, model_id=choice.name)
    if not tokenizer.chat_template:  # a base model: plain text completion
        return base
    return ChatHuggingFace(llm=base, tokenizer=tokenizer, model_id=choice.name)


def _prompt(chat: bool) -> Any:
    from langchain_core.prompts import ChatPromptTemplate, PromptTemplate

    if chat:
        return ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "{question}")])
    return PromptTemplate.from_template(SYSTEM + "\n\nQuestion: {question}\nAnswer:")


def format_passages(documents: list[Any]) -> str:
    return "\n".join(f"[{d.metadata['id']}] {d.page_content}" for d in documents)


def build() -> Rag:
    """Load the models, index the manual, and assemble the chain."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough
    from langchain_core.vectorstores import InMemoryVectorStore

    choice = model.choice()
    passages = split(load_manual())
    store = InMemoryVectorStore(_embeddings())
    store.add_documents(passages, ids=[p.metadata["id"] for p in passages])
    retriever = store.as_retriever(search_kwargs={"k": TOP_K})

    llm = _language_model(choice)
    is_chat = type(llm).__name__.startswith("Chat")
    fill = RunnableLambda(
        lambda state: {"context": format_passages(state["documents"]), **state},
        name="format_passages",
    )
    answer = fill | _prompt(is_chat) | llm | StrOutputParser()
    chain = (
        RunnableParallel(question=RunnablePassthrough(), documents=retriever)
        | RunnablePassthrough.assign(answer=answer)
    ).with_config(run_name="rag")
    return Rag(chain=chain, model_name=choice.name, passages=len(passages))

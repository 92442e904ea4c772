"""LangChain scenarios run under the launcher by tests/instrumentors/test_langchain.py.

``python langchain_app.py SCENARIO [ARG]``; prints one JSON line of facts the test needs.
Models are fakes that report usage like a provider would; nothing leaves the machine except
HTTP calls to the test's own local server.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import BaseChatModel, BaseLLM
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
)
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    ChatResult,
    Generation,
    LLMResult,
)
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough
from langchain_core.tools import tool
from langchain_core.vectorstores import InMemoryVectorStore
from opentelemetry import trace

REPLY = "Cats sleep a lot."
USAGE = {"input_tokens": 11, "output_tokens": 4, "total_tokens": 15}


class FakeChat(BaseChatModel):
    """A chat model that answers REPLY and reports usage; optionally calls a URL first."""

    model_name: str = "fake-chat-1"
    url: str | None = None
    fail: bool = False
    tool_call: dict[str, Any] | None = None

    @property
    def _llm_type(self) -> str:
        return "fake-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "temperature": 0.3}

    def _call_url(self) -> None:
        if self.url:
            import requests

            requests.get(self.url, timeout=5)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self._call_url()
        if self.fail:
            raise ValueError("model exploded")
        message = AIMessage(
            content="" if self.tool_call else REPLY,
            tool_calls=[self.tool_call] if self.tool_call else [],
            usage_metadata=USAGE,  # type: ignore[arg-type]
            response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kw: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self._call_url()
        words = REPLY.split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            chunk = AIMessageChunk(
                content=word + ("" if last else " "),
                usage_metadata=USAGE if last else None,  # type: ignore[arg-type]
                response_metadata={"finish_reason": "stop"} if last else {},
            )
            if run_manager:
                run_manager.on_llm_new_token(
                    chunk.content, chunk=ChatGenerationChunk(message=chunk)
                )
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._stream(messages, stop, None, **kw):
            if run_manager:
                await run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            yield chunk


class RelevanceStore(InMemoryVectorStore):
    """The in-memory store with relevance scores (cosine similarity mapped to 0..1)."""

    def _select_relevance_score_fn(self) -> Any:
        return lambda similarity: (similarity + 1) / 2


def rag_store(kind: type[InMemoryVectorStore] = InMemoryVectorStore) -> InMemoryVectorStore:
    store = kind(DeterministicFakeEmbedding(size=16))
    store.add_documents(
        [
            Document(id="doc-cats", page_content="Cats sleep sixteen hours a day."),
            Document(id="doc-dogs", page_content="Dogs like walks."),
        ]
    )
    return store


def rag_chain(model: BaseChatModel | None = None) -> Any:
    retriever = rag_store().as_retriever(search_kwargs={"k": 1})
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from: {context}"), ("human", "{question}")]
    )

    def join_docs(docs: list[Document]) -> str:
        return "\n".join(d.page_content for d in docs)

    return (
        {"context": retriever | join_docs, "question": RunnablePassthrough()}
        | prompt
        | (model or FakeChat())
        | StrOutputParser()
    )


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def scenario(name: str, arg: str | None) -> Any:
    tracer = trace.get_tracer("app")
    if name == "rag":
        with tracer.start_as_current_span("request"):
            return rag_chain().invoke("How long do cats sleep?")
    if name == "stream":
        with tracer.start_as_current_span("request"):
            return "".join(rag_chain().stream("How long do cats sleep?"))
    if name == "stream_close":
        with tracer.start_as_current_span("request"):
            stream = (ChatPromptTemplate.from_template("{q}") | FakeChat()).stream({"q": "hi"})
            first = next(stream)
            stream.close()
            return first.content
    if name == "stream_drop":
        with tracer.start_as_current_span("request"):
            stream = FakeChat().stream("hi")
            first = next(stream)
            del stream
            import gc

            gc.collect()
            return first.content
    if name == "parallel":
        with tracer.start_as_current_span("request"):
            chain = RunnableParallel(a=rag_chain(), b=rag_chain())
            out = chain.invoke("cats?")
            batch = rag_chain().batch(["one", "two", "three"])
            return [out, batch]
    if name == "async":

        async def main() -> Any:
            async def one(i: int) -> Any:
                with tracer.start_as_current_span(f"request-{i}"):
                    chain = rag_chain()
                    text = await chain.ainvoke(f"question {i}")
                    chunks = [c async for c in chain.astream(f"streamed {i}")]
                    return text, "".join(chunks)

            return await asyncio.gather(*(one(i) for i in range(3)))

        return asyncio.run(main())
    if name == "legacy":
        from langchain_classic.chains import LLMChain
        from langchain_core.language_models import FakeListLLM
        from langchain_core.prompts import PromptTemplate

        llm = FakeListLLM(responses=["Paris is the capital."])
        chain = LLMChain(llm=llm, prompt=PromptTemplate.from_template("Capital of {country}?"))
        with tracer.start_as_current_span("request"):
            return chain.invoke({"country": "France"})["text"]
    if name == "tools":
        call = {"name": "add", "args": {"a": 2, "b": 3}, "id": "call-1", "type": "tool_call"}
        model = FakeChat(tool_call=call)

        def run_tool(message: AIMessage) -> Any:
            return add.invoke(message.tool_calls[0])

        chain = ChatPromptTemplate.from_template("{q}") | model | RunnableLambda(run_tool)
        with tracer.start_as_current_span("request"):
            return chain.invoke({"q": "2+3?"}).content
    if name == "http":
        assert arg

        @tool
        def fetch(path: str) -> str:
            """GET a path from the local server."""
            import requests

            return requests.get(arg + path, timeout=5).text

        chain = (
            ChatPromptTemplate.from_template("{q}")
            | FakeChat(url=arg + "/model")
            | RunnableLambda(lambda m: fetch.invoke({"path": "/tool"}))
        )
        with tracer.start_as_current_span("request"):
            out = chain.invoke({"q": "hi"})
            "".join(c.content for c in FakeChat(url=arg + "/stream").stream("hi"))  # type: ignore[misc]
            return out
    if name == "agent":
        from langchain_classic.agents import AgentExecutor, create_react_agent
        from langchain_core.language_models import FakeListLLM
        from langchain_core.prompts import PromptTemplate

        @tool
        def plus(expr: str) -> str:
            """Add two integers given as 'a,b'."""
            a, b = expr.split(",")
            return str(int(a) + int(b))

        prompt = PromptTemplate.from_template(
            "Tools: {tools} {tool_names}\nQuestion: {input}\n{agent_scratchpad}"
        )
        llm = FakeListLLM(
            responses=["Add.\nAction: plus\nAction Input: 2,3", "Done.\nFinal Answer: 5"]
        )
        executor = AgentExecutor(agent=create_react_agent(llm, [plus], prompt), tools=[plus])
        with tracer.start_as_current_span("request"):
            return executor.invoke({"input": "2+3?"})["output"]
    if name == "scored":
        from langchain_core.callbacks import CallbackManagerForRetrieverRun
        from langchain_core.retrievers import BaseRetriever

        class ScoredRetriever(BaseRetriever):
            def _get_relevant_documents(
                self, query: str, *, run_manager: CallbackManagerForRetrieverRun
            ) -> list[Document]:
                return [
                    Document(id="a", page_content="A", metadata={"relevance_score": 0.9}),
                    Document(id="b", page_content="B", metadata={"relevance_score": 0.4}),
                ]

        with tracer.start_as_current_span("request"):
            return [d.id for d in ScoredRetriever().invoke("q")]
    if name == "error":
        with tracer.start_as_current_span("request"):
            try:
                (ChatPromptTemplate.from_template("{q}") | FakeChat(fail=True)).invoke({"q": "x"})
            except ValueError as exc:
                return str(exc)
    if name == "secret":
        with tracer.start_as_current_span("request"):
            chain = ChatPromptTemplate.from_template("{q}") | FakeChat() | StrOutputParser()
            return chain.invoke({"q": "my key is sk-abcdefghijklmnopqrstuvwxyz123456 " + "x" * 300})
    if name == "leak":
        from llm_instrument.agent.guard import failure_counts
        from llm_instrument.instrumentors.langchain._runs import runs

        chain = ChatPromptTemplate.from_template("{q}") | FakeChat() | StrOutputParser()
        chain = {"q": RunnablePassthrough()} | chain
        sizes = []
        for i in range(int(arg or "10000")):
            chain.invoke("q")
            if i in (99, int(arg or "10000") - 1):
                sizes.append(len(runs))
        return {"sizes": sizes, "failures": failure_counts()}
    found = content_scenario(name, tracer)
    if found is not None:
        return found
    raise SystemExit(f"unknown scenario {name}")


class RawUsageLLM(BaseLLM):
    """A completion model reporting usage as OpenAI's raw API does, in ``llm_output``."""

    @property
    def _llm_type(self) -> str:
        return "raw-usage"

    def _generate(self, prompts: list[str], stop: Any = None, **kw: Any) -> LLMResult:
        usage = {
            "prompt_tokens": 30,
            "completion_tokens": 9,
            "prompt_tokens_details": {"cached_tokens": 12},
            "completion_tokens_details": {"reasoning_tokens": 4},
        }
        return LLMResult(
            generations=[[Generation(text="ok", generation_info={"finish_reason": "length"})]],
            llm_output={"token_usage": usage, "model_name": "raw-llm-1"},
        )


class AnthropicStyleChat(FakeChat):
    """Usage and stop reason where Anthropic's API puts them; the model kept as model_id
    (like ChatHuggingFace), which LangChain does not report to callbacks."""

    model_id: str = "claude-fake-1"
    model_name: str = ""

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {}

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        usage = {
            "input_tokens": 50,
            "output_tokens": 7,
            "cache_creation_input_tokens": 5,
            "cache_read_input_tokens": 40,
        }
        message = AIMessage(
            content=REPLY, response_metadata={"stop_reason": "end_turn", "usage": usage}
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def content_scenario(name: str, tracer: Any) -> Any:
    """Scenarios of tests/instrumentors/test_langchain_content.py."""
    if name == "roles":  # a streamed answer, then a history that holds it
        with tracer.start_as_current_span("request"):
            model = FakeChat()
            chunks = list(model.stream("hi"))
            merged = chunks[0]
            for chunk in chunks[1:]:
                merged += chunk
            history = [HumanMessage("hi"), merged, ChatMessage(role="user", content="more?")]
            return model.invoke(history).content
    if name == "threshold":  # relevance scores, from the score-threshold search type
        retriever = rag_store(RelevanceStore).as_retriever(
            search_type="similarity_score_threshold",
            search_kwargs={"k": 2, "score_threshold": -1.0},
        )
        with tracer.start_as_current_span("request"):
            return [d.id for d in retriever.invoke("How long do cats sleep?")]
    if name == "async_scored":
        retriever = rag_store().as_retriever(search_kwargs={"k": 2})
        with tracer.start_as_current_span("request"):
            return [d.id for d in asyncio.run(retriever.ainvoke("Dogs?"))]
    if name == "handled_tool":
        from langchain_core.tools import ToolException

        @tool
        def flaky(city: str) -> str:
            """Fails for every city."""
            raise ToolException(f"no weather for {city}")

        @tool
        def strict(count: int) -> int:
            """Wants an integer."""
            return count

        flaky.handle_tool_error = True
        strict.handle_validation_error = True

        call = {"name": "flaky", "args": {"city": "Oslo"}, "id": "call-9", "type": "tool_call"}
        with tracer.start_as_current_span("request"):
            handled = flaky.invoke(call)
            invalid = strict.invoke({"count": "not a number"})
            fine = add.invoke({"a": 1, "b": 2})
        return [handled.content, handled.status, invalid, fine]
    if name == "usage_details":
        with tracer.start_as_current_span("request"):
            return [RawUsageLLM().invoke("q"), AnthropicStyleChat().invoke("q").content]
    if name == "documents_output":  # a chain whose output holds documents and messages
        retriever = rag_store().as_retriever(search_kwargs={"k": 1})
        chain = RunnableParallel(question=RunnablePassthrough(), documents=retriever)
        chain = chain.assign(answer=lambda state: AIMessage("Sixteen hours."))
        with tracer.start_as_current_span("request"):
            out = chain.invoke("How long do cats sleep?")
            return [d.id for d in out["documents"]]
    if name == "session":
        chain = ChatPromptTemplate.from_template("{q}") | FakeChat() | StrOutputParser()
        with tracer.start_as_current_span("request"):
            return chain.invoke({"q": "hi"}, {"metadata": {"session_id": "session-5"}})
    return None


if __name__ == "__main__":
    result = scenario(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    print(json.dumps(result, default=str))

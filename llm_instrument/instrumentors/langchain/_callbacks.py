"""The callback handler added to every LangChain callback manager: runs -> GenAI core handles.

One handler instance (``run_inline``, so callbacks run in the caller's thread and context)
turns ``on_chat_model_start``/``on_llm_start`` into LLM handles, retrievers into RETRIEVER,
tools into TOOL, agents into AGENT (``invoke_agent``) and other chains into workflow
(``invoke_workflow``) handles. Agents: ``AgentExecutor`` and other ``*Agent*`` runs, and
LangGraph graphs that are agents (``_graphs``); other graphs are workflows. A run's parent is
its ``parent_run_id``'s context from ``Runs``, else the context current at the start
callback (the FastAPI request span, an outer user span). A run's ``thread_id``,
``session_id`` or ``conversation_id`` metadata is its conversation id (models, chains,
agents).

Chain spans (``LLM_INSTRUMENT_LANGCHAIN_CHAIN_SPANS``): ``outer`` (default) opens a span
for the outermost chain of an invocation and for nested chains that are not plumbing
(legacy ``*Chain`` classes, agents, graphs and the nodes of a workflow graph, chains not run
as a sequence/map step); prompt templates, output parsers, nested ``Runnable*`` plumbing
(sequences, parallels, assigns, passthroughs, lambdas), sequence/map steps, hidden runs and
the nodes of an agent graph (its model and tool calls stand for them) are folded into their
nearest span. ``all`` opens one per runnable. ``GeneratorExit`` (a consumer that closed a
stream early) and ``asyncio.CancelledError`` (a client that went away) end spans without an
error status, a model's partial output kept. A tool error LangChain handled
(``handle_tool_error``) ends its tool span ERROR (``_tools``). Every method is guarded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import context as otel_context

from llm_instrument import genai
from llm_instrument.agent.guard import guarded
from llm_instrument.content_policy import policy
from llm_instrument.genai import names
from llm_instrument.instrumentors.langchain import _extract, _graphs, _models, _scores, _tools
from llm_instrument.instrumentors.langchain._runs import SLOT, runs

_STEP_TAGS = ("seq:step:", "map:key:", "branch:", "condition:")
_NODE_TAG = "graph:step:"
_HIDDEN_TAG = "langsmith:hidden"
_KEEP_SUFFIXES = ("Chain", "Executor", "Agent", "Graph")
_FOLDED_RUN_TYPES = frozenset(("prompt", "parser"))
# not failures: a consumer that closed a stream early, a client that disconnected
_QUIET = (GeneratorExit, asyncio.CancelledError)
_STREAM_PLACEHOLDER = {"input": ""}
_STREAMED = {names.REQUEST_STREAM: True}


def _is_step(tags: Sequence[str] | None) -> bool:
    return any(tag.startswith(_STEP_TAGS) for tag in tags or ())


def _parent(parent_run_id: Any) -> otel_context.Context | None:
    return runs.context(parent_run_id) if parent_run_id is not None else None


def _activate(kind: str, handle: genai.Handle) -> None:
    """Make ``handle`` current for the rest of a wrapped call that left a slot open."""
    slot = SLOT.get()
    if slot is not None and slot.token is None and slot.kind == kind:
        slot.context = handle.context
        slot.token = otel_context.attach(handle.context)


def _end(run_id: Any, error: BaseException | None = None, **facts: Any) -> None:
    handle = runs.pop(run_id)
    if handle is None:
        return
    if error is None or isinstance(error, _QUIET):
        handle.finish(**facts)
    else:
        handle.fail(error)


def _end_model(run_id: Any, response: Any) -> None:
    """End a model run with what it returned (or had streamed when it stopped)."""
    handle = runs.handle(run_id)
    if handle is None:
        return
    outputs, reasons, usage, response_model = _extract.result_facts(response)
    handle.set_usage(usage)
    _end(run_id, outputs=outputs, finish_reasons=reasons, response_model=response_model)


def _wants_content(handle: genai.Handle) -> bool:
    """Whether ``handle``'s span writes content (capture on, span sampled): messages and
    plain copies of inputs are built only then, not for the policy to drop."""
    return handle.span.is_recording() and policy().capture


def _late_inputs(run_id: Any, inputs: Any) -> None:
    """A streamed chain's input, which LangChain reports only when the chain ends."""
    if inputs is not None and inputs != _STREAM_PLACEHOLDER:
        handle = runs.handle(run_id)
        if handle is not None and _wants_content(handle):
            handle.set_inputs(_extract.plain(inputs))


def _start_model(
    operation: str,
    inputs: Callable[[], Any],
    serialized: Any,
    metadata: Any,
    kwargs: dict[str, Any],
    run_id: Any,
    parent_run_id: Any,
) -> None:
    """The span of a chat model or LLM run (both callbacks differ only in their inputs,
    which ``inputs()`` builds once the span is known to write them)."""
    noted = _models.noted_model(kwargs.get("invocation_params"))
    provider, model, name, request = _extract.model_facts(serialized, metadata, kwargs, noted)
    handle = genai.start_llm(
        operation,
        provider=provider,
        model=model,
        name=name,
        request=request,
        parent=_parent(parent_run_id),
        conversation_id=_extract.conversation_id(metadata),
    )
    if _wants_content(handle):
        handle.set_inputs(inputs())
    runs.add(run_id, handle, handle.context)
    _activate("llm", handle)


class TracingCallbacks:
    """Mixed into ``BaseCallbackHandler`` at patch time (see ``handler_class``)."""

    run_inline = True
    raise_error = False
    all_spans = False

    # -- chat models and LLMs ----------------------------------------------------------------
    @guarded("langchain: on_chat_model_start")
    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: Any,
        parent_run_id: Any = None,
        tags: Any = None,
        metadata: Any = None,
        **kwargs: Any,
    ) -> None:
        _start_model(
            genai.Operation.CHAT,
            lambda: _extract.chat_inputs(messages),
            serialized,
            metadata,
            kwargs,
            run_id,
            parent_run_id,
        )

    @guarded("langchain: on_llm_start")
    def on_llm_start(
        self,
        serialized: Any,
        prompts: Any,
        *,
        run_id: Any,
        parent_run_id: Any = None,
        tags: Any = None,
        metadata: Any = None,
        **kwargs: Any,
    ) -> None:
        _start_model(
            genai.Operation.TEXT_COMPLETION,
            lambda: prompts[0] if prompts else None,
            serialized,
            metadata,
            kwargs,
            run_id,
            parent_run_id,
        )

    @guarded("langchain: on_llm_new_token")
    def on_llm_new_token(self, token: Any, *, run_id: Any, **kwargs: Any) -> None:
        handle = runs.handle(run_id)
        if handle is not None:
            if handle.chunks == 0:
                handle.set_attributes(_STREAMED)
            handle.chunk()

    @guarded("langchain: on_llm_end")
    def on_llm_end(self, response: Any, *, run_id: Any, **kwargs: Any) -> None:
        _end_model(run_id, response)

    @guarded("langchain: on_llm_error")
    def on_llm_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        if isinstance(error, _QUIET):  # stopped, not failed: keep what it had streamed
            _end_model(run_id, kwargs.get("response"))
        else:
            _end(run_id, error)

    # -- chains and agents -------------------------------------------------------------------
    @guarded("langchain: on_chain_start")
    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: Any,
        parent_run_id: Any = None,
        tags: Any = None,
        metadata: Any = None,
        **kwargs: Any,
    ) -> None:
        name = kwargs.get("name") or _extract.class_name(serialized) or "chain"
        parent = _parent(parent_run_id)
        graph = _graphs.claim()  # a LangGraph graph's own run: the first of its stream
        if inputs == _STREAM_PLACEHOLDER:
            inputs = None  # a stream: the real input comes with on_chain_end
        foldable = graph is None and not self.all_spans
        if parent is not None and foldable and self._folded(name, tags, kwargs, parent_run_id):
            runs.add(run_id, None, parent)
            return
        agent = _graphs.is_agent(graph) if graph is not None else "Agent" in name
        start = genai.start_agent if agent else genai.start_chain
        handle = start(name, parent=parent, conversation_id=_extract.conversation_id(metadata))
        if inputs is not None and _wants_content(handle):
            if agent and graph is not None:
                inputs = _extract.state_messages(inputs) or inputs
            handle.set_inputs(_extract.plain(inputs))
        runs.add(run_id, handle, handle.context, agent_graph=agent and graph is not None)

    @staticmethod
    def _folded(name: str, tags: Any, kwargs: dict[str, Any], parent_run_id: Any) -> bool:
        if kwargs.get("run_type") in _FOLDED_RUN_TYPES or name.startswith("Runnable"):
            return True
        tags = tags or ()
        if _HIDDEN_TAG in tags:
            return True
        if runs.is_agent_graph(parent_run_id) and any(t.startswith(_NODE_TAG) for t in tags):
            return True  # an agent graph's model or tool node: its calls stand for it
        return _is_step(tags) and not name.endswith(_KEEP_SUFFIXES)

    @guarded("langchain: on_chain_end")
    def on_chain_end(self, outputs: Any, *, run_id: Any, **kwargs: Any) -> None:
        _late_inputs(run_id, kwargs.get("inputs"))
        handle = runs.handle(run_id)
        if handle is None or not _wants_content(handle):
            _end(run_id)
            return
        if runs.is_agent_graph(run_id):  # the agent's answer, not its whole state
            outputs = _extract.state_messages(outputs, last=True) or outputs
        _end(run_id, outputs=_extract.plain(outputs))

    @guarded("langchain: on_chain_error")
    def on_chain_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        _late_inputs(run_id, kwargs.get("inputs"))
        _end(run_id, error)

    # -- tools -------------------------------------------------------------------------------
    @guarded("langchain: on_tool_start")
    def on_tool_start(
        self,
        serialized: Any,
        input_str: Any,
        *,
        run_id: Any,
        parent_run_id: Any = None,
        tags: Any = None,
        metadata: Any = None,
        inputs: Any = None,
        **kwargs: Any,
    ) -> None:
        serialized = serialized or {}
        name = kwargs.get("name") or serialized.get("name") or "tool"
        handle = genai.start_tool(
            genai.ToolCall(kwargs.get("tool_call_id"), name, inputs or input_str),
            description=serialized.get("description"),
            parent=_parent(parent_run_id),
        )
        runs.add(run_id, handle, handle.context)

    @guarded("langchain: on_tool_end")
    def on_tool_end(self, output: Any, *, run_id: Any, **kwargs: Any) -> None:
        handled = _tools.take_handled()
        if handled is not None:  # the tool failed; LangChain gave the model the error text
            _end(run_id, handled)
        else:
            _end(run_id, outputs=output)

    @guarded("langchain: on_tool_error")
    def on_tool_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        _end(run_id, error)

    # -- retrievers --------------------------------------------------------------------------
    @guarded("langchain: on_retriever_start")
    def on_retriever_start(
        self,
        serialized: Any,
        query: Any,
        *,
        run_id: Any,
        parent_run_id: Any = None,
        tags: Any = None,
        metadata: Any = None,
        **kwargs: Any,
    ) -> None:
        name = kwargs.get("name") or _extract.class_name(serialized) or "retriever"
        source = (metadata or {}).get("ls_vector_store_provider") or name
        handle = genai.start_retrieval(
            source, query=query if isinstance(query, str) else None, parent=_parent(parent_run_id)
        )
        runs.add(run_id, handle, handle.context)
        _activate("retriever", handle)

    @guarded("langchain: on_retriever_end")
    def on_retriever_end(self, documents: Any, *, run_id: Any, **kwargs: Any) -> None:
        _end(run_id, documents=_extract.documents(documents, _scores.scored(documents)))

    @guarded("langchain: on_retriever_error")
    def on_retriever_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        _end(run_id, error)


def handler_class(base: type, all_spans: bool) -> type:
    """The handler class: our methods first, LangChain's ``BaseCallbackHandler`` for the rest."""
    return type("LLMInstrumentCallbackHandler", (TracingCallbacks, base), {"all_spans": all_spans})

"""The typed entry points of the GenAI core: one per kind of operation, facts in, a handle out.

    from llm_instrument import genai

    h = genai.start_llm(genai.Operation.CHAT, provider="openai", model="gpt-4o",
                        request={"temperature": 0.2}, inputs=[genai.Message("user", "hi")])
    h.first_chunk(); h.set_usage(genai.Usage(input_tokens=3, output_tokens=5))
    h.finish(outputs="hello", finish_reasons=["stop"])      # or h.fail(exc)

Each entry point opens the span (name ``"{operation} {model or name}"``, the kind and the
request facts) under ``parent`` or the current context and never raises: on any failure, or
under OpenTelemetry's ``suppress_instrumentation``, it returns a handle that records
nothing. ``configure`` hands the core its tracer and meter providers (the global ones
otherwise, looked up on first use).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, TracerProvider

import llm_instrument
from llm_instrument.agent.guard import guarded
from llm_instrument.genai import content, names, spans
from llm_instrument.genai import metrics as genai_metrics
from llm_instrument.genai.facts import Message, ToolCall, model_label
from llm_instrument.genai.handle import MODEL_KEYS, Handle

_SCOPE = "llm_instrument.genai"
_CLIENT_KINDS = frozenset((names.SpanKind.LLM, names.SpanKind.EMBEDDING, names.SpanKind.RETRIEVER))


class _Providers:
    tracer: trace.Tracer | None = None


_providers = _Providers()


def configure(
    tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> None:
    """Give the core its providers (None: the global ones, looked up again on next use)."""
    _providers.tracer = (
        tracer_provider.get_tracer(_SCOPE, llm_instrument.__version__)
        if tracer_provider is not None
        else None
    )
    genai_metrics.use_meter_provider(meter_provider)


def _tracer() -> trace.Tracer:
    if _providers.tracer is None:
        _providers.tracer = trace.get_tracer(_SCOPE, llm_instrument.__version__)
    return _providers.tracer


def start_llm(
    operation: str,
    *,
    provider: str | None = None,
    model: str | None = None,
    name: str | None = None,
    request: Mapping[str, Any] | None = None,
    inputs: str | Sequence[Message] | None = None,
    attributes: Mapping[str, Any] | None = None,
    parent: otel_context.Context | None = None,
    stream: bool = False,
    conversation_id: str | None = None,
) -> Handle:
    """A model call (``chat``, ``text_completion``, ``generate_content``). ``name`` names a
    wrapper that does not know its model; the model that runs beneath it names it later.
    ``conversation_id``: the session or thread the call belongs to."""
    return _open(
        names.SpanKind.LLM,
        operation,
        provider=provider,
        model=model,
        name=name,
        request=request,
        inputs=inputs,
        attributes=_with({names.CONVERSATION_ID: conversation_id}, attributes),
        parent=parent,
        stream=stream,
    )


def start_embedding(
    *,
    provider: str | None = None,
    model: str | None = None,
    name: str | None = None,
    inputs: Sequence[str] | str | None = None,
    attributes: Mapping[str, Any] | None = None,
    parent: otel_context.Context | None = None,
) -> Handle:
    """An embeddings call; its outputs (the vectors) are recorded only as their dimension."""
    return _open(
        names.SpanKind.EMBEDDING,
        names.Operation.EMBEDDINGS,
        provider=provider,
        model=model,
        name=name,
        inputs=inputs,
        attributes=attributes,
        parent=parent,
    )


def start_retrieval(
    source: str,
    *,
    query: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    parent: otel_context.Context | None = None,
) -> Handle:
    """A retriever run over ``source`` (a vector store, an index); documents come at finish."""
    return _open(
        names.SpanKind.RETRIEVER,
        names.Operation.RETRIEVAL,
        name=source,
        inputs=query,
        attributes={names.DATA_SOURCE_ID: source, **(attributes or {})},
        parent=parent,
    )


def start_tool(
    call: ToolCall,
    *,
    description: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    parent: otel_context.Context | None = None,
) -> Handle:
    """A tool execution; ``call`` names the tool and carries its id and arguments."""
    return _open(
        names.SpanKind.TOOL,
        names.Operation.EXECUTE_TOOL,
        name=call.name,
        inputs=call,
        attributes={
            names.TOOL_DESCRIPTION: description or None,
            names.TOOL_TYPE: "function",
            **(attributes or {}),
        },
        parent=parent,
    )


def start_agent(
    name: str,
    *,
    inputs: Any = None,
    agent_id: str | None = None,
    description: str | None = None,
    conversation_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    parent: otel_context.Context | None = None,
) -> Handle:
    """An agent run (``invoke_agent {name}``): ``gen_ai.agent.name``/``.id``/``.description``,
    its input and output as messages (Jaeger) and as ``input.value``/``output.value``
    (Phoenix)."""
    return _open(
        names.SpanKind.AGENT,
        names.Operation.INVOKE_AGENT,
        name=name,
        inputs=inputs,
        attributes=_with(
            {
                names.AGENT_NAME: name or None,
                names.AGENT_ID: agent_id,
                names.AGENT_DESCRIPTION: description or None,
                names.CONVERSATION_ID: conversation_id,
            },
            attributes,
        ),
        parent=parent,
    )


def start_chain(
    name: str,
    *,
    inputs: Any = None,
    conversation_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    parent: otel_context.Context | None = None,
) -> Handle:
    """A chain or workflow step that is neither a model, a tool, a retriever nor an agent:
    the conventions' ``invoke_workflow {name}`` with ``gen_ai.workflow.name``, its input and
    output as for an agent."""
    return _open(
        names.SpanKind.CHAIN,
        names.Operation.INVOKE_WORKFLOW,
        name=name,
        inputs=inputs,
        attributes=_with(
            {names.WORKFLOW_NAME: name or None, names.CONVERSATION_ID: conversation_id},
            attributes,
        ),
        parent=parent,
    )


def _with(ours: dict[str, Any], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entry point's own attributes, the caller's on top."""
    return {**ours, **given} if given else ours


def _noop(kind: str, parent: otel_context.Context | None) -> Handle:
    ctx = parent if parent is not None else otel_context.get_current()
    return Handle(trace.INVALID_SPAN, kind, ctx, {}, None)


def _open(
    kind: str,
    operation: str,
    *,
    provider: str | None = None,
    model: str | None = None,
    name: str | None = None,
    request: Mapping[str, Any] | None = None,
    inputs: Any = None,
    attributes: Mapping[str, Any] | None = None,
    parent: otel_context.Context | None = None,
    stream: bool = False,
) -> Handle:
    if not is_instrumentation_enabled():
        return _noop(kind, parent)
    handle = _start_span(
        kind, operation, provider, model, name, request, inputs, attributes, parent, stream
    )
    return handle if handle is not None else _noop(kind, parent)


@guarded("genai: starting a span")
def _start_span(
    kind: str,
    operation: str,
    provider: str | None,
    model: str | None,
    name: str | None,
    request: Mapping[str, Any] | None,
    inputs: Any,
    attributes: Mapping[str, Any] | None,
    parent: otel_context.Context | None,
    stream: bool,
) -> Handle | None:
    ctx = parent if parent is not None else otel_context.get_current()
    attrs: dict[str, Any] = {names.SPAN_KIND: kind, names.OPERATION: operation}
    labels: dict[str, Any] = {names.OPERATION: operation}
    if provider:
        attrs[names.PROVIDER] = labels[names.PROVIDER] = provider
    if model:
        model = model_label(model)
        attrs[names.REQUEST_MODEL] = labels[names.REQUEST_MODEL] = model
    if kind == names.SpanKind.TOOL and name:
        attrs[names.TOOL_NAME] = name
    if stream:
        attrs[names.REQUEST_STREAM] = True
    if request:
        attrs.update(spans.request_attributes(request))
    if attributes:
        attrs.update(spans.clean(attributes))
    span = _tracer().start_span(
        f"{operation} {model or name}" if (model or name) else operation,
        context=ctx,
        kind=SpanKind.CLIENT if kind in _CLIENT_KINDS else SpanKind.INTERNAL,
        attributes=attrs,
    )
    key = MODEL_KEYS.get(kind)
    outer = otel_context.get_value(key, ctx) if key is not None else None
    child_ctx = trace.set_span_in_context(span, ctx)
    outer = outer if isinstance(outer, Handle) else None
    handle = Handle(
        span, kind, child_ctx, labels, outer, name if kind in names.MODEL_KINDS else None
    )
    if key is not None:
        handle._context = otel_context.set_value(key, handle, child_ctx)
    if inputs is not None and span.is_recording():
        spans.write_inputs(span, kind, inputs, content.policy())
    return handle

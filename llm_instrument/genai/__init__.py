"""The GenAI telemetry core: every LLM instrumentor hands it plain facts, it makes the spans
and records the metrics.

    from llm_instrument import genai

    h = genai.start_llm(genai.Operation.CHAT, provider="openai", model="gpt-4o",
                        request={"temperature": 0.2}, inputs=[genai.Message("user", "hi")])
    h.first_chunk(); h.set_usage(genai.Usage(input_tokens=3, output_tokens=5))
    h.finish(outputs="hello", finish_reasons=["stop"])      # or h.fail(exc)

- ``operations``: the typed entry points, one per kind of operation (``start_llm``,
  ``start_embedding``, ``start_retrieval``, ``start_tool``, ``start_agent``,
  ``start_chain``), and ``configure`` (the tracer and meter providers to use);
- ``names``: every attribute, metric and span-kind name (GenAI semantic conventions v1.41);
- ``facts``: the frozen dataclasses instrumentors fill (``Message``, ``ToolCall``,
  ``Document``, ``Usage``, ``Prompt``);
- ``content``: message, document and value encoding under the content policy;
- ``handle``: the ``Handle`` (finish-once, nesting and token flow-up: see its docstring);
  ``spans``: how facts become span attributes;
- ``metrics``: the instruments; ``stream``: the one stream proxy, ``GenAIStream``.

Instrumentors never create GenAI spans, write ``gen_ai.*`` strings by hand or touch a meter.
"""

from __future__ import annotations

from llm_instrument.genai import names
from llm_instrument.genai.facts import Document, Message, Prompt, ToolCall, Usage
from llm_instrument.genai.handle import Handle
from llm_instrument.genai.names import Operation, SpanKind
from llm_instrument.genai.operations import (
    configure,
    start_agent,
    start_chain,
    start_embedding,
    start_llm,
    start_retrieval,
    start_tool,
)
from llm_instrument.genai.stream import GenAIStream

__all__ = [
    "Document",
    "GenAIStream",
    "Handle",
    "Message",
    "Operation",
    "Prompt",
    "SpanKind",
    "ToolCall",
    "Usage",
    "configure",
    "names",
    "start_agent",
    "start_chain",
    "start_embedding",
    "start_llm",
    "start_retrieval",
    "start_tool",
]

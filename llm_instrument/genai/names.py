"""Every telemetry name the GenAI core writes, in one table.

Attribute, metric and span-kind names follow the OpenTelemetry GenAI semantic conventions,
release v1.41. A later convention release is a change to this module only: the rest of the
core and every instrumentor refer to these constants, never to the strings.
``llm_instrument.*`` names are ours (facts the conventions have no name for).
"""

from __future__ import annotations

from typing import Final

# -- span attributes ------------------------------------------------------------------------
OPERATION: Final = "gen_ai.operation.name"
PROVIDER: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_STREAM: Final = "gen_ai.request.stream"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
CONVERSATION_ID: Final = "gen_ai.conversation.id"
# ours: the counts of a model span nested in another model span of the same call, which
# carries them as gen_ai.usage.* (one model call, one usage: see genai/nesting.py)
INNER_USAGE: Final[dict[str, str]] = {
    USAGE_INPUT_TOKENS: "llm_instrument.usage.input_tokens",
    USAGE_OUTPUT_TOKENS: "llm_instrument.usage.output_tokens",
    USAGE_CACHE_READ_INPUT_TOKENS: "llm_instrument.usage.cache_read.input_tokens",
    USAGE_CACHE_CREATION_INPUT_TOKENS: "llm_instrument.usage.cache_creation.input_tokens",
    USAGE_REASONING_OUTPUT_TOKENS: "llm_instrument.usage.reasoning.output_tokens",
}
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
TOOL_NAME: Final = "gen_ai.tool.name"
TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
TOOL_TYPE: Final = "gen_ai.tool.type"
AGENT_NAME: Final = "gen_ai.agent.name"
AGENT_ID: Final = "gen_ai.agent.id"
AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
WORKFLOW_NAME: Final = "gen_ai.workflow.name"
DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
RETRIEVAL_QUERY_TEXT: Final = "gen_ai.retrieval.query.text"
RETRIEVAL_DOCUMENTS: Final = "gen_ai.retrieval.documents"
EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
TOKEN_TYPE: Final = "gen_ai.token.type"
ERROR_TYPE: Final = "error.type"
# OpenInference's names, read by Phoenix (which takes them over its own conversion of the
# gen_ai.* attributes): the span kind (LLM, CHAIN, ...), and non-message content (chain,
# agent and embedding inputs and outputs) with its MIME type
SPAN_KIND: Final = "openinference.span.kind"
INPUT_VALUE: Final = "input.value"
INPUT_MIME_TYPE: Final = "input.mime_type"
OUTPUT_VALUE: Final = "output.value"
OUTPUT_MIME_TYPE: Final = "output.mime_type"
MIME_JSON: Final = "application/json"
# ours: an in-process model (transformers, sentence-transformers): where and how it ran
MODEL_DEVICE: Final = "llm_instrument.model.device"
MODEL_DTYPE: Final = "llm_instrument.model.dtype"
REQUEST_BATCH_SIZE: Final = "llm_instrument.request.batch_size"
RESPONSE_TIME_PER_OUTPUT_TOKEN: Final = "llm_instrument.response.time_per_output_token"
RESPONSE_TOKENS_PER_SECOND: Final = "llm_instrument.response.tokens_per_second"
GPU_NAME: Final = "llm_instrument.gpu.name"
GPU_MEMORY_PEAK: Final = "llm_instrument.gpu.memory.peak_allocated"

# request parameters: the fact's key (as instrumentors hand it) -> attribute
REQUEST_PARAMETERS: Final[dict[str, str]] = {
    "max_tokens": "gen_ai.request.max_tokens",
    "max_new_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "stop": "gen_ai.request.stop_sequences",
    "stop_sequences": "gen_ai.request.stop_sequences",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
    "choice_count": "gen_ai.request.choice.count",
    "encoding_formats": "gen_ai.request.encoding_formats",
    "num_return_sequences": "gen_ai.request.choice.count",
    "do_sample": "llm_instrument.request.do_sample",
    "num_beams": "llm_instrument.request.num_beams",
}

# -- metrics (name, unit, description, explicit bucket boundaries) ---------------------------
TOKEN_USAGE: Final = "gen_ai.client.token.usage"
OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"
# the conventions' model-server metrics, recorded for in-process models only
SERVER_TIME_TO_FIRST_TOKEN: Final = "gen_ai.server.time_to_first_token"
SERVER_TIME_PER_OUTPUT_TOKEN: Final = "gen_ai.server.time_per_output_token"

TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
CHUNK_BUCKETS: Final = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
)  # fmt: skip
SERVER_FIRST_TOKEN_BUCKETS: Final = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
SERVER_PER_TOKEN_BUCKETS: Final = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
)  # fmt: skip

METRICS: Final[dict[str, tuple[str, str, tuple[float, ...]]]] = {
    TOKEN_USAGE: ("{token}", "Number of input and output tokens used", TOKEN_BUCKETS),
    OPERATION_DURATION: ("s", "GenAI operation duration", DURATION_BUCKETS),
    TIME_TO_FIRST_CHUNK: ("s", "Time to receive the first chunk of a stream", DURATION_BUCKETS),
    TIME_PER_OUTPUT_CHUNK: ("s", "Time between chunks of a stream, after the first", CHUNK_BUCKETS),
    SERVER_TIME_TO_FIRST_TOKEN: (
        "s",
        "Time to generate the first token",
        SERVER_FIRST_TOKEN_BUCKETS,
    ),
    SERVER_TIME_PER_OUTPUT_TOKEN: (
        "s",
        "Time per output token generated after the first token",
        SERVER_PER_TOKEN_BUCKETS,
    ),
}

# -- values ---------------------------------------------------------------------------------
TOKEN_INPUT: Final = "input"
TOKEN_OUTPUT: Final = "output"


class SpanKind:
    """Values of ``openinference.span.kind``."""

    LLM: Final = "LLM"
    CHAIN: Final = "CHAIN"
    RETRIEVER: Final = "RETRIEVER"
    EMBEDDING: Final = "EMBEDDING"
    TOOL: Final = "TOOL"
    AGENT: Final = "AGENT"


# the kinds whose nested spans are one call (see ``nesting``)
MODEL_KINDS: Final = frozenset((SpanKind.LLM, SpanKind.EMBEDDING))


class Operation:
    """Values of ``gen_ai.operation.name`` (all the conventions')."""

    CHAT: Final = "chat"
    TEXT_COMPLETION: Final = "text_completion"
    GENERATE_CONTENT: Final = "generate_content"
    EMBEDDINGS: Final = "embeddings"
    EXECUTE_TOOL: Final = "execute_tool"
    INVOKE_AGENT: Final = "invoke_agent"
    INVOKE_WORKFLOW: Final = "invoke_workflow"
    RETRIEVAL: Final = "retrieval"

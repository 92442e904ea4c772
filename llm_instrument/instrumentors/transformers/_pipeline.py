"""``Pipeline.__call__``: one model span per pipeline call, its ``generate`` calls beneath it.

Text generation (``text-generation``, ``text2text-generation``, ``summarization``,
``translation*``) is an LLM span: ``chat`` when the input is a conversation, else
``text_completion``. Its usage, first-token time and finish reasons are the sum (earliest,
all) of the ``generate`` spans beneath it, which report to the pipeline's scope, so a pipeline
fed several prompts still counts every token once. ``feature-extraction`` is an EMBEDDING
span whose input tokens and dimension come from the returned array's shape. Other tasks and
lazy inputs (generators, datasets) are left alone (their ``generate`` spans still appear).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import context

from llm_instrument import genai
from llm_instrument.agent.guard import guard
from llm_instrument.genai import names
from llm_instrument.instrumentors.transformers import _extract
from llm_instrument.instrumentors.transformers._generate import PIPELINE_KEY
from llm_instrument.instrumentors.transformers._streamer import proxy_streamer

_LLM_TASKS = frozenset(("text-generation", "text2text-generation", "summarization"))
_EMBEDDING_TASKS = frozenset(("feature-extraction",))


class _Scope:
    """What the ``generate`` calls of one pipeline call report back."""

    __slots__ = ("calls", "first_ns", "input_tokens", "output_tokens", "reasons", "steps")

    def __init__(self) -> None:
        self.input_tokens = 0
        self.output_tokens = 0
        self.first_ns: int | None = None
        self.steps = 0
        self.reasons: list[str] = []
        self.calls: list[Any] = []

    def add(self, usage: genai.Usage, first_ns: int | None, steps: int, reasons: list[str]) -> None:
        self.input_tokens += usage.input_tokens or 0
        self.output_tokens += usage.output_tokens or 0
        if first_ns is not None and (self.first_ns is None or first_ns < self.first_ns):
            self.first_ns = first_ns
        self.steps = max(self.steps, steps)
        self.reasons.extend(reasons)

    def track(self, call: Any) -> None:
        if call.pending is not None:
            self.calls.append(call)

    def settle(self) -> None:
        """Finish CUDA readbacks that have arrived (the pipeline's decoding waited for them)."""
        for call in self.calls:
            call.settle()


def _is_chat(value: Any) -> bool:
    messages = getattr(value, "messages", value)  # transformers' ``Chat`` wrapper
    return (
        isinstance(messages, list | tuple)
        and bool(messages)
        and all(isinstance(m, Mapping) and "role" in m for m in messages)
    )


def _messages(chat: Any) -> list[genai.Message]:
    messages = getattr(chat, "messages", chat)
    return [genai.Message(str(m.get("role")), m.get("content")) for m in messages]


def _llm_inputs(value: Any, rendered: bool) -> tuple[bool, Any]:
    """(is a chat, inputs fact) for a text-generation pipeline's first argument; ``rendered``:
    its text came out of a chat template (LangChain's ``ChatHuggingFace``), so it is recorded
    as the prompt it is, not as a user turn."""
    if isinstance(value, str):
        return rendered, genai.Prompt(value) if rendered else value
    if _is_chat(value):
        return True, _messages(value)
    if isinstance(value, list | tuple) and value and all(_is_chat(v) for v in value):
        return True, [m for chat in value for m in _messages(chat)]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        # several prompts are not one conversation: the list, as the value it is
        return rendered, [genai.Prompt(v) for v in value] if rendered else list(value)
    return False, None


def _generated_texts(result: Any) -> list[str]:
    texts: list[str] = []
    items = result if isinstance(result, list) else [result]
    for item in items:
        if isinstance(item, list):
            texts.extend(_generated_texts(item))
        elif isinstance(item, Mapping):
            text = item.get(
                "generated_text", item.get("summary_text", item.get("translation_text"))
            )
            if isinstance(text, list) and text and isinstance(text[-1], Mapping):
                text = text[-1].get("content")
            if isinstance(text, str):
                texts.append(text)
    return texts


def _shape(value: Any) -> tuple[int, ...]:
    if hasattr(value, "shape"):
        return tuple(int(d) for d in value.shape)
    if isinstance(value, list) and value:
        return (len(value), *_shape(value[0]))
    return (len(value),) if isinstance(value, list) else ()


class _PipelineCall:
    def __init__(self, pipe: Any, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]):
        self.kind = kind
        self.scope = _Scope()
        first: Any = args[0] if args else kwargs.get("text_inputs", kwargs.get("inputs"))
        self.single = isinstance(first, str) or _is_chat(first)
        model = getattr(pipe, "model", None)
        attributes = _extract.placement(model)
        batch = 1 if self.single else len(first)
        attributes[names.REQUEST_BATCH_SIZE] = batch
        if kind == genai.SpanKind.EMBEDDING:
            self.handle = genai.start_embedding(
                provider=_extract.PROVIDER,
                model=_extract.model_name(model),
                inputs=first,
                attributes=attributes,
            )
        else:
            chat, inputs = _llm_inputs(first, rendered=_extract.has_chat_mark())
            params = {**getattr(pipe, "_forward_params", {}), **kwargs}
            prepare = getattr(pipe, "_prepare_generate_kwargs", None)
            if callable(prepare):  # transformers 5: the pipeline's own defaults for this call
                params = prepare(params)
            self.handle = genai.start_llm(
                genai.Operation.CHAT if chat else genai.Operation.TEXT_COMPLETION,
                provider=_extract.PROVIDER,
                model=_extract.model_name(model),
                request=_extract.generation_request(model, params),
                inputs=inputs,
                attributes=attributes,
            )
        self.context = context.set_value(PIPELINE_KEY, self.scope, self.handle.context)
        self.start_ns = time.perf_counter_ns()

    def succeeded(self, result: Any) -> None:
        handle, scope = self.handle, self.scope
        if self.kind == genai.SpanKind.EMBEDDING:
            outputs = [result] if self.single else result
            tokens, dimension = 0, None
            for output in outputs:
                shape = _shape(output)
                if len(shape) >= 2:
                    tokens += shape[-2] * (shape[0] if len(shape) == 3 else 1)
                    dimension = shape[-1]
            handle.set_usage(genai.Usage(input_tokens=tokens))
            handle.set_attributes({names.EMBEDDINGS_DIMENSION_COUNT: dimension})
            handle.finish()
            return
        scope.settle()
        if scope.first_ns is not None:
            handle.first_chunk(at=scope.first_ns)
            for _ in range(scope.steps):
                handle.chunk()
        if scope.reasons:
            handle.set_usage(genai.Usage(scope.input_tokens, scope.output_tokens))
            elapsed_s = (time.perf_counter_ns() - self.start_ns) / 1e9
            if elapsed_s > 0:
                rate = scope.output_tokens / elapsed_s
                handle.set_attributes({names.RESPONSE_TOKENS_PER_SECOND: rate})
        texts = _generated_texts(result)
        outputs = [genai.Message("assistant", t) for t in texts] if texts else None
        handle.finish(outputs=outputs, finish_reasons=scope.reasons or None)


def _kind(pipe: Any) -> str | None:
    task = str(getattr(pipe, "task", "") or "")
    if task in _LLM_TASKS or task.startswith("translation"):
        return genai.SpanKind.LLM
    if task in _EMBEDDING_TASKS:
        return genai.SpanKind.EMBEDDING
    return None


def wrap_pipeline_call(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Trace a text-generation or feature-extraction pipeline call (see module docstring)."""
    call = None
    with guard("transformers: before a pipeline call"):
        first = args[0] if args else kwargs.get("text_inputs", kwargs.get("inputs"))
        kind = _kind(instance)
        if kind is not None and isinstance(first, str | list | tuple | Mapping):
            call = _PipelineCall(instance, kind, args, kwargs)
    if call is None:
        return wrapped(*args, **kwargs)
    # the streamer's end reaches its consumer only once this span has its usage
    kwargs = dict(kwargs)
    streamer = proxy_streamer(kwargs)
    token = context.attach(call.context)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        with guard("transformers: a pipeline call failed"):
            call.handle.fail(exc)
        if streamer is not None:
            streamer.release()
        raise
    finally:
        context.detach(token)
    with guard("transformers: after a pipeline call"):
        call.succeeded(result)
    if streamer is not None:
        streamer.release()
    return result

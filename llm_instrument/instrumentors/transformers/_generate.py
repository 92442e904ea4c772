"""``GenerationMixin.generate``: one LLM span per call with exact tokens and first-token time.

Before the call: model, request parameters, batch size, device and dtype; the call is put in
the context, where the wrapper of ``StoppingCriteriaList.__call__`` (run once per generated
token, on the thread that generates) finds it: the first step marks when the first new token
exists (the host clock on CPU, a CUDA event on GPU), and every step keeps the criteria's
per-row verdict, a device tensor, unread, so a row's real tokens end where it was done
whatever stopped it (eos, ``stop_strings``, a custom criterion) and the padding after it is
not counted. A user streamer is proxied so that its ``end()`` reaches the consumer only after
the span has its usage (LangChain's streaming ends its own span when the streamer ends).
After the call: token counts from the returned tensors (see ``_extract``), on CPU at once, on
CUDA through a non-blocking readback (see ``_gpu``). Decoded text only with content capture
on, when the tokenizer is known and the tensors are on the host; a prompt rendered by a chat
template is recorded as the text it is (``genai.Prompt``), not as a user turn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import context

from llm_instrument import genai
from llm_instrument.agent import config
from llm_instrument.agent.guard import guard
from llm_instrument.genai import names
from llm_instrument.instrumentors.transformers import _extract, _gpu
from llm_instrument.instrumentors.transformers import _gpu_metrics as gpu_metrics
from llm_instrument.instrumentors.transformers._streamer import StreamerProxy, proxy_streamer

PIPELINE_KEY = context.create_key("llm_instrument.transformers.pipeline")
CALL_KEY = context.create_key("llm_instrument.transformers.generate")
_MAX_STEPS_KEPT = 16384  # verdicts kept per call; past it, counts fall back to the eos rule


def wrap_stopping_criteria(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """One generation step of a traced ``generate()``: note it and keep the verdict."""
    call = context.get_value(CALL_KEY)
    if not isinstance(call, _GenerateCall) or call.in_step:
        return wrapped(*args, **kwargs)
    call.in_step = True  # a criterion that is itself a list is not a step of its own
    try:
        is_done = wrapped(*args, **kwargs)
    finally:
        call.in_step = False
    with guard("transformers: a generation step"):
        call.step(args[0] if args else kwargs.get("input_ids"), is_done)
    return is_done


class _GenerateCall:
    """What one ``generate()`` needs between its start and its (possibly deferred) finish."""

    def __init__(self, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        settings = config.current()
        self.kwargs = dict(kwargs)
        input_ids = args[0] if args else kwargs.get("inputs", kwargs.get("input_ids"))
        embeds = kwargs.get("inputs_embeds")
        self.input_ids = input_ids if input_ids is not None and input_ids.dim() == 2 else None
        self.attention_mask = kwargs.get("attention_mask")
        self.eos_ids, self.pad = _extract.special_ids(model, kwargs)
        self.encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
        if self.encoder_decoder:
            self.prompt_len = 1  # the decoder start token
        else:
            self.prompt_len = self.input_ids.shape[1] if self.input_ids is not None else 0
        shaped = self.input_ids if self.input_ids is not None else embeds
        batch = int(shaped.shape[0]) if shaped is not None else 1
        device = shaped.device if shaped is not None else model.device
        self.on_cuda = device.type == "cuda"
        self.tokenizer = _extract.tokenizer_for(model) if settings.capture_content else None
        self.scope: Any = context.get_value(PIPELINE_KEY)
        self.in_step = False
        self.steps = 0
        self.first_ns: int | None = None
        self.first_event: Any = None
        self.verdicts: list[Any] | None = []
        # a pipeline above already holds the streamer's end until its own span is finished
        self.streamer = proxy_streamer(self.kwargs)
        streaming = self.streamer is not None or isinstance(
            self.kwargs.get("streamer"), StreamerProxy
        )
        chat = _extract.take_chat_mark()
        inputs: Any = None
        if self.tokenizer is not None and self.input_ids is not None and not self.on_cuda:
            if chat:
                texts = _extract.decode_rendered(
                    self.tokenizer, self.input_ids, self.attention_mask
                )
                prompts: list[Any] = [genai.Prompt(t) for t in texts]
            else:
                prompts = _extract.decode(self.tokenizer, self.input_ids)
            inputs = prompts[0] if batch == 1 else prompts
        attributes = {names.REQUEST_BATCH_SIZE: batch, **_extract.placement(model)}
        self.probe = None
        if self.on_cuda:
            from llm_instrument.instrumentors.transformers import GPU_PEAK_MEMORY

            reset = settings.value(GPU_PEAK_MEMORY)
            self.probe = _gpu.CudaProbe(device, reset)
            gpu_metrics.ensure_started()
            attributes[names.GPU_NAME] = self.probe.device_name()
        request = _extract.generation_request(model, kwargs)
        self.cap = _extract.new_token_cap(request, self.prompt_len)
        self.handle = genai.start_llm(
            genai.Operation.CHAT if chat else genai.Operation.TEXT_COMPLETION,
            provider=_extract.PROVIDER,
            model=_extract.model_name(model),
            request=request,
            inputs=inputs,
            attributes=attributes,
            stream=streaming,
        )
        self.start_ns = time.perf_counter_ns()
        self.end_ns = self.start_ns
        self.new_ids: Any = None
        self.pending: _gpu.Readback | None = None
        self.settling = threading.Lock()  # the finisher thread and a pipeline may race
        self.end_event: Any = None
        self.peak: int | None = None

    def step(self, input_ids: Any, is_done: Any) -> None:
        """After each generated token: the first one's time, the criteria's verdict."""
        self.steps += 1
        if self.first_ns is None:
            self.first_ns = time.perf_counter_ns()
            if input_ids is not None and input_ids.is_cuda:
                self.first_event = _gpu.new_event(input_ids.device)
        verdicts = self.verdicts
        if verdicts is not None:
            if len(verdicts) < _MAX_STEPS_KEPT and getattr(is_done, "dim", None) is not None:
                verdicts.append(is_done)
            else:
                self.verdicts = None

    # -- after the call ----------------------------------------------------------------------
    def succeeded(self, result: Any) -> None:
        self.end_ns = time.perf_counter_ns()
        with guard("transformers: after generate"):
            sequences = getattr(result, "sequences", result)
            if not hasattr(sequences, "shape") or sequences.dim() != 2:
                self._finish(None)
                return
            self.new_ids = sequences[:, self.prompt_len :]
            done = None
            if self.verdicts and len(self.verdicts) == self.new_ids.shape[1]:
                import torch

                done = torch.stack(self.verdicts)  # one device op, read back with the counts
            self.verdicts = None
            counts, ended = _extract.output_token_rows(self.new_ids, self.eos_ids, done, self.cap)
            prompt = self.input_ids
            if prompt is None:
                in_count = counts.new_zeros(())
            else:
                in_count = _extract.input_token_count(prompt, self.attention_mask, self.pad)
            if not sequences.is_cuda:
                self._finish([int(in_count), *counts.tolist(), *ended.tolist()])
                return
            import torch

            self.peak = self.probe.peak_bytes() if self.probe else None
            if in_count.device != counts.device:  # a model split over devices
                in_count = in_count.to(counts.device, non_blocking=True)
            packed = torch.cat([in_count.view(1).long(), counts, ended.long()])
            self.end_event = _gpu.new_event(sequences.device)
            self.pending = _gpu.Readback(packed)
            if self.pending.ready():
                self.settle()
            else:
                # whichever comes first: the readback arrives, or an enclosing model span
                # (LangChain's, after the app read the result) is about to end
                _gpu.FINISHER.submit(self.pending, self.settle)
                self.handle.before_outer_ends(self.settle)
            return
        self.handle.finish()  # the facts could not be read: still end the span, once
        self._release()

    def settle(self) -> None:
        """Finish from the readback, if it is still pending and has arrived (idempotent)."""
        with self.settling:
            pending = self.pending
            if pending is None or not pending.ready():
                return
            self.pending = None
        with guard("transformers: finishing generate"):
            self._finish(pending.values())
            return
        self.handle.finish()
        self._release()

    def failed(self, exc: BaseException) -> None:
        with guard("transformers: generate failed"):
            self.handle.fail(exc)
        self._release()

    def _release(self) -> None:
        if self.streamer is not None:
            self.streamer.release()

    def _finish(self, values: list[int] | None) -> None:
        try:
            self._report(values)
        finally:
            self._release()

    def _report(self, values: list[int] | None) -> None:
        handle = self.handle
        if values is None:
            handle.finish()
            return
        rows = (len(values) - 1) // 2
        in_tokens, counts, ended = values[0], values[1 : rows + 1], values[rows + 1 :]
        out_tokens = sum(counts)
        usage = genai.Usage(in_tokens if self.input_ids is not None else None, out_tokens)
        handle.set_usage(usage)
        first_ns = self.first_ns
        end_ns = self.end_ns
        if self.probe is not None and first_ns is not None:
            first_device = self.probe.elapsed_ns(self.first_event)
            total_device = self.probe.elapsed_ns(self.end_event)
            if first_device is not None:
                first_ns = self.start_ns + first_device
            if total_device is not None:
                end_ns = self.start_ns + total_device
        steps = self.steps or max(counts, default=0)
        first_s = per_token_s = None
        if first_ns is not None:
            handle.first_chunk(at=first_ns)
            for _ in range(steps):
                handle.chunk()
            first_s = (first_ns - self.start_ns) / 1e9
            if steps > 1:
                per_token_s = (end_ns - first_ns) / 1e9 / (steps - 1)
        handle.server_timing(first_s, per_token_s)
        duration_s = (end_ns - self.start_ns) / 1e9
        handle.set_attributes(
            {
                names.RESPONSE_TIME_PER_OUTPUT_TOKEN: per_token_s,
                names.RESPONSE_TOKENS_PER_SECOND: out_tokens / duration_s if duration_s else None,
                names.GPU_MEMORY_PEAK: self.peak,
            }
        )
        reasons = _extract.finish_reasons([bool(flag) for flag in ended])
        if self.scope is not None:
            self.scope.add(usage, first_ns, steps, reasons)
        outputs = None
        if self.tokenizer is not None and self.new_ids is not None and not self.on_cuda:
            texts = _extract.decode(self.tokenizer, self.new_ids)
            outputs = [
                genai.Message("assistant", text, finish_reason=reason)
                for text, reason in zip(texts, reasons, strict=False)
            ]
        handle.finish(outputs=outputs, finish_reasons=reasons)


def wrap_generate(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Trace one ``generate()`` (see the module docstring)."""
    call = None
    with guard("transformers: before generate"):
        call = _GenerateCall(instance, args, kwargs)
    if call is None:
        return wrapped(*args, **kwargs)
    token = context.attach(context.set_value(CALL_KEY, call, call.handle.context))
    try:
        result = wrapped(*args, **call.kwargs)
    except BaseException as exc:
        call.failed(exc)
        raise
    finally:
        context.detach(token)
    call.succeeded(result)
    if call.scope is not None:
        call.scope.track(call)
    return result

"""GPU check of the transformers instrumentation: exact counts, timings, memory, no sync.

    .venv/bin/python bench/gpu_check.py            # exits 0 with "skipped" without CUDA

On a CUDA device, with the tiny GPT-2 of ``tests/support/tiny_models.py``:
1. ``torch.cuda.set_sync_debug_mode("warn")``: the synchronising operations warned about
   during a bare ``generate()`` and an instrumented one must be equal in number (batched
   greedy with padding, sampled with several sequences, with a ``TextIteratorStreamer``);
2. the profiler's device-to-host copies, bare vs instrumented: the instrumentation adds one
   non-blocking copy of (1 + 2 x rows) integers into pinned memory per call (its token
   counts), which is reported, and no blocking copy;
3. the spans: usage equal to what the returned tensors say, time to first token inside the
   call, ``llm_instrument.gpu.name``, ``llm_instrument.gpu.memory.peak_allocated``;
4. the ``hw.gpu.*`` metrics and ``gen_ai.server.*`` timings were recorded.
Prints one line per check and exits 1 on the first failure.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _check(ok: bool, what: str) -> None:
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        sys.exit(1)


def _sync_warnings(fn: Any) -> int:
    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchronizing" in str(w.message) for w in caught)


def _dtoh_copies(fn: Any) -> tuple[int, int]:
    """(device-to-host memcpy events, of which asynchronous) seen by the profiler."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    events = [e for e in prof.events() if "DtoH" in e.name or "Device -> Pinned" in e.name]
    return len(events), sum("Pinned" in e.name or "async" in e.name.lower() for e in events)


def main() -> None:
    import torch

    if not torch.cuda.is_available():
        print("skipped: no CUDA device")
        return
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

    import transformers.generation.stopping_criteria as stopping
    import transformers.generation.utils as gen_utils
    import transformers.pipelines.base as pipe_base
    import transformers.tokenization_utils_base as tok_base
    from transformers import TextIteratorStreamer

    from llm_instrument.instrumentors import transformers as plugin
    from tests.support.tiny_models import build_gpt2, build_tokenizer

    bare_generate = gen_utils.GenerationMixin.__dict__["generate"]
    for module in (gen_utils, stopping, pipe_base, tok_base):
        plugin.patch(module)
    device = "cuda"
    print("device:", torch.cuda.get_device_name(0))
    tokenizer = build_tokenizer()
    model = build_gpt2(tokenizer, "medium").to(device)
    batch = tokenizer(
        ["hello world", "the quick brown fox jumps over"], return_tensors="pt", padding=True
    ).to(device)
    single = tokenizer(["a chat template turns"], return_tensors="pt").to(device)
    cases = {
        "greedy batched": (batch, dict(max_new_tokens=32, min_new_tokens=32, do_sample=False)),
        "sampled x2": (
            single,
            dict(max_new_tokens=32, min_new_tokens=32, do_sample=True, num_return_sequences=2),
        ),
        # per-row verdicts of the stopping criteria, kept on the device at every step
        "stop strings": (
            batch,
            dict(max_new_tokens=32, do_sample=False, stop_strings=["the"], tokenizer=tokenizer),
        ),
    }
    for inputs, kwargs in cases.values():  # warm-up: kernels, allocator, pinned pool
        bare_generate(model, **inputs, **kwargs)
        model.generate(**inputs, **kwargs)
    torch.cuda.synchronize()

    for name, (inputs, kwargs) in cases.items():
        bare = _sync_warnings(lambda i=inputs, k=kwargs: bare_generate(model, **i, **k))
        ours = _sync_warnings(lambda i=inputs, k=kwargs: model.generate(**i, **k))
        _check(bare == ours, f"{name}: synchronising operations bare={bare} instrumented={ours}")
        copies = _dtoh_copies(lambda i=inputs, k=kwargs: bare_generate(model, **i, **k))
        copies_ours = _dtoh_copies(lambda i=inputs, k=kwargs: model.generate(**i, **k))
        print(f"      {name}: DtoH copies (all, async) bare={copies} instrumented={copies_ours}")
        _check(
            copies_ours[0] - copies[0] == copies_ours[1] - copies[1] <= 1,
            f"{name}: at most one added device-to-host copy, and it is asynchronous",
        )

    def streamed() -> None:
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True)
        worker = threading.Thread(
            target=model.generate,
            kwargs=dict(**single, max_new_tokens=16, do_sample=False, streamer=streamer),
        )
        worker.start()
        "".join(streamer)
        worker.join()

    def streamed_bare() -> None:
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True)
        worker = threading.Thread(
            target=bare_generate,
            args=(model,),
            kwargs=dict(**single, max_new_tokens=16, do_sample=False, streamer=streamer),
        )
        worker.start()
        "".join(streamer)
        worker.join()

    _check(
        _sync_warnings(streamed_bare) == _sync_warnings(streamed),
        "streamer: no synchronising operation added",
    )

    # spans: exact counts against the returned tensors
    exporter.clear()
    out = model.generate(**batch, max_new_tokens=32, do_sample=False)
    expected_in = int(batch["attention_mask"].sum())
    eos = tokenizer.eos_token_id
    expected_out = 0
    for row in out[:, batch["input_ids"].shape[1] :].tolist():
        expected_out += next((i + 1 for i, t in enumerate(row) if t == eos), len(row))
    deadline = time.monotonic() + 10
    while not exporter.get_finished_spans() and time.monotonic() < deadline:
        time.sleep(0.01)
    (span,) = exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    _check(attrs.get("gen_ai.usage.input_tokens") == expected_in, f"input tokens {expected_in}")
    _check(attrs.get("gen_ai.usage.output_tokens") == expected_out, f"output tokens {expected_out}")
    duration = (span.end_time - span.start_time) / 1e9
    ttft = attrs.get("gen_ai.response.time_to_first_chunk", -1)
    _check(0 < ttft < duration, f"time to first token {ttft:.4f}s < duration {duration:.4f}s")
    _check(
        bool(attrs.get("llm_instrument.gpu.name")),
        f"gpu name {attrs.get('llm_instrument.gpu.name')}",
    )
    peak = attrs.get("llm_instrument.gpu.memory.peak_allocated", 0)
    _check(peak > 0, f"peak GPU memory {peak} bytes")
    names = {
        m.name
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    for metric in (
        "hw.gpu.memory.usage",
        "hw.gpu.memory.limit",
        "gen_ai.server.time_to_first_token",
        "gen_ai.server.time_per_output_token",
    ):
        _check(metric in names, f"metric {metric}")
    print("all GPU checks passed; overhead: bench/transformers_overhead.py --device cuda")


if __name__ == "__main__":
    main()

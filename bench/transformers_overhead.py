"""Overhead of the transformers instrumentation on ``generate()`` and a text-generation pipeline.

    .venv/bin/python bench/transformers_overhead.py [--rounds 30] [--device cpu|cuda] [--json F]

Models: the tiny GPT-2 configs of ``tests/support/tiny_models.py`` ("small": 2 layers x 64,
"medium": 6 layers x 256), random weights, 32 new tokens (``min_new_tokens`` = 32, greedy).
Each round times, in alternating order, the bare call (the saved original function) and the
instrumented one, all in one process with a real SDK tracer provider (batch processor, a
dropping exporter) and meter provider, content capture on (the default). Reported: median
time per call and the overhead as the ratio of medians minus one. The pipeline rows also
time OpenLLMetry's ``opentelemetry-instrumentation-transformers`` (it wraps only
``TextGenerationPipeline.__call__``, so it has no ``generate()`` row). Overhead = median over
rounds of (variant / bare in the same round) - 1; "bare" pipeline calls still pass through
our disabled wrappers (one flag check each). On a shared, noisy machine the end-to-end ratio
swings by a few percent either way, so on CPU calls are timed by default with the process's
CPU time (``--clock process``: our export threads count, other processes do not; the GPU
uses the wall clock), and each generate row also reports the instrumentation's
own work measured inside the call: time around the wrapped ``generate`` minus time inside it,
plus the appended stopping criterion's per-step cost times 32.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NEW_TOKENS = 32


class _Drop:
    """A span exporter that keeps nothing (export cost without I/O)."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 0) -> bool:
        return True


def _setup_otel() -> None:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Drop()))  # type: ignore[arg-type]
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))


CLOCKS = {"process": time.process_time, "wall": time.perf_counter}
_clock = time.process_time


def _timed(fn: Callable[[], Any], sync: Callable[[], None]) -> float:
    sync()
    start = _clock()
    fn()
    sync()
    return _clock() - start


def _compare(
    variants: dict[str, Callable[[], Any]], rounds: int, sync: Callable[[], None]
) -> dict[str, float]:
    """Median seconds per variant, and the median of each variant's per-round ratio to
    "bare" (the variants alternate within a round, so a ratio compares neighbours)."""
    for fn in variants.values():  # warm-up
        fn()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for index in range(rounds):
        for name in order if index % 2 == 0 else reversed(order):
            samples[name].append(_timed(variants[name], sync))
    found = {name: statistics.median(values) for name, values in samples.items()}
    for name, values in samples.items():
        ratios = [v / b for v, b in zip(values, samples["bare"], strict=True)]
        found[f"{name} ratio"] = statistics.median(ratios)
    return found


def _decomposed(model: Any, inputs: Any, kwargs: dict[str, Any], rounds: int) -> dict[str, float]:
    """The instrumentation's own work, measured inside the call (robust to a noisy machine):
    time around ``generate`` minus time inside it, plus the per-step cost of the wrapped
    stopping-criteria call (timed on its own) times the number of steps."""
    import torch
    import transformers.generation.utils as gen_utils
    import wrapt
    from transformers.generation.stopping_criteria import StoppingCriteriaList

    from llm_instrument.instrumentors.transformers import _generate

    original = gen_utils.GenerationMixin.__dict__["generate"].__wrapped__
    inner: list[float] = []

    def timed(*args: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kw)
        finally:
            inner.append(time.perf_counter() - start)

    instrumented = wrapt.FunctionWrapper(timed, _generate.wrap_generate)
    outside = []
    for _ in range(rounds):
        start = time.perf_counter()
        instrumented(model, **inputs, **kwargs)
        outside.append(time.perf_counter() - start - inner[-1])
    scores = torch.zeros((inputs["input_ids"].shape[0], model.config.vocab_size))
    ids = inputs["input_ids"]
    from opentelemetry import context

    # one step as generate() runs it: the criteria list, through the plugin's wrapper with a
    # traced call in the context, against the same list unwrapped
    criteria = StoppingCriteriaList()
    bare_call = StoppingCriteriaList.__dict__["__call__"]
    bare_call = getattr(bare_call, "__wrapped__", bare_call)
    traced_call = wrapt.FunctionWrapper(bare_call, _generate.wrap_stopping_criteria)
    call = _generate._GenerateCall(model, (), dict(inputs, max_new_tokens=NEW_TOKENS))
    call.handle.finish()
    per_step = []
    for _ in range(rounds):
        call.verdicts, call.steps = [], 0
        token = context.attach(context.set_value(_generate.CALL_KEY, call))
        try:
            start = time.perf_counter()
            for _ in range(200):
                traced_call(criteria, ids, scores)
            middle = time.perf_counter()
        finally:
            context.detach(token)
        for _ in range(200):
            bare_call(criteria, ids, scores)
        per_step.append(((middle - start) - (time.perf_counter() - middle)) / 200)
    return {
        "outside generate s": statistics.median(outside),
        "per step s": statistics.median(per_step),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="process")
    args = parser.parse_args()
    global _clock
    _clock = CLOCKS[args.clock]
    if args.device.startswith("cuda"):
        _clock = time.perf_counter  # GPU time is not this process's CPU time

    import torch

    torch.set_num_threads(args.threads)
    _setup_otel()
    import transformers.generation.stopping_criteria as stopping
    import transformers.generation.utils as gen_utils
    import transformers.pipelines.base as pipe_base
    import transformers.tokenization_utils_base as tok_base
    from opentelemetry.instrumentation.transformers import TransformersInstrumentor
    from transformers import TextGenerationPipeline, pipeline

    from llm_instrument.instrumentors import transformers as plugin
    from tests.support.tiny_models import build_gpt2, build_tokenizer

    bare_generate = gen_utils.GenerationMixin.__dict__["generate"]
    for module in (gen_utils, stopping, pipe_base, tok_base):
        plugin.patch(module)
    # OpenLLMetry wraps TextGenerationPipeline.__call__ in place: keep both versions
    bare_pipeline_call = TextGenerationPipeline.__dict__["__call__"]
    TransformersInstrumentor().instrument()
    openllmetry_call = TextGenerationPipeline.__dict__["__call__"]
    TextGenerationPipeline.__call__ = bare_pipeline_call
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    tokenizer = build_tokenizer()
    prompt = "the quick brown fox jumps over the lazy dog"
    encoded = tokenizer([prompt], return_tensors="pt").to(args.device)
    kwargs = dict(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False)
    rows = []
    for size in ("small", "medium"):
        model = build_gpt2(tokenizer, size).to(args.device)
        gen = _compare(
            {
                "bare": lambda m=model: bare_generate(m, **encoded, **kwargs),
                "llm-instrument": lambda m=model: m.generate(**encoded, **kwargs),
            },
            args.rounds,
            sync,
        )
        rows.append(("generate", size, gen))
        parts = _decomposed(model, encoded, kwargs, args.rounds)
        own = parts["outside generate s"] + NEW_TOKENS * parts["per step s"]
        gen.update(parts)
        gen["own work ratio"] = own / gen["bare"]

        pipe = pipeline("text-generation", model=model, tokenizer=tokenizer, device=args.device)

        def run(call: Any, ours: bool, p: Any = pipe) -> Any:
            plugin._enabled = ours
            try:
                return call(p, prompt, **kwargs)
            finally:
                plugin._enabled = True

        timings = _compare(
            {
                "bare": lambda: run(bare_pipeline_call, False),
                "llm-instrument": lambda: run(bare_pipeline_call, True),
                "openllmetry": lambda: run(openllmetry_call, False),
            },
            args.rounds,
            sync,
        )
        rows.append(("pipeline", size, timings))

    report = []
    clock = "wall" if _clock is time.perf_counter else "process CPU"
    print(
        f"device={args.device} threads={args.threads} rounds={args.rounds} new={NEW_TOKENS}"
        f" clock={clock}"
    )
    print(f"{'call':9} {'model':7} {'bare ms':>9} {'ours ms':>9} {'ours':>8} {'openllmetry':>12}")
    for call, size, timings in rows:
        bare = timings["bare"]
        ours = timings["llm-instrument ratio"] - 1
        other = timings.get("openllmetry ratio")
        other_text = f"{(other - 1) * 100:+.2f}%" if other else "n/a"
        print(
            f"{call:9} {size:7} {bare * 1e3:9.2f} {timings['llm-instrument'] * 1e3:9.2f} "
            f"{ours * 100:+7.2f}% {other_text:>12}"
        )
        report.append({"call": call, "model": size, "device": args.device, **timings})
        if "own work ratio" in timings:
            print(
                f"{'':9} {size:7} own work {timings['outside generate s'] * 1e3:.3f} ms around"
                f" + {NEW_TOKENS} x {timings['per step s'] * 1e6:.1f} us per step"
                f" = {timings['own work ratio'] * 100:.2f}% of the bare call"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

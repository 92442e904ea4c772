"""transformers plugin lifecycle and never-break rules, in one isolated interpreter.

The script patches by hand (no launcher), records spans in memory and prints one JSON
report; each test reads one fact of it. Isolation matters: patching is process-wide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[2]

IMPORT_IS_FREE = textwrap.dedent(
    """
    import sys
    import llm_instrument.instrumentors.transformers as t
    import llm_instrument.instrumentors.sentence_transformers as s
    heavy = [m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules]
    print(",".join(heavy) or "none")
    """
)

SCRIPT = textwrap.dedent(
    """
    import json, logging, sys, tempfile
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    warnings = []
    class Keep(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                warnings.append(record.getMessage())
    logging.getLogger("llm_instrument").addHandler(Keep())

    import wrapt
    import transformers.generation.utils as gen_utils
    from tests.support.tiny_models import build_gpt2, build_tokenizer
    from llm_instrument.instrumentors import transformers as plugin

    report = {}
    original = gen_utils.GenerationMixin.__dict__["generate"]
    tok = build_tokenizer()
    model = build_gpt2(tok)
    enc = tok(["hello world"], return_tensors="pt")

    # patched before the module is imported by the app: here the module is loaded already
    plugin.patch(gen_utils)
    plugin.patch(gen_utils)
    wrapped = gen_utils.GenerationMixin.__dict__["generate"]
    report["wrapped_once"] = (isinstance(wrapped, wrapt.FunctionWrapper)
                              and wrapped.__wrapped__ is original)

    plain = model.generate(**enc, max_new_tokens=5, do_sample=False)
    report["spans_after_call"] = len(exporter.get_finished_spans())

    # never-break: the core raising inside start() leaves the result identical
    from llm_instrument import genai
    real_start = genai.start_llm
    def broken(*a, **k):
        raise RuntimeError("core is broken")
    genai.start_llm = broken
    import llm_instrument.instrumentors.transformers._generate as g
    g.genai.start_llm = broken
    again = model.generate(**enc, max_new_tokens=5, do_sample=False)
    model.generate(**enc, max_new_tokens=5, do_sample=False)
    g.genai.start_llm = real_start
    report["identical_when_core_fails"] = bool((again == plain).all())
    report["warnings_when_core_fails"] = len(warnings)

    # extraction failing after the call: result unchanged, the span still ends once
    exporter.clear()
    import llm_instrument.instrumentors.transformers._extract as extract
    real_rows = extract.output_token_rows
    extract.output_token_rows = broken
    third = model.generate(**enc, max_new_tokens=5, do_sample=False)
    extract.output_token_rows = real_rows
    report["identical_when_extraction_fails"] = bool((third == plain).all())
    report["spans_when_extraction_fails"] = len(exporter.get_finished_spans())

    # decoded text only with content capture on
    from llm_instrument.agent import config
    model.config.name_or_path = tok.name_or_path = "tiny-gpt2"
    extract.remember_tokenizer(tok)
    captured = {}
    for capture in (True, False):
        config.reset(config.Settings(capture_content=capture))
        exporter.clear()
        model.generate(**enc, max_new_tokens=3, do_sample=False)
        (span,) = exporter.get_finished_spans()
        captured[str(capture)] = sorted(
            k for k in span.attributes if k in ("gen_ai.input.messages", "gen_ai.output.messages")
        )
    config.reset(None)
    report["content_keys"] = captured

    # an application error passes through unchanged, the span is in ERROR
    exporter.clear()
    try:
        model.generate(**enc, max_new_tokens=5, num_beams=2, streamer=object())
    except Exception as exc:
        report["error_type"] = type(exc).__name__
    spans = exporter.get_finished_spans()
    report["error_span_status"] = [s.status.status_code.name for s in spans]

    # unpatch restores the original and silences an alias captured while patched
    alias = model.generate
    plugin.unpatch(gen_utils)
    report["restored"] = gen_utils.GenerationMixin.__dict__["generate"] is original
    exporter.clear()
    alias(**enc, max_new_tokens=3, do_sample=False)
    report["spans_from_alias_after_unpatch"] = len(exporter.get_finished_spans())
    print(json.dumps(report))
    """
)


def _run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return dict(json.loads(_run(SCRIPT)))


def test_importing_the_plugins_imports_no_target() -> None:
    assert _run(IMPORT_IS_FREE) == "none"


def test_patching_twice_wraps_once(report: dict[str, Any]) -> None:
    assert report["wrapped_once"] is True
    assert report["spans_after_call"] == 1


def test_a_failing_core_leaves_the_result_identical_with_one_warning(
    report: dict[str, Any],
) -> None:
    assert report["identical_when_core_fails"] is True
    assert report["warnings_when_core_fails"] == 1


def test_failing_extraction_still_ends_the_span_once(report: dict[str, Any]) -> None:
    assert report["identical_when_extraction_fails"] is True
    assert report["spans_when_extraction_fails"] == 1


def test_text_is_decoded_only_with_content_capture_on(report: dict[str, Any]) -> None:
    both = ["gen_ai.input.messages", "gen_ai.output.messages"]
    assert report["content_keys"] == {"True": both, "False": []}


def test_an_application_error_propagates_and_the_span_is_in_error(report: dict[str, Any]) -> None:
    assert report["error_type"] == "ValueError"
    assert report["error_span_status"] == ["ERROR"]


def test_unpatch_restores_the_original_and_silences_aliases(report: dict[str, Any]) -> None:
    assert report["restored"] is True
    assert report["spans_from_alias_after_unpatch"] == 0

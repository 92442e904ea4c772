"""transformers: local ``generate()`` and pipelines as GenAI spans with exact token counts.

Wrapped, each when the module defining it is first imported (transformers loads lazily):
- ``GenerationMixin.generate`` (``transformers.generation.utils``): an LLM span per call,
  ``text_completion`` (``chat`` after ``apply_chat_template``), provider ``huggingface``,
  request parameters, batch size, device, dtype; exact input/output tokens from the tensors;
  time to first token, time per output token and tokens per second (``gen_ai.server.*``
  metrics as well); peak GPU memory and device name on CUDA, with no added synchronisation
  (``_gpu``). Streamer use and generation in a background thread are covered (the threading
  plugin carries the trace context into the thread).
- ``Pipeline.__call__`` (``transformers.pipelines.base``): the pipeline's span, its
  ``generate`` spans beneath it; usage flows up once (``_pipeline``).
- ``PreTrainedTokenizerBase.from_pretrained``/``apply_chat_template``
  (``transformers.tokenization_utils_base``): which tokenizer decodes which model's text, and
  which call is a chat (``_extract``).
Settings: content capture (decoded prompts/outputs, CPU tensors only);
``LLM_INSTRUMENT_TRANSFORMERS_GPU_PEAK_MEMORY`` (default true). Versions: ``>=4.45,<6``.
Named ``transformers`` so it shadows OpenLLMetry's instrumentor of the same name.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import wrapt
from opentelemetry import context

from llm_instrument.agent.plugin import Plugin

_SUPPRESS = context._SUPPRESS_INSTRUMENTATION_KEY
_originals: dict[tuple[str, str], tuple[Any, str, Any]] = {}
_wrappers: list[Any] = []
_enabled = False


def active() -> bool:
    """Whether the wrappers should trace (patched and not suppressed)."""
    return _enabled and not context.get_value(_SUPPRESS)


def _table() -> dict[str, tuple[tuple[str, Callable[..., Any]], ...]]:
    from llm_instrument.instrumentors.transformers import _extract, _generate, _pipeline

    return {
        "transformers.generation.utils": (("GenerationMixin.generate", _generate.wrap_generate),),
        "transformers.pipelines.base": (("Pipeline.__call__", _pipeline.wrap_pipeline_call),),
        "transformers.tokenization_utils_base": (
            ("PreTrainedTokenizerBase.from_pretrained", _extract.wrap_from_pretrained),
            ("PreTrainedTokenizerBase.apply_chat_template", _extract.wrap_apply_chat_template),
        ),
    }


def patch(module: ModuleType) -> None:
    global _enabled
    for path, wrapper in _table().get(module.__name__, ()):
        key = (module.__name__, path)
        if key in _originals:
            continue
        parent, name, original = wrapt.resolve_path(module, path)
        _originals[key] = (parent, name, original)
        wrapped = wrapt.FunctionWrapper(original, wrapper)
        _wrappers.append(wrapped)
        wrapt.apply_patch(parent, name, wrapped)
    _enabled = True


def unpatch(module: ModuleType) -> None:
    global _enabled
    for path, _ in _table().get(module.__name__, ()):
        saved = _originals.pop((module.__name__, path), None)
        if saved is not None:
            parent, name, original = saved
            setattr(parent, name, original)
    if not _originals:
        _enabled = False  # aliases captured earlier now pass straight through


PLUGIN = Plugin(
    name="transformers",
    hooks=(
        "transformers.generation.utils",
        "transformers.pipelines.base",
        "transformers.tokenization_utils_base",
    ),
    distribution="transformers",
    supported=">=4.45,<6",
    patch=patch,
    unpatch=unpatch,
    description="local generate(), pipelines: exact tokens, first-token time, GPU memory",
)

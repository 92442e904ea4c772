"""The transformers text-generation pipeline that writes the chatbot's answers.

Greedy decoding, and answers that end at a sentence end. A 135M-parameter model answers
well in one sentence and then either stops (end-of-turn token) or starts to ramble, so an
answer stops at the first sentence end once it has ``min_tokens`` new tokens, and at
``max_new_tokens`` at the latest. Without the first rule a rambling answer is cut
mid-sentence at the token limit.

No repetition penalty: transformers applies it to every token already in the sequence, the
prompt included, so it pushes the model away from the very words of the manual it should
repeat ("30 seconds", "Wi-Fi").

torch and transformers are imported inside the functions: ``CHATBOT_LLM=fake`` needs neither.
"""

from __future__ import annotations

from typing import Any

SENTENCE_ENDS = (".", "!", "?")


def sentence_end_table(tokenizer: Any, device: Any) -> Any:
    """A boolean tensor over the vocabulary: does this token's text end a sentence?"""
    import torch

    table = torch.zeros(len(tokenizer), dtype=torch.bool)
    # decode only the few tokens that contain a full stop, ! or ? at all
    pieces = tokenizer.convert_ids_to_tokens(range(len(tokenizer)))
    ids = [i for i, piece in enumerate(pieces) if piece and any(c in piece for c in SENTENCE_ENDS)]
    for i, text in zip(ids, tokenizer.batch_decode([[i] for i in ids]), strict=True):
        table[i] = text.rstrip().endswith(SENTENCE_ENDS)
    return table.to(device)


def answer_pipeline(model: Any, tokenizer: Any, max_new_tokens: int, min_tokens: int) -> Any:
    """A ``text-generation`` pipeline whose every call also stops at a sentence end."""
    from transformers import StoppingCriteria, StoppingCriteriaList, TextGenerationPipeline

    table = sentence_end_table(tokenizer, model.device)

    class SentenceEnd(StoppingCriteria):
        """Stop rows whose last token ends a sentence, once they have ``min_tokens`` new."""

        def __init__(self, prompt_length: int) -> None:
            self.prompt_length = prompt_length

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            long_enough = input_ids.shape[1] - self.prompt_length >= min_tokens
            # one table lookup on the device: no host round trip per token
            return table[input_ids[:, -1]] & long_enough

    base: Any = TextGenerationPipeline  # untyped upstream

    class AnswerPipeline(base):  # type: ignore[misc]
        def _forward(self, model_inputs: dict[str, Any], **generate_kwargs: Any) -> Any:
            # the prompt's length is known only here, per call (LangChain's streaming path
            # passes stopping criteria of its own; keep them)
            prompt_length = model_inputs["input_ids"].shape[1]
            criteria = StoppingCriteriaList(generate_kwargs.pop("stopping_criteria", None) or [])
            criteria.append(SentenceEnd(prompt_length))
            return super()._forward(model_inputs, stopping_criteria=criteria, **generate_kwargs)

    from transformers import pipeline

    return pipeline(
        "text-generation",
        model=model,
        tokenizer=tokenizer,
        pipeline_class=AnswerPipeline,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        return_full_text=False,
    )

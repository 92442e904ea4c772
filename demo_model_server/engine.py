"""The model behind the server: loading, prompts, ``generate()``, exact token counts, embeddings.

- Language model: a local Hugging Face folder (``MODEL_SERVER_MODEL_PATH``) or a GGUF file
  (``MODEL_SERVER_GGUF``, converted by transformers when the server starts), served under
  ``MODEL_SERVER_MODEL_NAME`` (default: the folder's or file's name).
- Embeddings: a sentence-transformers folder (``MODEL_SERVER_EMBEDDING_PATH``, served under
  ``MODEL_SERVER_EMBEDDING_NAME``, default its folder's name); without one, the language
  model's last hidden states, mean-pooled over the attention mask and L2-normalised (served
  under ``<model>-embeddings``).
- Token counts are exact: prompt tokens are the tokenized prompt, completion tokens are the
  new tokens ``generate()`` returned, up to and including the end-of-sequence token.
- Tools: when a request has ``tools`` and the chat template does not render them, they are
  described in a system message in the Hermes format (``<tools>...</tools>``), and a reply of
  the form ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` is parsed into tool
  calls, as real OpenAI-compatible servers do for Hermes-style models.

One model call runs at a time (a lock, held by the thread that generates): a small CPU
model gains nothing from running two.
Plain transformers and sentence-transformers code: nothing here knows it may be traced.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.S)
TOOLS_SYSTEM = (
    "You can call functions. The available functions are described in JSON inside "
    "<tools></tools>:\n<tools>\n{tools}\n</tools>\nTo call one, reply with "
    '<tool_call>{{"name": <function-name>, "arguments": <arguments-object>}}</tool_call>.'
)


class RequestError(ValueError):
    """A request this model cannot serve (the server answers 400)."""


@dataclass
class Generation:
    """One finished generation."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Params:
    """The sampling parameters of one request, as ``generate()`` takes them."""

    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    repetition_penalty: float | None = None

    def generate_kwargs(self) -> dict[str, Any]:
        sample = bool(self.temperature) and (self.temperature or 0) > 0
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_tokens, "do_sample": sample}
        if sample:
            kwargs["temperature"] = self.temperature
            if self.top_p is not None:
                kwargs["top_p"] = self.top_p
        else:  # greedy: drop the sampling defaults a model's generation config may carry
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if self.stop:
            kwargs["stop_strings"] = self.stop
        if self.repetition_penalty is not None:
            kwargs["repetition_penalty"] = self.repetition_penalty
        return kwargs


def _device() -> str:
    import torch

    wanted = os.environ.get("MODEL_SERVER_DEVICE", "auto")
    if wanted != "auto":
        return wanted
    return "cuda" if torch.cuda.is_available() else "cpu"


def _text(content: Any) -> str:
    """A message's content as one string (OpenAI content-part lists joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") for p in content if isinstance(p, Mapping)]
    return "".join(str(p) for p in parts)


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def parse_tool_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """(text without the tool calls, [{name, arguments (a JSON string)}]) of a reply."""
    calls: list[dict[str, Any]] = []
    for match in TOOL_CALL.finditer(text):
        try:
            body = json.loads(match.group(1))
        except ValueError:
            continue
        if isinstance(body, dict) and isinstance(body.get("name"), str):
            arguments = body.get("arguments", {})
            calls.append({"name": body["name"], "arguments": json.dumps(arguments)})
    if not calls:
        return text, []
    return TOOL_CALL.sub("", text).strip(), calls


def render_chat(tokenizer: Any, messages: Sequence[Mapping[str, Any]], tools: Any = None) -> str:
    """The prompt text ``tokenizer``'s chat template makes of OpenAI messages (and tools).

    A template that renders tools gets them as they are; for one that does not, they are
    described in a Hermes-style system message, and earlier tool calls are written into the
    assistant's text the way the model is asked to write them."""
    knows_tools = "tools" in (tokenizer.chat_template or "")
    converted: list[dict[str, Any]] = []
    for message in messages:
        item: dict[str, Any] = {"role": message["role"], "content": _text(message.get("content"))}
        calls = message.get("tool_calls") or []
        if calls and knows_tools:
            item["tool_calls"] = [
                {
                    "type": "function",
                    "function": {
                        **c["function"],
                        "arguments": _arguments(c["function"].get("arguments")),
                    },
                }
                for c in calls
            ]
        elif calls:
            item["content"] += "".join(_tool_call_text(c["function"]) for c in calls)
        converted.append(item)
    if tools and not knows_tools:
        system = TOOLS_SYSTEM.format(
            tools="\n".join(json.dumps(t.get("function", t)) for t in tools)
        )
        if converted and converted[0]["role"] == "system":
            converted[0] = {**converted[0], "content": f"{converted[0]['content']}\n\n{system}"}
        else:
            converted.insert(0, {"role": "system", "content": system})
    extra = {"tools": list(tools)} if tools and knows_tools else {}
    prompt: str = tokenizer.apply_chat_template(
        converted, add_generation_prompt=True, tokenize=False, **extra
    )
    return prompt


def _tool_call_text(function: Mapping[str, Any]) -> str:
    body = {"name": function["name"], "arguments": _arguments(function.get("arguments"))}
    return f"<tool_call>{json.dumps(body)}</tool_call>"


class Engine:
    """A loaded language model (and an embedding model) behind a lock."""

    def __init__(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = os.environ.get("MODEL_SERVER_MODEL_PATH")
        gguf = os.environ.get("MODEL_SERVER_GGUF")
        if gguf:
            path = Path(gguf)
            source: dict[str, Any] = {"gguf_file": path.name}
            where, default_name = str(path.parent), path.stem.split(".")[0]
        elif folder:
            source, where, default_name = {}, folder, Path(folder).resolve().name
        else:
            raise RuntimeError("set MODEL_SERVER_MODEL_PATH (a folder) or MODEL_SERVER_GGUF")
        self.name = os.environ.get("MODEL_SERVER_MODEL_NAME") or default_name
        self.device = _device()
        self.tokenizer = AutoTokenizer.from_pretrained(where, **source)
        self.model = AutoModelForCausalLM.from_pretrained(where, **source).to(self.device).eval()
        if self.tokenizer.pad_token is None:  # batched embeddings pad; generation never does
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_tokens = int(os.environ.get("MODEL_SERVER_MAX_TOKENS") or 256)
        self._lock = threading.Lock()
        self._embedder: Any = None
        embedding_path = os.environ.get("MODEL_SERVER_EMBEDDING_PATH")
        if embedding_path:
            from sentence_transformers import SentenceTransformer

            self._embedder = SentenceTransformer(embedding_path, device=self.device)
            folder = Path(embedding_path)
            self.embedding_name = os.environ.get("MODEL_SERVER_EMBEDDING_NAME") or (
                folder.parent.name if folder.name == "model" else folder.name
            )
        else:
            self.embedding_name = f"{self.name}-embeddings"

    # -- prompts ------------------------------------------------------------------------------
    def chat_prompt(self, messages: Sequence[Mapping[str, Any]], tools: Any = None) -> str:
        """The prompt text the chat template makes of OpenAI messages (and tools)."""
        return render_chat(self.tokenizer, messages, tools)

    # -- generation ---------------------------------------------------------------------------
    def _inputs(self, prompt: str, params: Params) -> Any:
        # the chat template already holds the special tokens the model expects
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        config = self.model.config
        context = getattr(config, "max_position_embeddings", None) or getattr(
            config, "n_positions", None
        )
        wanted = int(inputs["input_ids"].shape[1]) + params.max_tokens
        if context and wanted > context:
            raise RequestError(
                f"This model's maximum context length is {context} tokens; the prompt and "
                f"max_tokens need {wanted}"
            )
        return inputs.to(self.device)

    def _finish(self, sequences: Any, prompt_tokens: int, params: Params, tools: Any) -> Generation:
        """The generation in ``sequences``: its new tokens up to and including the first
        end-of-sequence token, decoded, cut at a stop string, tool calls parsed."""
        ids = sequences[0, prompt_tokens:].tolist()
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        ended = next((n + 1 for n, token in enumerate(ids) if token in eos_ids), None)
        if ended is not None:
            ids, reason = ids[:ended], "stop"
        else:
            reason = "length" if len(ids) >= params.max_tokens else "stop"
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        for stop in params.stop:
            if stop in text:
                text, reason = text[: text.index(stop)], "stop"
        calls: list[dict[str, Any]] = []
        if tools:
            text, calls = parse_tool_calls(text)
            if calls:
                reason = "tool_calls"
        return Generation(text, prompt_tokens, len(ids), reason, calls)

    def _seed(self, params: Params) -> None:
        if params.seed is not None:
            import torch

            torch.manual_seed(params.seed)

    def generate(self, prompt: str, params: Params, tools: Any = None) -> Generation:
        """One completion of ``prompt``."""
        inputs = self._inputs(prompt, params)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        with self._lock:
            self._seed(params)
            output = self.model.generate(
                **inputs, **params.generate_kwargs(), tokenizer=self.tokenizer
            )
        return self._finish(output, prompt_tokens, params, tools)

    def stream(self, prompt: str, params: Params, tools: Any = None) -> Iterator[str | Generation]:
        """The text pieces of one completion as they are generated, then the ``Generation``.

        ``generate()`` runs in a thread and hands pieces over through a
        ``TextIteratorStreamer``; the counts come from the ids it returns. A consumer that
        stops early (the client went away) stops the generation too. A request the model
        cannot serve raises ``RequestError`` here, before the first piece."""
        return self._stream(self._inputs(prompt, params), params, tools)

    def _stream(self, inputs: Any, params: Params, tools: Any) -> Iterator[str | Generation]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                import torch

                stop = cancelled.is_set()
                return torch.full((input_ids.shape[0],), stop, device=input_ids.device)

        cancelled = threading.Event()
        prompt_tokens = int(inputs["input_ids"].shape[1])
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
        )
        kwargs = {
            **inputs,
            **params.generate_kwargs(),
            "tokenizer": self.tokenizer,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([Cancelled()]),
        }
        result: dict[str, Any] = {}

        def run() -> None:
            # the generating thread holds the lock, not the consumer: a consumer left
            # suspended (a client gone mid-stream) cannot keep the model from others
            with self._lock:
                self._seed(params)
                try:
                    result["output"] = self.model.generate(**kwargs)
                except Exception as exc:  # handed to the request below
                    result["error"] = exc
                    streamer.end()

        worker = threading.Thread(target=run, name="generate", daemon=True)
        worker.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
        finally:
            cancelled.set()  # a no-op once generation has ended by itself
            worker.join()
        if "error" in result:
            raise result["error"]
        yield self._finish(result["output"], prompt_tokens, params, tools)

    # -- embeddings ---------------------------------------------------------------------------
    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """(one vector per text, exact input tokens over all texts)."""
        import torch

        with self._lock:
            if self._embedder is not None:
                features = self._embedder.tokenize(texts)
                tokens = int(features["attention_mask"].sum())
                vectors = self._embedder.encode(texts, normalize_embeddings=True)
                return [v.tolist() for v in vectors], tokens
            batch = self.tokenizer(
                texts, return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self.device)
            with torch.no_grad():
                hidden = self.model(**batch, output_hidden_states=True).hidden_states[-1]
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            return pooled.float().cpu().tolist(), int(batch["attention_mask"].sum())

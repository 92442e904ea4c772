"""Facts about a transformers call: model name, request parameters, placement, token counts.

Stateless helpers plus two small, bounded memories:
- which tokenizer belongs to which ``name_or_path`` (filled by ``from_pretrained``), so a bare
  ``generate()`` can decode its text when content capture is on;
- where a chat template was applied and not yet consumed by a ``generate()`` (keyed by trace
  id, else thread), so that call reads as ``chat`` instead of ``text_completion``.
Token counts come from the tensors only: input = attention-mask ones (else non-padding ids),
output = new ids of each row up to the step its stopping criteria said it was done (eos, a
stop string, any criterion), else up to and including its first end-of-sequence id.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace

from llm_instrument.agent.guard import guard
from llm_instrument.genai import names

PROVIDER = "huggingface"
_REQUEST_KEYS = ("max_new_tokens", "max_length", "temperature", "top_p", "top_k")
_MODE_KEYS = ("do_sample", "num_beams", "num_return_sequences")
_SAMPLING_ONLY = frozenset(("temperature", "top_p", "top_k"))
_MAX_REMEMBERED = 256

_lock = threading.Lock()
_tokenizers: dict[str, weakref.ref[Any]] = {}
_chat_marks: OrderedDict[object, None] = OrderedDict()


def model_name(model: Any) -> str | None:
    """The model's hub id or local path (the core shortens paths), else its architecture."""
    config = getattr(model, "config", None)
    raw = getattr(config, "name_or_path", None) or getattr(config, "_name_or_path", None)
    if raw:
        return str(raw)
    return getattr(config, "model_type", None) or type(model).__name__


def placement(model: Any) -> dict[str, Any]:
    """Device and dtype of a torch module, as attributes."""
    found: dict[str, Any] = {}
    device = getattr(model, "device", None)
    if device is not None:
        found[names.MODEL_DEVICE] = str(device)
    dtype = getattr(model, "dtype", None)
    if dtype is not None:
        found[names.MODEL_DTYPE] = str(dtype).removeprefix("torch.")
    return found


def generation_request(model: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Effective request parameters: call kwargs over the (given or model's) generation config."""
    config = kwargs.get("generation_config") or getattr(model, "generation_config", None)
    request: dict[str, Any] = {}
    for key in (*_MODE_KEYS, *_REQUEST_KEYS):
        value = kwargs.get(key)
        if value is None:
            value = getattr(config, key, None)
        if value is not None:
            request[key] = value
    if "max_new_tokens" in request:
        request.pop("max_length", None)
    elif "max_length" in request:
        request["max_tokens"] = request.pop("max_length")
    if not request.get("do_sample"):
        # greedy and beam search ignore the sampling knobs: do not report them as used
        for key in _SAMPLING_ONLY:
            request.pop(key, None)
    return request


def new_token_cap(request: Mapping[str, Any], prompt_len: int) -> int | None:
    """How many new tokens the length limit allows (``max_new_tokens``, else ``max_length``
    less the prompt), from ``generation_request``'s result."""
    if "max_new_tokens" in request:
        return int(request["max_new_tokens"])
    if "max_tokens" in request:
        return int(request["max_tokens"]) - prompt_len
    return None


def special_ids(model: Any, kwargs: Mapping[str, Any]) -> tuple[list[int], int | None]:
    """(end-of-sequence ids, padding id) from the call or the generation config."""
    config = kwargs.get("generation_config") or getattr(model, "generation_config", None)
    eos = kwargs.get("eos_token_id")
    if eos is None:
        eos = getattr(config, "eos_token_id", None)
    pad = kwargs.get("pad_token_id")
    if pad is None:
        pad = getattr(config, "pad_token_id", None)
    if eos is None:
        eos_ids: list[int] = []
    elif isinstance(eos, int):
        eos_ids = [eos]
    else:
        eos_ids = [int(i) for i in (eos.tolist() if hasattr(eos, "tolist") else eos)]
    if pad is not None and not isinstance(pad, int):
        pad = int(pad)
    if pad is None and eos_ids:
        pad = eos_ids[0]  # transformers pads finished rows with the first eos id then
    return eos_ids, pad


def input_token_count(input_ids: Any, attention_mask: Any, pad: int | None) -> Any:
    """Real prompt tokens over the batch, as a 0-d tensor on the inputs' device (no sync)."""
    if attention_mask is not None:
        return attention_mask.sum()
    if pad is not None:
        return (input_ids != pad).sum()
    import torch

    # torch.full is a fill on the device; new_tensor(...) would be a blocking host copy
    return torch.full((), input_ids.numel(), dtype=torch.long, device=input_ids.device)


def output_token_rows(
    new_ids: Any, eos_ids: list[int], done: Any = None, cap: int | None = None
) -> tuple[Any, Any]:
    """Per returned sequence: (real tokens generated, stopped on its own rather than by the
    length cap?), as tensors on the ids' device.

    ``done`` (steps x rows, bool): what the stopping criteria said after each step (see
    ``_generate``). A row's real tokens end at the first step it was done: eos, a stop
    string, any criterion; what follows is padding (which may be the eos id itself). A row
    done at the last step stopped on its own if its last token is an eos or the length cap
    (``cap`` new tokens) was not reached. Without ``done`` (beam search, an old version):
    tokens up to and including the first eos id."""
    import torch

    rows, length = new_ids.shape[0], new_ids.shape[1]
    if length == 0:
        full = torch.zeros(rows, dtype=torch.long, device=new_ids.device)
        return full, torch.zeros(rows, dtype=torch.bool, device=new_ids.device)
    # compare with Python scalars (kernel arguments): a tensor of ids built here would be a
    # host-to-device copy, which synchronises
    is_end = torch.zeros_like(new_ids, dtype=torch.bool)
    for eos in eos_ids:
        is_end |= new_ids == eos
    if done is not None and tuple(done.shape) == (length, rows):
        ever = done.any(dim=0)
        first = done.to(torch.int32).argmax(dim=0).to(torch.long)
        counts = torch.where(ever, first + 1, torch.full_like(first, length))
        last_is_end = is_end.gather(1, (counts - 1).unsqueeze(1)).squeeze(1)
        if cap is not None and length < cap:
            return counts, ever  # the cap did not end the call: every done row stopped
        return counts, ever & ((counts < length) | last_is_end)
    ended = is_end.any(dim=1)
    first_end = is_end.to(torch.int32).argmax(dim=1).to(torch.long)
    counts = torch.where(ended, first_end + 1, torch.full_like(first_end, length))
    return counts, ended


def finish_reasons(stopped: list[bool]) -> list[str]:
    return ["stop" if flag else "length" for flag in stopped]


# -- tokenizers by model path, chat-template marks -------------------------------------------


def remember_tokenizer(tokenizer: Any) -> None:
    path = getattr(tokenizer, "name_or_path", None)
    if not path:
        return
    with _lock:
        _tokenizers[str(path)] = weakref.ref(tokenizer)
        while len(_tokenizers) > _MAX_REMEMBERED:
            _tokenizers.pop(next(iter(_tokenizers)))


def tokenizer_for(model: Any) -> Any:
    config = getattr(model, "config", None)
    path = getattr(config, "name_or_path", None) or getattr(config, "_name_or_path", None)
    ref = _tokenizers.get(str(path)) if path else None
    return ref() if ref is not None else None


def _mark_key() -> object:
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        return ("trace", span_context.trace_id)
    return ("thread", threading.get_ident())


def mark_chat_template() -> None:
    key = _mark_key()
    with _lock:
        _chat_marks[key] = None
        _chat_marks.move_to_end(key)
        while len(_chat_marks) > _MAX_REMEMBERED:
            _chat_marks.popitem(last=False)


def has_chat_mark() -> bool:
    """Whether a chat template was applied for this call, leaving the mark in place."""
    return bool(_chat_marks) and _mark_key() in _chat_marks


def take_chat_mark() -> bool:
    """Whether a chat template was applied for this call (and forget it)."""
    if not _chat_marks:
        return False
    key = _mark_key()
    with _lock:
        return _chat_marks.pop(key, False) is None


def decode(tokenizer: Any, rows: Any) -> list[str]:
    return list(tokenizer.batch_decode(rows, skip_special_tokens=True))


def decode_rendered(tokenizer: Any, rows: Any, attention_mask: Any) -> list[str]:
    """Prompts rendered by a chat template, as the model saw them: the template's special
    tokens (``<|im_start|>``...) kept, the batch's padding left out."""
    masks = attention_mask.tolist() if attention_mask is not None else None
    pad = getattr(tokenizer, "pad_token_id", None)
    texts = []
    for index, row in enumerate(rows.tolist()):
        keep = masks[index] if masks is not None else [token != pad for token in row]
        ids = [token for token, kept in zip(row, keep, strict=False) if kept]
        texts.append(str(tokenizer.decode(ids, skip_special_tokens=False)))
    return texts


def wrap_from_pretrained(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Remember the loaded tokenizer under its path (for decoding a bare ``generate()``)."""
    tokenizer = wrapped(*args, **kwargs)
    with guard("transformers: remembering a tokenizer"):
        remember_tokenizer(tokenizer)
    return tokenizer


def wrap_apply_chat_template(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Note that the next ``generate()`` of this trace (or thread) is a chat."""
    result = wrapped(*args, **kwargs)
    with guard("transformers: noting a chat template"):
        mark_chat_template()
        remember_tokenizer(instance)
    return result

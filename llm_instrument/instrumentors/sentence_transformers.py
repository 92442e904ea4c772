"""sentence-transformers: ``SentenceTransformer.encode`` as an EMBEDDING span.

Wrapped when ``sentence_transformers.sentence_transformer.model`` is first imported:
``SentenceTransformer.encode`` (``encode_query``/``encode_document`` go through it) opens an
``embeddings`` span (provider ``huggingface``, model, input count as batch size, device,
dtype); ``BaseModel.preprocess`` (``sentence_transformers.base.model``), called per batch
inside ``encode``, adds the batch's attention-mask ones to the input token count. The mask is
still on the host there, so counting adds no device work. The dimension count comes from the
returned array's shape. Input text is recorded when content capture is on. Versions ``>=3``:
before the 5.x layout, ``sentence_transformers.SentenceTransformer`` is hooked instead and
``SentenceTransformer.tokenize`` counts the tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import context

from llm_instrument.agent.guard import guard
from llm_instrument.agent.plugin import Plugin
from llm_instrument.agent.wrapping import Wrap, Wrapping

if TYPE_CHECKING:
    from llm_instrument.genai import Handle

_SCOPE_KEY = context.create_key("llm_instrument.sentence_transformers.encode")


class _Tokens:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


def _begin_encode(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Handle:
    # imported here, not at the top: the registry imports this module in every traced
    # process, and the GenAI core is only needed once an app encodes something
    from llm_instrument import genai
    from llm_instrument.genai import names
    from llm_instrument.instrumentors.transformers import _extract
    from llm_instrument.instrumentors.transformers import _gpu_metrics as gpu_metrics

    inputs = args[0] if args else kwargs.get("inputs", kwargs.get("sentences"))
    texts: list[Any] | None = None
    if isinstance(inputs, str):
        texts = [inputs]
    elif isinstance(inputs, list | tuple):
        texts = list(inputs)
    attributes = _extract.placement(model)
    if str(attributes.get(names.MODEL_DEVICE, "")).startswith("cuda"):
        gpu_metrics.ensure_started()
    if texts is not None:
        attributes[names.REQUEST_BATCH_SIZE] = len(texts)
    first = model[0] if len(model) else None
    auto_model = getattr(first, "auto_model", getattr(first, "model", None))
    return genai.start_embedding(
        provider=_extract.PROVIDER,
        model=_extract.model_name(auto_model) if auto_model is not None else None,
        inputs=texts,
        attributes=attributes,
    )


def _wrap_encode(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """One EMBEDDING span per ``encode()``; nested encodes are not traced twice."""
    if context.get_value(_SCOPE_KEY) is not None:
        return wrapped(*args, **kwargs)
    handle = None
    tokens = _Tokens()
    with guard("sentence_transformers: before encode"):
        handle = _begin_encode(instance, args, kwargs)
    if handle is None:
        return wrapped(*args, **kwargs)
    token = context.attach(context.set_value(_SCOPE_KEY, tokens, handle.context))
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        handle.fail(exc)
        raise
    finally:
        context.detach(token)
    with guard("sentence_transformers: after encode"):
        from llm_instrument import genai
        from llm_instrument.genai import names

        shape = getattr(result, "shape", None)
        if shape is None and isinstance(result, list) and result:
            shape = getattr(result[0], "shape", None)
        if tokens.count:
            handle.set_usage(genai.Usage(input_tokens=tokens.count))
        if shape:
            handle.set_attributes({names.EMBEDDINGS_DIMENSION_COUNT: int(shape[-1])})
    handle.finish()
    return result


def _wrap_preprocess(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Count the batch's real tokens (attention-mask ones, still on the host)."""
    features = wrapped(*args, **kwargs)
    tokens = context.get_value(_SCOPE_KEY)
    if isinstance(tokens, _Tokens):
        with guard("sentence_transformers: counting tokens"):
            mask = features.get("attention_mask") if hasattr(features, "get") else None
            if mask is not None and mask.device.type == "cpu":
                tokens.count += int(mask.sum())
    return features


_MODEL = "sentence_transformers.sentence_transformer.model"
_LEGACY = "sentence_transformers.SentenceTransformer"
_WRAPPING = Wrapping(
    (
        Wrap(_MODEL, "SentenceTransformer.encode", _wrap_encode, optional=True),
        Wrap("sentence_transformers.base.model", "BaseModel.preprocess", _wrap_preprocess),
        # before the 5.x package layout (in 6.x this name is a deprecated alias of the module
        # above, so the hook, if it fires, receives that module and patches nothing twice)
        Wrap(_LEGACY, "SentenceTransformer.encode", _wrap_encode, optional=True),
        Wrap(_LEGACY, "SentenceTransformer.tokenize", _wrap_preprocess, optional=True),
    )
)

patch = _WRAPPING.patch
unpatch = _WRAPPING.unpatch

PLUGIN = Plugin.from_wrapping(
    "sentence_transformers",
    _WRAPPING,
    distribution="sentence-transformers",
    supported=">=3,<7",
    description="SentenceTransformer.encode as embedding spans with exact input tokens",
)

"""The model a chat model run calls, when its callback arguments do not say.

A run's start callback names the model through its invocation parameters or LangSmith's
``ls_model_name``, which read ``model``/``model_name``; a class that keeps it elsewhere
(``ChatHuggingFace.model_id``) reaches the callbacks unnamed, and its span would have no
``gen_ai.request.model``. ``BaseChatModel._get_invocation_params`` runs on the model object
just before the start callback, in the same context, and its result is the very dict the
callback receives as ``invocation_params``: its wrapper notes the object's model next to
that dict, and the callback takes the note only for that dict (``noted_model``). The
parameters themselves are never changed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from llm_instrument.agent.guard import guarded
from llm_instrument.instrumentors.langchain import _extract

_noted: ContextVar[tuple[Any, str] | None] = ContextVar(
    "llm_instrument_langchain_model", default=None
)


@guarded("langchain: noting a model's name")
def _note(instance: Any, params: Any) -> None:
    if isinstance(params, dict) and _extract.model_in(params) is None:
        model = _extract.model_of(instance)
        _noted.set((params, model) if model else None)


def _wrap_get_invocation_params(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Note the model object's own model name next to the parameters it returns."""
    params = wrapped(*args, **kwargs)
    _note(instance, params)
    return params


def noted_model(params: Any) -> str | None:
    """The model noted for exactly these invocation parameters (read once)."""
    noted = _noted.get()
    if noted is None or noted[0] is not params:
        return None
    _noted.set(None)
    return noted[1]

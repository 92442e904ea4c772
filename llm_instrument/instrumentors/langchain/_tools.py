"""Tool errors that LangChain handles itself, which would otherwise look like successes.

With ``handle_tool_error`` (or ``handle_validation_error``) set, ``BaseTool.run`` catches the
exception, hands its text to the model as the tool's result and fires ``on_tool_end``, not
``on_tool_error``. ``tools.base._handle_tool_error``/``_handle_validation_error`` run inside
that ``except`` block, in the tool run's own context, just before ``on_tool_end``: their
wrapper notes the exception and the end callback takes it (``take_handled``), so the tool
span ends ERROR with ``error.type`` while the app gets its handled result unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

_handled: ContextVar[BaseException | None] = ContextVar(
    "llm_instrument_langchain_handled_tool_error", default=None
)


def _wrap_handle_error(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Note the exception a tool run handled, for its ``on_tool_end``."""
    result = wrapped(*args, **kwargs)
    if args and isinstance(args[0], BaseException):
        _handled.set(args[0])
    return result


def take_handled() -> BaseException | None:
    """The exception the tool run ending now handled, if any (read once)."""
    exc = _handled.get()
    if exc is not None:
        _handled.set(None)
    return exc

"""LangGraph: which compiled graph a run is, so that a graph that is an agent becomes one.

A graph's own run reaches the callbacks as a bare ``on_chain_start(None, input, name=...)``:
no class, no nodes. So ``Pregel.stream``/``astream`` (which ``invoke``/``ainvoke`` run) are
wrapped: the graph is noted in a ``ContextVar`` while the stream's first step runs, and the
first chain start of that step, the graph's own run (LangGraph starts it before anything
else), claims it (``claim``). A nested graph's stream notes its own graph.

A graph is an agent (``is_agent``) when it was given a name (compiled with ``name=``, not
LangGraph's default), has a tool node (``ToolNode``, as ``create_react_agent`` and
``langchain.agents.create_agent`` build), or has a node made by one of those two factories
(an agent without tools). Any other graph is a workflow. Only the first step of a stream
is wrapped; the rest passes through ``yield from`` untouched.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import Any

DEFAULT_NAME = "LangGraph"
_FACTORY_MODULES = frozenset(("langgraph.prebuilt.chat_agent_executor", "langchain.agents.factory"))


class _Pending:
    __slots__ = ("claimed", "graph")

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.claimed = False


_pending: ContextVar[_Pending | None] = ContextVar("llm_instrument_langgraph", default=None)


def claim() -> Any:
    """The graph whose stream is starting, for the first chain run of its first step."""
    pending = _pending.get()
    if pending is None or pending.claimed:
        return None
    pending.claimed = True
    return pending.graph


def _is_agent_node(node: Any) -> bool:
    bound = getattr(node, "bound", None)
    if any(cls.__name__ == "ToolNode" for cls in type(bound).__mro__):
        return True
    func = getattr(bound, "func", None) or getattr(bound, "afunc", None)
    return getattr(func, "__module__", None) in _FACTORY_MODULES


def is_agent(graph: Any) -> bool:
    """A named graph, a graph with a tool node, or one built by an agent factory."""
    name = getattr(graph, "name", None)
    if isinstance(name, str) and name and name != DEFAULT_NAME:
        return True
    nodes = getattr(graph, "nodes", None)
    return isinstance(nodes, dict) and any(_is_agent_node(n) for n in nodes.values())


def _noted_stream(graph: Any, stream: Iterator[Any]) -> Iterator[Any]:
    token = _pending.set(_Pending(graph))
    try:
        first = next(stream)
    except StopIteration:
        return
    finally:
        _pending.reset(token)
    yield first
    yield from stream


async def _noted_astream(graph: Any, stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
    try:
        token = _pending.set(_Pending(graph))
        try:
            first = await stream.__anext__()
        except StopAsyncIteration:
            return
        finally:
            _pending.reset(token)
        yield first
        async for item in stream:
            yield item
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _wrap_stream(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The graph is known to the callbacks while its stream starts."""
    stream = wrapped(*args, **kwargs)
    return _noted_stream(instance, stream) if inspect.isgenerator(stream) else stream


def _wrap_astream(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Async twin of ``_wrap_stream``."""
    stream = wrapped(*args, **kwargs)
    return _noted_astream(instance, stream) if inspect.isasyncgen(stream) else stream

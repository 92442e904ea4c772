"""A user's streamer, held at its end: ``put`` passes through, ``end`` waits for the span.

LangChain's ``HuggingFacePipeline.stream`` ends its own span when the streamer ends, so a
``generate()`` (or a pipeline) whose usage is not yet on its span would lose it to the
outer span. The proxy forwards every ``put`` and keeps ``end`` until the wrapper
``release``s it, once its span is finished.
"""

from __future__ import annotations

from typing import Any


class StreamerProxy:
    """Forwards ``put``; holds ``end`` until the span is finished (see module docstring)."""

    __slots__ = ("_end_requested", "_released", "_streamer")

    def __init__(self, streamer: Any) -> None:
        self._streamer = streamer
        self._end_requested = False
        self._released = False

    def put(self, value: Any) -> None:
        self._streamer.put(value)

    def end(self) -> None:
        self._end_requested = True

    def release(self) -> None:
        if self._end_requested and not self._released:
            self._released = True
            self._streamer.end()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._streamer, name)


def proxy_streamer(kwargs: dict[str, Any]) -> StreamerProxy | None:
    """Put a proxy in place of the call's streamer, unless there is none or it is one."""
    streamer = kwargs.get("streamer")
    if streamer is None or isinstance(streamer, StreamerProxy):
        return None
    proxy = kwargs["streamer"] = StreamerProxy(streamer)
    return proxy

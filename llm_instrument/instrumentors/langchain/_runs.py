"""The bounded ``run_id`` map and the activation slot shared by the callbacks and wrappers.

``Runs`` maps a LangChain run to its handle (None for a folded chain step), to the
context its children start under, and to whether it is an agent graph (whose node runs
are folded). Entries leave on end and error; past ``cap`` open runs
(runs whose end callback never came) the oldest is ended and dropped, so the map cannot
grow without bound.

``SLOT`` lets a wrapper around a public entry point (a retriever's ``invoke``, a model's
``stream``) make the span that the next ``on_*_start`` callback opens current for the rest
of that call: the callback attaches the span's context and leaves the token in the slot,
and the wrapper detaches it when the call (or stream step) returns, in the same context.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context

from llm_instrument import genai

DEFAULT_CAP = 10_000


class Slot:
    """One open wrapped call: which kind of run it expects, the context the run's span made
    current (and its token), and for a retriever the scores its vector store returned."""

    __slots__ = ("context", "kind", "scores", "token")

    def __init__(self, kind: str, ctx: otel_context.Context | None = None) -> None:
        self.kind = kind
        self.token: object | None = None
        self.context = ctx
        self.scores: dict[int, tuple[Any, float]] | None = None


SLOT: ContextVar[Slot | None] = ContextVar("llm_instrument_langchain_slot", default=None)


class Runs:
    """run_id -> (handle or None, children's context, agent graph?), bounded."""

    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        self._cap = cap
        self._lock = threading.Lock()
        self._runs: dict[Any, tuple[genai.Handle | None, otel_context.Context, bool]] = {}

    def __len__(self) -> int:
        return len(self._runs)

    def add(
        self,
        run_id: Any,
        handle: genai.Handle | None,
        ctx: otel_context.Context,
        agent_graph: bool = False,
    ) -> None:
        # a dict's item set and pop are atomic: the lock is needed only to evict, where
        # two threads must not pick the same oldest entry (once per run on the hot path
        # it cost more than the rest of a folded run's bookkeeping)
        self._runs[run_id] = (handle, ctx, agent_graph)
        if len(self._runs) <= self._cap:
            return
        with self._lock:
            try:
                oldest = next(iter(self._runs))
            except (StopIteration, RuntimeError):  # emptied or resized by another thread
                return
            evicted = self._runs.pop(oldest, None)
        if evicted is not None and evicted[0] is not None:
            evicted[0].finish()

    def context(self, run_id: Any) -> otel_context.Context | None:
        found = self._runs.get(run_id) if run_id is not None else None
        return found[1] if found is not None else None

    def is_agent_graph(self, run_id: Any) -> bool:
        found = self._runs.get(run_id) if run_id is not None else None
        return found is not None and found[2]

    def handle(self, run_id: Any) -> genai.Handle | None:
        found = self._runs.get(run_id)
        return found[0] if found is not None else None

    def pop(self, run_id: Any) -> genai.Handle | None:
        found = self._runs.pop(run_id, None)
        return found[0] if found is not None else None

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()


runs = Runs()

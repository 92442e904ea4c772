"""CUDA facts for one call, gathered without a synchronisation or a blocking copy.

- Peak memory: the caching allocator's host-side counters (``reset_peak_memory_stats`` before,
  ``max_memory_allocated`` after); neither waits for the device. The reset changes what the
  application itself would read from ``max_memory_allocated``; switch it off with
  ``LLM_INSTRUMENT_TRANSFORMERS_GPU_PEAK_MEMORY=false``.
- Timing: CUDA events recorded at the start of the call and when the first new token exists,
  read with ``elapsed_time`` only once ``query()`` says both completed.
- Token counts: computed on the device after ``generate`` returns, then one ``non_blocking``
  copy of a few integers into pinned host memory, followed by an event. The span is finished
  when that event has completed: at once if it already has, else by one daemon thread that
  polls ``Event.query()`` (never ``synchronize``), or just before an enclosing model span
  (a pipeline's, LangChain's) ends, whichever sees it first. The application never waits.
  This copy is the one device-to-host transfer the instrumentation adds (8 x (1 + 2 x rows)
  bytes, asynchronous); ``bench/gpu_check.py`` verifies it and the absence of any sync.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from llm_instrument.agent.guard import guard

_names: dict[int, str] = {}


def _torch() -> Any:
    """torch, imported when a CUDA call needs it (typed loosely: torch.cuda is untyped)."""
    import torch

    return torch


class CudaProbe:
    """Start event, device index and peak-memory reset for one call on a CUDA device."""

    __slots__ = ("index", "reset_peak", "start")

    def __init__(self, device: Any, reset_peak: bool) -> None:
        torch = _torch()
        self.index = device.index if device.index is not None else torch.cuda.current_device()
        self.reset_peak = reset_peak
        if reset_peak:
            torch.cuda.reset_peak_memory_stats(self.index)
        self.start = new_event(self.index)

    def device_name(self) -> str:
        name = _names.get(self.index)
        if name is None:
            torch = _torch()
            name = _names[self.index] = torch.cuda.get_device_name(self.index)
        return name

    def peak_bytes(self) -> int | None:
        if not self.reset_peak:
            return None
        torch = _torch()
        return int(torch.cuda.max_memory_allocated(self.index))

    def elapsed_ns(self, event: Any) -> int | None:
        """Device time from the call's start to ``event``, if both have completed."""
        if event is None or not (self.start.query() and event.query()):
            return None
        return int(self.start.elapsed_time(event) * 1e6)


def new_event(device: Any) -> Any:
    """A timing event recorded now on ``device``'s current stream (not a synchronisation)."""
    torch = _torch()
    event = torch.cuda.Event(enable_timing=True)
    event.record(torch.cuda.current_stream(device))
    return event


class Readback:
    """A few device integers copied to pinned host memory without blocking."""

    __slots__ = ("event", "host")

    def __init__(self, values: Any) -> None:
        torch = _torch()
        self.host = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
        self.host.copy_(values, non_blocking=True)
        self.event = torch.cuda.Event()
        self.event.record(torch.cuda.current_stream(values.device))

    def ready(self) -> bool:
        return bool(self.event.query())

    def values(self) -> list[int]:
        return [int(v) for v in self.host.tolist()]


class _Finisher:
    """One daemon thread completing readbacks that were not ready when the call returned."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._pending: list[tuple[Readback, Callable[[], None]]] = []
        self._thread: threading.Thread | None = None

    def submit(self, readback: Readback, done: Callable[[], None]) -> None:
        with self._lock:
            self._pending.append((readback, done))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="llm-instrument-cuda-readback", daemon=True
                )
                self._thread.start()
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._lock.wait()
                pending, self._pending = self._pending, []
            waiting = []
            for readback, done in pending:
                ready = False
                with guard("transformers: polling a CUDA readback"):
                    ready = readback.ready()
                if ready:
                    with guard("transformers: finishing a CUDA call"):
                        done()
                else:
                    waiting.append((readback, done))
            if waiting:
                with self._lock:
                    self._pending[:0] = waiting
                time.sleep(0.0005)


FINISHER = _Finisher()

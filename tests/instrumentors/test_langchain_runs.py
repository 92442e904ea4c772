"""The run map stays bounded and consistent when many threads add and end runs at once
(its adds and pops take no lock; only eviction does)."""

from __future__ import annotations

import sys
import threading
from typing import Any

from opentelemetry import context as otel_context

from llm_instrument.instrumentors.langchain._runs import Runs


class _Handle:
    def __init__(self) -> None:
        self.finished = 0

    def finish(self) -> None:
        self.finished += 1


def test_concurrent_adds_and_pops_stay_bounded_and_end_each_evicted_run_once() -> None:
    cap, threads, per_thread = 50, 8, 3000
    runs = Runs(cap)
    ctx = otel_context.get_current()
    handles: list[_Handle] = []
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(worker: int) -> None:
        mine = [_Handle() for _ in range(per_thread)]
        handles.extend(mine)
        start.wait()
        try:
            for index, handle in enumerate(mine):
                run_id: Any = (worker, index)
                runs.add(run_id, handle, ctx)  # type: ignore[arg-type]
                if index % 3:  # two runs in three end; the rest stay open and are evicted
                    runs.pop(run_id)
        except BaseException as exc:  # any error fails the test
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(runs) <= cap
    open_runs = threads * per_thread // 3
    evicted = sum(h.finished for h in handles)
    assert all(h.finished <= 1 for h in handles)
    # under this pressure a run can be evicted before its own thread ends it: never twice
    assert open_runs - cap <= evicted <= threads * per_thread

"""Delivering what is queued when the process stops, within one budget.

Every way a traced process ends runs ``run_exit`` once (per process id):

- a normal exit and ``sys.exit`` (``atexit``): scripts, gunicorn master and sync workers;
- SIGTERM left at its default (a plain script, a multiprocessing child): our handler
  delivers, then dies by the signal as the default would, so the exit status is unchanged;
- uvicorn (and ``--workers``): it handles SIGTERM itself, then raises it again with the
  handler it found, which is ours;
- gunicorn's ``UvicornWorker`` resets SIGTERM to the default after the fork and uvicorn then
  re-raises into it: a post-import hook on ``uvicorn.workers``/``uvicorn_worker`` puts our
  handler back after ``init_signals``;
- multiprocessing children started by fork end in ``os._exit`` (no ``atexit``): a hook on
  ``multiprocessing.process`` runs the exit after the child's target returned.

The budget (``LLM_INSTRUMENT_EXIT_TIMEOUT``, 5 s) covers all tasks together: each registered
task (span drain, metric flush) runs in its own thread with the same deadline, exporters see
``exit_deadline()`` and try once, never past it; when it is reached, ``abort`` hooks cut what
is still in flight and the summary line counts it as not delivered.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from llm_instrument.agent import notices
from llm_instrument.agent.guard import guard

_logger = logging.getLogger(__name__)

Task = Callable[[float], None]
"""Called with the exit deadline (``time.monotonic()`` seconds)."""

_tasks: list[Task] = []
_aborts: list[Callable[[], None]] = []
_budget_s = 5.0
_deadline: float | None = None
_done_pid: int | None = None
_lock = threading.Lock()
exiting = threading.Event()
"""Set when the exit began: backoff sleeps wake up, the drain takes over."""

_GRACE_S = 0.3  # after an abort, time for the cut requests to be counted


def exit_deadline() -> float | None:
    """The exit's deadline once the exit began, else None."""
    return _deadline


def budget_s() -> float:
    return _budget_s


def configure(budget_s: float) -> None:
    global _budget_s
    _budget_s = budget_s


def register(task: Task, abort: Callable[[], None] | None = None) -> None:
    """Run ``task(deadline)`` at exit; ``abort()`` when the deadline passed with it running."""
    _tasks.append(task)
    if abort is not None:
        _aborts.append(abort)


def run_exit() -> None:
    """Deliver what every task holds, within the budget; once per process, never raises."""
    global _deadline, _done_pid
    with _lock:
        if _done_pid == os.getpid():
            return
        _done_pid = os.getpid()
        _deadline = time.monotonic() + _budget_s
        exiting.set()
    deadline = _deadline
    threads = []
    for task in list(_tasks):
        thread = threading.Thread(
            target=_run_task, args=(task, deadline), name="llm-instrument-exit", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # no new threads this late in the interpreter's shutdown
            _run_task(task, deadline)
            continue
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        for abort in list(_aborts):
            with guard("exit: aborting exports in flight"):
                abort()
        for thread in threads:
            thread.join(_GRACE_S)
    with guard("exit: summary"):
        notices.exit_summary()


def _run_task(task: Task, deadline: float) -> None:
    with guard("exit: delivering queued telemetry"):
        task(deadline)


def _after_fork_in_child() -> None:
    """A forked child exits on its own (its parent's exit is not its own)."""
    global _lock, _deadline
    _lock = threading.Lock()
    if _done_pid != os.getpid():
        _deadline = None
        exiting.clear()


# -- the ways a process stops ------------------------------------------------------------------
def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    try:
        run_exit()
    finally:
        # die as the default handler would, so the exit status is unchanged
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def install_sigterm() -> None:
    """Our SIGTERM handler, where SIGTERM is at its default (terminate) in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


def _after_init_signals(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``UvicornWorker.init_signals`` resets SIGTERM to the default: put ours back."""
    result = wrapped(*args, **kwargs)
    with guard("exit: SIGTERM handler in a UvicornWorker"):
        install_sigterm()
    return result


def _after_bootstrap(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``_bootstrap`` runs the target in the child, and a forked child then ends in
    ``os._exit`` (no ``atexit``): deliver first. (A spawned child reaches ``atexit`` too;
    ``run_exit`` runs once.)"""
    try:
        return wrapped(*args, **kwargs)
    finally:
        with guard("exit: multiprocessing child"):
            run_exit()


def _hook_uvicorn_worker(module: Any) -> None:
    import wrapt

    with guard("exit: hooking UvicornWorker"):
        worker = getattr(module, "UvicornWorker", None)
        if worker is not None and not isinstance(worker.init_signals, wrapt.FunctionWrapper):
            wrapt.wrap_function_wrapper(module, "UvicornWorker.init_signals", _after_init_signals)


def _hook_multiprocessing(module: Any) -> None:
    import wrapt

    with guard("exit: hooking multiprocessing"):
        if not isinstance(module.BaseProcess._bootstrap, wrapt.FunctionWrapper):
            wrapt.wrap_function_wrapper(module, "BaseProcess._bootstrap", _after_bootstrap)


_installed = False


def install() -> None:
    """Hook every way this process can stop (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    import wrapt

    atexit.register(run_exit)
    install_sigterm()
    os.register_at_fork(after_in_child=_after_fork_in_child)
    for name in ("uvicorn.workers", "uvicorn_worker"):
        wrapt.register_post_import_hook(_hook_uvicorn_worker, name)
    wrapt.register_post_import_hook(_hook_multiprocessing, "multiprocessing.process")

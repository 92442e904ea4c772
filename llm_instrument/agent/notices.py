"""What the agent tells the user about delivery: one line per condition, one summary at exit.

A collector that refuses connections, answers 5xx or never answers, and a span queue that
is full, are *conditions*: the first occurrence of each is one WARNING line, later ones are
counted and reported at most once a minute (``REPORT_INTERVAL_S``). The OpenTelemetry SDK's
own lines ("Transient error ... retrying", "Failed to export", "Queue full", "already
instrumented") go through the same limiter: ``SDKLogFilter`` sits on the SDK's loggers, lets
the first record of each kind through and counts the rest; lines that only exist because the
agent is there (an instrumentor applied twice, a provider set twice) are dropped.

Losses are tallied exactly here, by signal and reason (queue full, export failed, exit budget
spent), and ``exit_summary`` prints one line with the totals when something was not delivered
(nothing when all was).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

_logger = logging.getLogger("llm_instrument")

REPORT_INTERVAL_S = 60.0

_lock = threading.Lock()


class _Condition:
    __slots__ = ("last_report", "since_report", "total")

    def __init__(self) -> None:
        self.total = 0
        self.since_report = 0
        self.last_report = 0.0


_conditions: dict[str, _Condition] = {}
_lost: Counter[tuple[str, str]] = Counter()  # (signal, reason) -> count


def note(condition: str, message: str, *args: object) -> bool:
    """Report ``condition``: its first occurrence logs ``message``; later ones are counted
    and summed up in one line at most once a minute. Returns True when a line was logged."""
    now = time.monotonic()
    with _lock:
        state = _conditions.get(condition)
        if state is None:
            state = _conditions[condition] = _Condition()
            state.total, state.last_report = 1, now
            first, repeat = True, 0
        else:
            state.total += 1
            state.since_report += 1
            first = False
            repeat = 0
            if now - state.last_report >= REPORT_INTERVAL_S:
                repeat, state.since_report, state.last_report = state.since_report, 0, now
        total = state.total
    if first:
        _logger.warning("llm-instrument: %s", message % args if args else message)
        return True
    if repeat:
        _logger.warning(
            "llm-instrument: %s: %d more times in the last minute (%d in all)",
            condition,
            repeat,
            total,
        )
        return True
    return False


def occurrences(condition: str) -> int:
    with _lock:
        state = _conditions.get(condition)
        return state.total if state else 0


def lost(signal: str, reason: str, count: int) -> None:
    """``count`` spans (``signal="spans"``) or metric points were not delivered."""
    if count > 0:
        with _lock:
            _lost[(signal, reason)] += count


def losses() -> dict[tuple[str, str], int]:
    with _lock:
        return dict(_lost)


_unfinished: list[tuple[str, str, Callable[[], int]]] = []


def count_unfinished(
    signal: str, unfinished: Callable[[], int], reason: str = "exit budget spent"
) -> None:
    """At the exit summary, what ``unfinished()`` returns then is counted as lost (spans
    still queued or in a request that was cut; metric points whose last value never
    reached the collector)."""
    _unfinished.append((signal, reason, unfinished))


def exit_summary() -> None:
    """One line with the exact numbers not delivered in this process; nothing when none."""
    for signal, reason, unfinished in _unfinished:
        lost(signal, reason, unfinished())
    with _lock:
        tally = dict(_lost)
    if not tally:
        return
    parts = []
    for signal, label in (("spans", "span"), ("metrics", "metric point")):
        reasons = {r: n for (s, r), n in tally.items() if s == signal}
        if reasons:
            total = sum(reasons.values())
            detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
            parts.append(f"{total} {label}{'' if total == 1 else 's'} ({detail})")
    _logger.warning("llm-instrument: not delivered: %s", "; ".join(parts))


def reset_after_fork() -> None:
    """A forked child starts with its own tally (the parent reports its own losses); the
    conditions already reported stay reported, so N workers do not repeat the master."""
    global _lock
    _lock = threading.Lock()
    _lost.clear()


# -- the OpenTelemetry SDK's own lines ----------------------------------------------------------
# Lines that exist only because the agent set up or instrumented first; bare, the app never
# sees them, so under the agent it must not either.
_AGENT_MADE = (
    "Attempting to instrument while already instrumented",
    "Attempting to instrument FastAPI app while already instrumented",
    "Overriding of current TracerProvider is not allowed",
    "Overriding of current MeterProvider is not allowed",
)


def _admit(condition: str) -> bool:
    """True for the first record of ``condition``; later ones are counted, with one count
    line at most once a minute."""
    with _lock:
        if condition not in _conditions:
            state = _conditions[condition] = _Condition()
            state.total, state.last_report = 1, time.monotonic()
            return True
    note(condition, "")
    return False


class _Relay(logging.Handler):
    """On the ``opentelemetry`` logger (which then stops propagating): every SDK record
    passes here, and what is admitted goes on to the root logger's handlers exactly as
    propagation would have taken it (Python's last-resort stderr handler included)."""

    def emit(self, record: logging.LogRecord) -> None:
        template = str(record.msg)
        if template.startswith(_AGENT_MADE):
            return
        if record.levelno >= logging.WARNING and not _admit(f"{record.name}: {template[:80]}"):
            return
        logging.getLogger().callHandlers(record)


_relay = _Relay()


def route_sdk_logs() -> None:
    """Send every ``opentelemetry.*`` record through the limiter (idempotent)."""
    otel = logging.getLogger("opentelemetry")
    if _relay not in otel.handlers:
        otel.addHandler(_relay)
        otel.propagate = False

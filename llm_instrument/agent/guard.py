"""The one place that swallows instrumentation errors, and the rate limit on reporting them.

Principle 1 of the agent is that the host application never sees our failures. Every
wrapper gathers its facts inside ``guard(site)`` and calls the wrapped function outside it,
so application exceptions always pass through untouched. The first failure at a site is
logged as one WARNING with its traceback; later failures at the same site are DEBUG lines
and a counter, so a broken hot path cannot flood the application's log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

_logger = logging.getLogger("llm_instrument")

_lock = threading.Lock()
_failures: dict[str, int] = {}

F = TypeVar("F", bound=Callable[..., Any])


def failure_counts() -> dict[str, int]:
    """How often each site has failed in this process (tests read it from inside an app)."""
    with _lock:
        return dict(_failures)


def report(site: str, exc: BaseException) -> None:
    """Record a swallowed failure: one WARNING per site, then DEBUG lines."""
    with _lock:
        count = _failures.get(site, 0) + 1
        _failures[site] = count
    if count == 1:
        _logger.warning(
            "llm-instrument: %s failed; the application is unaffected (further failures "
            "here are logged at DEBUG)",
            site,
            exc_info=exc,
        )
    else:
        _logger.debug("llm-instrument: %s failed again (%d times): %r", site, count, exc)


class Outcome:
    """What ``guard`` yields: after the block, ``error`` holds the swallowed exception."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: Exception | None = None


@contextmanager
def guard(site: str) -> Iterator[Outcome]:
    """Run instrumentation code; an ``Exception`` inside is reported and swallowed."""
    outcome = Outcome()
    try:
        yield outcome
    except Exception as exc:  # the only broad except in the agent, by design
        outcome.error = exc
        report(site, exc)


def guarded(site: str, default: Any = None) -> Callable[[F], F]:
    """Decorator form of ``guard``: the function returns ``default`` when it fails."""

    def decorate(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                report(site, exc)
                return default

        return wrapper  # type: ignore[return-value]

    return decorate

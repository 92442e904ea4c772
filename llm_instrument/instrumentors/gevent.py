"""gevent: a spawned greenlet runs under the trace context of the code that started it.

Greenlets start with an empty ``contextvars`` context, so without this every span made in
``gevent.spawn(...)`` or a ``gevent.pool.Pool`` worker opens a trace of its own. gevent's
``Greenlet`` is a compiled class that cannot be wrapped; instead a spawn callback
(``Greenlet.add_spawn_callback``, gevent >= 1.4), called by ``start()`` in the starting
greenlet, gives the new greenlet a copy of the starter's context. Greenlets made with
``spawn_raw`` (no ``Greenlet`` object) are not covered. No spans are created here.
"""

from __future__ import annotations

import contextvars
from types import ModuleType
from typing import Any

from llm_instrument.agent.guard import guard
from llm_instrument.agent.plugin import Plugin


def _carry_context(greenlet: Any) -> None:
    """Spawn callback: the new greenlet starts in a copy of the starter's context."""
    with guard("gevent: carrying context into a greenlet"):
        if greenlet.gr_context is None:
            greenlet.gr_context = contextvars.copy_context()


def patch(module: ModuleType) -> None:
    module.Greenlet.add_spawn_callback(_carry_context)  # adding twice is a no-op


def unpatch(module: ModuleType) -> None:
    module.Greenlet.remove_spawn_callback(_carry_context)


PLUGIN = Plugin(
    name="gevent",
    hooks=("gevent",),
    distribution="gevent",
    supported=">=1.4",
    patch=patch,
    unpatch=unpatch,
    description="trace context carried into spawned greenlets",
)

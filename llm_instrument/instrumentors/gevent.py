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
from typing import Any

from llm_instrument.agent.guard import guard
from llm_instrument.agent.plugin import Plugin
from llm_instrument.agent.wrapping import Callback, Wrapping


def _carry_context(greenlet: Any) -> None:
    """Spawn callback: the new greenlet starts in a copy of the starter's context."""
    with guard("gevent: carrying context into a greenlet"):
        if greenlet.gr_context is None:
            greenlet.gr_context = contextvars.copy_context()


_WRAPPING = Wrapping(
    (
        Callback(
            "gevent",
            add="Greenlet.add_spawn_callback",  # adding twice is a no-op in gevent too
            remove="Greenlet.remove_spawn_callback",
            callback=_carry_context,
        ),
    )
)

patch = _WRAPPING.patch
unpatch = _WRAPPING.unpatch

PLUGIN = Plugin.from_wrapping(
    "gevent",
    _WRAPPING,
    distribution="gevent",
    supported=">=1.4",
    description="trace context carried into spawned greenlets",
)

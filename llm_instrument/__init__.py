"""llm-instrument: a zero-code OpenTelemetry agent for Python LLM applications.

The package itself does nothing on import, and imports nothing (not even ``logging``: the
launcher, ``llm-instrument python app.py``, is a whole process of its own before the
application's, and only needs ``os``). The agent starts from the bootstrap
``sitecustomize`` that the launcher puts on ``PYTHONPATH`` (see
``llm_instrument.agent.startup``), and gives the ``llm_instrument`` logger its own stderr
handler there; modules used without the agent log like any library that sets no handler.
"""

from __future__ import annotations

__version__ = "0.1.0"

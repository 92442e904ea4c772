"""llm-instrument: a zero-code OpenTelemetry agent for Python LLM applications.

The package itself does nothing on import beyond attaching a ``NullHandler``: the agent
starts from the bootstrap ``sitecustomize`` that the ``llm-instrument`` launcher puts on
``PYTHONPATH`` (see ``llm_instrument.agent.startup``).
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

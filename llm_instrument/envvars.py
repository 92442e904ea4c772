"""The environment variables the agent reads and the Kubernetes webhook sets, named once.

The webhook injects settings into pods that the agent reads there, so both take the names
from here rather than spelling them twice. Standard library only (``os``, which every
interpreter has loaded already): the webhook image carries no third-party package, and the
launcher and the agent import this first.
The agent's full list of settings, with their flags and meanings, is ``agent.config.OPTIONS``.
"""

from __future__ import annotations

import os

# standard OpenTelemetry variables (the SDK reads most of them itself)
SERVICE_NAME = "OTEL_SERVICE_NAME"
RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"
OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"

# ours
EXPORTER = "LLM_INSTRUMENT_EXPORTER"
METRICS_PORT = "LLM_INSTRUMENT_METRICS_PORT"
LOCAL_STORE = "LLM_INSTRUMENT_LOCAL_STORE"
DEFAULT_LOCAL_STORE = os.path.join(".llm-instrument", "traces.db")
"""Relative to the directory the launcher runs in (it passes the absolute path on)."""
AGENT_SITE = "LLM_INSTRUMENT_AGENT_SITE"
"""A folder the bootstrap appends to ``sys.path`` (the webhook's copy of the agent)."""
LAUNCHER_PYTHON = "LLM_INSTRUMENT_LAUNCHER_PYTHON"
"""The interpreter the launcher runs in (the one llm-instrument is installed for), named by
the bootstrap when the traced command runs another one that lacks the agent."""

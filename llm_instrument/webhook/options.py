"""The webhook's own settings, and the labels and annotations it reads from pods.

Every setting is a ``llm-instrument webhook`` flag that defaults from its
``LLM_INSTRUMENT_WEBHOOK_*`` variable (the Deployment in ``k8s/webhook/`` sets them), so the
manifest and a local run share one path. The agent settings given to pods are the same
``OTEL_*``/``LLM_INSTRUMENT_*`` variables the launcher sets, named once in
``llm_instrument.envvars``.
"""

from __future__ import annotations

from dataclasses import dataclass

import llm_instrument

DOMAIN = "llm-instrument.io"
LABEL_INJECT = f"{DOMAIN}/inject"
LABEL_SERVICE_NAME = f"{DOMAIN}/service-name"
LABEL_PYTHON_VERSION = f"{DOMAIN}/python-version"
ANNOTATION_CONTAINERS = f"{DOMAIN}/container-names"
ANNOTATION_EXCLUDE = f"{DOMAIN}/exclude-container-names"
ANNOTATION_INJECTED = f"{DOMAIN}/injected"
ANNOTATION_STATUS = f"{DOMAIN}/injection-status"

VOLUME_NAME = "llm-instrument"
INIT_CONTAINER_NAME = "llm-instrument-init"
MOUNT_PATH = "/llm-instrument"  # the emptyDir, in the init and the application containers
IMAGE_DIST = "/opt/llm-instrument"  # where the agent image keeps bootstrap/ and site/
BOOTSTRAP_PATH = f"{MOUNT_PATH}/bootstrap"
SITE_PATH = f"{MOUNT_PATH}/site"
METRICS_PORT_NAME = "llm-metrics"  # + "-N" for the N-th injected container after the first

# sidecars that are never Python applications, skipped when no container is named
KNOWN_SIDECARS = frozenset({"istio-proxy", "linkerd-proxy", "cloudsql-proxy", "vault-agent"})

PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
DEFAULT_PYTHON_VERSION = "3.12"
DEFAULT_AGENT_IMAGE = f"llm-instrument/agent:{llm_instrument.__version__}-py{{python}}"
DEFAULT_METRICS_PORT = 9464
DEFAULT_PORT = 8443


@dataclass(frozen=True)
class WebhookConfig:
    """What the webhook injects. ``agent_image`` holds ``{python}`` for the version."""

    agent_image: str = DEFAULT_AGENT_IMAGE
    python_versions: tuple[str, ...] = PYTHON_VERSIONS
    default_python_version: str = DEFAULT_PYTHON_VERSION
    otlp_endpoint: str | None = None
    otlp_protocol: str = "http/protobuf"
    metrics_port: int = DEFAULT_METRICS_PORT  # 0: no metrics port, no scrape annotations
    agent_env: tuple[tuple[str, str], ...] = ()  # extra settings for every injected container
    image_pull_policy: str = "IfNotPresent"

    def image_for(self, python_version: str) -> str:
        return self.agent_image.replace("{python}", python_version)


def parse_pairs(raw: str) -> tuple[tuple[str, str], ...]:
    """``A=1,B=2`` -> ``(("A", "1"), ("B", "2"))``; raises ValueError on a bad pair."""
    pairs = []
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"expected NAME=VALUE, got {item!r}")
        pairs.append((name.strip(), value.strip()))
    return tuple(pairs)

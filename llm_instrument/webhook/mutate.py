"""Pod spec -> the JSON patch (RFC 6902) that injects the agent. Pure: no I/O, no logging.

For a pod labelled ``llm-instrument.io/inject: "true"`` that is not injected yet:

- an ``emptyDir`` volume and an init container (the agent image for the pod's Python
  version) that copies ``bootstrap/`` and ``site/`` into it;
- in each selected container (all but known sidecars, or those named by the
  ``container-names`` annotation, minus ``exclude-container-names``): a read-only mount,
  downward-API variables first, then ``PYTHONPATH`` and ``OTEL_RESOURCE_ATTRIBUTES`` merged
  with the container's own values, then the agent settings the container does not set itself;
- a named metrics port per container (distinct ports: containers share the pod's network)
  and Prometheus scrape annotations for the first one.

Known limit: a ``PYTHONPATH`` baked into the image (Dockerfile ``ENV``) is invisible here and
replaced by the pod's value; repeat it in the pod spec to keep it (``k8s/README.md``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from llm_instrument import envvars
from llm_instrument.webhook import options as o
from llm_instrument.webhook.options import WebhookConfig

Json = dict[str, Any]

# Downward-API variables, defined before anything that refers to them as $(NAME).
_POD_NAME = "LLM_INSTRUMENT_K8S_POD_NAME"
_NAMESPACE = "LLM_INSTRUMENT_K8S_NAMESPACE"
_NODE_NAME = "LLM_INSTRUMENT_K8S_NODE_NAME"
_DOWNWARD = (
    (_POD_NAME, "metadata.name"),
    (_NAMESPACE, "metadata.namespace"),
    (_NODE_NAME, "spec.nodeName"),
)
_KEPT_PREFIX = "LLM_INSTRUMENT_APP_"  # a valueFrom variable we extend is kept under this name

_INIT_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "32Mi"},
    "limits": {"cpu": "500m", "memory": "128Mi"},
}
AGENT_IMAGE_USER = 65532  # the agent image's USER (docker/agent.Dockerfile)
_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass
class Plan:
    """What ``plan()`` decided: the patch, the injected containers, and why anything was not."""

    ops: list[Json] = field(default_factory=list)
    injected: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one line per skipped container or caveat
    skipped: str | None = None  # set when the whole pod is left alone


def init_command() -> list[str]:
    """The init container's copy step (also run by the end-to-end test, paths mapped)."""
    return ["cp", "-R", f"{o.IMAGE_DIST}/bootstrap", f"{o.IMAGE_DIST}/site", o.MOUNT_PATH]


def plan(pod: Json, config: WebhookConfig) -> Plan:
    """The patch for ``pod``; a ``Plan`` with ``skipped`` set when there is nothing to do."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if str(labels.get(o.LABEL_INJECT, "")).lower() != "true":
        return Plan(skipped=f"no {o.LABEL_INJECT}=true label")
    if _already_injected(spec, annotations):
        return Plan(skipped="already injected")
    python = str(labels.get(o.LABEL_PYTHON_VERSION) or config.default_python_version)
    if python not in config.python_versions:
        supported = ", ".join(config.python_versions)
        reason = f"no agent image for Python {python} (supported: {supported})"
        return Plan(notes=[f"not injected: {reason}"], skipped=reason)

    containers: list[Json] = spec.get("containers") or []
    result = Plan()
    selected = _select(containers, annotations, result.notes)
    if not selected:
        result.skipped = "no container selected"
        return result

    service = _service_name(meta, containers)
    ports = _free_ports(containers, config.metrics_port, len(selected))
    first_port: int | None = None
    for n, index in enumerate(selected):
        container = containers[index]
        port = ports[n] if ports else None
        port_name = o.METRICS_PORT_NAME if n == 0 else f"{o.METRICS_PORT_NAME}-{n}"
        used_port = _inject_container(container, index, service, port, port_name, config, result)
        if first_port is None:
            first_port = used_port
        result.injected.append(container["name"])

    volume = {"name": o.VOLUME_NAME, "emptyDir": {"sizeLimit": "256Mi"}}
    _append(result.ops, "/spec/volumes", spec.get("volumes"), volume)
    init = _init_container(python, config, spec.get("securityContext") or {})
    _append(result.ops, "/spec/initContainers", spec.get("initContainers"), init)
    new_annotations = {o.ANNOTATION_INJECTED: ",".join(result.injected)}
    if result.notes:
        new_annotations[o.ANNOTATION_STATUS] = "; ".join(result.notes)
    if first_port is not None and "prometheus.io/scrape" not in annotations:
        new_annotations.update(
            {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(first_port),
                "prometheus.io/path": "/metrics",
            }
        )
    _add_annotations(result.ops, meta, new_annotations)
    return result


def _already_injected(spec: Json, annotations: Json) -> bool:
    if o.ANNOTATION_INJECTED in annotations:
        return True
    volumes = spec.get("volumes") or []
    inits = spec.get("initContainers") or []
    return any(v.get("name") == o.VOLUME_NAME for v in volumes) or any(
        c.get("name") == o.INIT_CONTAINER_NAME for c in inits
    )


def _names(raw: Any) -> list[str]:
    return [name.strip() for name in str(raw or "").split(",") if name.strip()]


def _select(containers: list[Json], annotations: Json, notes: list[str]) -> list[int]:
    """Indexes of the containers to inject, with a note for each one left out and why."""
    named = _names(annotations.get(o.ANNOTATION_CONTAINERS))
    excluded = set(_names(annotations.get(o.ANNOTATION_EXCLUDE)))
    present = {c.get("name") for c in containers}
    notes.extend(f"container {name} not found" for name in named if name not in present)
    selected = []
    for index, container in enumerate(containers):
        name = container.get("name")
        if not isinstance(name, str) or (named and name not in named):
            continue
        if name in excluded:
            notes.append(f"container {name} excluded by {o.ANNOTATION_EXCLUDE}")
        elif not named and name in o.KNOWN_SIDECARS:
            notes.append(f"container {name} skipped: known sidecar")
        elif any(m.get("mountPath") == o.MOUNT_PATH for m in container.get("volumeMounts") or []):
            notes.append(f"container {name} skipped: {o.MOUNT_PATH} is already mounted")
        else:
            selected.append(index)
    return selected


def _service_name(meta: Json, containers: list[Json]) -> str:
    """The service-name label, else app.kubernetes.io/name or app, else the owner's name."""
    labels = meta.get("labels") or {}
    for key in (o.LABEL_SERVICE_NAME, "app.kubernetes.io/name", "app"):
        if labels.get(key):
            return str(labels[key])
    owners = meta.get("ownerReferences") or []
    if owners and owners[0].get("name"):
        name = str(owners[0]["name"])
        pod_hash = labels.get("pod-template-hash")
        if pod_hash and name.endswith(f"-{pod_hash}"):  # ReplicaSet -> its Deployment
            name = name[: -len(pod_hash) - 1]
        return name
    base = str(meta.get("generateName") or "").rstrip("-") or meta.get("name")
    return str(base or containers[0].get("name") or "unknown")


def _free_ports(containers: list[Json], base: int, count: int) -> list[int]:
    """``count`` ports from ``base`` up that no container of the pod declares."""
    if not base:
        return []
    used = {p.get("containerPort") for c in containers for p in c.get("ports") or []}
    ports: list[int] = []
    port = base
    while len(ports) < count and port < 65536:
        if port not in used:
            ports.append(port)
        port += 1
    return ports


def _inject_container(
    container: Json,
    index: int,
    service: str,
    port: int | None,
    port_name: str,
    config: WebhookConfig,
    result: Plan,
) -> int | None:
    """Add the env, mount and port ops for one container; returns its metrics port."""
    name = container["name"]
    env: list[Json] = copy.deepcopy(container.get("env") or [])
    defined = {e.get("name") for e in env}
    downward = [
        {"name": var, "valueFrom": {"fieldRef": {"fieldPath": path}}}
        for var, path in _DOWNWARD
        if var not in defined
    ]
    env = downward + env
    has_env_from = bool(container.get("envFrom"))
    _merge(env, "PYTHONPATH", o.BOOTSTRAP_PATH, ":", has_env_from, name, result.notes)
    attributes = ",".join(
        (
            f"k8s.namespace.name=$({_NAMESPACE})",
            f"k8s.pod.name=$({_POD_NAME})",
            f"k8s.node.name=$({_NODE_NAME})",
            f"k8s.container.name={name}",
        )
    )
    _merge(env, envvars.RESOURCE_ATTRIBUTES, attributes, ",", False, name, result.notes)

    settings: list[tuple[str, str]] = [(envvars.SERVICE_NAME, service)]
    if config.otlp_endpoint:
        settings += [
            (envvars.EXPORTER, "otlp"),
            (envvars.OTLP_ENDPOINT, config.otlp_endpoint),
            (envvars.OTLP_PROTOCOL, config.otlp_protocol),
        ]
    if port is not None and envvars.METRICS_PORT not in defined:
        settings.append((envvars.METRICS_PORT, str(port)))
    else:
        port = None
    settings += list(config.agent_env)
    env += [{"name": k, "value": v} for k, v in settings if k not in defined]
    # ours, always: the agent's packages are appended after site-packages by the bootstrap
    env = [e for e in env if e.get("name") != envvars.AGENT_SITE]
    env.append({"name": envvars.AGENT_SITE, "value": o.SITE_PATH})

    base = f"/spec/containers/{index}"
    result.ops.append({"op": "add", "path": f"{base}/env", "value": env})
    mount = {"name": o.VOLUME_NAME, "mountPath": o.MOUNT_PATH, "readOnly": True}
    _append(result.ops, f"{base}/volumeMounts", container.get("volumeMounts"), mount)
    if port is not None:
        declared = {"name": port_name, "containerPort": port, "protocol": "TCP"}
        _append(result.ops, f"{base}/ports", container.get("ports"), declared)
    return port


def _merge(
    env: list[Json],
    name: str,
    ours: str,
    sep: str,
    env_from: bool,
    container: str,
    notes: list[str],
) -> None:
    """Put ``ours`` in front of the container's own value of ``name``, keeping that value.

    A ``valueFrom`` entry is renamed ``LLM_INSTRUMENT_APP_<name>`` in place and referred to
    as ``$(...)`` by the new entry right after it (the kubelet expands references to
    variables defined earlier). With ``envFrom`` and no entry, ``$(name)`` keeps a value the
    ConfigMap or Secret may hold; an undefined reference stays literal, a harmless path.
    """
    for i, entry in enumerate(env):
        if entry.get("name") != name:
            continue
        if "valueFrom" in entry:
            kept = f"{_KEPT_PREFIX}{name}"
            env[i] = {**entry, "name": kept}
            env.insert(i + 1, {"name": name, "value": f"{ours}{sep}$({kept})"})
            notes.append(f"container {container}: {name} from valueFrom kept as $({kept})")
        else:
            old = str(entry.get("value") or "")
            env[i] = {"name": name, "value": f"{ours}{sep}{old}" if old else ours}
        return
    env.append({"name": name, "value": f"{ours}{sep}$({name})" if env_from else ours})


def _append(ops: list[Json], path: str, existing: list[Json] | None, value: Json) -> None:
    if existing:
        ops.append({"op": "add", "path": f"{path}/-", "value": value})
    else:
        ops.append({"op": "add", "path": path, "value": [value]})


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _add_annotations(ops: list[Json], meta: Json, annotations: dict[str, str]) -> None:
    if meta.get("annotations"):
        ops.extend(
            {"op": "add", "path": f"/metadata/annotations/{_pointer(k)}", "value": v}
            for k, v in annotations.items()
        )
    else:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": annotations})


def _init_container(python: str, config: WebhookConfig, pod_security: Json) -> Json:
    security = copy.deepcopy(_SECURITY)
    if pod_security.get("runAsUser") == 0:
        # the pod's root user would meet our runAsNonRoot and stop the pod from starting
        security["runAsUser"] = AGENT_IMAGE_USER
    return {
        "name": o.INIT_CONTAINER_NAME,
        "image": config.image_for(python),
        "imagePullPolicy": config.image_pull_policy,
        "command": init_command(),
        "volumeMounts": [{"name": o.VOLUME_NAME, "mountPath": o.MOUNT_PATH}],
        "resources": copy.deepcopy(_INIT_RESOURCES),
        "securityContext": security,
    }

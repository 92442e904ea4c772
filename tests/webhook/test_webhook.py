"""The webhook over real HTTPS: AdmissionReview v1 requests in, JSON patches applied with
``jsonpatch``, and the resulting pod specs checked (and validated against the Kubernetes
schemas)."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import kubernetes_validate
import pytest

from tests.webhook.conftest import OTLP_ENDPOINT, SERVICE_HOST, Webhook, container, env_of, pod

REPO = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.37.0"
BOOTSTRAP = "/llm-instrument/bootstrap"


def _valid(pod_spec: dict[str, object]) -> None:
    kubernetes_validate.validate(pod_spec, K8S_VERSION, strict=True)


def test_health(webhook: Webhook) -> None:
    import urllib.request

    with urllib.request.urlopen(webhook.url + "/healthz", context=webhook.context) as response:
        assert response.status == 200


def test_certificate_names_the_service(webhook: Webhook, tls_dir: Path) -> None:
    """The API server calls https://<service>.<namespace>.svc: the certificate must match."""
    port = int(webhook.url.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        webhook.context.wrap_socket(raw, server_hostname=SERVICE_HOST) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    untrusted = ssl.create_default_context()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        untrusted.wrap_socket(raw, server_hostname=SERVICE_HOST)


def test_unlabelled_pod_is_left_alone(webhook: Webhook) -> None:
    original = pod(inject=False)
    admission = webhook.admit(original)
    assert not admission.patched
    assert admission.pod == original


def test_labelled_pod_is_injected(webhook: Webhook) -> None:
    admission = webhook.admit(pod(labels={"llm-instrument.io/service-name": "chatbot-svc"}))
    assert admission.patched
    spec = admission.pod["spec"]
    _valid(admission.pod)

    assert spec["volumes"] == [{"name": "llm-instrument", "emptyDir": {"sizeLimit": "256Mi"}}]
    (init,) = spec["initContainers"]
    assert init["image"] == "registry.example/llm-instrument/agent:0.1.0-py3.12"
    assert init["command"][0] == "cp"
    assert init["volumeMounts"] == [{"name": "llm-instrument", "mountPath": "/llm-instrument"}]
    assert init["resources"]["limits"]

    (app,) = spec["containers"]
    assert {"name": "llm-instrument", "mountPath": "/llm-instrument", "readOnly": True} in app[
        "volumeMounts"
    ]
    assert app["ports"] == [{"name": "llm-metrics", "containerPort": 9464, "protocol": "TCP"}]
    env = env_of(admission.pod, "app")
    assert env["PYTHONPATH"] == BOOTSTRAP
    assert env["LLM_INSTRUMENT_AGENT_SITE"] == "/llm-instrument/site"
    assert env["OTEL_SERVICE_NAME"] == "chatbot-svc"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == OTLP_ENDPOINT
    assert env["LLM_INSTRUMENT_EXPORTER"] == "otlp"
    assert env["LLM_INSTRUMENT_METRICS_PORT"] == "9464"
    assert env["LLM_INSTRUMENT_CAPTURE_CONTENT"] == "false"
    assert env["LLM_INSTRUMENT_K8S_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["LLM_INSTRUMENT_K8S_NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    attributes = dict(pair.split("=", 1) for pair in env["OTEL_RESOURCE_ATTRIBUTES"].split(","))
    assert attributes == {
        "k8s.namespace.name": "$(LLM_INSTRUMENT_K8S_NAMESPACE)",
        "k8s.pod.name": "$(LLM_INSTRUMENT_K8S_POD_NAME)",
        "k8s.node.name": "$(LLM_INSTRUMENT_K8S_NODE_NAME)",
        "k8s.container.name": "app",
    }
    # $(VAR) only expands variables defined earlier in the list
    names = list(env)
    assert names.index("LLM_INSTRUMENT_K8S_NAMESPACE") < names.index("OTEL_RESOURCE_ATTRIBUTES")

    annotations = admission.pod["metadata"]["annotations"]
    assert annotations["llm-instrument.io/injected"] == "app"
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9464"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"app.kubernetes.io/name": "chat", "app": "other"}, "chat"),
        ({"app": "legacy-chat"}, "legacy-chat"),
        ({}, "chatbot"),  # the ReplicaSet's Deployment, pod-template-hash removed
    ],
)
def test_service_name_fallbacks(webhook: Webhook, labels: dict[str, str], expected: str) -> None:
    admission = webhook.admit(pod(labels=labels))
    assert env_of(admission.pod, "app")["OTEL_SERVICE_NAME"] == expected


def test_two_containers_one_selected(webhook: Webhook) -> None:
    sidecar = container("cache", ports=[{"containerPort": 9464}], env=[{"name": "A", "value": "1"}])
    original = pod(
        container("app"), sidecar, annotations={"llm-instrument.io/container-names": "app"}
    )
    admission = webhook.admit(original)
    _valid(admission.pod)
    app, cache = admission.pod["spec"]["containers"]
    assert cache == sidecar  # untouched
    assert env_of(admission.pod, "app")["PYTHONPATH"] == BOOTSTRAP
    # 9464 is taken by the other container of the same pod (one network namespace)
    assert app["ports"] == [{"name": "llm-metrics", "containerPort": 9465, "protocol": "TCP"}]
    assert admission.pod["metadata"]["annotations"]["llm-instrument.io/injected"] == "app"
    assert admission.pod["metadata"]["annotations"]["prometheus.io/port"] == "9465"


def test_all_containers_get_distinct_ports_and_sidecars_are_skipped(webhook: Webhook) -> None:
    original = pod(container("api"), container("worker"), container("istio-proxy"))
    admission = webhook.admit(original)
    _valid(admission.pod)
    api, worker, proxy = admission.pod["spec"]["containers"]
    assert api["ports"][0]["containerPort"] == 9464
    assert worker["ports"] == [{"name": "llm-metrics-1", "containerPort": 9465, "protocol": "TCP"}]
    assert proxy == original["spec"]["containers"][2]
    assert env_of(admission.pod, "worker")["OTEL_RESOURCE_ATTRIBUTES"].endswith(
        "k8s.container.name=worker"
    )
    assert "istio-proxy skipped" in " ".join(admission.response["warnings"])


def test_excluded_container_is_left_alone(webhook: Webhook) -> None:
    original = pod(
        container("app"),
        container("tool"),
        annotations={"llm-instrument.io/exclude-container-names": "tool"},
    )
    admission = webhook.admit(original)
    assert admission.pod["spec"]["containers"][1] == original["spec"]["containers"][1]
    status = admission.pod["metadata"]["annotations"]["llm-instrument.io/injection-status"]
    assert "tool excluded" in status


def test_existing_pythonpath_is_kept(webhook: Webhook) -> None:
    app = container(
        "app",
        env=[
            {"name": "PYTHONPATH", "value": "/app/src:/app/lib"},
            {"name": "OTEL_SERVICE_NAME", "value": "mine"},
            {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "team=llm"},
        ],
    )
    admission = webhook.admit(pod(app))
    env = env_of(admission.pod, "app")
    assert env["PYTHONPATH"] == f"{BOOTSTRAP}:/app/src:/app/lib"
    assert env["OTEL_SERVICE_NAME"] == "mine"  # the application's own settings win
    assert env["OTEL_RESOURCE_ATTRIBUTES"].endswith(",team=llm")
    assert list(env).count("PYTHONPATH") == 1


def test_pythonpath_from_value_from_is_kept(webhook: Webhook) -> None:
    source = {"configMapKeyRef": {"name": "paths", "key": "pythonpath"}}
    app = container("app", env=[{"name": "PYTHONPATH", "valueFrom": source}])
    admission = webhook.admit(pod(app))
    _valid(admission.pod)
    env = env_of(admission.pod, "app")
    names = list(env)
    assert env["LLM_INSTRUMENT_APP_PYTHONPATH"] == source
    assert env["PYTHONPATH"] == f"{BOOTSTRAP}:$(LLM_INSTRUMENT_APP_PYTHONPATH)"
    assert names.index("LLM_INSTRUMENT_APP_PYTHONPATH") < names.index("PYTHONPATH")
    assert any("valueFrom" in w for w in admission.response["warnings"])


def test_pythonpath_from_env_from_is_kept(webhook: Webhook) -> None:
    app = container("app", envFrom=[{"configMapRef": {"name": "settings"}}])
    admission = webhook.admit(pod(app))
    assert env_of(admission.pod, "app")["PYTHONPATH"] == f"{BOOTSTRAP}:$(PYTHONPATH)"


def test_already_injected_pod_is_left_alone(webhook: Webhook) -> None:
    once = webhook.admit(pod()).pod
    again = webhook.admit(once)
    assert not again.patched
    assert again.pod == once


def test_python_version_label_picks_the_image(webhook: Webhook) -> None:
    admission = webhook.admit(pod(labels={"llm-instrument.io/python-version": "3.11"}))
    assert admission.pod["spec"]["initContainers"][0]["image"].endswith(":0.1.0-py3.11")
    unsupported = webhook.admit(pod(labels={"llm-instrument.io/python-version": "2.7"}))
    assert not unsupported.patched
    assert "no agent image for Python 2.7" in unsupported.response["warnings"][0]


def test_existing_volumes_and_annotations_are_appended_to(webhook: Webhook) -> None:
    original = pod(
        container("app", volumeMounts=[{"name": "data", "mountPath": "/data"}]),
        annotations={"team": "llm", "prometheus.io/scrape": "false"},
    )
    original["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
    original["spec"]["initContainers"] = [container("migrate")]
    admission = webhook.admit(original)
    _valid(admission.pod)
    spec = admission.pod["spec"]
    assert [v["name"] for v in spec["volumes"]] == ["data", "llm-instrument"]
    assert [c["name"] for c in spec["initContainers"]] == ["migrate", "llm-instrument-init"]
    mounts = spec["containers"][0]["volumeMounts"]
    assert [m["name"] for m in mounts] == ["data", "llm-instrument"]
    annotations = admission.pod["metadata"]["annotations"]
    assert annotations["team"] == "llm"
    assert annotations["prometheus.io/scrape"] == "false"  # the application's choice stays


@pytest.mark.parametrize(
    ("operation", "kind", "api_version"),
    [
        ("UPDATE", "Pod", "admission.k8s.io/v1"),
        ("CREATE", "Service", "admission.k8s.io/v1"),
        ("CREATE", "Pod", "admission.k8s.io/v1beta1"),
    ],
)
def test_unexpected_requests_are_allowed_unpatched(
    webhook: Webhook, operation: str, kind: str, api_version: str
) -> None:
    admission = webhook.admit(pod(), operation=operation, kind=kind, api_version=api_version)
    assert not admission.patched
    assert admission.review["apiVersion"] == api_version


def test_unforeseen_pod_shape_is_allowed_unpatched(webhook: Webhook) -> None:
    weird = pod()
    weird["spec"]["containers"] = [{"name": "app", "env": "not-a-list"}]
    admission = webhook.admit(weird)
    assert not admission.patched


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        json.dumps({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}).encode(),
        json.dumps({"kind": "AdmissionReview", "request": {"uid": 7}}).encode(),
    ],
)
def test_malformed_body_is_a_400(webhook: Webhook, body: bytes) -> None:
    status, answer = webhook.post(body)
    assert status == 400
    assert answer["error"]
    health_status, _ = webhook.post(b"", path="/nope")
    assert health_status == 404  # and the server is still up


def test_webhook_needs_only_the_standard_library() -> None:
    """The webhook image installs llm-instrument without its dependencies."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from llm_instrument.cli import launcher\n"
        "from llm_instrument.webhook import certs, cli, mutate, review, server\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(roots - set(sys.stdlib_module_names) - {'llm_instrument', '__main__'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_init_container_runs_as_non_root_even_in_a_root_pod(webhook: Webhook) -> None:
    plain = webhook.admit(pod()).pod["spec"]["initContainers"][0]["securityContext"]
    assert plain["runAsNonRoot"] is True and "runAsUser" not in plain  # the image's user
    root = pod()
    root["spec"]["securityContext"] = {"runAsUser": 0}
    admission = webhook.admit(root)
    _valid(admission.pod)
    security = admission.pod["spec"]["initContainers"][0]["securityContext"]
    assert security["runAsUser"] == 65532 and security["runAsNonRoot"] is True

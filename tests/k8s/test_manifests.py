"""Every manifest under ``k8s/`` against the Kubernetes schemas (``kubernetes-validate``,
offline, strict), plus the promises the manifests make to each other and to the issue:
kustomizations list every file, the webhook cannot block pods, probes and resources are
everywhere, the demo images carry no agent and the labels are the whole integration."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from llm_instrument.webhook import certs, options
from tests.support.processes import LAUNCHER

K8S = Path(__file__).resolve().parents[2] / "k8s"
K8S_VERSION = "1.37.0"
# custom resources: no schema in kubernetes-validate, checked by hand below
CRD_GROUPS = ("cert-manager.io/",)


def _manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def _docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _patch_files() -> set[Path]:
    patches = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        patches |= {(kustomization.parent / p["path"]).resolve() for p in spec.get("patches", [])}
    return patches


def _all_docs() -> list[dict[str, Any]]:
    """Every resource, kustomize patches left out."""
    patches = _patch_files()
    return [doc for path in _manifest_files() if path not in patches for doc in _docs(path)]


def _find(kind: str, name: str) -> dict[str, Any]:
    for doc in _all_docs():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise LookupError(f"{kind}/{name}")


def _validate(doc: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        error = getattr(exc, "caused_by", exc)
        where = "/".join(str(p) for p in getattr(error, "absolute_path", []))
        pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} at {where}: {error.message}")


@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_validates(path: Path) -> None:
    docs = _docs(path)
    assert docs, f"{path} is empty"
    for doc in docs:
        if doc["apiVersion"].startswith(CRD_GROUPS):
            assert doc["metadata"]["name"] and doc["spec"], doc
            continue
        _validate(doc)


def test_kustomizations_list_every_manifest() -> None:
    listed: set[Path] = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        assert spec["kind"] == "Kustomization"
        entries = list(spec.get("resources", [])) + [p["path"] for p in spec.get("patches", [])]
        for entry in entries:
            target = (kustomization.parent / entry).resolve()
            assert target.exists(), f"{kustomization}: {entry} does not exist"
            listed.add(target / "kustomization.yaml" if target.is_dir() else target)
    assert set(_manifest_files()) <= listed, set(_manifest_files()) - listed


def test_webhook_configuration_cannot_block_pods() -> None:
    (hook,) = _find("MutatingWebhookConfiguration", "llm-instrument")["webhooks"]
    assert hook["failurePolicy"] == "Ignore"
    assert hook["timeoutSeconds"] <= 10
    assert hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["objectSelector"] == {"matchLabels": {options.LABEL_INJECT: "true"}}
    (excluded,) = hook["namespaceSelector"]["matchExpressions"]
    assert excluded["operator"] == "NotIn"
    assert {"kube-system", certs.DEFAULT_NAMESPACE} <= set(excluded["values"])
    assert hook["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    # the client config points at the Service, which points at the Deployment's port
    client = hook["clientConfig"]["service"]
    assert (client["name"], client["namespace"], client["path"]) == (
        certs.DEFAULT_SERVICE,
        certs.DEFAULT_NAMESPACE,
        "/mutate",
    )
    service = _find("Service", certs.DEFAULT_SERVICE)
    assert service["spec"]["ports"][0]["port"] == client["port"]
    deployment = _find("Deployment", "llm-instrument-webhook")
    pod_spec = deployment["spec"]["template"]["spec"]
    assert pod_spec["volumes"][0]["secret"]["secretName"] == certs.DEFAULT_SECRET
    assert (
        service["spec"]["selector"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )


def test_webhook_has_no_api_access() -> None:
    account = _find("ServiceAccount", "llm-instrument-webhook")
    assert account["automountServiceAccountToken"] is False
    subjects = [
        s["name"] for doc in _all_docs() if doc["kind"].endswith("Binding") for s in doc["subjects"]
    ]
    assert "llm-instrument-webhook" not in subjects
    (rule,) = _find("ClusterRole", "llm-instrument-prometheus")["rules"]
    assert rule["resources"] == ["pods"]
    assert set(rule["verbs"]) == {"get", "list", "watch"}


def _workloads() -> list[dict[str, Any]]:
    return [doc for doc in _all_docs() if doc["kind"] == "Deployment"]


@pytest.mark.parametrize("deployment", _workloads(), ids=lambda d: d["metadata"]["name"])
def test_every_container_has_resources_probes_and_runs_as_non_root(
    deployment: dict[str, Any],
) -> None:
    pod_spec = deployment["spec"]["template"]["spec"]
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    for container in pod_spec["containers"]:
        assert {"requests", "limits"} <= container["resources"].keys(), container["name"]
        assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
        assert "readinessProbe" in container and "livenessProbe" in container
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert ":" in container["image"] and not container["image"].endswith(":latest")


@pytest.mark.parametrize("name", ["chatbot", "demo-server"])
def test_demo_pods_carry_the_injection_labels_and_no_agent(name: str) -> None:
    template = _find("Deployment", name)["spec"]["template"]
    labels = template["metadata"]["labels"]
    assert labels[options.LABEL_INJECT] == "true"
    assert labels[options.LABEL_SERVICE_NAME]
    assert labels[options.LABEL_PYTHON_VERSION] in options.PYTHON_VERSIONS
    for container in template["spec"]["containers"]:
        names = {e["name"] for e in container.get("env", [])}
        assert not names & {"PYTHONPATH", "LLM_INSTRUMENT_AGENT_SITE"}
        assert "llm-instrument/agent" not in container["image"]
    assert _find("Deployment", name)["metadata"]["namespace"] != certs.DEFAULT_NAMESPACE


def test_chatbot_autoscaler_targets_the_chatbot() -> None:
    hpa = _find("HorizontalPodAutoscaler", "chatbot")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "chatbot",
    }
    assert hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_jaeger_receives_otlp_where_the_webhook_sends_it() -> None:
    service = _find("Service", "jaeger")
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert ports == {"otlp-grpc": 4317, "otlp-http": 4318, "ui": 16686}
    env = {
        e["name"]: e["value"]
        for e in _find("Deployment", "llm-instrument-webhook")["spec"]["template"]["spec"][
            "containers"
        ][0]["env"]
    }
    endpoint = env["LLM_INSTRUMENT_WEBHOOK_OTLP_ENDPOINT"]
    assert endpoint.startswith(f"http://jaeger.{service['metadata']['namespace']}.svc")
    assert endpoint.endswith(":4318")


def test_prometheus_scrapes_the_port_the_webhook_declares() -> None:
    import re

    config = yaml.safe_load(_find("ConfigMap", "prometheus-config")["data"]["prometheus.yml"])
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "llm-instrument-agent"]
    keep_port = next(
        r
        for r in job["relabel_configs"]
        if r["source_labels"] == ["__meta_kubernetes_pod_container_port_name"]
    )
    for name in (options.METRICS_PORT_NAME, f"{options.METRICS_PORT_NAME}-1"):
        assert re.fullmatch(keep_port["regex"], name)
    assert not re.fullmatch(keep_port["regex"], "http")


def test_certs_command_patches_the_manifest_and_writes_a_valid_secret(tmp_path: Path) -> None:
    manifest = tmp_path / "mutating-webhook.yaml"
    manifest.write_text((K8S / "webhook" / "mutating-webhook.yaml").read_text())
    out = tmp_path / "certs"
    result = subprocess.run(
        [LAUNCHER, "webhook", "certs", "--out", str(out), "--manifest", str(manifest)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (doc,) = _docs(manifest)
    _validate(doc)
    bundle = base64.b64decode(doc["webhooks"][0]["clientConfig"]["caBundle"])
    assert bundle == (out / "ca.crt").read_bytes()
    assert "# caBundle: set by" in manifest.read_text()  # comments kept
    (secret,) = _docs(out / "secret.yaml")
    _validate(secret)
    assert secret["metadata"] == {
        "name": certs.DEFAULT_SECRET,
        "namespace": certs.DEFAULT_NAMESPACE,
    }
    assert base64.b64decode(secret["data"]["tls.key"]) == (out / "tls.key").read_bytes()
    assert (out / "tls.key").stat().st_mode & 0o077 == 0
    text = subprocess.run(
        ["openssl", "x509", "-in", str(out / "tls.crt"), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in certs.dns_names(certs.DEFAULT_SERVICE, certs.DEFAULT_NAMESPACE):
        assert f"DNS:{name}" in text
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(out / "ca.crt"), str(out / "tls.crt")],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr

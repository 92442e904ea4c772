"""A real webhook for the tests: certificates from ``llm-instrument webhook certs`` (openssl),
the server started by ``llm-instrument webhook`` as a subprocess, requests over verified TLS."""

from __future__ import annotations

import base64
import copy
import json
import ssl
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from tests.support.processes import LAUNCHER, agent_env, free_port, stop

OTLP_ENDPOINT = "http://jaeger-collector.llm-instrument.svc:4318"
SERVICE_HOST = "llm-instrument-webhook.llm-instrument.svc"


@dataclass
class Admission:
    """What the webhook answered, and the pod with its patch applied."""

    status: int
    review: dict[str, Any]
    pod: dict[str, Any]

    @property
    def response(self) -> dict[str, Any]:
        return dict(self.review["response"])

    @property
    def patched(self) -> bool:
        return "patch" in self.response


class Webhook:
    def __init__(self, url: str, context: ssl.SSLContext) -> None:
        self.url = url
        self.context = context

    def post(self, body: bytes, path: str = "/mutate") -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.url + path, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def admit(
        self,
        pod: dict[str, Any],
        namespace: str = "demo",
        operation: str = "CREATE",
        kind: str = "Pod",
        api_version: str = "admission.k8s.io/v1",
    ) -> Admission:
        uid = str(uuid.uuid4())
        review = {
            "apiVersion": api_version,
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": {"group": "", "version": "v1", "kind": kind},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": namespace,
                "operation": operation,
                "object": pod,
                "dryRun": False,
            },
        }
        status, answer = self.post(json.dumps(review).encode())
        assert status == 200, answer
        assert answer["response"]["uid"] == uid
        assert answer["response"]["allowed"] is True
        patched = copy.deepcopy(pod)
        if "patch" in answer["response"]:
            assert answer["response"]["patchType"] == "JSONPatch"
            ops = json.loads(base64.b64decode(answer["response"]["patch"]))
            patched = jsonpatch.apply_patch(pod, ops)
        return Admission(status, answer, patched)


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    result = subprocess.run(
        [LAUNCHER, "webhook", "certs", "--out", str(out), "--manifest", "", "--host", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def webhook(tls_dir: Path) -> Iterator[Webhook]:
    port = free_port()
    proc = subprocess.Popen(
        [
            LAUNCHER, "webhook",
            "--host", "127.0.0.1", "--port", str(port),
            "--tls-cert", str(tls_dir / "tls.crt"), "--tls-key", str(tls_dir / "tls.key"),
            "--otlp-endpoint", OTLP_ENDPOINT,
            "--agent-image", "registry.example/llm-instrument/agent:0.1.0-py{python}",
            "--agent-env", "LLM_INSTRUMENT_CAPTURE_CONTENT=false",
            "--log-level", "info",
        ],
        env=agent_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    context = ssl.create_default_context(cafile=str(tls_dir / "ca.crt"))
    hook = Webhook(f"https://127.0.0.1:{port}", context)
    try:
        _wait_healthy(hook, proc)
        yield hook
    finally:
        stop(proc)


def _wait_healthy(hook: Webhook, proc: subprocess.Popen[str]) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"webhook exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            request = urllib.request.Request(hook.url + "/healthz")
            with urllib.request.urlopen(request, context=hook.context, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("webhook not healthy after 30s")


def pod(
    *containers: dict[str, Any],
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    inject: bool = True,
) -> dict[str, Any]:
    """A Deployment-made pod as the API server sends it at CREATE (no name yet)."""
    all_labels = {"pod-template-hash": "5d8f7c9b6d", **(labels or {})}
    if inject:
        all_labels["llm-instrument.io/inject"] = "true"
    meta: dict[str, Any] = {
        "generateName": "chatbot-5d8f7c9b6d-",
        "namespace": "demo",
        "labels": all_labels,
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "chatbot-5d8f7c9b6d",
                "uid": "0b6c0a34-5d7e-4c56-9b53-1a7c1bd2f4a1",
                "controller": True,
            }
        ],
    }
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": list(containers) or [container("app")]},
    }


def container(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": f"example/{name}:1.0", **extra}


def env_of(pod_spec: dict[str, Any], name: str) -> dict[str, Any]:
    """The container's env as ``{name: value or valueFrom}``, in order."""
    for c in pod_spec["spec"]["containers"]:
        if c["name"] == name:
            return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}
    raise KeyError(name)

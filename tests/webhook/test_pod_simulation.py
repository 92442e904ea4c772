"""End-to-end simulation of an injected pod, without a cluster.

1. The demo chatbot's pod template (``k8s/demo/chatbot.yaml``) goes through the real webhook;
   its JSON patch is applied.
2. The patched init container's own command runs, paths mapped into a temporary folder, from
   an "agent image" folder made like the Dockerfile makes it (``pip install --target`` of this
   repository, here ``--no-deps``, plus the bootstrap).
3. The chatbot starts with exactly the patched container's environment, resolved as the kubelet
   would (downward API values, ``$(VAR)`` expansion), under an "application image" Python: a
   venv of the base interpreter that sees the test venv's packages (fastapi, langchain...) but
   not its editable llm_instrument, so the agent can only come from the injected copy.
4. Its spans reach the test's OTLP receiver with the Kubernetes resource attributes and the
   service name from the label, and its metrics port answers.

Mapped, as a pod would not need: ``/llm-instrument`` and ``/opt/llm-instrument`` to temporary
folders, the OTLP endpoint to the receiver, the ports to free ones, the demo's model to fake.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from llm_instrument.webhook import options
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.processes import free_port, get, stop, wait_http
from tests.webhook.conftest import Webhook

REPO = Path(__file__).resolve().parents[2]
POD_NAME = "chatbot-5d8f7c9b6d-x7k2p"
NAMESPACE = "llm-demo"
NODE_NAME = "kind-worker"
FIELDS = {"metadata.name": POD_NAME, "metadata.namespace": NAMESPACE, "spec.nodeName": NODE_NAME}


def _expand(value: str, defined: dict[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion: earlier variables only, ``$$`` escapes."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return defined.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", one, value)


def kubelet_env(container: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in container.get("env", []):
        if "valueFrom" in entry:
            env[entry["name"]] = FIELDS[entry["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            env[entry["name"]] = _expand(entry.get("value", ""), env)
    return env


def _map(value: str, paths: dict[str, str]) -> str:
    for pod_path, local in paths.items():
        value = value.replace(pod_path, local)
    return value


@pytest.fixture(scope="module")
def agent_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``/opt/llm-instrument`` of the agent image: site/ (this repository) and bootstrap/."""
    image = tmp_path_factory.mktemp("agent-image")
    source = tmp_path_factory.mktemp("agent-source")  # setuptools writes build/ into it
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "llm_instrument", source / "llm_instrument", ignore=ignore)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(image / "site"), str(source)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (image / "bootstrap").mkdir()
    shutil.copy(image / "site/llm_instrument/agent/bootstrap/sitecustomize.py", image / "bootstrap")
    return image


@pytest.fixture(scope="module")
def app_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python like the application image's: the app's packages, no llm_instrument."""
    venv = tmp_path_factory.mktemp("app-venv")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # a plain path line: the test venv's own .pth files (the editable install) are not run
    Path(site, "app-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _pod_from_template(manifest: str = "chatbot.yaml") -> dict[str, Any]:
    """The pod a Deployment of ``k8s/demo/`` creates, as the API server sends it."""
    docs = yaml.safe_load_all((REPO / "k8s/demo" / manifest).read_text())
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    template = deployment["spec"]["template"]
    labels = {**template["metadata"]["labels"], "pod-template-hash": "5d8f7c9b6d"}
    name = deployment["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{name}-5d8f7c9b6d-",
            "namespace": NAMESPACE,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{name}-5d8f7c9b6d",
                    "uid": "5a0c9d5e-0d6f-4c1e-8a53-3f1e3c9b2f10",
                    "controller": True,
                }
            ],
        },
        "spec": template["spec"],
    }


@pytest.mark.parametrize("manifest", ["chatbot.yaml", "server.yaml"])
def test_demo_pods_are_injected_into_valid_pods(webhook: Webhook, manifest: str) -> None:
    original = _pod_from_template(manifest)
    pod = webhook.admit(original, namespace=NAMESPACE).pod
    kubernetes_validate.validate(pod, "1.37.0", strict=True)
    assert pod["spec"]["initContainers"][0]["image"].endswith("-py3.11")  # the demo's Python
    service = original["metadata"]["labels"]["llm-instrument.io/service-name"]
    assert kubelet_env(pod["spec"]["containers"][0])["OTEL_SERVICE_NAME"] == service


def test_injected_chatbot_pod_sends_spans_with_kubernetes_attributes(
    webhook: Webhook,
    agent_image: Path,
    app_python: Path,
    otlp: OTLPReceiver,
    tmp_path: Path,
) -> None:
    if not (REPO / "demo_chatbot" / "app.py").exists():
        pytest.skip("demo_chatbot not present")
    pod = webhook.admit(_pod_from_template(), namespace=NAMESPACE).pod
    (init,) = pod["spec"]["initContainers"]
    (container,) = pod["spec"]["containers"]

    # the init container's copy step, paths mapped
    volume = tmp_path / "volume"
    volume.mkdir()
    paths = {options.IMAGE_DIST: str(agent_image), options.MOUNT_PATH: str(volume)}
    subprocess.run([_map(arg, paths) for arg in init["command"]], check=True, timeout=60)
    assert (volume / "bootstrap" / "sitecustomize.py").is_file()

    # the application image's files and a Python without the agent
    app_dir = tmp_path / "app"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "demo_chatbot", app_dir / "demo_chatbot", ignore=ignore)
    bare = {"PATH": f"{app_python.parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    probe = subprocess.run(
        [app_python, "-c", "import llm_instrument"], env=bare, cwd=app_dir, capture_output=True
    )
    assert probe.returncode != 0, "the application image must not contain the agent"

    # exactly the patched container's environment, as the kubelet resolves it
    resolved = kubelet_env(container)
    env = {**bare, **{k: _map(v, paths) for k, v in resolved.items()}}
    port, metrics_port = free_port(), free_port()
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint,
        LLM_INSTRUMENT_METRICS_PORT=str(metrics_port),
        OTEL_BSP_SCHEDULE_DELAY="200",
        CHATBOT_LLM="fake",
        CHATBOT_EMBEDDINGS="fake",
        CHATBOT_MODEL_CACHE=str(tmp_path / "cache"),
        HF_HOME=str(tmp_path / "hf"),
    )
    assert env["PYTHONPATH"] == str(volume / "bootstrap")
    assert env["LLM_INSTRUMENT_AGENT_SITE"] == str(volume / "site")

    where = subprocess.run(
        [app_python, "-c", "import llm_instrument; print(llm_instrument.__file__)"],
        env=env, cwd=app_dir, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert where.stdout.strip().startswith(str(volume / "site")), where.stdout + where.stderr

    # the image's command: uvicorn serving the chatbot
    command = ["-m", "uvicorn", "demo_chatbot.app:app", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        [app_python, *command],
        env=env, cwd=app_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=90, proc=server)
        answer = json.loads(get(f"http://127.0.0.1:{port}/"))
        assert answer["data"]
        metrics = get(f"http://127.0.0.1:{metrics_port}/metrics").decode()
        spans = otlp.wait_for(
            lambda s: any(x["kind"] == "SERVER" and x["name"] == "GET /" for x in s), timeout=30
        )
    finally:
        stop(server)

    server_span = next(s for s in spans if s["kind"] == "SERVER" and s["name"] == "GET /")
    resource = server_span["resource"]
    assert resource["service.name"] == "demo-chatbot"  # the llm-instrument.io/service-name label
    assert resource["k8s.namespace.name"] == NAMESPACE
    assert resource["k8s.pod.name"] == POD_NAME
    assert resource["k8s.node.name"] == NODE_NAME
    assert resource["k8s.container.name"] == "chatbot"
    assert "# TYPE" in metrics or "# HELP" in metrics

"""The agent image's recipe agrees with the package and the webhook (static: no Docker here).

The pinned requirements must satisfy ``pyproject.toml``, be hash-checked and pure Python; the
image's default command and paths must be the ones the webhook injects.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from llm_instrument.webhook import mutate, options

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "agent.Dockerfile"
REQUIREMENTS = REPO / "docker" / "agent-requirements.txt"


def _pins() -> dict[str, str]:
    text = REQUIREMENTS.read_text().replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert "--hash=sha256:" in line, f"unhashed requirement: {line}"
        name, version = line.split()[0].split("==")
        pins[canonicalize_name(name)] = version
    return pins


def test_pinned_requirements_satisfy_the_package_dependencies() -> None:
    pins = _pins()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for raw in project["dependencies"]:
        requirement = Requirement(raw)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} missing from {REQUIREMENTS.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (raw, pins[name])


def test_no_compiled_packages_are_pinned() -> None:
    # grpcio would tie the image to one libc; the injected agent exports OTLP over HTTP
    assert not {"grpcio", "opentelemetry-exporter-otlp-proto-grpc"} & set(_pins())


def test_dockerfile_is_parameterised_pinned_and_non_root() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_VERSION=3\.\d+$", text, re.MULTILINE)
    images = dict(re.findall(r"^ARG (\w+_IMAGE)=(\S+)$", text, re.MULTILINE))
    assert images["BUSYBOX_IMAGE"] == "busybox:1.37.0"
    assert images["PYTHON_IMAGE"] == "python:${PYTHON_VERSION}-slim-bookworm"
    assert all(line.split()[1].startswith("${") for line in re.findall(r"^FROM .*$", text, re.M))
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    for stage in stages[1:]:  # the images that ship: webhook and agent
        assert re.search(r"^USER 65532:65532$", stage, re.MULTILINE), stage.splitlines()[0]
    assert "--require-hashes" in text
    assert options.IMAGE_DIST in text


def test_image_default_command_is_the_injected_copy_step() -> None:
    (cmd,) = re.findall(r"^CMD (\[.*\])$", DOCKERFILE.read_text(), re.MULTILINE)
    assert json.loads(cmd) == mutate.init_command()

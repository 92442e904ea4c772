"""The real consumers, shared: one Phoenix server for the whole session (it takes 10-20 s
to start); each test files its spans under a project of its own."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.support.phoenix import Phoenix, phoenix_server


@pytest.fixture(scope="session")
def phoenix() -> Iterator[Phoenix]:
    with phoenix_server() as server:
        yield server


@pytest.fixture
def phoenix_project(request: pytest.FixtureRequest) -> str:
    """A Phoenix project name unique to the test (its node name, made URL-safe)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")

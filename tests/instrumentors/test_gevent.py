"""The gevent plugin: spawned greenlets inherit the starter's context, lazily, reversibly."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.support.processes import agent_env

pytest.importorskip("gevent")

_SCRIPT = """
import contextvars, sys
from llm_instrument.agent import config, registry
import llm_instrument.instrumentors.gevent
print("imported-before-start", "gevent" in sys.modules)
registry.install(config.load())
import gevent, gevent.pool
var = contextvars.ContextVar("var", default="empty")
var.set("starter")

def seen():
    return [gevent.spawn(var.get).get(), *gevent.pool.Pool(2).map(lambda _: var.get(), range(2))]

print("patched", seen(), registry.statuses()["gevent"])
plugin = registry.discover()["gevent"].plugin
plugin.patch(gevent)  # a second patch adds nothing
print("twice", seen())
registry.uninstall()
print("unpatched", seen(), registry.statuses()["gevent"])
"""


def test_greenlets_start_in_the_starters_context_until_unpatched(tmp_path: object) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_SCRIPT)],
        env=agent_env(LLM_INSTRUMENT_EXPORTER="none"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "imported-before-start False",
        "patched ['starter', 'starter', 'starter'] patched",
        "twice ['starter', 'starter', 'starter']",
        "unpatched ['empty', 'empty', 'empty'] unpatched",
    ]

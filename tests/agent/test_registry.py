"""The plugin mechanism's lifecycle, each case in a fresh interpreter (dd-trace's shared
patch test): importing an instrumentor leaves its target unimported; the target is patched
whether it is imported before or after start; patching twice wraps once; unpatch restores
the originals; an unsupported version is skipped with one DEBUG line; a failing patch costs
one WARNING and never the application's import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import agent_env

PRELUDE = """\
import sys
from llm_instrument.agent import config, registry

def depth(obj):
    n = 0
    while hasattr(obj, "__wrapped__"):
        obj, n = obj.__wrapped__, n + 1
    return n

def start():
    return registry.install(config.load())
"""


@dataclass(frozen=True)
class Case:
    plugin: str
    target: str  # the module whose import triggers the patch
    attribute: str  # expression for the patched object, once ``target`` is imported
    depth: str  # expression: how many times the attribute is wrapped


CASES = [
    Case("requests", "requests", "requests.Session.send", "depth(requests.Session.send)"),
    Case(
        "fastapi",
        "fastapi",
        "fastapi.FastAPI",
        "sum(c.__name__ == '_InstrumentedFastAPI' for c in fastapi.FastAPI.__mro__)",
    ),
    Case(
        "threading",
        "concurrent.futures.thread",
        "concurrent.futures.thread.ThreadPoolExecutor.submit",
        "depth(concurrent.futures.thread.ThreadPoolExecutor.__dict__['submit'])",
    ),
]
IDS = [case.plugin for case in CASES]


def _run(code: str, cwd: Path, **env: str) -> str:
    """Run PRELUDE + code in a fresh interpreter (no agent bootstrap); return its stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        env=agent_env(LLM_INSTRUMENT_EXPORTER="none", **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("case", [c for c in CASES if c.plugin != "threading"], ids=IDS[:2])
def test_importing_the_instrumentor_leaves_the_target_unimported(
    case: Case, tmp_path: Path
) -> None:
    out = _run(
        f"""
        import llm_instrument.instrumentors.{case.plugin} as plugin_module
        assert plugin_module.PLUGIN.name == {case.plugin!r}
        start()
        print({case.target!r} in sys.modules, registry.statuses()[{case.plugin!r}])
        """,
        tmp_path,
    )
    assert out == "False waiting for import\n"


@pytest.mark.parametrize("order", ["import-then-start", "start-then-import"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_patched_whether_imported_before_or_after_start(
    case: Case, order: str, tmp_path: Path
) -> None:
    first, second = (
        ("import {t}", "start()")
        if order.startswith("import")
        else (
            "start()",
            "import {t}",
        )
    )
    out = _run(
        f"""
        {first.format(t=case.target)}
        {second.format(t=case.target)}
        import {case.target}
        print({case.depth}, registry.statuses()[{case.plugin!r}])
        """,
        tmp_path,
    )
    assert out == "1 patched\n"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_patching_twice_wraps_once_and_unpatch_restores(case: Case, tmp_path: Path) -> None:
    out = _run(
        f"""
        import {case.target}
        original = {case.attribute}
        entries = start()
        plugin = entries[{case.plugin!r}].plugin
        module = sys.modules[{case.target!r}]
        plugin.patch(module)
        plugin.patch(module)
        print({case.depth}, {case.attribute} is original)
        registry.uninstall()
        print({case.depth}, {case.attribute} is original, registry.statuses()[{case.plugin!r}])
        """,
        tmp_path,
    )
    assert out == "1 False\n0 True unpatched\n"


def test_disabled_plugin_is_left_alone(tmp_path: Path) -> None:
    out = _run(
        """
        start()
        import requests
        print(depth(requests.Session.send), registry.statuses()["requests"])
        """,
        tmp_path,
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="requests, fastapi",
    )
    assert out == "0 disabled\n"


def _fake_plugins(site: Path) -> None:
    """``oldlib`` 0.5 (installed) with a plugin that wants >=1, and ``brittle`` whose plugin
    raises in ``patch``."""
    site.mkdir()
    (site / "oldlib.py").write_text("VALUE = 'old'\n")
    (site / "brittle.py").write_text("VALUE = 'brittle'\n")
    (site / "fake_plugins.py").write_text(
        textwrap.dedent("""\
        from llm_instrument.agent.plugin import Plugin

        def patch_old(module):
            module.VALUE = 'patched'

        def patch_brittle(module):
            raise RuntimeError('boom')

        def nothing(module):
            pass

        OLD = Plugin(name="oldlib", hooks=("oldlib",), distribution="oldlib",
                     supported=">=1", patch=patch_old, unpatch=nothing)
        BRITTLE = Plugin(name="brittle", hooks=("brittle",), distribution=None,
                         supported="", patch=patch_brittle, unpatch=nothing)
        """)
    )
    old = site / "oldlib-0.5.dist-info"
    old.mkdir()
    (old / "METADATA").write_text("Metadata-Version: 2.1\nName: oldlib\nVersion: 0.5\n")
    plugins = site / "fake_plugins-1.0.dist-info"
    plugins.mkdir()
    (plugins / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugins\nVersion: 1.0\n")
    (plugins / "entry_points.txt").write_text(
        "[llm_instrument.instrumentors]\n"
        "oldlib = fake_plugins:OLD\n"
        "brittle = fake_plugins:BRITTLE\n"
    )


LOG_CAPTURE = """
import logging
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record)
logger = logging.getLogger("llm_instrument")
logger.addHandler(Keep())
logger.setLevel(logging.DEBUG)
"""


def test_unsupported_version_is_skipped_with_one_debug_line(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _fake_plugins(site)
    out = _run(
        LOG_CAPTURE
        + """
start()
import oldlib
import oldlib  # a second import must not report again
mine = [r for r in records if "oldlib" in r.getMessage()]
print(oldlib.VALUE, registry.statuses()["oldlib"])
print([(r.levelname, r.getMessage()) for r in mine])
""",
        tmp_path,
        PYTHONPATH=str(site),
    )
    first, second = out.splitlines()
    assert first == "old skipped: oldlib 0.5 not in supported range >=1"
    assert second == (
        "[('DEBUG', 'llm-instrument: plugin oldlib skipped: "
        "oldlib 0.5 not in supported range >=1')]"
    )


def test_failing_patch_warns_once_and_the_import_succeeds(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _fake_plugins(site)
    out = _run(
        LOG_CAPTURE
        + """
start()
import brittle
print(brittle.VALUE, registry.statuses()["brittle"])
print([r.levelname for r in records if "brittle" in r.getMessage()])
""",
        tmp_path,
        PYTHONPATH=str(site),
    )
    assert out == "brittle failed: RuntimeError('boom')\n['WARNING']\n"


def test_list_reports_the_skip_reason(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _fake_plugins(site)
    out = _run(
        """
        from llm_instrument.cli import plugins as plugins_cli
        rows = {r["name"]: r for r in plugins_cli.rows()}
        print(rows["oldlib"]["installed"], "|", rows["oldlib"]["state"])
        """,
        tmp_path,
        PYTHONPATH=str(site),
    )
    assert out == "0.5 | skipped: oldlib 0.5 not in supported range >=1\n"

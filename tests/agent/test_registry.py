"""The registry with plugins of its own making, each case in a fresh interpreter: an
unsupported version is skipped with one DEBUG line, a failing patch costs one WARNING and
never the application's import, ``list`` gives the skip reason. The lifecycle of every
built-in plugin is ``tests/instrumentors/test_lifecycle.py``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.processes import agent_env

PRELUDE = """\
import sys
from llm_instrument.agent import config, registry

def start():
    return registry.install(config.load())
"""


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

"""The launcher and the bootstrap, end to end: real processes under ``llm-instrument``,
spans checked at a real OTLP/HTTP receiver."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.otlp_receiver import OTLPReceiver, by_name
from tests.support.processes import LAUNCHER, VENV_BIN, agent_env, free_port, run_traced

APPS = Path(__file__).resolve().parent.parent / "apps"
PYTHON = str(VENV_BIN / "python")


def _agent_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("llm-instrument")]


def test_short_script_loses_no_spans(otlp: OTLPReceiver, tmp_path: Path) -> None:
    # the batch delay is far longer than the script: only the exit flush can deliver
    env = agent_env(otlp.endpoint, OTEL_BSP_SCHEDULE_DELAY="30000")
    proc = run_traced(["python", str(APPS / "spans_script.py"), "300"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("done 300 spans")
    spans = otlp.wait_for(lambda s: len(s) >= 301, timeout=10)
    assert len(by_name(spans, "work")) == 300
    (root,) = by_name(spans, "script-root")
    assert all(s["parent_span_id"] == root["span_id"] for s in by_name(spans, "work"))
    assert root["resource"]["service.name"] == "spans_script"
    assert root["resource"]["process.pid"] == int(proc.stdout.split("pid=")[1])


def test_torch_is_not_imported(tmp_path: Path) -> None:
    assert importlib.util.find_spec("torch") is not None, "torch must be installed for this test"
    proc = run_traced(
        ["python", "-c", "import sys; print('torch' in sys.modules)"], agent_env(), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "False\n"
    assert proc.stderr == ""


@pytest.mark.parametrize("endpoint", ["closed", "blackhole"])
def test_dead_endpoint_changes_nothing(endpoint: str, blackhole: str, tmp_path: Path) -> None:
    url = blackhole if endpoint == "blackhole" else f"http://127.0.0.1:{free_port()}"
    args = ["python", str(APPS / "spans_script.py"), "50", "3"]
    bare = subprocess.run(
        [PYTHON, *args[1:]], env=agent_env(), cwd=tmp_path, capture_output=True, text=True
    )
    start = time.monotonic()
    # the OTLP timeout (10 s by default, 30 s here) would hold the exit without the budget
    traced = run_traced(args, agent_env(url, OTEL_EXPORTER_OTLP_TIMEOUT="30"), cwd=tmp_path)
    elapsed = time.monotonic() - start
    assert (bare.returncode, traced.returncode) == (3, 3)
    assert traced.stdout.split(" in ")[0] == bare.stdout.split(" in ")[0] == "done 50 spans"
    assert elapsed < 10, f"exit held for {elapsed:.1f}s by a dead collector"


def test_sigterm_flushes_finished_spans_and_dies_by_the_signal(
    otlp: OTLPReceiver, tmp_path: Path
) -> None:
    env = agent_env(otlp.endpoint, OTEL_BSP_SCHEDULE_DELAY="30000")
    proc = subprocess.Popen(
        [LAUNCHER, "python", str(APPS / "spans_script.py"), "20", "0", "--wait"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert lines[1] == "ready\n", lines
        assert otlp.snapshot() == []  # nothing sent yet: the batch delay is 30 s
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGTERM
    spans = otlp.wait_for(lambda s: len(s) >= 21, timeout=5)
    assert len(by_name(spans, "work")) == 20


def test_child_processes_are_traced(otlp: OTLPReceiver, tmp_path: Path) -> None:
    proc = run_traced(["python", str(APPS / "children.py")], agent_env(otlp.endpoint), tmp_path)
    assert proc.returncode == 0, proc.stderr
    pids = {
        line.split()[-2] if line.startswith("child") else "parent": int(line.split("pid=")[1])
        for line in proc.stdout.splitlines()
    }
    spans = otlp.wait_for(
        lambda s: {"parent", "child-subprocess", "child-spawn"} <= {x["name"] for x in s}
    )
    for name, key in (
        ("parent", "parent"),
        ("child-subprocess", "subprocess"),
        ("child-spawn", "spawn"),
    ):
        (span,) = by_name(spans, name)
        assert span["resource"]["process.pid"] == pids[key], name
    assert len({pids["parent"], pids["subprocess"], pids["spawn"]}) == 3


def test_application_sitecustomize_still_runs(otlp: OTLPReceiver, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import os\nos.environ['APP_SITE_RAN'] = 'yes'\n")
    env = agent_env(otlp.endpoint, PYTHONPATH=str(site))
    code = "import os; print(os.environ.get('APP_SITE_RAN'))\n" + (
        "from opentelemetry import trace\n"
        "with trace.get_tracer('t').start_as_current_span('after-app-site'): pass"
    )
    proc = run_traced(["python", "-c", code], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "yes\n"
    otlp.wait_for(lambda s: by_name(s, "after-app-site"))


def test_double_dash_runs_a_program_named_like_a_subcommand(tmp_path: Path) -> None:
    program = tmp_path / "view"
    program.write_text(f"#!{PYTHON}\nimport sys\nprint('program view', sys.argv[1:])\n")
    program.chmod(0o755)
    env = agent_env(PATH=f"{tmp_path}{os.pathsep}{agent_env()['PATH']}")
    proc = run_traced(["--", "view", "--limit", "x"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "program view ['--limit', 'x']\n"


def test_help_and_bad_options(tmp_path: Path) -> None:
    helped = run_traced(["--help"], agent_env(), cwd=tmp_path)
    assert helped.returncode == 0
    assert helped.stdout.startswith("usage: llm-instrument")
    for flag in ("--exporter", "--endpoint", "--service-name", "view", "list"):
        assert flag in helped.stdout

    for args, reason in (
        (["--exporter", "bogus", "python", "-c", "pass"], "--exporter: bogus is not one of"),
        (["--no-such-option", "python", "-c", "pass"], "unrecognized"),
        (["--metrics-port", "70000", "python", "-c", "pass"], "--metrics-port"),
        ([], "no command given"),
    ):
        proc = run_traced(args, agent_env(), cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stdout == ""
        errors = [line for line in proc.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and reason in errors[0], (args, proc.stderr)
        assert "Traceback" not in proc.stderr

    missing = run_traced(["no-such-program-xyz"], agent_env(), cwd=tmp_path)
    assert missing.returncode == 127
    assert missing.stderr == "llm-instrument: command not found: no-such-program-xyz\n"


def test_bad_environment_value_warns_once_and_the_app_runs(
    otlp: OTLPReceiver, tmp_path: Path
) -> None:
    env = agent_env(
        otlp.endpoint,
        LLM_INSTRUMENT_MAX_CONTENT_LENGTH="lots",
        LLM_INSTRUMENT_CAPTURE_CONTENT="maybe",
    )
    proc = run_traced(["python", str(APPS / "spans_script.py"), "3"], env, cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.startswith("done 3 spans")
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "LLM_INSTRUMENT_MAX_CONTENT_LENGTH" in lines[0]
    assert "LLM_INSTRUMENT_CAPTURE_CONTENT" in lines[0]
    otlp.wait_for(lambda s: len(s) >= 4)


def test_list_shows_plugins_and_their_state(tmp_path: Path) -> None:
    env = agent_env(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="requests")
    proc = run_traced(["list", "--format", "json"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert rows["fastapi"]["state"] == "enabled"
    assert rows["fastapi"]["source"] == "built-in"
    assert rows["requests"]["state"] == "disabled"
    assert rows["threading"]["installed"] == "stdlib"
    text = run_traced(["list"], agent_env(), cwd=tmp_path)
    assert text.returncode == 0
    assert text.stdout.split()[:6] == [
        "NAME",
        "TARGET",
        "INSTALLED",
        "SUPPORTED",
        "STATE",
        "SOURCE",
    ]
    assert any(
        line.split()[0] == "fastapi" and "enabled" in line for line in text.stdout.splitlines()
    )


def _third_party(tmp_path: Path) -> Path:
    """A plugin and an OpenTelemetry instrumentor 'installed' as a dist-info on a path."""
    site = tmp_path / "thirdparty"
    site.mkdir()
    (site / "acme_target.py").write_text("def greet():\n    return 'hello'\n")
    (site / "otel_target.py").write_text("def greet():\n    return 'hello'\n")
    (site / "acme_plugin.py").write_text(
        textwrap.dedent("""\
        from llm_instrument.agent.plugin import Plugin

        def patch(module):
            original = module.greet
            module.greet = lambda: original() + ' (acme-patched)'

        def unpatch(module):
            pass

        PLUGIN = Plugin(name="acme", hooks=("acme_target",), distribution=None, supported="",
                        patch=patch, unpatch=unpatch, description="test plugin")
        """)
    )
    (site / "acme_otel.py").write_text(
        textwrap.dedent("""\
        from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

        class AcmeInstrumentor(BaseInstrumentor):
            def instrumentation_dependencies(self):
                return ()

            def _instrument(self, **kwargs):
                import otel_target
                original = otel_target.greet
                otel_target.greet = lambda: original() + ' (otel-patched)'

            def _uninstrument(self, **kwargs):
                pass
        """)
    )
    dist = site / "acme_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent("""\
        [llm_instrument.instrumentors]
        acme = acme_plugin:PLUGIN

        [opentelemetry_instrumentor]
        otel_target = acme_otel:AcmeInstrumentor
        """)
    )
    return site


def test_third_party_plugins_apply_lazily(tmp_path: Path) -> None:
    site = _third_party(tmp_path)
    env = agent_env(PYTHONPATH=str(site), LLM_INSTRUMENT_EXPORTER="none")
    code = textwrap.dedent("""\
        import sys
        print(sorted(m for m in ('acme_target', 'otel_target', 'acme_otel') if m in sys.modules))
        import acme_target, otel_target
        print(acme_target.greet(), '|', otel_target.greet())
        """)
    proc = run_traced(["python", "-c", code], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[]\nhello (acme-patched) | hello (otel-patched)\n"
    assert proc.stderr == ""

    listed = run_traced(["list", "--format", "json"], env, cwd=tmp_path)
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["acme"]["source"] == "plugin acme_plugin:PLUGIN"
    assert rows["acme"]["state"] == "enabled"
    assert rows["otel_target"]["source"] == "opentelemetry acme_otel:AcmeInstrumentor"

    # the same program run bare is untouched: nothing of this is done by the plugins alone
    bare = subprocess.run(
        [PYTHON, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert bare.stdout == "[]\nhello | hello\n"


def test_launcher_runs_python_module_and_keeps_sys_argv(tmp_path: Path) -> None:
    (tmp_path / "argv_mod.py").write_text("import sys\nprint(sys.argv[1:])\n")
    proc = run_traced(["python", "-m", "argv_mod", "a b", "--c"], agent_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "['a b', '--c']\n"


_GC_STATE = "import gc; print(gc.isenabled(), [s['collections'] for s in gc.get_stats()])"


def test_start_up_leaves_the_collector_as_a_bare_start_does(tmp_path: Path) -> None:
    # the agent's start-up objects must not move the collector's counters on: ~70 young
    # collections of them put an extra full collection into the application's imports
    bare = subprocess.run(
        [PYTHON, "-c", _GC_STATE], env=agent_env(), cwd=tmp_path, capture_output=True, text=True
    )
    traced = run_traced(["python", "-c", _GC_STATE], agent_env(), cwd=tmp_path)
    assert traced.returncode == 0, traced.stderr
    bare_enabled, bare_counts = bare.stdout.split(" ", 1)
    enabled, counts = traced.stdout.split(" ", 1)
    assert (bare_enabled, enabled) == ("True", "True")
    (young, middle, full), (bare_young, bare_middle, bare_full) = (
        json.loads(counts),
        json.loads(bare_counts),
    )
    assert full == bare_full
    assert middle <= bare_middle + 1
    assert young <= bare_young + 5


_FREEZE_STATE = (
    "import gc\n"
    "frozen = gc.get_freeze_count()\n"
    "cycle = []\n"
    "cycle.append(cycle)\n"
    "del cycle\n"
    "print(frozen, gc.collect())\n"
)


@pytest.mark.parametrize("freeze", ["default", "false"])
def test_start_up_objects_are_frozen_and_the_apps_are_still_collected(
    freeze: str, tmp_path: Path
) -> None:
    # what exists once the agent has started stays out of later collections (the app's
    # first full collection skips it); the app's own garbage is collected as ever
    env = agent_env() if freeze == "default" else agent_env(LLM_INSTRUMENT_GC_FREEZE=freeze)
    traced = run_traced(["python", "-c", _FREEZE_STATE], env, cwd=tmp_path)
    assert traced.returncode == 0, traced.stderr
    frozen, collected = map(int, traced.stdout.split())
    assert collected >= 1
    if freeze == "default":
        assert frozen > 10_000  # the interpreter's, the SDK's and our modules and classes
    else:
        assert frozen == 0


_LAUNCH_IMPORTS = (
    "import os, sys\n"
    "before = set(sys.modules)\n"
    "from llm_instrument.cli import launcher\n"
    "os.execvpe = lambda *args: print(sorted(set(sys.modules) - before))\n"
    "launcher.main(['python', 'app.py'])\n"
)


def test_a_launch_loads_only_the_launcher(tmp_path: Path) -> None:
    # the launcher is a whole process before the app's: a bare launch imports no parser,
    # no logging and none of the agent
    result = subprocess.run(
        [PYTHON, "-c", _LAUNCH_IMPORTS], env=agent_env(), cwd=tmp_path, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    loaded = set(ast.literal_eval(result.stdout))
    assert {"llm_instrument.cli.launcher", "llm_instrument.envvars"} <= loaded
    heavy = {"argparse", "logging", "shutil", "shlex", "llm_instrument.agent"}
    assert not [m for m in loaded if m.partition(".")[0] in heavy or m.startswith(
        "llm_instrument.agent")], loaded  # fmt: skip


_NOT_AT_START_UP = (
    "google.protobuf",
    "opentelemetry.proto",
    "opentelemetry.exporter",
    "requests",
    "urllib3",
    "http.client",
    "llm_instrument.exporters.otlp_metrics",
)


def test_start_up_imports_no_exporter_machinery(otlp: OTLPReceiver, tmp_path: Path) -> None:
    # OTLP export of spans and metrics is configured, yet start-up imports none of the
    # encoding or sending code; metrics recorded later still reach the receiver at exit
    code = textwrap.dedent(f"""\
        import sys
        print(sorted(m for m in sys.modules if m.startswith({_NOT_AT_START_UP!r})))
        from opentelemetry import metrics
        metrics.get_meter("app").create_counter("app.calls").add(3, {{"k": "v"}})
        """)
    env = agent_env(otlp.endpoint, OTEL_METRIC_EXPORT_INTERVAL="60000")
    proc = run_traced(["python", "-c", code], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[]\n"
    assert proc.stderr == ""
    deadline = time.monotonic() + 10
    while not [m for m in otlp.metrics if m["name"] == "app.calls"]:
        assert time.monotonic() < deadline, "app.calls never arrived"
        time.sleep(0.1)
    (metric,) = [m for m in otlp.metrics if m["name"] == "app.calls"]
    assert metric["points"] == [{"attributes": {"k": "v"}, "value": 3}]

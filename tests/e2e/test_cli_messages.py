"""What the ``llm-instrument`` command says, as a user sees it: real commands, their exact
text. A Python file given as the command gets the ``llm-instrument python FILE`` hint; a bad
value is named with the setting and the value as typed, never in Python's words;
``--log-level info`` says where each process sends its spans and which plugins it applied,
``debug`` also which were left off and why; ``--help`` and ``list`` show every plugin's
declared settings."""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from llm_instrument.agent import config, registry
from tests.support.processes import agent_env, run_traced

PYTHON_WORDS = ("invalid literal", "None", "True", "False", "Traceback", "'")


def _agent_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "llm-instrument" in line]


def test_a_python_file_given_as_the_command_gets_the_python_hint(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text("print('hello')\n")
    bare = run_traced(["app.py"], agent_env(), cwd=tmp_path)
    assert bare.returncode == 127
    assert bare.stderr == (
        "llm-instrument: command not found: app.py (did you mean: llm-instrument python app.py?)\n"
    )
    dotted = run_traced(["./app.py"], agent_env(), cwd=tmp_path)
    assert dotted.returncode == 127
    assert dotted.stderr == (
        "llm-instrument: not an executable file: ./app.py "
        "(did you mean: llm-instrument python ./app.py?)\n"
    )
    app.chmod(0o755)  # executable, but no #! line
    no_shebang = run_traced(["./app.py"], agent_env(), cwd=tmp_path)
    assert no_shebang.returncode == 126
    assert no_shebang.stderr == (
        "llm-instrument: cannot run ./app.py: Exec format error "
        "(did you mean: llm-instrument python ./app.py?)\n"
    )
    missing = run_traced(["./gone.py"], agent_env(), cwd=tmp_path)
    assert missing.returncode == 127
    assert missing.stderr.startswith("llm-instrument: no such file: ./gone.py (did you mean")
    works = run_traced(["python", "app.py"], agent_env(LLM_INSTRUMENT_EXPORTER="none"), tmp_path)
    assert (works.returncode, works.stdout) == (0, "hello\n"), works.stderr


@pytest.mark.parametrize(
    ("flag", "value", "reason"),
    [
        ("--metrics-port", "abc", "not a port number from 1 to 65535"),
        ("--metrics-port", "70000", "not a port number from 1 to 65535"),
        ("--max-content-length", "0", "not a whole number above 0"),
        ("--exporter", "kafka", "not one of otlp, console, local, none"),
        ("--log-level", "loud", "not one of debug, info, warning, error"),
    ],
)
def test_a_bad_option_names_the_flag_and_the_value(
    flag: str, value: str, reason: str, tmp_path: Path
) -> None:
    proc = run_traced([flag, value, "python", "-c", "pass"], agent_env(), cwd=tmp_path)
    assert proc.returncode == 2
    last = proc.stderr.splitlines()[-1]
    assert last == f"llm-instrument: error: argument {flag}: {value} is {reason}"


def test_bad_environment_values_are_one_line_in_the_users_words(tmp_path: Path) -> None:
    env = agent_env(
        LLM_INSTRUMENT_EXPORTER="none",
        LLM_INSTRUMENT_METRICS_PORT="abc",
        LLM_INSTRUMENT_CAPTURE_CONTENT="maybe",
        LLM_INSTRUMENT_MAX_CONTENT_LENGTH="lots",
        LLM_INSTRUMENT_FASTAPI_ASGI_SPANS="sometimes",
        GEVENT_ENABLE="perhaps",
    )
    proc = run_traced(["python", "-c", "print('ran')"], env, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "ran\n"
    (line,) = proc.stderr.splitlines()
    assert line.startswith("llm-instrument: ")
    assert sorted(line.removeprefix("llm-instrument: ").split("; ")) == [
        "GEVENT_ENABLE=perhaps ignored (not true or false), using false",
        "LLM_INSTRUMENT_CAPTURE_CONTENT=maybe ignored (not true or false), using true",
        "LLM_INSTRUMENT_FASTAPI_ASGI_SPANS=sometimes ignored (not true or false), using false",
        "LLM_INSTRUMENT_MAX_CONTENT_LENGTH=lots ignored (not a whole number above 0), using 4096",
        "LLM_INSTRUMENT_METRICS_PORT=abc ignored (not a port number from 1 to 65535), left unset",
    ]
    for words in PYTHON_WORDS:
        assert words not in line


def test_a_plugin_setting_parsed_by_int_is_still_in_the_users_words() -> None:
    settings = config.load({"LLM_INSTRUMENT_DEMO_LIMIT": "abc"})
    limit = config.Setting("LLM_INSTRUMENT_DEMO_LIMIT", 3, "", int)
    assert config.check_plugin_settings(settings, [limit]) == [
        "LLM_INSTRUMENT_DEMO_LIMIT=abc ignored (not a whole number), using 3"
    ]


def test_doctor_reports_a_bad_plugin_setting_in_the_users_words(tmp_path: Path) -> None:
    env = agent_env(LLM_INSTRUMENT_FASTAPI_ASGI_SPANS="sometimes")
    proc = run_traced(["doctor"], env, cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert (
        "[ok  ] settings: exporter local, content capture true, 4096 characters kept per value"
        in lines
    )
    assert (
        "[FAIL] settings: LLM_INSTRUMENT_FASTAPI_ASGI_SPANS=sometimes ignored "
        "(not true or false), using false"
    ) in lines


def test_a_bad_webhook_flag_names_the_flag_and_the_value(tmp_path: Path) -> None:
    proc = run_traced(["webhook", "--metrics-port", "abc"], agent_env(), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (
        "llm-instrument webhook: error: --metrics-port abc: "
        "not a port number from 0 to 65535 (0 for none)"
    )


CHILD = textwrap.dedent(
    """
    import os, subprocess, sys
    import requests
    print(os.getpid())
    subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True)
    """
)


def test_log_level_info_says_where_each_process_sends_spans_and_what_it_patched(
    tmp_path: Path,
) -> None:
    proc = run_traced(
        ["--log-level", "info", "--service-name", "shop", "python", "-c", CHILD],
        agent_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    pids = [int(pid) for pid in proc.stdout.split()]
    started = [line for line in _agent_lines(proc.stderr) if "started in pid" in line]
    store = os.path.join(tmp_path, ".llm-instrument", "traces.db")
    assert [line.split(" INFO ", 1)[1] for line in started] == [
        f"llm-instrument: started in pid {pid}: service shop, exporter local to {store}"
        for pid in pids
    ]
    applied = [line for line in _agent_lines(proc.stderr) if "applied" in line]
    requests_lines = [line for line in applied if "plugin requests applied" in line]
    assert len(requests_lines) == 1  # the parent imports requests, the child does not
    assert re.search(r"\(requests [\d.]+, on import of requests\)$", requests_lines[0])
    assert not any(" DEBUG " in line for line in proc.stderr.splitlines())


def test_log_level_debug_also_says_which_plugins_are_off_and_why(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "ghost_plugin.py").write_text(
        "from llm_instrument.agent.plugin import Plugin\n"
        "def nothing(module):\n    pass\n"
        "PLUGIN = Plugin(name='ghost', hooks=('ghostlib',), distribution='ghostlib',\n"
        "                supported='>=1', patch=nothing, unpatch=nothing)\n"
    )
    meta = site / "ghost_plugin-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: ghost-plugin\nVersion: 1.0\n")
    (meta / "entry_points.txt").write_text(
        "[llm_instrument.instrumentors]\nghost = ghost_plugin:PLUGIN\n"
    )
    env = agent_env(PYTHONPATH=str(site), OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="requests")
    proc = run_traced(["--log-level", "debug", "python", "-c", "pass"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    messages = [
        line.split(" DEBUG ", 1)[1] for line in proc.stderr.splitlines() if " DEBUG " in line
    ]
    assert "llm-instrument: plugin ghost skipped: ghostlib not installed" in messages
    assert (
        "llm-instrument: plugin requests disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
        in messages
    )
    assert sum("started in pid" in line for line in proc.stderr.splitlines()) == 1


def _declared() -> list[tuple[str, config.Setting]]:
    return [
        (name, setting)
        for name, entry in sorted(registry.discover().items())
        for setting in entry.plugin.settings
    ]


def test_help_lists_every_declared_plugin_setting(tmp_path: Path) -> None:
    proc = run_traced(["--help"], agent_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    section = proc.stdout.split("plugin settings", 1)[1]
    declared = _declared()
    assert declared, "no plugin declares a setting"
    for name, setting in declared:
        block = section.split(f"  {setting.env}={setting.metavar}\n", 1)[1].split("\n  LLM_")[0]
        assert f"(default {config.shown(setting.default)}; plugin {name})" in " ".join(
            block.split()
        )


def test_list_shows_each_plugins_settings(tmp_path: Path) -> None:
    declared = _declared()
    env_name, first = declared[0][0], declared[0][1]
    env = agent_env(**{first.env: "bogus"})
    proc = run_traced(["list", "--format", "json"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    for name, setting in declared:
        (shown,) = [s for s in rows[name]["settings"] if s["env"] == setting.env]
        assert shown["default"] == config.shown(setting.default)
        assert shown["meaning"] == setting.help
    (bad,) = [s for s in rows[env_name]["settings"] if s["env"] == first.env]
    assert bad["value"] == "bogus"
    assert bad["problem"].startswith(f"{first.env}=bogus ignored (")

    text = run_traced(["list"], env, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    table = text.stdout.split("\n\n", 1)[1].splitlines()
    assert table[0].split() == ["SETTING", "DEFAULT", "VALUE", "MEANING"]
    for _, setting in declared:
        (line,) = [row for row in table if row.startswith(setting.env + " ")]
        value = "bogus" if setting is first else "-"
        assert line.split()[1:3] == [config.shown(setting.default), value]
    assert f"warning: {first.env}=bogus ignored (" in text.stdout

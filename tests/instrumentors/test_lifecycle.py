"""One lifecycle test for every built-in plugin, each case in a fresh interpreter (the way
dd-trace's ``PatchTestCase`` works).

The plugins are read from the installed ``llm_instrument.instrumentors`` entry points, so a
plugin added later is covered as soon as it is registered. What to probe comes from the
plugin's own ``Wrapping`` table (``plugin.wrapping``): the attributes its rows replace and the
originals it saved, never a hand-kept list. For every plugin:

- importing the plugin module imports none of its targets;
- it is patched whether the target is imported before or after the agent starts;
- patching twice changes nothing (one wrap);
- unpatch puts back exactly the originals (``is``), patch-unpatch-patch works again;
- ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` leaves it alone, with one DEBUG line;
- an unsupported version is skipped with one DEBUG line and ``skipped:`` in ``llm-instrument
  list``.

A plugin whose target is not installed here is skipped, with the reason. A ``Callback`` row
(gevent) replaces no attribute, so only its books are checked here; ``test_gevent.py``
shows its effect. That an alias
captured while patched goes quiet after unpatch is shown by calling one, for a ``Wrap`` row
(threading) and for a contrib instrumentor's gated replacement (requests).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from llm_instrument.agent import registry
from tests.support.processes import LAUNCHER, agent_env

ROOT = Path(__file__).resolve().parents[2]
DISABLED = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"


def _builtin_entry_points() -> list[registry.EntryPointRef]:
    eps, _ = registry.scan_entry_points((registry.PLUGIN_GROUP,))
    seen: dict[str, registry.EntryPointRef] = {}
    for ep in eps[registry.PLUGIN_GROUP]:
        if ep.value.startswith("llm_instrument.") and ep.name not in seen:
            seen[ep.name] = ep
    return sorted(seen.values(), key=lambda ep: ep.name)


PLUGINS = _builtin_entry_points()
IDS = [ep.name for ep in PLUGINS]

# Shared by every scenario: load the plugin record from its entry point, and helpers that
# read what its Wrapping table replaced.
PRELUDE = """
import importlib, json, logging, sys
before = set(sys.modules)
NAME, VALUE = sys.argv[1], sys.argv[2]
module_name, _, attr = VALUE.partition(":")
plugin = getattr(importlib.import_module(module_name), attr)
imported = sorted(set(sys.modules) - before)
from llm_instrument.agent import config, registry
import wrapt

records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record)
logger = logging.getLogger("llm_instrument")
logger.addHandler(Keep())
logger.setLevel(logging.DEBUG)

wrapping = plugin.wrapping
report = {"has_wrapping": wrapping is not None}
if wrapping is None:
    print(json.dumps(report))
    sys.exit(0)
report["kinds"] = sorted({type(row).__name__ for row in wrapping.rows})

def import_targets():
    modules = []
    for name in plugin.hooks:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            pass  # a hook for another version's layout
    return modules

def declared(modules):
    '''(module, path) -> what is there now, for every attribute the table replaces.'''
    found = {}
    for module in modules:
        for path in wrapping.replaced(module.__name__):
            try:
                found[(module.__name__, path)] = wrapt.resolve_path(module, path)
            except AttributeError:
                pass  # an optional row this version lacks
    return found

def now(place):
    parent, name, _ = place
    return parent.__dict__[name]

def applied():
    return sorted("|".join(key) for key in wrapping.patched_paths())

def mine():
    return [(r.levelname, r.getMessage()) for r in records if f"plugin {NAME} " in r.getMessage()]
"""

SCENARIOS = {
    # the agent starts first, the application imports the targets afterwards
    "start-then-import": """
# a library's whole package counts; for the stdlib, the hooked modules themselves
tops = {h.split(".")[0] for h in plugin.hooks} if plugin.distribution else set(plugin.hooks)
report["imported_targets"] = [m for m in imported if m in tops or m.split(".")[0] in tops]
report["loaded_by_python"] = [h for h in plugin.hooks if h in before]  # threading
registry.install(config.load())
report["status_before_import"] = registry.statuses()[NAME]
modules = import_targets()
report["status"] = registry.statuses()[NAME]
report["applied"] = applied()
places = wrapping.originals()
report["replaced"] = sorted("|".join(k) for k in places)
report["all_replaced"] = all(now(p) is not p[2] for p in places.values())
first = {k: now(p) for k, p in places.items()}
for module in modules:
    plugin.patch(module)
report["twice_applied"] = applied()
report["twice_same"] = all(now(places[k]) is v for k, v in first.items())
""",
    # the application imported the targets before the agent started
    "import-then-start": """
modules = import_targets()
before_patch = declared(modules)
registry.install(config.load())
report["status"] = registry.statuses()[NAME]
report["applied"] = applied()
places = wrapping.originals()
report["declared"] = sorted("|".join(k) for k in before_patch)
report["saved_the_originals"] = all(
    places[k][2] is before_patch[k][2] for k in before_patch if k in places
)
report["all_replaced"] = all(now(p) is not p[2] for p in places.values())
first = {k: now(p) for k, p in places.items()}
for module in modules:
    plugin.patch(module)
report["twice_same"] = all(now(places[k]) is v for k, v in first.items())
registry.uninstall()
report["unpatched_status"] = registry.statuses()[NAME]
report["applied_after_unpatch"] = applied()
report["restored"] = all(now(p) is p[2] for p in places.values())
for module in modules:
    plugin.patch(module)
report["repatched_applied"] = applied()
report["repatched"] = all(now(p) is not p[2] for p in wrapping.originals().values())
for module in modules:
    plugin.unpatch(module)
report["restored_again"] = all(now(p) is p[2] for p in places.values())
""",
    "disabled": """
modules = import_targets()
before_patch = declared(modules)
registry.install(config.load())
import_targets()
report["status"] = registry.statuses()[NAME]
report["applied"] = applied()
report["untouched"] = all(now(p) is p[2] for p in before_patch.values())
report["log"] = mine()
""",
    "unsupported": """
modules = import_targets()
before_patch = declared(modules)
registry.install(config.load())
import_targets()
report["status"] = registry.statuses()[NAME]
report["applied"] = applied()
report["untouched"] = all(now(p) is p[2] for p in before_patch.values())
report["log"] = mine()
""",
}


def _script(body: str, ep: registry.EntryPointRef) -> list[str]:
    code = PRELUDE + body + "\nprint(json.dumps(report))\n"
    return [sys.executable, "-c", code, ep.name, ep.value]


def _run(scenario: str, ep: registry.EntryPointRef, cwd: Path = ROOT, **env: str) -> dict[str, Any]:
    proc = subprocess.run(
        _script(SCENARIOS[scenario], ep),
        env=agent_env(LLM_INSTRUMENT_EXPORTER="none", **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["has_wrapping"], f"{ep.name}: its Plugin record has no Wrapping table"
    return report


@cache
def _record(ep: registry.EntryPointRef) -> Any:
    return ep.load()


def _require_target(ep: registry.EntryPointRef) -> None:
    reason = registry.unsupported_reason(_record(ep))
    if reason is not None:
        pytest.skip(f"{ep.name}: {reason}")


@cache
def _report(scenario: str, ep: registry.EntryPointRef) -> dict[str, Any]:
    return _run(scenario, ep)


@pytest.fixture(params=PLUGINS, ids=IDS)
def plugin_ep(request: pytest.FixtureRequest) -> registry.EntryPointRef:
    ep: registry.EntryPointRef = request.param
    _require_target(ep)
    return ep


def test_importing_the_plugin_module_imports_no_target(plugin_ep: registry.EntryPointRef) -> None:
    report = _report("start-then-import", plugin_ep)
    assert report["imported_targets"] == []
    if not report["loaded_by_python"]:
        assert report["status_before_import"] == "waiting for import"


def test_patched_when_the_target_is_imported_after_start(
    plugin_ep: registry.EntryPointRef,
) -> None:
    report = _report("start-then-import", plugin_ep)
    assert report["status"] == "patched"
    assert report["applied"], "nothing applied"
    assert report["all_replaced"] is True


def test_patched_when_the_target_was_imported_before_start(
    plugin_ep: registry.EntryPointRef,
) -> None:
    report = _report("import-then-start", plugin_ep)
    assert report["status"] == "patched"
    assert report["applied"], "nothing applied"
    if report["kinds"] != ["Callback"]:  # a callback replaces no attribute
        assert report["declared"], "the table declares nothing this version has"
    assert report["saved_the_originals"] is True
    assert report["all_replaced"] is True


def test_patching_twice_wraps_once(plugin_ep: registry.EntryPointRef) -> None:
    for scenario in ("start-then-import", "import-then-start"):
        report = _report(scenario, plugin_ep)
        assert report["twice_same"] is True, scenario
    after = _report("start-then-import", plugin_ep)
    assert after["twice_applied"] == after["applied"]


def test_unpatch_restores_the_originals_and_patching_again_works(
    plugin_ep: registry.EntryPointRef,
) -> None:
    report = _report("import-then-start", plugin_ep)
    assert report["unpatched_status"] == "unpatched"
    assert report["applied_after_unpatch"] == []
    assert report["restored"] is True
    assert report["repatched_applied"] == report["applied"]
    assert report["repatched"] is True
    assert report["restored_again"] is True


def test_disabled_by_otel_python_disabled_instrumentations(
    plugin_ep: registry.EntryPointRef,
) -> None:
    report = _run("disabled", plugin_ep, **{DISABLED: f"other, {plugin_ep.name}"})
    assert report["status"] == "disabled"
    assert report["applied"] == []
    assert report["untouched"] is True
    assert report["log"] == [
        ["DEBUG", f"llm-instrument: plugin {plugin_ep.name} disabled by {DISABLED}"]
    ]


def _unsupported_site(ep: registry.EntryPointRef, site: Path) -> None:
    """A distribution, first on the path, whose entry point of the same name is the real
    record with a range that excludes every version, so the registry must skip it."""
    site.mkdir()
    (site / "narrowed_plugin.py").write_text(
        textwrap.dedent(f"""\
        import dataclasses
        from llm_instrument.agent.registry import EntryPointRef
        _real = EntryPointRef({ep.name!r}, {ep.value!r}, "llm_instrument").load()
        PLUGIN = dataclasses.replace(_real, supported="==0.0.0")
        """)
    )
    meta = site / "narrowed_plugin-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: narrowed-plugin\nVersion: 1.0\n")
    (meta / "entry_points.txt").write_text(
        f"[llm_instrument.instrumentors]\n{ep.name} = narrowed_plugin:PLUGIN\n"
    )


def test_unsupported_version_is_skipped_with_one_debug_line(
    plugin_ep: registry.EntryPointRef, tmp_path: Path
) -> None:
    record = _record(plugin_ep)
    if record.distribution is None or not record.supported:
        pytest.skip(f"{plugin_ep.name}: no version range (stdlib target)")
    site = tmp_path / "site"
    _unsupported_site(plugin_ep, site)
    narrowed = registry.EntryPointRef(plugin_ep.name, "narrowed_plugin:PLUGIN", "narrowed")
    # not run from the checkout: its own egg-info would come first on the path
    report = _run("unsupported", narrowed, cwd=tmp_path, PYTHONPATH=str(site))
    version = registry.installed_version(record)
    reason = f"{record.distribution} {version} not in supported range ==0.0.0"
    assert report["status"] == f"skipped: {reason}"
    assert report["applied"] == []
    assert report["untouched"] is True
    assert report["log"] == [
        ["DEBUG", f"llm-instrument: plugin {plugin_ep.name} skipped: {reason}"]
    ]

    listed = subprocess.run(
        [LAUNCHER, "list", "--format", "json"],
        env=agent_env(PYTHONPATH=str(site)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    (row,) = [r for r in json.loads(listed.stdout) if r["name"] == plugin_ep.name]
    assert row["state"] == f"skipped: {reason}"


ALIAS_SCRIPTS = {
    # a Wrap row: Thread.start captured while patched stops carrying the context
    "threading": """
import threading
from opentelemetry import context
key = context.create_key("probe")
registry.install(config.load())
start = threading.Thread.start
def seen():
    out = []
    token = context.attach(context.set_value(key, "starter"))
    try:
        thread = threading.Thread(target=lambda: out.append(context.get_value(key)))
        start(thread)
        thread.join()
    finally:
        context.detach(token)
    return out[0]
report["patched"] = seen()
registry.uninstall()
report["unpatched"] = seen()
""",
    # a contrib instrumentor's replacement: Session.send captured while patched goes quiet
    "requests": """
import http.server, threading
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Ok)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_port}/"
registry.install(config.load())
import requests
send = requests.Session.send
def spans():
    exporter.clear()
    session = requests.Session()
    send(session, session.prepare_request(requests.Request("GET", url)))
    return len(exporter.get_finished_spans())
report["patched"] = spans()
registry.uninstall()
report["unpatched"] = spans()
server.shutdown()
""",
}
ALIAS_EXPECTED = {
    "threading": {"patched": "starter", "unpatched": None},
    "requests": {"patched": 1, "unpatched": 0},
}


@pytest.mark.parametrize("name", sorted(ALIAS_SCRIPTS))
def test_unpatch_silences_an_alias_captured_while_patched(name: str) -> None:
    (ep,) = [ep for ep in PLUGINS if ep.name == name]
    _require_target(ep)
    proc = subprocess.run(
        _script(ALIAS_SCRIPTS[name], ep),
        env=agent_env(LLM_INSTRUMENT_EXPORTER="none"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {k: report[k] for k in ("patched", "unpatched")} == ALIAS_EXPECTED[name]

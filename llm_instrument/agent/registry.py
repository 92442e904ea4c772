"""The plugin registry: finds instrumentors and applies each when its target is imported.

Sources, in priority order (a name seen earlier wins, so our plugins shadow the contrib
instrumentors they wrap):

1. ``llm_instrument.instrumentors`` entry points, each pointing at a ``Plugin`` record
   (the built-ins are registered this way too, see ``pyproject.toml``);
2. ``opentelemetry_instrumentor`` entry points (any OpenTelemetry contrib instrumentor the
   user installed). The entry point's name is taken as the module to hook, and the
   instrumentor is only loaded when that module is imported, because contrib instrumentors
   import their target at module level; it is applied through a ``wrapping.Instrument``
   row, like our own FastAPI and requests plugins.

Nothing here imports a target. ``install()`` registers ``wrapt`` post-import hooks; a hook
checks the target's version and patches under ``guard``, because an exception escaping a
post-import hook would fail the application's own ``import``. Log lines: INFO once per plugin
applied; DEBUG for a plugin disabled, not installed, skipped (version) or that did not enable.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import wrapt

from llm_instrument.agent import config
from llm_instrument.agent.guard import guard, guarded
from llm_instrument.agent.plugin import DidNotEnable, Plugin
from llm_instrument.agent.wrapping import Instrument, Wrapping

_logger = logging.getLogger(__name__)

PLUGIN_GROUP = "llm_instrument.instrumentors"
OTEL_GROUP = "opentelemetry_instrumentor"


@dataclass
class Entry:
    """A discovered plugin and what became of it in this process."""

    plugin: Plugin
    source: str
    status: str = "waiting for import"
    patched: list[ModuleType] = field(default_factory=list)


@dataclass(frozen=True)
class EntryPointRef:
    """An entry point as read from a distribution's ``entry_points.txt``."""

    name: str
    value: str
    dist: str
    """The distribution's name, as its metadata folder spells it."""

    def load(self) -> Any:
        module_name, _, attrs = self.value.partition(":")
        target: Any = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            target = getattr(target, attr)
        return target


def _normalize(dist: str) -> str:
    return re.sub(r"[-_.]+", "_", dist).lower()


def scan_entry_points(
    groups: tuple[str, ...],
) -> tuple[dict[str, list[EntryPointRef]], dict[str, str]]:
    """Entry points of ``groups`` and the installed versions, read straight from the
    ``*.dist-info``/``*.egg-info`` folders on ``sys.path``.

    ``importlib.metadata.entry_points()`` parses every distribution's metadata and imports
    ``email``, ``zipfile`` and ``csv`` to do it: tens of milliseconds in every traced process,
    where two sections of a few small files are all we need. As in ``importlib.metadata``,
    the first distribution of a name on ``sys.path`` wins. Returns (group -> entry points,
    normalized distribution name -> version taken from the ``name-version.dist-info`` name).
    """
    found: dict[str, list[EntryPointRef]] = {group: [] for group in groups}
    versions: dict[str, str] = {}
    for path_entry in sys.path:
        folder = path_entry or os.curdir
        try:
            names = sorted(os.listdir(folder))
        except OSError:  # a zip, a missing folder
            continue
        for meta in names:
            stem, dot, suffix = meta.rpartition(".")
            if not dot or suffix not in ("dist-info", "egg-info"):
                continue
            dist, _, version = stem.partition("-")
            key = _normalize(dist)
            if key in versions:
                continue
            versions[key] = version.partition("-")[0] if suffix == "dist-info" else ""
            try:
                with open(os.path.join(folder, meta, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            section: list[EntryPointRef] | None = None
            for raw in text.splitlines():
                line = raw.strip()
                if not line or line.startswith(("#", ";")):
                    continue
                if line.startswith("[") and line.endswith("]"):
                    section = found.get(line[1:-1].strip())
                elif section is not None and "=" in line:
                    name, _, value = line.partition("=")
                    value = value.split("[", 1)[0].strip()  # drop "[extras]"
                    section.append(EntryPointRef(name.strip(), value, dist))
    return found, versions


_lock = threading.RLock()
_entries: dict[str, Entry] = {}
_installed = False
_versions: dict[str, str] = {}


def _load_plugin_record(ep: EntryPointRef) -> Plugin:
    record = ep.load()
    if not isinstance(record, Plugin):
        raise TypeError(f"entry point {ep.value} is not an llm_instrument Plugin")
    return record


def _otel_plugin(ep: EntryPointRef) -> Plugin:
    """Adapt an OpenTelemetry ``BaseInstrumentor`` entry point without importing it."""
    row = Instrument(ep.name, ep.value.strip(), replaces=(), check_dependencies=True)
    return Plugin.from_wrapping(
        ep.name,
        Wrapping((row,), honour_suppression=False),
        distribution=_distribution_named(ep.name),
        supported="",
        description=f"OpenTelemetry instrumentor from {ep.dist}",
    )


def _distribution_named(name: str) -> str | None:
    """The distribution of that name when one is installed (contrib entry points are named
    after their target), else None so the module itself is looked for."""
    return name if _normalize(name) in _versions else None


def discover() -> dict[str, Entry]:
    """Every plugin visible to this interpreter, by name; imports no target."""
    found: dict[str, Entry] = {}
    eps, versions = scan_entry_points((PLUGIN_GROUP, OTEL_GROUP))
    _versions.update(versions)
    for ep in eps[PLUGIN_GROUP]:
        if ep.name in found:
            continue
        with guard(f"loading plugin {ep.name}") as outcome:
            record = _load_plugin_record(ep)
        if outcome.error is not None:
            continue
        source = "built-in" if ep.value.startswith("llm_instrument.") else f"plugin {ep.value}"
        found[record.name] = Entry(record, source)
    for ep in eps[OTEL_GROUP]:
        if ep.name in found:
            continue
        found[ep.name] = Entry(_otel_plugin(ep), f"opentelemetry {ep.value}")
    return found


def distribution_version(name: str) -> str | None:
    """An installed distribution's version (from the start-up scan when it saw it), or None."""
    known = _versions.get(_normalize(name))
    if known:
        return known
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def installed_version(plugin: Plugin) -> str | None:
    """The target's installed version, or None when it is not installed."""
    if plugin.distribution is None:
        top = plugin.hooks[0].split(".")[0]
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        return "stdlib" if top in sys.stdlib_module_names else "present"
    return distribution_version(plugin.distribution)  # egg-info: the metadata's version


def unsupported_reason(plugin: Plugin) -> str | None:
    """Why this plugin cannot apply here, or None when it can."""
    version = installed_version(plugin)
    if version is None:
        return f"{plugin.distribution or plugin.hooks[0]} not installed"
    if not plugin.supported or plugin.distribution is None:
        return None
    quick = _plain_range_check(version, plugin.supported)
    if quick is not None:
        return None if quick else _out_of_range(plugin, version)
    # imported here: a process that imports no versioned target never loads packaging
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        if Version(version) not in SpecifierSet(plugin.supported, prereleases=True):
            return _out_of_range(plugin, version)
    except (InvalidVersion, InvalidSpecifier):
        return f"{plugin.distribution} {version!r} cannot be checked against {plugin.supported}"
    return None


def _out_of_range(plugin: Plugin, version: str) -> str:
    return f"{plugin.distribution} {version} not in supported range {plugin.supported}"


_PLAIN = re.compile(r"\d+(?:\.\d+)*")
_CLAUSE = re.compile(r"\s*(>=|<)\s*(\d+(?:\.\d+)*)\s*")


def _release(text: str) -> tuple[int, ...]:
    """A plain release as PEP 440 compares it: trailing zeros do not count (1.0 == 1)."""
    parts = [int(p) for p in text.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _plain_range_check(version: str, supported: str) -> bool | None:
    """Whether ``version`` is in ``supported`` when both are of the plain forms our plugins use
    (a release ``1.2.3``; ``>=a``/``<b`` clauses of releases), else None (ask ``packaging``).
    For these forms ``packaging`` compares the releases as zero-padded tuples, as here; a
    pre-, post-, dev- or local version, or another operator, goes to ``packaging`` (which
    costs ~10 ms to import at start-up)."""
    if _PLAIN.fullmatch(version) is None:
        return None
    clauses = [_CLAUSE.fullmatch(part) for part in supported.split(",")]
    if not all(clauses):
        return None
    have = _release(version)
    for match in clauses:
        assert match is not None
        bound = _release(match.group(2))
        if (have < bound) if match.group(1) == ">=" else (have >= bound):
            return False
    return True


def _on_import(entry: Entry, module: ModuleType) -> None:
    """Post-import hook body; never raises into the application's import."""
    with _lock:
        if any(done is module for done in entry.patched) or entry.status.startswith("skipped"):
            return
        reason = unsupported_reason(entry.plugin)
        if reason is not None:
            entry.status = f"skipped: {reason}"
            _logger.debug("llm-instrument: plugin %s skipped: %s", entry.plugin.name, reason)
            return
        with guard(f"patching {entry.plugin.name}") as outcome:
            try:
                entry.plugin.patch(module)
            except DidNotEnable as exc:
                entry.status = f"skipped: {exc}"
                _logger.debug(
                    "llm-instrument: plugin %s did not enable: %s", entry.plugin.name, exc
                )
                return
        if outcome.error is not None:
            entry.status = f"failed: {outcome.error!r}"
            return
        entry.patched.append(module)
        entry.status = "patched"
        if len(entry.patched) == 1:
            version = installed_version(entry.plugin)
            _logger.info(
                "llm-instrument: plugin %s applied (%s %s, on import of %s)",
                entry.plugin.name,
                entry.plugin.distribution or entry.plugin.hooks[0],
                version,
                module.__name__,
            )
        else:
            _logger.debug(
                "llm-instrument: plugin %s also applied to %s", entry.plugin.name, module.__name__
            )


def install(settings: config.Settings | None = None) -> dict[str, Entry]:
    """Register a post-import hook per enabled plugin; idempotent."""
    global _installed
    settings = settings or config.current()
    with _lock:
        if _installed:
            return _entries
        _entries.update(discover())
        for entry in _entries.values():
            if entry.plugin.name in settings.disabled:
                entry.status = "disabled"
                _logger.debug(
                    "llm-instrument: plugin %s disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
                    entry.plugin.name,
                )
                continue
            if _logger.isEnabledFor(logging.DEBUG) and installed_version(entry.plugin) is None:
                _logger.debug(
                    "llm-instrument: plugin %s skipped: %s not installed",
                    entry.plugin.name,
                    entry.plugin.distribution or entry.plugin.hooks[0],
                )
            for module_name in entry.plugin.hooks:
                wrapt.register_post_import_hook(functools.partial(_on_import, entry), module_name)
        _installed = True
        return _entries


@guarded("checking plugin settings", default=None)
def setting_problems(settings: config.Settings) -> list[str] | None:
    """Bad values of the discovered plugins' declared settings, one line each."""
    with _lock:
        declared = [s for entry in _entries.values() for s in entry.plugin.settings]
    return config.check_plugin_settings(settings, declared)


def uninstall() -> None:
    """Undo every patch applied in this process (tests, and hot-reloading hosts)."""
    global _installed
    with _lock:
        for entry in _entries.values():
            for module in entry.patched:
                with guard(f"unpatching {entry.plugin.name}"):
                    entry.plugin.unpatch(module)
            entry.patched.clear()
            if entry.status == "patched":
                entry.status = "unpatched"
        _installed = False


def statuses() -> dict[str, str]:
    """Plugin name -> what happened to it in this process."""
    with _lock:
        return {name: entry.status for name, entry in _entries.items()}

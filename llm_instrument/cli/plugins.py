"""``llm-instrument list``: every plugin, its target, whether it would apply here, and the
settings it declares (also shown by ``llm-instrument --help``).

It answers from package metadata and the plugin records alone and imports no target library.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from llm_instrument.agent import config, registry
from llm_instrument.agent.plugin import Setting

_COLUMNS = ("name", "target", "installed", "supported", "state", "source")


def _setting_row(setting: Setting, settings: config.Settings) -> dict[str, str]:
    row = {
        "env": setting.env,
        "default": config.shown(setting.default),
        "value": settings.plugin_settings.get(setting.env, ""),
        "meaning": setting.help,
        "metavar": setting.metavar,
    }
    problems = config.check_plugin_settings(settings, [setting])
    if problems:
        row["problem"] = problems[0]
    return row


def rows() -> list[dict[str, Any]]:
    settings = config.load()
    result = []
    for name, entry in sorted(registry.discover().items()):
        plugin = entry.plugin
        version = registry.installed_version(plugin)
        reason = registry.unsupported_reason(plugin) if plugin.supported else None
        if name in settings.disabled:
            state = "disabled"
        elif version is None:
            state = "skipped: target not installed"
        elif reason:
            state = f"skipped: {reason}"
        else:
            state = "enabled"
        result.append(
            {
                "name": name,
                "target": plugin.distribution or plugin.hooks[0],
                "installed": version or "-",
                "supported": plugin.supported or "any",
                "state": state,
                "source": entry.source,
                "settings": [_setting_row(s, settings) for s in plugin.settings],
            }
        )
    return result


def _table(header: Sequence[str], lines: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = []
    for line in [[h.upper() for h in header], *lines]:
        out.append(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    return out


def settings_help() -> str:
    """The plugins' settings, for the epilog of ``llm-instrument --help``."""
    lines = ["plugin settings (environment variables; 'llm-instrument list' shows their values):"]
    for name, entry in sorted(registry.discover().items()):
        for setting in entry.plugin.settings:
            lines.append(f"  {setting.env}={setting.metavar}")
            meaning = f"{setting.help} (default {config.shown(setting.default)}; plugin {name})"
            lines.extend(
                textwrap.wrap(meaning, 94, initial_indent="      ", subsequent_indent="      ")
            )
    if len(lines) == 1:
        lines.append("  none")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="llm-instrument list", description=__doc__)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(list(argv))
    table = rows()
    if args.format == "json":
        print(json.dumps(table, indent=2))
        return 0
    print("\n".join(_table(_COLUMNS, [[row[c] for c in _COLUMNS] for row in table])))
    declared = [s for row in table for s in row["settings"]]
    if declared:
        cells = [[s["env"], s["default"], s["value"] or "-", s["meaning"]] for s in declared]
        print()
        print("\n".join(_table(("setting", "default", "value", "meaning"), cells)))
        for s in declared:
            if "problem" in s:
                print(f"warning: {s['problem']}")
    sys.stdout.flush()
    return 0

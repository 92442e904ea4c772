"""``llm-instrument list``: every plugin, its target, and whether it would apply here.

It answers from package metadata alone and imports no target library.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from llm_instrument.agent import config, registry


def rows() -> list[dict[str, str]]:
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
            }
        )
    return result


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="llm-instrument list", description=__doc__)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(list(argv))
    table = rows()
    if args.format == "json":
        print(json.dumps(table, indent=2))
        return 0
    columns = ("name", "target", "installed", "supported", "state", "source")
    widths = {c: max(len(c), *(len(r[c]) for r in table)) if table else len(c) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in table:
        print("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip())
    sys.stdout.flush()
    return 0

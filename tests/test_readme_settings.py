"""The README's configuration table agrees with the declarations: every launcher option
(``config.OPTIONS``) and every setting a discovered plugin declares has its row, with the same
flag and default, and the table names nothing that is not declared. Read from the code each
time, so an option or plugin added later is checked as soon as it exists."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from llm_instrument.agent import config, registry

README = Path(__file__).resolve().parents[1] / "README.md"


@dataclass(frozen=True)
class Row:
    variables: tuple[str, ...]
    flags: tuple[str, ...]
    default: str
    line: str


def _rows() -> list[Row]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not line.startswith("| `") or cells[0] == "variable":
            continue
        variables: list[str] = []
        for token in re.findall(r"`([^`]+)`", cells[0]):
            name = token.split("=")[0]
            if name.startswith("_") and variables:  # `OTEL_TRACES_SAMPLER` / `_ARG`
                name = variables[-1] + name
            variables.append(name)
        flags = tuple(re.sub(r"\[no-\]", "", f) for f in re.findall(r"--[\w\[\]-]+", cells[1]))
        rows.append(Row(tuple(variables), flags, cells[2], line))
    return rows


ROWS = _rows()
BY_VARIABLE = {name: row for row in ROWS for name in row.variables}
PLUGIN_SETTINGS = {
    setting.env: setting
    for entry in registry.discover().values()
    for setting in entry.plugin.settings
}


def _literal(cell: str) -> str | None:
    """The default when the cell is one literal: `4096`, `true`, off (None otherwise)."""
    if cell in ("", "off"):
        return ""
    match = re.fullmatch(r"`([^`]*)`", cell)
    return match.group(1) if match else None


def test_the_table_was_found() -> None:
    assert len(ROWS) >= len(config.OPTIONS), "README configuration table not parsed"


@pytest.mark.parametrize("option", config.OPTIONS, ids=lambda o: o.env)
def test_every_launcher_option_has_its_row_and_flag(option: config.Option) -> None:
    row = BY_VARIABLE.get(option.env)
    assert row is not None, f"{option.env} ({option.flag}) missing from the README table"
    assert option.flag in row.flags, f"{option.env}: README says {row.flags}, code {option.flag}"


_FIELDS = {f.name for f in fields(config.Settings)}


@pytest.mark.parametrize(
    "option",
    [o for o in config.OPTIONS if o.env.startswith("LLM_INSTRUMENT_")],
    ids=lambda o: o.env,
)
def test_our_options_defaults_match_the_readme(option: config.Option) -> None:
    row = BY_VARIABLE.get(option.env)
    field = option.env.removeprefix("LLM_INSTRUMENT_").lower()
    if field not in _FIELDS and f"{field}_s" in _FIELDS:  # a duration kept in seconds
        field = f"{field}_s"
    if row is None or field not in _FIELDS:
        pytest.skip(f"{option.env}: no Settings.{field} to take the default from")
    documented = _literal(row.default)
    if documented is None:
        pytest.skip(f"{option.env}: the README describes a derived default ({row.default})")
    value = getattr(config.load({}), field)
    if option.parse is not None and documented:  # a duration or size: compare what it means
        assert option.parse(documented) == value, row.line
        return
    actual = config.shown(value)
    assert os.path.normpath(documented or ".") == os.path.normpath(actual or "."), row.line


@pytest.mark.parametrize("env", sorted(PLUGIN_SETTINGS))
def test_every_plugin_setting_has_its_row_and_default(env: str) -> None:
    setting = PLUGIN_SETTINGS[env]
    row = BY_VARIABLE.get(env)
    assert row is not None, f"{env} is declared by a plugin but missing from the README table"
    assert _literal(row.default) == config.shown(setting.default), row.line


def test_the_table_names_no_undeclared_setting() -> None:
    declared = {o.env for o in config.OPTIONS} | set(PLUGIN_SETTINGS)
    flags = {o.flag for o in config.OPTIONS}
    for row in ROWS:
        for name in row.variables:
            if name.startswith("LLM_INSTRUMENT_"):
                assert name in declared, f"README documents {name}, which nothing declares"
        for flag in row.flags:
            assert flag in flags, f"README documents {flag}, which the launcher lacks"

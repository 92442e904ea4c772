"""The launcher's options (``llm-instrument --exporter none python app.py``): one flag per
agent setting (``config.OPTIONS``), each validated here and passed on as its environment
variable. Imported only when the command line has options: a bare ``llm-instrument python
app.py`` never builds this parser."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable, Sequence

import llm_instrument
from llm_instrument.agent import config
from llm_instrument.cli.launcher import SUBCOMMANDS

_EPILOG = (
    "subcommands:\n"
    + "\n".join(f"  {name:<10} {text}" for name, (_, text) in SUBCOMMANDS.items())
    + (
        "\n\nexamples:\n"
        "  llm-instrument python app.py\n"
        "  llm-instrument uvicorn app:app --workers 2\n"
        "  llm-instrument gunicorn -w 4 -k uvicorn.workers.UvicornWorker app:app\n"
        "  OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318 llm-instrument python app.py\n"
        "  llm-instrument view            # recent traces in the local store\n"
        "  llm-instrument -- view ...     # run a program that is named 'view'\n"
        "\nEvery option only sets the environment variable named in its help; the variables\n"
        "work on their own too (Kubernetes injection uses them)."
    )
)


class _Parser(argparse.ArgumentParser):
    """Adds the plugins' settings to ``--help`` only when help is shown: finding them imports
    every plugin module, which a launch with options must not pay for."""

    def format_help(self) -> str:
        from llm_instrument.cli import plugins

        self.epilog = f"{_EPILOG}\n\n{plugins.settings_help()}"
        return super().format_help()


def parser() -> argparse.ArgumentParser:
    """The launcher's parser: ``--version``, one flag per setting, then the command."""
    built = _Parser(
        prog="llm-instrument",
        usage="llm-instrument [options] COMMAND [ARGS...] | llm-instrument SUBCOMMAND ...",
        description="Run a Python program with OpenTelemetry tracing and metrics for LLM apps.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    built.add_argument("--version", action="version", version=llm_instrument.__version__)
    for option in config.OPTIONS:
        dest = option.env
        if option.is_switch:
            built.add_argument(
                option.flag,
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{option.help} [{option.env}]",
            )
            continue
        built.add_argument(
            option.flag,
            dest=dest,
            metavar=option.metavar,
            type=_checked(option),
            default=None,
            help=f"{option.help} [{option.env}]",
        )
    built.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return built


def _checked(option: config.Option) -> Callable[[str], str]:
    """Validate at the launcher, but keep the raw text to put in the environment."""
    parse = option.parse
    if parse is None:
        return str

    def check(raw: str) -> str:
        try:
            parse(raw)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{shlex.quote(raw)} is {exc}") from None
        return raw

    check.__name__ = option.flag.lstrip("-")
    return check


def parse(argv: Sequence[str]) -> tuple[list[str], dict[str, object], bool]:
    """``argv`` as (command, settings by variable, whether ``--`` escaped the command);
    exits with a usage error (2) for a bad option or a missing command."""
    built = parser()
    namespace = built.parse_args(argv)
    command: list[str] = list(namespace.command)
    escaped = bool(command) and command[0] == "--"
    if escaped:
        command = command[1:]
    if not command:
        built.error("no command given (try: llm-instrument python app.py)")
    if command[0].startswith("-"):
        built.error(f"unrecognized option: {command[0]}")
    values = {name: value for name, value in vars(namespace).items() if name != "command"}
    return command, values, escaped

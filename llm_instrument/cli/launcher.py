"""The ``llm-instrument`` command: a launcher, plus a few reserved subcommands.

``llm-instrument [options] COMMAND [ARGS...]`` turns each option into its environment
variable (``config.OPTIONS``), puts the bootstrap folder first on ``PYTHONPATH`` and
``exec``s the command, so ``python app.py``, ``python -m pkg``, ``gunicorn`` and
``uvicorn`` run unchanged and their child Python processes are traced too.

A first word in ``SUBCOMMANDS`` runs that subcommand instead; ``llm-instrument -- view``
runs a program named ``view``. Subcommands live in their own modules, imported only when
called, so the launcher path stays light.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Sequence

import llm_instrument
from llm_instrument.agent import config

BOOTSTRAP_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "agent", "bootstrap"
)

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "view": ("llm_instrument.cli.view:main", "show traces from the local store"),
    "list": ("llm_instrument.cli.plugins:main", "list instrumentation plugins"),
    "doctor": ("llm_instrument.cli.doctor:main", "check the set-up and say what to fix"),
    "webhook": ("llm_instrument.webhook.cli:main", "Kubernetes injection webhook"),
}

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


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="llm-instrument",
        usage="llm-instrument [options] COMMAND [ARGS...] | llm-instrument SUBCOMMAND ...",
        description="Run a Python program with OpenTelemetry tracing and metrics for LLM apps.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=llm_instrument.__version__)
    for option in config.OPTIONS:
        dest = option.env
        if option.is_switch:
            parser.add_argument(
                option.flag,
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{option.help} [{option.env}]",
            )
            continue
        parser.add_argument(
            option.flag,
            dest=dest,
            metavar=option.metavar,
            type=_checked(option),
            default=None,
            help=f"{option.help} [{option.env}]",
        )
    parser.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


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


def _default_service_name(command: Sequence[str]) -> str | None:
    """A readable service.name from the command: ``python app.py`` -> ``app``."""
    prog = os.path.basename(command[0])
    args = list(command[1:])
    if re.match(r"python[\d.]*$", prog):
        while args:
            arg = args.pop(0)
            if arg == "-m" and args:
                return args[0]
            if arg == "-c":
                return None  # code, not a name: the SDK's unknown_service
            if arg in ("-W", "-X") and args:
                args.pop(0)  # the option's value
            elif not arg.startswith("-"):
                return os.path.splitext(os.path.basename(arg))[0] or None
        return None
    for arg in args:
        match = re.match(r"^([A-Za-z_][\w.]*):[A-Za-z_]\w*(\(.*\))?$", arg)
        if match:
            return match.group(1)
    return prog


def _launch_env(values: dict[str, object], command: Sequence[str]) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in values.items():
        if value is None or name == "command":
            continue
        env[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    store = env.get("LLM_INSTRUMENT_LOCAL_STORE") or config.DEFAULT_LOCAL_STORE
    env["LLM_INSTRUMENT_LOCAL_STORE"] = os.path.abspath(store)  # children may chdir
    has_name = "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    if not env.get("OTEL_SERVICE_NAME") and not has_name:
        service = _default_service_name(command)
        if service:
            env["OTEL_SERVICE_NAME"] = service
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != BOOTSTRAP_DIR]
    env["PYTHONPATH"] = os.pathsep.join([BOOTSTRAP_DIR, *paths])
    return env


def _python_hint(program: str) -> str:
    """A hint when ``program`` is a Python file rather than a command."""
    if program.endswith(".py") or os.path.isfile(program):
        return f" (did you mean: llm-instrument python {shlex.quote(program)}?)"
    return ""


def _exec(command: list[str], env: dict[str, str]) -> int:
    program = command[0]
    executable = shutil.which(program, path=env.get("PATH"))
    if executable is None:
        if os.sep not in program:
            reason = "command not found"  # a bare name is looked up on PATH only
        else:
            reason = "not an executable file" if os.path.isfile(program) else "no such file"
        print(f"llm-instrument: {reason}: {program}{_python_hint(program)}", file=sys.stderr)
        return 127
    try:
        os.execve(executable, command, env)
    except OSError as exc:  # no #! line, a broken interpreter path, no permission
        reason = exc.strerror or str(exc)
        hint = _python_hint(program)
        print(f"llm-instrument: cannot run {program}: {reason}{hint}", file=sys.stderr)
        return 126
    return 0  # not reached


def _run_subcommand(name: str, argv: list[str]) -> int:
    target, _ = SUBCOMMANDS[name]
    module_name, func_name = target.split(":")
    module = importlib.import_module(module_name)
    result = getattr(module, func_name)(argv)
    return int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return _run_subcommand(argv[0], argv[1:])
    if argv and not argv[0].startswith("-"):
        # the common case, a bare command: no parser to build, so the launcher costs the
        # application's start-up as little as possible
        return _exec(argv, _launch_env({}, argv))
    parser = _parser()
    namespace = parser.parse_args(argv)
    command: list[str] = list(namespace.command)
    escaped = bool(command) and command[0] == "--"
    if escaped:
        command = command[1:]
    if not command:
        parser.error("no command given (try: llm-instrument python app.py)")
    if not escaped and command[0] in SUBCOMMANDS:
        return _run_subcommand(command[0], command[1:])
    if command[0].startswith("-"):
        parser.error(f"unrecognized option: {command[0]}")
    env = _launch_env(vars(namespace), command)
    return _exec(command, env)


if __name__ == "__main__":
    sys.exit(main())

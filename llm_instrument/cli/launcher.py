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

import os
import sys
from collections.abc import Sequence

from llm_instrument import envvars

# Only ``os``, ``sys`` and ``envvars`` on the common path: the launcher is a whole Python
# process before the application's own, and its imports are start-up the user waits for.
# The option parser (``launcher_args``), the subcommands and the error messages load when
# they are needed.

BOOTSTRAP_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "agent", "bootstrap"
)

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "view": ("llm_instrument.cli.view:main", "show traces from the local store"),
    "list": ("llm_instrument.cli.plugins:main", "list instrumentation plugins"),
    "doctor": ("llm_instrument.cli.doctor:main", "check the set-up and say what to fix"),
    "webhook": ("llm_instrument.webhook.cli:main", "Kubernetes injection webhook"),
}


def _is_python(prog: str) -> bool:
    """``python``, ``python3``, ``python3.11``."""
    version = prog[len("python") :]
    return prog.startswith("python") and all(c.isdigit() or c == "." for c in version)


def _app_module(arg: str) -> str | None:
    """The module of an ASGI/WSGI app argument: ``demo.main:app`` or ``pkg:create()``."""
    module, colon, target = arg.partition(":")
    name, paren, _ = target.partition("(")
    if not colon or not name.isidentifier() or (paren and not target.endswith(")")):
        return None
    return module if all(part.isidentifier() for part in module.split(".")) else None


def _default_service_name(command: Sequence[str]) -> str | None:
    """A readable service.name from the command: ``python app.py`` -> ``app``."""
    prog = os.path.basename(command[0])
    args = list(command[1:])
    if _is_python(prog):
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
        module = _app_module(arg)
        if module:
            return module
    return prog


def _launch_env(values: dict[str, object], command: Sequence[str]) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in values.items():
        if value is not None:
            env[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    store = env.get(envvars.LOCAL_STORE) or envvars.DEFAULT_LOCAL_STORE
    env[envvars.LOCAL_STORE] = os.path.abspath(store)  # children may chdir
    has_name = "service.name=" in env.get(envvars.RESOURCE_ATTRIBUTES, "")
    if not env.get(envvars.SERVICE_NAME) and not has_name:
        service = _default_service_name(command)
        if service:
            env[envvars.SERVICE_NAME] = service
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != BOOTSTRAP_DIR]
    env["PYTHONPATH"] = os.pathsep.join([BOOTSTRAP_DIR, *paths])
    env[envvars.LAUNCHER_PYTHON] = sys.executable
    return env


def _python_hint(program: str) -> str:
    """A hint when ``program`` is a Python file rather than a command."""
    import shlex

    if program.endswith(".py") or os.path.isfile(program):
        return f" (did you mean: llm-instrument python {shlex.quote(program)}?)"
    return ""


def _exec(command: list[str], env: dict[str, str]) -> int:
    """Replace this process with ``command`` (looked up on the environment's ``PATH``);
    when that fails, say why in one line and return the shell's status for it."""
    program = command[0]
    try:
        os.execvpe(program, command, env)
    except OSError as exc:
        import shutil

        if shutil.which(program, path=env.get("PATH")) is None:
            if os.sep not in program:
                reason = "command not found"  # a bare name is looked up on PATH only
            else:
                reason = "not an executable file" if os.path.isfile(program) else "no such file"
            print(f"llm-instrument: {reason}: {program}{_python_hint(program)}", file=sys.stderr)
            return 127
        # found but not runnable: no #! line, a broken interpreter path, no permission
        reason = exc.strerror or str(exc)
        print(f"llm-instrument: cannot run {program}: {reason}{_python_hint(program)}",
              file=sys.stderr)  # fmt: skip
        return 126
    return 0  # not reached


def _run_subcommand(name: str, argv: list[str]) -> int:
    import importlib

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
        # the common case, a bare command: no parser to build
        return _exec(argv, _launch_env({}, argv))
    from llm_instrument.cli import launcher_args

    command, values, escaped = launcher_args.parse(argv)
    if not escaped and command[0] in SUBCOMMANDS:
        return _run_subcommand(command[0], command[1:])
    return _exec(command, _launch_env(values, command))


if __name__ == "__main__":
    sys.exit(main())

"""Settings, read once from the environment.

Standard ``OTEL_*`` variables keep their meaning (the OpenTelemetry SDK reads most of them
itself: service name, resource attributes, OTLP endpoint, protocol, headers, sampler, batch
sizes). Our own settings are ``LLM_INSTRUMENT_<SETTING>`` or
``LLM_INSTRUMENT_<PLUGIN>_<SETTING>``, and every one of them is also a launcher option
(``OPTIONS`` below drives both), so the CLI, the environment and Kubernetes injection share
one path. A bad value never stops the application: it is collected into ``Settings.problems``,
reported in one warning line at start-up, and the default is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llm_instrument import envvars
from llm_instrument.agent.plugin import Setting

EXPORTERS = ("otlp", "console", "local", "none")
PROTOCOLS = ("http/protobuf", "grpc")
DEFAULT_LOCAL_STORE = os.path.join(".llm-instrument", "traces.db")
DEFAULT_MAX_CONTENT_LENGTH = 4096
DEFAULT_MAX_SPAN_CONTENT_BYTES = 262144
DEFAULT_LOCAL_STORE_MAX_MB = 512
DEFAULT_LOCAL_STORE_MAX_AGE = "7d"


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("not true or false")


def parse_port(raw: str) -> int:
    if not raw.strip().isdigit() or not 0 < int(raw) < 65536:
        raise ValueError("not a port number from 1 to 65535")
    return int(raw)


def parse_positive_int(raw: str) -> int:
    if not raw.strip().isdigit() or int(raw) <= 0:
        raise ValueError("not a whole number above 0")
    return int(raw)


def parse_non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"expected 0 (no limit) or a positive integer, got {value}")
    return value


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(raw: str) -> float:
    """Seconds from ``30s``, ``15m``, ``12h``, ``7d``, ``2w`` or a bare number of seconds;
    ``0`` means no limit."""
    text = raw.strip().lower()
    unit = _DURATION_UNITS.get(text[-1:], 0)
    number = text[:-1] if unit else text
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"expected a duration such as 7d, 12h or 30m, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"expected a positive duration, got {raw!r}")
    return value


def parse_choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"not one of {', '.join(choices)}")
        return value

    return parse


def parse_names(raw: str) -> frozenset[str]:
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


@dataclass(frozen=True)
class Option:
    """One setting: its launcher flag, its environment variable and how to parse it."""

    flag: str
    env: str
    help: str
    parse: Callable[[str], Any] | None = None  # None: a free string
    metavar: str = "VALUE"
    is_switch: bool = False  # a boolean flag with a --no- twin


OPTIONS: tuple[Option, ...] = (
    Option(
        "--service-name", envvars.SERVICE_NAME, "service.name of the traced process", None, "NAME"
    ),
    Option(
        "--resource-attributes",
        envvars.RESOURCE_ATTRIBUTES,
        "extra resource attributes, key=value,...",
        None,
        "PAIRS",
    ),
    Option(
        "--exporter",
        envvars.EXPORTER,
        "where spans go: otlp, console, local or none "
        "(default: otlp when an OTLP endpoint is set, else local)",
        parse_choice(EXPORTERS),
        "KIND",
    ),
    Option(
        "--endpoint",
        envvars.OTLP_ENDPOINT,
        "OTLP endpoint, e.g. http://jaeger:4318",
        None,
        "URL",
    ),
    Option(
        "--protocol",
        envvars.OTLP_PROTOCOL,
        "OTLP protocol: http/protobuf (default) or grpc",
        parse_choice(PROTOCOLS),
        "PROTO",
    ),
    Option("--headers", "OTEL_EXPORTER_OTLP_HEADERS", "OTLP headers, key=value,...", None, "PAIRS"),
    Option("--sampler", "OTEL_TRACES_SAMPLER", "OpenTelemetry sampler name", None, "NAME"),
    Option("--sampler-arg", "OTEL_TRACES_SAMPLER_ARG", "the sampler's argument", None, "ARG"),
    Option(
        "--local-store",
        "LLM_INSTRUMENT_LOCAL_STORE",
        f"path of the local trace store (default ./{DEFAULT_LOCAL_STORE})",
        None,
        "PATH",
    ),
    Option(
        "--local-store-max-mb",
        "LLM_INSTRUMENT_LOCAL_STORE_MAX_MB",
        "size cap of the local store in MB; the oldest traces go first "
        f"(default {DEFAULT_LOCAL_STORE_MAX_MB}, 0: no cap)",
        parse_non_negative_int,
        "MB",
    ),
    Option(
        "--local-store-max-age",
        "LLM_INSTRUMENT_LOCAL_STORE_MAX_AGE",
        f"traces older than this leave the local store (default {DEFAULT_LOCAL_STORE_MAX_AGE}, "
        "0: kept until the size cap)",
        parse_duration,
        "AGE",
    ),
    Option(
        "--capture-content",
        "LLM_INSTRUMENT_CAPTURE_CONTENT",
        "record prompts, completions, documents and tool arguments (default on)",
        parse_bool,
        is_switch=True,
    ),
    Option(
        "--max-content-length",
        "LLM_INSTRUMENT_MAX_CONTENT_LENGTH",
        f"characters kept of each captured value (default {DEFAULT_MAX_CONTENT_LENGTH})",
        parse_positive_int,
        "N",
    ),
    Option(
        "--max-span-content-bytes",
        "LLM_INSTRUMENT_MAX_SPAN_CONTENT_BYTES",
        "bytes of captured content one span may carry; longer message lists are cut "
        f"(default {DEFAULT_MAX_SPAN_CONTENT_BYTES})",
        parse_positive_int,
        "N",
    ),
    Option(
        "--metrics-port",
        envvars.METRICS_PORT,
        "serve Prometheus metrics on this port (default off)",
        parse_port,
        "PORT",
    ),
    Option(
        "--disabled-instrumentations",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
        "comma-separated plugin names to leave off",
        parse_names,
        "NAMES",
    ),
    Option(
        "--gevent",
        "LLM_INSTRUMENT_GEVENT",
        "run gevent's monkey.patch_all() before anything else (also GEVENT_ENABLE=true)",
        parse_bool,
        is_switch=True,
    ),
    Option(
        "--log-level",
        "LLM_INSTRUMENT_LOG_LEVEL",
        "the agent's own log level (default WARNING)",
        parse_choice(("debug", "info", "warning", "error")),
        "LEVEL",
    ),
)

OPTIONS_BY_ENV = {option.env: option for option in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """The agent's effective configuration for this process."""

    exporter: str = "local"
    otlp_endpoint: str | None = None
    otlp_protocol: str = "http/protobuf"
    local_store: str = DEFAULT_LOCAL_STORE
    local_store_max_mb: int = DEFAULT_LOCAL_STORE_MAX_MB
    local_store_max_age: float = parse_duration(DEFAULT_LOCAL_STORE_MAX_AGE)
    capture_content: bool = True
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    max_span_content_bytes: int = DEFAULT_MAX_SPAN_CONTENT_BYTES
    metrics_port: int | None = None
    disabled: frozenset[str] = frozenset()
    gevent: bool = False
    log_level: str = "warning"
    plugin_settings: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def value(self, setting: Setting) -> Any:
        """A declared plugin setting, parsed; its default when unset or bad (a bad value
        was reported once at start-up by ``check_plugin_settings``)."""
        raw = self.plugin_settings.get(setting.env)
        if raw is None or raw.strip() == "":
            return setting.default
        try:
            return setting.parse(raw)
        except ValueError:
            return setting.default


def shown(value: Any) -> str:
    """A value as a user would type it: ``true``, ``4096``, ``requests,fastapi``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset | set | tuple | list):
        return ",".join(sorted(str(v) for v in value))
    return "" if value is None else str(value)


def problem(env: str, raw: str, error: ValueError, default: Any) -> str:
    """One start-up problem line, in the user's words: the variable, its value as set, why
    it is ignored and what is used instead."""
    import shlex  # only when something is wrong

    reason = str(error)
    if reason.startswith("invalid literal for int()"):  # a plugin's parse=int
        reason = "not a whole number"
    elif reason.startswith("could not convert string to float"):
        reason = "not a number"
    instead = f"using {shown(default)}" if shown(default) else "left unset"
    return f"{env}={shlex.quote(raw)} ignored ({reason}), {instead}"


def check_plugin_settings(settings: Settings, declared: Iterable[Setting]) -> list[str]:
    """One problem line per bad value of a declared plugin setting."""
    problems = []
    for setting in declared:
        raw = settings.plugin_settings.get(setting.env)
        if raw is None or raw.strip() == "":
            continue
        try:
            setting.parse(raw)
        except ValueError as exc:
            problems.append(problem(setting.env, raw, exc, setting.default))
    return problems


def _read(
    env: Mapping[str, str], name: str, default: Any, problems: list[str], like: str = ""
) -> Any:
    """``env[name]`` parsed as the option ``like`` (default: ``name``) parses it."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    option = OPTIONS_BY_ENV.get(like or name)
    parse = option.parse if option and option.parse else str
    try:
        return parse(raw)
    except ValueError as exc:
        problems.append(problem(name, raw, exc, default))
        return default


def _otlp_endpoint(env: Mapping[str, str]) -> str | None:
    return (
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or None
    )


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings; never raises, whatever the environment holds."""
    env = os.environ if env is None else env
    problems: list[str] = []
    endpoint = _otlp_endpoint(env)
    protocol_env = (
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
        if env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        else "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    protocol = env.get(protocol_env) or "http/protobuf"
    if protocol not in PROTOCOLS:
        reason = ValueError(f"not one of {', '.join(PROTOCOLS)}")
        problems.append(problem(protocol_env, protocol, reason, "http/protobuf"))
        protocol = "http/protobuf"
    gevent = _read(env, "LLM_INSTRUMENT_GEVENT", False, problems)
    if not gevent and "GEVENT_ENABLE" in env:
        gevent = _read(env, "GEVENT_ENABLE", False, problems, like="LLM_INSTRUMENT_GEVENT")
    known = set(OPTIONS_BY_ENV)
    return Settings(
        exporter=_read(env, "LLM_INSTRUMENT_EXPORTER", "otlp" if endpoint else "local", problems),
        otlp_endpoint=endpoint,
        otlp_protocol=protocol,
        local_store=_read(env, "LLM_INSTRUMENT_LOCAL_STORE", DEFAULT_LOCAL_STORE, problems),
        local_store_max_mb=_read(
            env, "LLM_INSTRUMENT_LOCAL_STORE_MAX_MB", DEFAULT_LOCAL_STORE_MAX_MB, problems
        ),
        local_store_max_age=_read(
            env,
            "LLM_INSTRUMENT_LOCAL_STORE_MAX_AGE",
            parse_duration(DEFAULT_LOCAL_STORE_MAX_AGE),
            problems,
        ),
        capture_content=_read(env, "LLM_INSTRUMENT_CAPTURE_CONTENT", True, problems),
        max_content_length=_read(
            env, "LLM_INSTRUMENT_MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH, problems
        ),
        max_span_content_bytes=_read(
            env, "LLM_INSTRUMENT_MAX_SPAN_CONTENT_BYTES", DEFAULT_MAX_SPAN_CONTENT_BYTES, problems
        ),
        metrics_port=_read(env, "LLM_INSTRUMENT_METRICS_PORT", None, problems),
        disabled=_read(env, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", frozenset(), problems),
        gevent=gevent,
        log_level=_read(env, "LLM_INSTRUMENT_LOG_LEVEL", "warning", problems),
        plugin_settings={
            key: value
            for key, value in env.items()
            if key.startswith("LLM_INSTRUMENT_") and key not in known
        },
        problems=tuple(problems),
    )


_current: Settings | None = None


def current() -> Settings:
    """The process-wide settings, loaded on first use."""
    global _current
    if _current is None:
        _current = load()
    return _current


def reset(settings: Settings | None = None) -> None:
    """Replace the process-wide settings (start-up and tests)."""
    global _current
    _current = settings

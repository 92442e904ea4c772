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

import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llm_instrument import envvars
from llm_instrument.agent.plugin import Setting

EXPORTERS = ("otlp", "console", "local", "none")
TRACES_EXPORTERS = ("otlp", "console", "none")  # OTEL_TRACES_EXPORTER
METRICS_EXPORTERS = ("otlp", "console", "none")  # OTEL_METRICS_EXPORTER
PROTOCOLS = ("http/protobuf", "grpc")
DEFAULT_LOCAL_STORE = os.path.join(".llm-instrument", "traces.db")
DEFAULT_MAX_CONTENT_LENGTH = 4096
DEFAULT_MAX_SPAN_CONTENT_BYTES = 262144
DEFAULT_LOCAL_STORE_MAX_MB = 512
DEFAULT_LOCAL_STORE_MAX_AGE = "7d"
DEFAULT_EXIT_TIMEOUT_S = 5.0
# The span queue: the byte bound is what bounds memory; the count bound is only a backstop,
# larger than the SDK's 2048 so that a short script bursting thousands of spans loses none.
DEFAULT_MAX_QUEUE_SIZE = 16384
DEFAULT_MAX_QUEUE_BYTES = 32 * 1024 * 1024
DEFAULT_SCHEDULE_DELAY_MS = 5000
DEFAULT_MAX_EXPORT_BATCH_SIZE = 512
DEFAULT_METRICS_HOST = "0.0.0.0"
# set by the agent itself, or read by other programs: not user settings, never "unknown"
INTERNAL_VARIABLES = ("LLM_INSTRUMENT_METRICS_DIR", "LLM_INSTRUMENT_AGENT_SITE")
INTERNAL_PREFIXES = ("LLM_INSTRUMENT_WEBHOOK_",)


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


def parse_seconds(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 3600:
        raise ValueError(f"expected seconds between 0 and 3600, got {raw!r}")
    return value


_BYTE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2}
_BYTE_UNITS |= {"mib": 1024**2, "g": 1024**3, "gb": 1000**3, "gib": 1024**3}


def parse_bytes(raw: str) -> int:
    """``4194304``, ``64MiB``, ``512k``: a positive size in bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", raw)
    unit = _BYTE_UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(f"expected a size such as 33554432 or 32MiB, got {raw!r}")
    value = int(float(match.group(1)) * unit)
    if value <= 0:
        raise ValueError(f"expected a positive size, got {raw!r}")
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
        "--metrics-host",
        "LLM_INSTRUMENT_METRICS_HOST",
        f"address the Prometheus port binds (default {DEFAULT_METRICS_HOST}: every interface, "
        "as Prometheus in Kubernetes scrapes the pod IP; 127.0.0.1 for this machine only)",
        None,
        "HOST",
    ),
    Option(
        "--exit-timeout",
        "LLM_INSTRUMENT_EXIT_TIMEOUT",
        f"seconds the exit (normal or SIGTERM) may spend delivering queued spans and "
        f"metrics, all together (default {DEFAULT_EXIT_TIMEOUT_S:g})",
        parse_seconds,
        "SECONDS",
    ),
    Option(
        "--max-queue-bytes",
        "LLM_INSTRUMENT_MAX_QUEUE_BYTES",
        "memory the queue of finished spans may hold before spans are dropped "
        f"(default {DEFAULT_MAX_QUEUE_BYTES // 2**20}MiB; OTEL_BSP_MAX_QUEUE_SIZE bounds "
        "the count)",
        parse_bytes,
        "BYTES",
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

    exporter: str = "local"  # where spans go
    otlp_endpoint: str | None = None  # the traces endpoint as configured (scheme added)
    otlp_protocol: str = "http/protobuf"
    traces_url: str | None = None  # full OTLP URL for spans (http) or host:port (grpc)
    metrics_exporters: tuple[str, ...] = ()  # "otlp", "console"; empty: no OTLP/console
    metrics_url: str | None = None
    metrics_protocol: str = "http/protobuf"
    local_store: str = DEFAULT_LOCAL_STORE
    local_store_max_mb: int = DEFAULT_LOCAL_STORE_MAX_MB
    local_store_max_age: float = parse_duration(DEFAULT_LOCAL_STORE_MAX_AGE)
    capture_content: bool = True
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    max_span_content_bytes: int = DEFAULT_MAX_SPAN_CONTENT_BYTES
    metrics_port: int | None = None
    metrics_host: str = DEFAULT_METRICS_HOST
    exit_timeout_s: float = DEFAULT_EXIT_TIMEOUT_S
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES
    max_export_batch_size: int = DEFAULT_MAX_EXPORT_BATCH_SIZE
    schedule_delay_ms: int = DEFAULT_SCHEDULE_DELAY_MS
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
    """One problem line per bad value of a declared plugin setting, and one per
    ``LLM_INSTRUMENT_*`` variable that nothing declares (a typo would otherwise be silent),
    naming the closest known one."""
    declared = list(declared)
    problems = unknown_variables(settings, [s.env for s in declared])
    for setting in declared:
        raw = settings.plugin_settings.get(setting.env)
        if raw is None or raw.strip() == "":
            continue
        try:
            setting.parse(raw)
        except ValueError as exc:
            problems.append(problem(setting.env, raw, exc, setting.default))
    return problems


_PREFIX = "LLM_INSTRUMENT_"


def unknown_variables(settings: Settings, declared: Iterable[str]) -> list[str]:
    """``LLM_INSTRUMENT_*`` variables that are neither options nor declared settings."""
    known = set(OPTIONS_BY_ENV) | set(declared) | set(INTERNAL_VARIABLES)
    problems = []
    for name in sorted(settings.plugin_settings):
        if name in known or name.startswith(INTERNAL_PREFIXES):
            continue
        # compared without the shared prefix, which would make every name look close
        tails = {known_name.removeprefix(_PREFIX): known_name for known_name in known}
        close = difflib.get_close_matches(name.removeprefix(_PREFIX), sorted(tails), 1, 0.6)
        hint = f"; did you mean {tails[close[0]]}?" if close else ""
        problems.append(f"{name} is not an llm-instrument setting, ignored{hint}")
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


def _with_scheme(name: str, url: str, problems: list[str]) -> str:
    """An endpoint without a scheme (``collector:4318``) loses every span in the OTLP
    exporter; it gets ``http://`` and one problem line instead."""
    if "://" in url:
        return url
    fixed = f"http://{url}"
    problems.append(f"{name}={url!r} has no scheme; using {fixed!r}")
    return fixed


def _signal_url(
    env: Mapping[str, str], signal: str, protocol: str, problems: list[str]
) -> tuple[str | None, str | None]:
    """(the endpoint as configured, the full URL to send to) for ``traces``/``metrics``.

    The per-signal variable is used as it is; the general one gets ``/v1/<signal>``
    appended, as the OTLP exporter specification says. gRPC takes host:port for both.
    """
    specific = f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
    for name in (specific, "OTEL_EXPORTER_OTLP_ENDPOINT"):
        raw = (env.get(name) or "").strip()
        if not raw:
            continue
        url = _with_scheme(name, raw, problems)
        if name == specific or protocol == "grpc":
            return url, url
        return url, f"{url.rstrip('/')}/v1/{signal}"
    return None, None


def _protocol(env: Mapping[str, str], signal: str, problems: list[str]) -> str:
    name = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
    if not env.get(name):
        name = "OTEL_EXPORTER_OTLP_PROTOCOL"
    protocol = (env.get(name) or "").strip()
    if not protocol:
        return "http/protobuf"
    if protocol not in PROTOCOLS:
        reason = ValueError(f"not one of {', '.join(PROTOCOLS)}")
        problems.append(problem(name, protocol, reason, "http/protobuf"))
        return "http/protobuf"
    return protocol


def _parse_exporter_list(choices: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(raw: str) -> tuple[str, ...]:
        names = [name.strip().lower() for name in raw.split(",") if name.strip()]
        bad = [name for name in names if name not in choices]
        if bad:
            raise ValueError(f"expected {', '.join(choices)}, got {', '.join(bad)}")
        return tuple(name for name in dict.fromkeys(names) if name != "none")

    return parse


def _read_standard(
    env: Mapping[str, str],
    name: str,
    default: Any,
    parse: Callable[[str], Any],
    problems: list[str],
) -> Any:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        problems.append(f"{name}={raw!r} ignored ({exc}); using {default!r}")
        return default


def _parse_delay(raw: str) -> int:
    value = int(float(raw))
    if value < 0:
        raise ValueError(f"expected milliseconds >= 0, got {raw!r}")
    return value


def _traces_exporter(env: Mapping[str, str], endpoint: str | None, problems: list[str]) -> str:
    """``LLM_INSTRUMENT_EXPORTER`` wins; else the standard ``OTEL_TRACES_EXPORTER``; else
    OTLP when an endpoint is set, the local store otherwise."""
    default = "otlp" if endpoint else "local"
    if (env.get("LLM_INSTRUMENT_EXPORTER") or "").strip():
        return str(_read(env, "LLM_INSTRUMENT_EXPORTER", default, problems))
    chosen = _read_standard(
        env, "OTEL_TRACES_EXPORTER", None, _parse_exporter_list(TRACES_EXPORTERS), problems
    )
    if chosen is None:
        return default
    if len(chosen) > 1:
        problems.append(f"OTEL_TRACES_EXPORTER: only one exporter is used; using {chosen[0]!r}")
    return str(chosen[0]) if chosen else "none"


def _metrics_exporters(
    env: Mapping[str, str], url: str | None, problems: list[str]
) -> tuple[str, ...]:
    """OTLP metrics only where a metrics endpoint is configured (a traces-only endpoint,
    Phoenix's set-up, must not send metrics to localhost:4318), unless asked by name."""
    default = ("otlp",) if url else ()
    return tuple(
        _read_standard(
            env, "OTEL_METRICS_EXPORTER", default, _parse_exporter_list(METRICS_EXPORTERS), problems
        )
    )


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings; never raises, whatever the environment holds."""
    env = os.environ if env is None else env
    problems: list[str] = []
    protocol = _protocol(env, "traces", problems)
    endpoint, traces_url = _signal_url(env, "traces", protocol, problems)
    metrics_protocol = _protocol(env, "metrics", [])
    _, metrics_url = _signal_url(env, "metrics", metrics_protocol, [])
    exporter = _traces_exporter(env, endpoint, problems)
    metrics_exporters = _metrics_exporters(env, metrics_url, problems)
    if traces_url is None and exporter == "otlp":
        traces_url = "localhost:4317" if protocol == "grpc" else "http://localhost:4318/v1/traces"
    if metrics_url is None and "otlp" in metrics_exporters:
        metrics_url = (
            "localhost:4317" if metrics_protocol == "grpc" else "http://localhost:4318/v1/metrics"
        )
    gevent = _read(env, "LLM_INSTRUMENT_GEVENT", False, problems)
    if not gevent and "GEVENT_ENABLE" in env:
        gevent = _read(env, "GEVENT_ENABLE", False, problems, like="LLM_INSTRUMENT_GEVENT")
    queue_size = _read_standard(
        env, "OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE_SIZE, parse_positive_int, problems
    )
    batch_size = _read_standard(
        env,
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        DEFAULT_MAX_EXPORT_BATCH_SIZE,
        parse_positive_int,
        problems,
    )
    known = set(OPTIONS_BY_ENV)
    return Settings(
        exporter=exporter,
        otlp_endpoint=endpoint,
        otlp_protocol=protocol,
        traces_url=traces_url,
        metrics_exporters=metrics_exporters,
        metrics_url=metrics_url,
        metrics_protocol=metrics_protocol,
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
        metrics_host=_read(env, "LLM_INSTRUMENT_METRICS_HOST", DEFAULT_METRICS_HOST, problems),
        exit_timeout_s=_read(env, "LLM_INSTRUMENT_EXIT_TIMEOUT", DEFAULT_EXIT_TIMEOUT_S, problems),
        max_queue_size=queue_size,
        max_queue_bytes=_read(
            env, "LLM_INSTRUMENT_MAX_QUEUE_BYTES", DEFAULT_MAX_QUEUE_BYTES, problems
        ),
        # a batch larger than the queue is no error: it is the whole queue
        max_export_batch_size=min(batch_size, queue_size),
        schedule_delay_ms=_read_standard(
            env, "OTEL_BSP_SCHEDULE_DELAY", DEFAULT_SCHEDULE_DELAY_MS, _parse_delay, problems
        ),
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

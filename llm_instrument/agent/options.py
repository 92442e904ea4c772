"""Every agent setting as a launcher option: its flag, its variable, its default and how it
parses. ``OPTIONS`` drives both ``llm-instrument --help`` and ``config.load``, so the CLI,
the environment and Kubernetes injection share one path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from llm_instrument import envvars
from llm_instrument.agent.parsing import (
    parse_bool,
    parse_bytes,
    parse_choice,
    parse_duration,
    parse_names,
    parse_non_negative_int,
    parse_port,
    parse_positive_int,
    parse_seconds,
    problem,
)

EXPORTERS = ("otlp", "console", "local", "none")
TRACES_EXPORTERS = ("otlp", "console", "none")  # OTEL_TRACES_EXPORTER
METRICS_EXPORTERS = ("otlp", "console", "none")  # OTEL_METRICS_EXPORTER
PROTOCOLS = ("http/protobuf", "grpc")
DEFAULT_LOCAL_STORE = envvars.DEFAULT_LOCAL_STORE
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
INTERNAL_VARIABLES = (
    "LLM_INSTRUMENT_METRICS_DIR",
    "LLM_INSTRUMENT_AGENT_SITE",
    "LLM_INSTRUMENT_LAUNCHER_PYTHON",
)
INTERNAL_PREFIXES = ("LLM_INSTRUMENT_WEBHOOK_",)


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
        "--gc-freeze",
        "LLM_INSTRUMENT_GC_FREEZE",
        "once the agent has started, keep the objects that exist then (modules, classes) "
        "out of the garbage collector's scans, as gc.freeze() does (default on)",
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


def read_option(
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

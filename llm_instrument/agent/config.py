"""Settings, read once from the environment.

Standard ``OTEL_*`` variables keep their meaning (the OpenTelemetry SDK reads most of them
itself: service name, resource attributes, OTLP endpoint, protocol, headers, sampler, batch
sizes). Our own settings are ``LLM_INSTRUMENT_<SETTING>`` or
``LLM_INSTRUMENT_<PLUGIN>_<SETTING>``, and every one of them is also a launcher option
(``agent.options.OPTIONS`` drives both), so the CLI, the environment and Kubernetes injection share
one path. A bad value never stops the application: it is collected into ``Settings.problems``,
reported in one warning line at start-up, and the default is used.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llm_instrument.agent import otlp_settings
from llm_instrument.agent.options import (
    DEFAULT_EXIT_TIMEOUT_S,
    DEFAULT_LOCAL_STORE,
    DEFAULT_LOCAL_STORE_MAX_AGE,
    DEFAULT_LOCAL_STORE_MAX_MB,
    DEFAULT_MAX_CONTENT_LENGTH,
    DEFAULT_MAX_EXPORT_BATCH_SIZE,
    DEFAULT_MAX_QUEUE_BYTES,
    DEFAULT_MAX_QUEUE_SIZE,
    DEFAULT_MAX_SPAN_CONTENT_BYTES,
    DEFAULT_METRICS_HOST,
    DEFAULT_SCHEDULE_DELAY_MS,
    EXPORTERS,
    INTERNAL_PREFIXES,
    INTERNAL_VARIABLES,
    OPTIONS,
    OPTIONS_BY_ENV,
    PROTOCOLS,
    Option,
    read_option,
)
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
    shown,
)
from llm_instrument.agent.plugin import Setting

__all__ = [
    "DEFAULT_LOCAL_STORE",
    "DEFAULT_MAX_CONTENT_LENGTH",
    "DEFAULT_MAX_QUEUE_BYTES",
    "DEFAULT_MAX_SPAN_CONTENT_BYTES",
    "EXPORTERS",
    "INTERNAL_VARIABLES",
    "OPTIONS",
    "OPTIONS_BY_ENV",
    "PROTOCOLS",
    "Option",
    "Setting",
    "Settings",
    "check_plugin_settings",
    "current",
    "load",
    "parse_bool",
    "parse_bytes",
    "parse_choice",
    "parse_duration",
    "parse_names",
    "parse_non_negative_int",
    "parse_port",
    "parse_positive_int",
    "parse_seconds",
    "problem",
    "reset",
    "shown",
    "unknown_variables",
]


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
    gc_freeze: bool = True
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


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings; never raises, whatever the environment holds."""
    env = os.environ if env is None else env
    problems: list[str] = []
    protocol = otlp_settings.protocol(env, "traces", problems)
    endpoint, traces_url = otlp_settings.signal_url(env, "traces", protocol, problems)
    metrics_protocol = otlp_settings.protocol(env, "metrics", [])
    _, metrics_url = otlp_settings.signal_url(env, "metrics", metrics_protocol, [])
    exporter = otlp_settings.traces_exporter(env, endpoint, problems)
    metrics_exporters = otlp_settings.metrics_exporters(env, metrics_url, problems)
    if traces_url is None and exporter == "otlp":
        traces_url = "localhost:4317" if protocol == "grpc" else "http://localhost:4318/v1/traces"
    if metrics_url is None and "otlp" in metrics_exporters:
        metrics_url = (
            "localhost:4317" if metrics_protocol == "grpc" else "http://localhost:4318/v1/metrics"
        )
    gevent = read_option(env, "LLM_INSTRUMENT_GEVENT", False, problems)
    if not gevent and "GEVENT_ENABLE" in env:
        gevent = read_option(env, "GEVENT_ENABLE", False, problems, like="LLM_INSTRUMENT_GEVENT")
    queue_size = otlp_settings.read_standard(
        env, "OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE_SIZE, parse_positive_int, problems
    )
    batch_size = otlp_settings.read_standard(
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
        local_store=read_option(env, "LLM_INSTRUMENT_LOCAL_STORE", DEFAULT_LOCAL_STORE, problems),
        local_store_max_mb=read_option(
            env, "LLM_INSTRUMENT_LOCAL_STORE_MAX_MB", DEFAULT_LOCAL_STORE_MAX_MB, problems
        ),
        local_store_max_age=read_option(
            env,
            "LLM_INSTRUMENT_LOCAL_STORE_MAX_AGE",
            parse_duration(DEFAULT_LOCAL_STORE_MAX_AGE),
            problems,
        ),
        capture_content=read_option(env, "LLM_INSTRUMENT_CAPTURE_CONTENT", True, problems),
        max_content_length=read_option(
            env, "LLM_INSTRUMENT_MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH, problems
        ),
        max_span_content_bytes=read_option(
            env, "LLM_INSTRUMENT_MAX_SPAN_CONTENT_BYTES", DEFAULT_MAX_SPAN_CONTENT_BYTES, problems
        ),
        metrics_port=read_option(env, "LLM_INSTRUMENT_METRICS_PORT", None, problems),
        metrics_host=read_option(
            env, "LLM_INSTRUMENT_METRICS_HOST", DEFAULT_METRICS_HOST, problems
        ),
        exit_timeout_s=read_option(
            env, "LLM_INSTRUMENT_EXIT_TIMEOUT", DEFAULT_EXIT_TIMEOUT_S, problems
        ),
        max_queue_size=queue_size,
        max_queue_bytes=read_option(
            env, "LLM_INSTRUMENT_MAX_QUEUE_BYTES", DEFAULT_MAX_QUEUE_BYTES, problems
        ),
        # a batch larger than the queue is no error: it is the whole queue
        max_export_batch_size=min(batch_size, queue_size),
        schedule_delay_ms=otlp_settings.read_standard(
            env,
            "OTEL_BSP_SCHEDULE_DELAY",
            DEFAULT_SCHEDULE_DELAY_MS,
            otlp_settings.parse_delay,
            problems,
        ),
        disabled=read_option(env, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", frozenset(), problems),
        gevent=gevent,
        gc_freeze=read_option(env, "LLM_INSTRUMENT_GC_FREEZE", True, problems),
        log_level=read_option(env, "LLM_INSTRUMENT_LOG_LEVEL", "warning", problems),
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

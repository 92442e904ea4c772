"""The OTLP side of the settings: which exporter each signal uses and where it sends, from
the standard ``OTEL_*`` variables (per-signal endpoints and protocols, ``OTEL_TRACES_EXPORTER``,
``OTEL_METRICS_EXPORTER``, the batch settings), each bad value one problem line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from llm_instrument.agent.options import (
    METRICS_EXPORTERS,
    PROTOCOLS,
    TRACES_EXPORTERS,
    read_option,
)
from llm_instrument.agent.parsing import problem


def with_scheme(name: str, url: str, problems: list[str]) -> str:
    """An endpoint without a scheme (``collector:4318``) loses every span in the OTLP
    exporter; it gets ``http://`` and one problem line instead."""
    if "://" in url:
        return url
    fixed = f"http://{url}"
    problems.append(f"{name}={url!r} has no scheme; using {fixed!r}")
    return fixed


def signal_url(
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
        url = with_scheme(name, raw, problems)
        if name == specific or protocol == "grpc":
            return url, url
        return url, f"{url.rstrip('/')}/v1/{signal}"
    return None, None


def protocol(env: Mapping[str, str], signal: str, problems: list[str]) -> str:
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


def parse_exporter_list(choices: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(raw: str) -> tuple[str, ...]:
        names = [name.strip().lower() for name in raw.split(",") if name.strip()]
        bad = [name for name in names if name not in choices]
        if bad:
            raise ValueError(f"expected {', '.join(choices)}, got {', '.join(bad)}")
        return tuple(name for name in dict.fromkeys(names) if name != "none")

    return parse


def read_standard(
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


def parse_delay(raw: str) -> int:
    value = int(float(raw))
    if value < 0:
        raise ValueError(f"expected milliseconds >= 0, got {raw!r}")
    return value


def traces_exporter(env: Mapping[str, str], endpoint: str | None, problems: list[str]) -> str:
    """``LLM_INSTRUMENT_EXPORTER`` wins; else the standard ``OTEL_TRACES_EXPORTER``; else
    OTLP when an endpoint is set, the local store otherwise."""
    default = "otlp" if endpoint else "local"
    if (env.get("LLM_INSTRUMENT_EXPORTER") or "").strip():
        return str(read_option(env, "LLM_INSTRUMENT_EXPORTER", default, problems))
    chosen = read_standard(
        env, "OTEL_TRACES_EXPORTER", None, parse_exporter_list(TRACES_EXPORTERS), problems
    )
    if chosen is None:
        return default
    if len(chosen) > 1:
        problems.append(f"OTEL_TRACES_EXPORTER: only one exporter is used; using {chosen[0]!r}")
    return str(chosen[0]) if chosen else "none"


def metrics_exporters(
    env: Mapping[str, str], url: str | None, problems: list[str]
) -> tuple[str, ...]:
    """OTLP metrics only where a metrics endpoint is configured (a traces-only endpoint,
    Phoenix's set-up, must not send metrics to localhost:4318), unless asked by name."""
    default = ("otlp",) if url else ()
    return tuple(
        read_standard(
            env, "OTEL_METRICS_EXPORTER", default, parse_exporter_list(METRICS_EXPORTERS), problems
        )
    )

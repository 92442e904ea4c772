"""The GenAI metric instruments, created once through the OpenTelemetry metrics API.

``gen_ai.client.token.usage`` (by ``gen_ai.token.type``), ``gen_ai.client.operation.duration``,
``gen_ai.client.operation.time_to_first_chunk`` and ``..time_per_output_chunk`` (streams),
with the conventions' units and bucket boundaries (see ``names.METRICS``). Where they go
(OTLP, Prometheus, nowhere) is decided by ``llm_instrument.agent.meter_provider``; with no meter
provider set the API's no-op meter makes every record free. Other instrumentors add their
own instruments (``hw.gpu.*``) through ``meter()`` here, so that all meters share one scope.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import metrics

import llm_instrument
from llm_instrument.genai import names
from llm_instrument.genai.facts import Usage

_lock = threading.Lock()
_instruments: dict[str, Any] = {}


class _Meter:
    provider: metrics.MeterProvider | None = None
    meter: metrics.Meter | None = None


_state = _Meter()


def use_meter_provider(provider: metrics.MeterProvider | None) -> None:
    """Record into ``provider`` from now on (None: the global one); instruments are remade."""
    with _lock:
        _instruments.clear()
        _state.provider, _state.meter = provider, None


def meter() -> metrics.Meter:
    """The core's meter, one scope for every GenAI and ``hw.gpu`` instrument."""
    if _state.meter is None:
        provider = _state.provider or metrics.get_meter_provider()
        _state.meter = provider.get_meter("llm_instrument.genai", llm_instrument.__version__)
    return _state.meter


def _once(name: str, create: Callable[[], Any]) -> Any:
    """The instrument called ``name``, created on first use (one per name per process)."""
    found = _instruments.get(name)
    if found is None:
        with _lock:
            found = _instruments.get(name)
            if found is None:
                found = _instruments[name] = create()
    return found


def histogram(
    name: str, unit: str, description: str, buckets: Sequence[float] | None = None
) -> metrics.Histogram:
    advisory = list(buckets) if buckets else None
    return _once(  # type: ignore[no-any-return]
        name,
        lambda: meter().create_histogram(
            name, unit=unit, description=description, explicit_bucket_boundaries_advisory=advisory
        ),
    )


def _genai(name: str) -> metrics.Histogram:
    found = _instruments.get(name)  # the common case: no closure, no bucket list per record
    if found is not None:
        return found  # type: ignore[no-any-return]
    unit, description, buckets = names.METRICS[name]
    return histogram(name, unit, description, buckets)


def record_operation(
    labels: Mapping[str, Any],
    start_ns: int,
    end_ns: int,
    usage: Usage | None,
    first_ns: int | None,
    chunks: int,
) -> None:
    """Record one finished GenAI operation (called by the handle, once per operation).

    Times are ``perf_counter_ns`` readings. Time per output chunk spreads the time after
    the first chunk over the chunks that followed it (counted chunks, else output tokens).
    """
    _genai(names.OPERATION_DURATION).record((end_ns - start_ns) / 1e9, labels)
    record_tokens(labels, usage)
    if first_ns is None:
        return
    _genai(names.TIME_TO_FIRST_CHUNK).record((first_ns - start_ns) / 1e9, labels)
    steps = (chunks or (usage.output_tokens if usage else 0) or 0) - 1
    if steps > 0:
        _genai(names.TIME_PER_OUTPUT_CHUNK).record((end_ns - first_ns) / 1e9 / steps, labels)


def record_tokens(labels: Mapping[str, Any], usage: Usage | None) -> None:
    """``gen_ai.client.token.usage``: the input and output counts that are known."""
    for count, token_type in (
        (usage.input_tokens if usage else None, names.TOKEN_INPUT),
        (usage.output_tokens if usage else None, names.TOKEN_OUTPUT),
    ):
        if count is not None:
            _genai(names.TOKEN_USAGE).record(count, {**labels, names.TOKEN_TYPE: token_type})


def record_server_timing(
    labels: Mapping[str, Any], first_token_s: float | None, per_output_token_s: float | None
) -> None:
    """``gen_ai.server.*`` timings of an in-process model (recorded by its own handle)."""
    if first_token_s is not None:
        _genai(names.SERVER_TIME_TO_FIRST_TOKEN).record(first_token_s, labels)
    if per_output_token_s is not None:
        _genai(names.SERVER_TIME_PER_OUTPUT_TOKEN).record(per_output_token_s, labels)

"""The meter provider: OTLP and console export where asked, Prometheus on a port.

- OTLP metrics go only where a metrics endpoint is configured
  (``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``) or where
  ``OTEL_METRICS_EXPORTER`` names ``otlp``; ``OTEL_METRICS_EXPORTER=none`` turns them off,
  ``console`` writes them to stderr.
- Nothing is loaded when no reader is configured (the metrics API's no-op meter then makes
  every record free).
- The provider does not shut itself down at exit (the SDK's would export with a 30 s
  timeout); ``shutdown`` flushes it within the one exit budget, also on SIGTERM.
- As for traces (``tracer_provider``), the application's own ``metrics.set_meter_provider``
  wins: the global provider is a switchboard whose instruments move to the application's
  provider when it sets one, so its readers see every measurement and nothing is warned.

The Prometheus side (serving ``/metrics``, several workers' spool) lives in
``llm_instrument.exporters.prometheus``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import metrics

from llm_instrument.agent import config, notices, shutdown
from llm_instrument.agent.guard import guard


# -- the switchboard ---------------------------------------------------------------------------
class _MeterSwitchboard(metrics.MeterProvider):
    def __init__(self, target: Any) -> None:
        self.target = target
        self.instruments: list[_SwitchedInstrument] = []
        self.adopted = False  # the application set its own provider

    def get_meter(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> metrics.Meter:
        return _SwitchedMeter(self, name, version, schema_url, args, kwargs)

    def switch_to(self, provider: Any) -> None:
        self.target = provider
        for instrument in list(self.instruments):
            instrument.make()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


class _SwitchedInstrument:
    """Forwards measurements to the same instrument on the provider in effect."""

    def __init__(self, meter: _SwitchedMeter, kind: str, args: Any, kwargs: Any) -> None:
        self._meter, self._kind, self._args, self._kwargs = meter, kind, args, kwargs
        self.name = args[0] if args else kwargs.get("name", "")
        self._real: Any = None
        self.make()

    def make(self) -> None:
        self._real = getattr(self._meter.real(), self._kind)(*self._args, **self._kwargs)

    def add(self, *args: Any, **kwargs: Any) -> None:
        self._real.add(*args, **kwargs)

    def record(self, *args: Any, **kwargs: Any) -> None:
        self._real.record(*args, **kwargs)

    def set(self, *args: Any, **kwargs: Any) -> None:
        self._real.set(*args, **kwargs)


class _SwitchedMeter(metrics.Meter):
    def __init__(
        self,
        board: _MeterSwitchboard,
        name: str,
        version: str | None,
        schema_url: str | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        super().__init__(name, version=version, schema_url=schema_url)
        self._board = board
        self._meter_args = (name, version, schema_url, *args)
        self._meter_kwargs = kwargs
        self._target: Any = None
        self._meter: Any = None

    def real(self) -> Any:
        if self._target is not self._board.target:
            self._meter = self._board.target.get_meter(*self._meter_args, **self._meter_kwargs)
            self._target = self._board.target
        return self._meter

    def _create(self, kind: str, *args: Any, **kwargs: Any) -> Any:
        instrument = _SwitchedInstrument(self, kind, args, kwargs)
        self._board.instruments.append(instrument)
        return instrument

    def create_counter(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_counter", *args, **kwargs)

    def create_up_down_counter(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_up_down_counter", *args, **kwargs)

    def create_histogram(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_histogram", *args, **kwargs)

    def create_gauge(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_gauge", *args, **kwargs)

    def create_observable_counter(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_observable_counter", *args, **kwargs)

    def create_observable_up_down_counter(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_observable_up_down_counter", *args, **kwargs)

    def create_observable_gauge(self, *args: Any, **kwargs: Any) -> Any:
        return self._create("create_observable_gauge", *args, **kwargs)


_board: _MeterSwitchboard | None = None


def _app_sets_provider(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``metrics.set_meter_provider`` called by the application after the agent set up."""
    provider = args[0] if args else kwargs.get("meter_provider")
    board = _board
    if board is None or provider is None or provider is board or board.adopted:
        return wrapped(*args, **kwargs)  # as bare: only the first set-up takes effect
    with guard("metrics: adopting the application's meter provider") as outcome:
        board.switch_to(provider)
        board.adopted = True
        _internal_metrics()._METER_PROVIDER = provider
    if outcome.error is not None:
        return wrapped(*args, **kwargs)
    return None


def _internal_metrics() -> Any:
    import importlib

    return importlib.import_module("opentelemetry.metrics._internal")


# -- readers -----------------------------------------------------------------------------------
def _readers(settings: config.Settings) -> list[Any]:
    readers: list[Any] = []
    if settings.metrics_exporters:
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    if "otlp" in settings.metrics_exporters and settings.metrics_url:
        exporter: Any
        if settings.metrics_protocol == "grpc":
            # the SDK's exporter: it reads its own aggregation settings when built
            from llm_instrument.exporters import otlp_metrics

            exporter = otlp_metrics.metric_exporter(settings.metrics_url, "grpc")
        else:
            from llm_instrument.exporters import lazy_metrics

            exporter = lazy_metrics.LazyMetricExporter(settings.metrics_url)
        readers.append(PeriodicExportingMetricReader(exporter))
    if "console" in settings.metrics_exporters:
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr)))
    if settings.metrics_port is not None:
        from llm_instrument.exporters import prometheus

        readers.append(prometheus.reader())
    return readers


def _views() -> list[Any]:
    """The SDK's metrics about itself (``otel.sdk.*``, recorded unasked by SDK 1.41-1.44) are
    not the user's telemetry: dropped unless ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``."""
    import os

    if os.environ.get("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "").strip().lower() == "true":
        return []
    from opentelemetry.sdk.metrics.view import DropAggregation, View

    return [View(instrument_name="otel.sdk.*", aggregation=DropAggregation())]


def _flush(provider: Any, deadline: float) -> None:
    """Exit task: one last collection and export, within the exit budget."""
    provider.force_flush(max(1, int((deadline - time.monotonic()) * 1000)))


def _abort() -> None:
    from llm_instrument.exporters import otlp

    otlp.abort_all()


def setup(settings: config.Settings) -> None:
    """Create and register the global meter provider when some reader wants metrics."""
    global _board
    readers = _readers(settings)
    if not readers:
        return
    import wrapt
    from opentelemetry.sdk.metrics import MeterProvider

    if getattr(_internal_metrics(), "_METER_PROVIDER", None) is not None:
        return  # set before the agent: used as it is
    provider = MeterProvider(metric_readers=readers, shutdown_on_exit=False, views=_views())
    shutdown.configure(settings.exit_timeout_s)
    shutdown.install()
    notices.route_sdk_logs()
    shutdown.register(lambda deadline: _flush(provider, deadline), abort=_abort)
    _board = _MeterSwitchboard(provider)
    metrics.set_meter_provider(_board)
    wrapt.wrap_function_wrapper(metrics, "set_meter_provider", _app_sets_provider)
    if settings.metrics_port is not None:
        from llm_instrument.exporters import prometheus

        prometheus.start(settings.metrics_port, settings.metrics_host)

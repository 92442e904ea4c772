"""The tracer provider: resource, sampler, span queue and exporter, set up once, and the rule
for living beside an application that sets up OpenTelemetry itself.

The SDK reads the standard variables itself (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``). What this module adds:

- the exporter choice (``make_span_exporter``: ``otlp | console | local | none``) behind the
  agent's span queue (``span_queue.SpanQueue``: bounded in count and bytes, exact drop
  accounting, drained within the exit budget by ``shutdown``), which for OTLP over HTTP
  holds spans written as they ended (``early_encoder``);
- ``process.pid`` kept true across ``fork()`` (gunicorn workers are forked from a master
  that already started the agent), and the local store reopened in the child;
- **the application's own provider wins.** The global provider is a switchboard: tracers
  handed out forward to the provider in effect. When the application calls
  ``trace.set_tracer_provider`` itself (after the agent, since the agent starts first), its
  provider becomes the global one, exactly as bare, and every tracer the instrumentations
  already hold moves to it, so its exporter receives every span under its own
  ``service.name``, and nothing is traced twice or warned about. A provider that was already
  set when the agent started is used as it is.
- tracers created without resetting Python's warning registries (the SDK's ``get_tracer``
  calls ``warnings.filterwarnings`` each time, which would show the app's once-only warnings
  again).
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

import llm_instrument
from llm_instrument.agent import config, notices, shutdown
from llm_instrument.agent.guard import guard
from llm_instrument.agent.span_queue import SpanQueue
from llm_instrument.content_policy.exporter import PolicyExporter
from llm_instrument.exporters import early_encoder, make_span_exporter

_logger = logging.getLogger(__name__)


def _resource() -> Resource:
    return Resource.create(
        {
            "process.pid": os.getpid(),
            "process.runtime.name": sys.implementation.name,
            "process.runtime.version": platform.python_version(),
            "telemetry.distro.name": "llm-instrument",
            "telemetry.distro.version": llm_instrument.__version__,
        }
    )


# -- warnings: creating a tracer must not reset the app's once-only warnings -------------------
_warnings_lock = threading.Lock()
_MUTATED_NAMES = ("_filters_mutated", "_filters_mutated_lock_held")


@contextmanager
def _warning_registries_kept() -> Iterator[None]:
    """The SDK adds an ``ignore`` filter for its own deprecation warning on every
    ``get_tracer``; adding a filter bumps the filters' version, which empties every
    module's warning registry, so a warning the app already showed once shows again. An
    ``ignore`` filter cannot make a registered warning due again, so not bumping is exact."""
    names = [name for name in _MUTATED_NAMES if hasattr(warnings, name)]
    with _warnings_lock:
        saved = {name: getattr(warnings, name) for name in names}
        for name in names:
            setattr(warnings, name, lambda: None)
        try:
            yield
        finally:
            for name, original in saved.items():
                setattr(warnings, name, original)


# -- the switchboard ---------------------------------------------------------------------------
class _Switchboard(trace.TracerProvider):
    """The global provider while the agent's own is in effect; forwards everything else."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.generation = 0
        self.adopted = False  # the application set its own provider

    def switch_to(self, provider: Any) -> None:
        self.target = provider
        self.generation += 1

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace.Tracer:
        return _SwitchedTracer(
            self, (instrumenting_module_name, instrumenting_library_version, schema_url), attributes
        )

    def __getattr__(self, name: str) -> Any:
        # add_span_processor, force_flush, shutdown, resource, ... of the provider in effect
        return getattr(self.target, name)


class _SwitchedTracer(trace.Tracer):
    """A tracer bound to whichever provider is in effect when a span starts."""

    def __init__(self, board: _Switchboard, args: tuple[Any, ...], attributes: Any) -> None:
        self._board = board
        self._args = args
        self._attributes = attributes
        self._generation = -1
        self._tracer: Any = None

    def _real(self) -> Any:
        board = self._board
        if self._generation != board.generation:
            with _warning_registries_kept():
                if self._attributes is not None:
                    tracer = board.target.get_tracer(*self._args, attributes=self._attributes)
                else:
                    tracer = board.target.get_tracer(*self._args)
            self._tracer, self._generation = tracer, board.generation
        return self._tracer

    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._real().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._real().start_as_current_span(*args, **kwargs)


_board: _Switchboard | None = None


def _app_sets_provider(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``trace.set_tracer_provider`` called by the application after the agent set up."""
    provider = args[0] if args else kwargs.get("tracer_provider")
    board = _board
    if board is None or provider is None or provider is board or board.adopted:
        return wrapped(*args, **kwargs)  # as bare: only the first set-up takes effect
    with guard("tracing: adopting the application's tracer provider") as outcome:
        board.switch_to(provider)
        board.adopted = True
        trace._TRACER_PROVIDER = provider
        shutdown.register(lambda deadline: _flush_app_provider(provider, deadline))
    if outcome.error is not None:
        return wrapped(*args, **kwargs)
    return None


def _flush_app_provider(provider: Any, deadline: float) -> None:
    """Exit task: the app's provider too gets the exit budget (on SIGTERM its own exit
    hook would not run)."""
    import time

    flush = getattr(provider, "force_flush", None)
    if flush is not None:
        flush(max(1, int((deadline - time.monotonic()) * 1000)))


def _after_fork_in_child(provider: TracerProvider, exporter: SpanExporter | None) -> None:
    with guard("re-initialising tracing after fork"):
        provider._resource = provider._resource.merge(Resource({"process.pid": os.getpid()}))
        reopen = getattr(exporter, "reopen_after_fork", None)
        if reopen is not None:
            reopen()


def _self_metrics() -> dict[str, Any]:
    """The SDK's metrics about its own spans (``otel.sdk.span.*``; always on in SDK 1.41-1.44)
    are not the user's telemetry: off unless ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``."""
    if os.environ.get("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "").strip().lower() == "true":
        return {}
    from opentelemetry.metrics import NoOpMeterProvider

    return {"meter_provider": NoOpMeterProvider()}


def _already_set() -> bool:
    return getattr(trace, "_TRACER_PROVIDER", None) is not None


def setup(settings: config.Settings) -> TracerProvider | None:
    """Create the agent's provider and make it the global one through the switchboard;
    returns None when the process had a provider already (then that one is used)."""
    global _board
    import wrapt

    shutdown.configure(settings.exit_timeout_s)
    shutdown.install()
    notices.route_sdk_logs()
    if _already_set():
        _logger.debug("llm-instrument: a tracer provider was set before the agent; using it")
        return None
    provider = TracerProvider(resource=_resource(), shutdown_on_exit=False, **_self_metrics())
    exporter = make_span_exporter(settings)
    if exporter is not None:
        queue = SpanQueue(
            PolicyExporter(exporter),  # the content policy: every span, whoever made it
            max_spans=settings.max_queue_size,
            max_bytes=settings.max_queue_bytes,
            batch_size=settings.max_export_batch_size,
            delay_s=settings.schedule_delay_ms / 1000,
            encoder=early_encoder(exporter),  # the same policy, applied as spans end
        )
        provider.add_span_processor(queue)
        shutdown.register(queue.drain, abort=_abort_exports)
        notices.count_unfinished("spans", queue.unfinished)
    _board = _Switchboard(provider)
    trace.set_tracer_provider(_board)
    wrapt.wrap_function_wrapper(trace, "set_tracer_provider", _app_sets_provider)
    os.register_at_fork(after_in_child=lambda: _after_fork_in_child(provider, exporter))
    os.register_at_fork(after_in_child=notices.reset_after_fork)
    return provider


def _abort_exports() -> None:
    from llm_instrument.exporters import otlp

    otlp.abort_all()

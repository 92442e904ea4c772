"""Starting the agent inside a traced process (called by the bootstrap ``sitecustomize``).

Order matters: gevent's ``monkey.patch_all()`` must run before anything creates a thread
or a lock, so it comes first; then tracing, metrics and the plugin registry. Each step is
independent: one that fails is reported in a single warning line for the whole start-up
and the others still run, and the application always starts.
"""

from __future__ import annotations

import gc
import logging
import os
import sys

from llm_instrument.agent import config

_logger = logging.getLogger("llm_instrument")
_started = False


def _configure_logging(settings: config.Settings) -> None:
    """Our records go to stderr on their own handler, whatever logging the application
    configures (or not), and not through its root handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    if settings.log_level in ("debug", "info"):
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    _logger.addHandler(handler)
    _logger.propagate = False
    _logger.setLevel(settings.log_level.upper())


def _stable_http_conventions() -> None:
    """The contrib HTTP instrumentations write the stable HTTP conventions (``url.full``,
    ``http.request.method``, ``http.server.request.duration`` in seconds) unless the user
    set ``OTEL_SEMCONV_STABILITY_OPT_IN`` (even to empty, for the old names). They read it
    once, when the first of them is applied, so it is set before any plugin runs."""
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")


def _patch_gevent() -> None:
    from gevent import monkey

    monkey.patch_all()


def initialize() -> None:
    """Start tracing, metrics and lazy instrumentation; idempotent and never raises."""
    global _started
    if _started:
        return
    _started = True
    settings = config.load()
    config.reset(settings)
    _configure_logging(settings)
    _stable_http_conventions()
    problems = list(settings.problems)
    from llm_instrument.agent import notices

    notices.route_sdk_logs()  # the SDK's own lines pass the agent's rate limit

    steps = []
    if settings.gevent:
        steps.append(("gevent", _patch_gevent))
    steps += [
        ("tracing", lambda: _setup_tracing(settings)),
        ("metrics", lambda: _setup_metrics(settings)),
        ("instrumentation", lambda: _install_plugins(settings)),
    ]
    for name, step in steps:
        try:
            step()
        except Exception as exc:
            problems.append(f"{name} off ({exc})")
            _logger.debug("llm-instrument: %s failed to start", name, exc_info=True)
    problems += _setting_problems(settings)
    if problems:
        _logger.warning("llm-instrument: %s", "; ".join(problems))
    if _logger.isEnabledFor(logging.INFO):
        _logger.info("llm-instrument: started in pid %d: %s", os.getpid(), _summary(settings))
    if settings.gc_freeze:
        _freeze_start_up_objects()


def _freeze_start_up_objects() -> None:
    """Keep what start-up made (modules, classes, functions: the interpreter's, the SDK's,
    ours) out of every later garbage collection.

    The application's imports end in a full collection of the whole heap, and the agent's
    start-up adds some 20,000 long-lived objects to it: that collection was the largest
    single cost the agent added to start-up (40-60 ms in a fastapi + langchain-core app),
    and every later full collection would scan them again for nothing. ``gc.freeze()``
    moves the objects that exist now to the permanent generation, which collections skip;
    the young collection before it frees the garbage start-up itself left (a few hundred
    objects, all young: the bootstrap pauses collections while the agent starts), so only
    live objects are frozen. ``gc.unfreeze()`` undoes it; ``LLM_INSTRUMENT_GC_FREEZE=false``
    leaves the collector alone."""
    gc.collect(0)
    gc.freeze()


def _summary(settings: config.Settings) -> str:
    """Service, exporter and destination of this process, for the INFO start-up line."""
    from opentelemetry import trace

    resource = getattr(trace.get_tracer_provider(), "resource", None)
    service = resource.attributes.get("service.name") if resource is not None else None
    endpoint = settings.otlp_endpoint or "the default endpoint"
    where = {
        "otlp": f" to {endpoint} ({settings.otlp_protocol})",
        "local": f" to {settings.local_store}",
        "console": " to stderr",
    }.get(settings.exporter, " (no spans leave the process)")
    metrics = f", metrics on port {settings.metrics_port}" if settings.metrics_port else ""
    return f"service {service}, exporter {settings.exporter}{where}{metrics}"


def _setup_tracing(settings: config.Settings) -> None:
    from llm_instrument.agent import tracer_provider

    tracer_provider.setup(settings)


def _setup_metrics(settings: config.Settings) -> None:
    from llm_instrument.agent import meter_provider

    meter_provider.setup(settings)


def _setting_problems(settings: config.Settings) -> list[str]:
    from llm_instrument.agent import registry

    return registry.setting_problems(settings) or []


def _install_plugins(settings: config.Settings) -> None:
    from llm_instrument.agent import registry

    registry.install(settings)

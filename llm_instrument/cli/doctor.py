"""``llm-instrument doctor``: checks the set-up and says what to fix.

Each check returns a verdict (ok, warn or fail) and one line of advice. It looks at the
effective settings, whether the exporter can be reached or the local store written,
whether another agent would run beside ours (doubled spans), and which plugins apply.
It never imports an instrumented library. Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import socket
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence

import llm_instrument
from llm_instrument.agent import config
from llm_instrument.cli import launcher

Check = tuple[str, str, str]  # (verdict, subject, advice)

# distributions whose own auto-instrumentation would trace the same calls a second time
_OTHER_AGENTS = {
    "ddtrace": "ddtrace-run",
    "newrelic": "newrelic-admin",
    "elastic-apm": "elasticapm",
    "openlit": "openlit.init()",
    "traceloop-sdk": "Traceloop.init()",
}


def _check_settings(settings: config.Settings) -> list[Check]:
    from llm_instrument.agent import registry

    capture = config.shown(settings.capture_content)
    checks = [
        (
            "ok",
            "settings",
            f"exporter {settings.exporter}, content capture {capture}, "
            f"{settings.max_content_length} characters kept per value",
        )
    ]
    declared = [s for entry in registry.discover().values() for s in entry.plugin.settings]
    problems = [*settings.problems, *config.check_plugin_settings(settings, declared)]
    checks += [("fail", "settings", problem) for problem in problems]
    return checks


def _check_otlp(settings: config.Settings) -> list[Check]:
    if settings.exporter != "otlp":
        return []
    endpoint = settings.otlp_endpoint
    if not endpoint:
        return [("fail", "otlp", "LLM_INSTRUMENT_EXPORTER=otlp but no OTEL_EXPORTER_OTLP_ENDPOINT")]
    url = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    default_port = 4317 if settings.otlp_protocol == "grpc" else 4318
    host, port = url.hostname or "localhost", url.port or default_port
    try:
        with socket.create_connection((host, port), timeout=3):
            pass
    except OSError as exc:
        return [
            (
                "fail",
                "otlp",
                f"cannot reach {host}:{port} ({exc.strerror or exc}); is the "
                "collector/Jaeger running and the endpoint right? Spans would be dropped.",
            )
        ]
    if settings.otlp_protocol == "http/protobuf" and port == 4317:
        return [("warn", "otlp", "port 4317 is usually OTLP/gRPC: use 4318 or --protocol grpc")]
    return [("ok", "otlp", f"{host}:{port} reachable ({settings.otlp_protocol})")]


def _check_store(settings: config.Settings) -> list[Check]:
    if settings.exporter != "local":
        return []
    path = os.path.abspath(settings.local_store)
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return [
            (
                "fail",
                "local store",
                f"{folder} is not writable ({exc.strerror}); set "
                "LLM_INSTRUMENT_LOCAL_STORE to a writable path",
            )
        ]
    return [("ok", "local store", f"{path} writable; read it with: llm-instrument view")]


def _check_other_agents() -> list[Check]:
    checks: list[Check] = []
    for dist, how in _OTHER_AGENTS.items():
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        checks.append(
            (
                "warn",
                "other agent",
                f"{dist} {version} is installed: if it also runs ({how}), calls are traced twice",
            )
        )
    pythonpath = os.environ.get("PYTHONPATH", "")
    if "auto_instrumentation" in pythonpath or "ddtrace" in pythonpath:
        checks.append(
            (
                "fail",
                "other agent",
                "PYTHONPATH already holds another agent's "
                "bootstrap (opentelemetry-instrument or ddtrace-run): run only one",
            )
        )
    return checks or [("ok", "other agents", "none found")]


def _check_metrics_port(settings: config.Settings) -> list[Check]:
    if settings.metrics_port is None:
        return [("ok", "metrics", "Prometheus endpoint off (set LLM_INSTRUMENT_METRICS_PORT)")]
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", settings.metrics_port))
        except OSError:
            return [
                (
                    "warn",
                    "metrics",
                    f"port {settings.metrics_port} is in use now; fine if "
                    "a traced app holds it, else choose another",
                )
            ]
    return [("ok", "metrics", f"port {settings.metrics_port} free")]


def _check_plugins() -> list[Check]:
    from llm_instrument.cli.plugins import rows

    table = rows()
    enabled = [r["name"] for r in table if r["state"] == "enabled"]
    return [
        (
            "ok",
            "plugins",
            f"{len(enabled)} of {len(table)} would apply: {', '.join(enabled)} "
            "(details: llm-instrument list)",
        )
    ]


def _check_bootstrap() -> list[Check]:
    path = os.path.join(launcher.BOOTSTRAP_DIR, "sitecustomize.py")
    if not os.path.exists(path):
        return [("fail", "bootstrap", f"{path} missing: reinstall llm-instrument")]
    return [
        (
            "ok",
            "bootstrap",
            f"llm-instrument {llm_instrument.__version__} on Python "
            f"{sys.version.split()[0]} ({sys.executable})",
        )
    ]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="llm-instrument doctor", description=__doc__)
    parser.parse_args(list(argv))
    settings = config.load()
    steps: list[Callable[[], list[Check]]] = [
        _check_bootstrap,
        lambda: _check_settings(settings),
        lambda: _check_otlp(settings),
        lambda: _check_store(settings),
        lambda: _check_metrics_port(settings),
        _check_other_agents,
        _check_plugins,
    ]
    failed = False
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    for step in steps:
        for verdict, subject, advice in step():
            failed = failed or verdict == "fail"
            print(f"[{marks[verdict]}] {subject}: {advice}")
    print(
        "\nSome checks failed; fix them and run llm-instrument doctor again."
        if failed
        else "\nAll set."
    )
    return 1 if failed else 0

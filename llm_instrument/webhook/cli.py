"""``llm-instrument webhook``: serve the injection webhook; ``llm-instrument webhook certs``.

Each flag defaults from its ``LLM_INSTRUMENT_WEBHOOK_*`` variable, shown in ``--help``. A
bad value or a missing certificate stops the webhook at start with one line (the pod then
fails its readiness probe; pods keep being created, uninjected, thanks to
``failurePolicy: Ignore``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from types import FrameType

from llm_instrument import envvars
from llm_instrument.webhook import options as o

_logger = logging.getLogger("llm_instrument.webhook")

_ENV = "LLM_INSTRUMENT_WEBHOOK_"


def _flag(parser: argparse.ArgumentParser, name: str, default: str, help: str) -> None:
    env = _ENV + name.upper().replace("-", "_")
    parser.add_argument(f"--{name}", default=os.environ.get(env, default), help=f"{help} [{env}]")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-instrument webhook",
        usage="llm-instrument webhook [options] | llm-instrument webhook certs [options]",
        description="Serve the Kubernetes mutating admission webhook that injects the agent "
        "into pods labelled llm-instrument.io/inject=true (POST /mutate, GET /healthz).",
    )
    _flag(parser, "host", "", "address to listen on (default all)")
    _flag(parser, "port", str(o.DEFAULT_PORT), f"HTTPS port (default {o.DEFAULT_PORT})")
    _flag(parser, "tls-cert", "/tls/tls.crt", "serving certificate (PEM)")
    _flag(parser, "tls-key", "/tls/tls.key", "its private key (PEM)")
    _flag(
        parser,
        "agent-image",
        o.DEFAULT_AGENT_IMAGE,
        "init-container image; {python} is the version",
    )
    _flag(parser, "python-versions", ",".join(o.PYTHON_VERSIONS), "versions with an agent image")
    _flag(
        parser,
        "default-python-version",
        o.DEFAULT_PYTHON_VERSION,
        "when a pod has no python-version label",
    )
    _flag(parser, "otlp-endpoint", "", f"{envvars.OTLP_ENDPOINT} given to pods")
    _flag(parser, "otlp-protocol", "http/protobuf", f"{envvars.OTLP_PROTOCOL} given to pods")
    _flag(
        parser, "metrics-port", str(o.DEFAULT_METRICS_PORT), "first agent metrics port; 0 for none"
    )
    _flag(
        parser, "agent-env", "", "more settings for pods: NAME=VALUE,... (e.g. OTEL_TRACES_SAMPLER)"
    )
    _flag(parser, "image-pull-policy", "IfNotPresent", "of the init container")
    _flag(parser, "log-level", "info", "debug, info, warning or error")
    return parser


def config_from(args: argparse.Namespace) -> o.WebhookConfig:
    """The ``WebhookConfig`` the flags describe; raises ValueError on a bad value."""
    versions = tuple(v.strip() for v in args.python_versions.split(",") if v.strip())
    if args.default_python_version not in versions:
        raise ValueError(
            f"--default-python-version {args.default_python_version} is not one of "
            f"--python-versions ({', '.join(versions)})"
        )
    port = _port("--metrics-port", args.metrics_port, allow_zero=True)
    return o.WebhookConfig(
        agent_image=args.agent_image,
        python_versions=versions,
        default_python_version=args.default_python_version,
        otlp_endpoint=args.otlp_endpoint or None,
        otlp_protocol=args.otlp_protocol,
        metrics_port=port,
        agent_env=o.parse_pairs(args.agent_env),
        image_pull_policy=args.image_pull_policy,
    )


def _port(flag: str, raw: str, allow_zero: bool = False) -> int:
    """A port number, or ValueError naming the flag and the value as given."""
    low = 0 if allow_zero else 1
    if not raw.strip().isdigit() or not low <= int(raw) < 65536:
        extra = " (0 for none)" if allow_zero else ""
        raise ValueError(f"{flag} {raw}: not a port number from {low} to 65535{extra}")
    return int(raw)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "certs":
        from llm_instrument.webhook import certs

        return certs.main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = config_from(args)
        port = _port("--port", args.port)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    from llm_instrument.webhook import server

    try:
        httpd = server.make_server(config, args.tls_cert, args.tls_key, args.host, port)
    except OSError as exc:
        print(f"llm-instrument webhook: cannot start: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    if not config.otlp_endpoint:
        _logger.warning(
            "no OTLP endpoint (--otlp-endpoint): injected pods keep spans in a local file "
            "unless they set %s themselves",
            envvars.OTLP_ENDPOINT,
        )
    _logger.info(
        "serving on :%d (agent image %s, OTLP %s)",
        httpd.port,
        config.agent_image,
        config.otlp_endpoint,
    )
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0

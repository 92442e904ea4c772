"""OTLP export of spans, over HTTP/protobuf by a sender of our own (or gRPC through the
SDK's exporter with the ``grpc`` extra); metrics are in ``otlp_metrics``, over the same sender.

Why not the SDK's HTTP exporters: their retry loop waits out the whole OTLP timeout, cannot be
cut short at exit, and logs every retry. ``HTTPSender`` posts with the stdlib ``http.client``
(keep-alive, TLS, gzip/deflate), honours the standard variables (``OTEL_EXPORTER_OTLP_*`` and
their ``_TRACES_``/``_METRICS_`` forms: headers, timeout in seconds, compression, certificate,
client certificate and key) and:

- retries 408/429/5xx, refused and timed-out connections with backoff, within the OTLP
  timeout, honouring ``Retry-After``;
- during the exit (``shutdown.exit_deadline()``) tries once, never past the exit deadline,
  and ``abort()`` cuts every request still in flight when the budget is spent;
- reports each condition (refusing, 5xx, timing out, rejecting) once, through ``notices``.

The protobuf encoders (``opentelemetry-exporter-otlp-proto-common``) and ``http.client`` are
imported on the first export, in the export thread, so start-up never pays for them.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import random
import socket
import threading
import time
import urllib.parse
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llm_instrument.agent import notices, shutdown

if TYPE_CHECKING:
    import http.client

    from opentelemetry.sdk.trace import ReadableSpan

_logger = logging.getLogger(__name__)

GRPC_EXPORTER = "opentelemetry.exporter.otlp.proto.grpc"
GRPC_MISSING = "OTLP over gRPC needs the grpc extra: pip install 'llm-instrument[grpc]'"
DEFAULT_TIMEOUT_S = 10.0
_RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
_FIRST_BACKOFF_S = 0.5


def _env(signal: str, name: str) -> str:
    specific = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_{name}")
    return (specific or os.environ.get(f"OTEL_EXPORTER_OTLP_{name}") or "").strip()


def _headers(raw: str) -> dict[str, str]:
    """``key=value,...`` with URL-encoded values, as the OTLP exporter specification says."""
    headers = {}
    for pair in raw.split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            headers[urllib.parse.unquote(key.strip()).lower()] = urllib.parse.unquote(value.strip())
    return headers


def _timeout(signal: str) -> float:
    try:
        return float(_env(signal, "TIMEOUT") or DEFAULT_TIMEOUT_S)
    except ValueError:
        return DEFAULT_TIMEOUT_S


class HTTPSender:
    """POSTs OTLP/protobuf bodies to one URL; thread-safe (one connection per thread)."""

    def __init__(self, url: str, signal: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.url = url
        self.signal = signal
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if self._https else 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.where = f"{self._host}:{self._port}"
        self.timeout_s = _timeout(signal)
        self._compression = _env(signal, "COMPRESSION").lower()
        self._headers = {"content-type": "application/x-protobuf", "user-agent": "llm-instrument"}
        self._headers |= _headers(_env(signal, "HEADERS"))
        if self._compression in ("gzip", "deflate"):
            self._headers["content-encoding"] = self._compression
        self._local = threading.local()
        self._live: set[http.client.HTTPConnection] = set()
        self._live_lock = threading.Lock()
        self._ssl: Any = None
        self._aborted = False

    # -- connections -----------------------------------------------------------------------
    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        import http.client

        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._https:
                conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=timeout, context=self._ssl_context()
                )
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._local.conn = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _ssl_context(self) -> Any:
        if self._ssl is None:
            import ssl

            context = ssl.create_default_context(cafile=_env(self.signal, "CERTIFICATE") or None)
            cert = _env(self.signal, "CLIENT_CERTIFICATE")
            if cert:
                context.load_cert_chain(cert, _env(self.signal, "CLIENT_KEY") or None)
            self._ssl = context
        return self._ssl

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def abort(self) -> None:
        """Cut every request in flight (the exit budget is spent)."""
        self._aborted = True
        with self._live_lock:
            live = list(self._live)
        for conn in live:
            sock = conn.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    # -- one request -----------------------------------------------------------------------
    def _attempt(self, body: bytes, timeout: float) -> tuple[int | None, str, float | None]:
        """(HTTP status or None, condition when it failed, Retry-After seconds)."""
        import http.client

        conn = self._connection(timeout)
        with self._live_lock:
            self._live.add(conn)
        try:
            conn.request("POST", self._path, body=body, headers=self._headers)
            response = conn.getresponse()
            response.read()
            retry_after = response.getheader("Retry-After")
            if response.getheader("Connection", "").lower() == "close":
                self._drop_connection()
            return response.status, "" if response.status < 300 else "status", _seconds(retry_after)
        except ConnectionRefusedError:
            self._drop_connection()
            return None, "refused", None
        except TimeoutError:
            self._drop_connection()
            return None, "timeout", None
        except (OSError, http.client.HTTPException):
            self._drop_connection()
            return None, "broken", None
        finally:
            with self._live_lock:
                self._live.discard(conn)

    def post(self, body: bytes) -> bool:
        """Deliver ``body``, retrying what may succeed later; True when it was accepted."""
        if self._compression == "gzip":
            body = gzip.compress(body, compresslevel=6)
        elif self._compression == "deflate":
            body = zlib.compress(body)
        give_up = time.monotonic() + self.timeout_s
        backoff = _FIRST_BACKOFF_S
        while True:
            exit_deadline = shutdown.exit_deadline()
            deadline = give_up if exit_deadline is None else min(give_up, exit_deadline)
            remaining = deadline - time.monotonic()
            if remaining <= 0.01:
                self._report("timeout", None)
                return False
            status, condition, retry_after = self._attempt(body, remaining)
            if status is not None and status < 300:
                return True
            if condition == "broken" and status is None:
                # a kept-alive connection the collector closed: one fresh try at once
                status, condition, retry_after = self._attempt(
                    body, max(0.01, deadline - time.monotonic())
                )
                if status is not None and status < 300:
                    return True
            self._report(condition, status)
            retryable = status is None or status in _RETRYABLE
            if not retryable or shutdown.exit_deadline() is not None:
                return False
            wait = retry_after if retry_after is not None else backoff * random.uniform(0.8, 1.2)
            if time.monotonic() + wait >= deadline:
                return False
            if shutdown.exiting.wait(wait):
                return False  # the exit began: its drain takes over, with its own budget
            backoff = min(backoff * 2, 8.0)

    def _report(self, condition: str, status: int | None) -> None:
        if self._aborted:
            return  # cut by the exit: the summary line counts what was lost
        where = self.where
        if condition == "refused":
            notices.note(
                f"collector {where} refusing connections",
                "the OTLP collector at %s refuses connections; telemetry is dropped while it "
                "does (llm-instrument doctor checks the endpoint)",
                where,
            )
        elif condition == "timeout":
            notices.note(
                f"collector {where} timing out",
                "the OTLP collector at %s does not answer in time (OTEL_EXPORTER_OTLP_TIMEOUT "
                "%gs); telemetry is dropped while it does not",
                where,
                self.timeout_s,
            )
        elif status is not None and (status >= 500 or status in (408, 429)):
            kind = "5xx" if status >= 500 else str(status)
            notices.note(
                f"collector {where} answering {kind}",
                "the OTLP collector at %s answers HTTP %d to %s; retrying, then dropping",
                where,
                status,
                self.url,
            )
        elif status is not None:
            notices.note(
                f"collector {where} rejecting {self.signal} ({status})",
                "the OTLP collector at %s rejects %s with HTTP %d (%s): check the endpoint "
                "(OTEL_EXPORTER_OTLP_%s_ENDPOINT) or set OTEL_%s_EXPORTER=none",
                where,
                self.signal,
                status,
                self.url,
                self.signal.upper(),
                self.signal.upper(),
            )
        else:
            notices.note(
                f"collector {where} connection failing",
                "the connection to the OTLP collector at %s fails; telemetry is dropped while "
                "it does",
                where,
            )


def _seconds(raw: str | None) -> float | None:
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


_senders: list[HTTPSender] = []


def abort_all() -> None:
    """Cut every OTLP request in flight in this process (the exit budget is spent)."""
    for sender in list(_senders):
        sender.abort()


class OTLPSpanExporter(SpanExporter):
    """Spans over OTLP/HTTP; encodes with ``otlp_encoding`` (the SDK's encoder only for a
    batch it cannot write), sends with ``HTTPSender``."""

    def __init__(self, url: str) -> None:
        self.sender = HTTPSender(url, "traces")
        _senders.append(self.sender)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from llm_instrument.exporters.otlp_encoding import encode_spans

        return self.post(encode_spans(spans))

    def post(self, body: bytes) -> SpanExportResult:
        """Send an encoded ``ExportTraceServiceRequest`` (``early_encoding`` writes its own)."""
        return SpanExportResult.SUCCESS if self.sender.post(body) else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def grpc_span_exporter(url: str) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GRPCSpanExporter,
        )
    except ImportError as exc:
        raise RuntimeError(GRPC_MISSING) from exc
    return GRPCSpanExporter(endpoint=url)  # type: ignore[no-any-return]


class LazyGRPCExporter(SpanExporter):
    """The SDK's gRPC span exporter, built on its first export (grpc is heavy to import)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._exporter: SpanExporter | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            if self._exporter is None:
                self._exporter = grpc_span_exporter(self._url)
        return self._exporter.export(spans)

    def shutdown(self) -> None:
        if self._exporter is not None:
            self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

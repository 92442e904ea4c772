"""The webhook's HTTPS server: ``POST /mutate`` (AdmissionReview v1), ``GET /healthz``.

Standard library only (``http.server`` + ``ssl``). The TLS handshake runs in the request's
own thread, so a slow client cannot hold the others, and each connection has a timeout.
The certificate files are re-read when they change on disk (cert-manager renews them in the
mounted Secret), so a renewal needs no restart. A malformed body gets 400 with a JSON
error; a body over ``MAX_BODY`` gets 413; every other request to ``/mutate`` gets 200.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from llm_instrument.webhook import review
from llm_instrument.webhook.options import WebhookConfig

_logger = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024  # the API server caps objects near 1.5 MB; this is generous
SOCKET_TIMEOUT_S = 10.0


class _TLS:
    """An SSL context that reloads its certificate when the files' mtimes change."""

    def __init__(self, cert: str, key: str) -> None:
        self.cert, self.key = cert, key
        self._lock = threading.Lock()
        self._stamp = self._mtimes()
        self.context = self._load()

    def _mtimes(self) -> tuple[float, float]:
        return (os.stat(self.cert).st_mtime, os.stat(self.key).st_mtime)

    def _load(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        return context

    def current(self) -> ssl.SSLContext:
        with self._lock:
            try:
                stamp = self._mtimes()
                if stamp != self._stamp:
                    self.context = self._load()
                    self._stamp = stamp
                    _logger.info("TLS certificate reloaded from %s", self.cert)
            except (OSError, ssl.SSLError) as exc:  # half-written during a renewal: keep the old
                _logger.warning("TLS certificate not reloaded (%s); keeping the previous one", exc)
            return self.context


class WebhookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], config: WebhookConfig, cert: str, key: str
    ) -> None:
        self.config = config
        self.tls = _TLS(cert, key)
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        sock.settimeout(SOCKET_TIMEOUT_S)
        try:
            tls_sock = self.tls.current().wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            _logger.debug("TLS handshake with %s failed: %s", client_address, exc)
            return
        try:
            super().finish_request(tls_sock, client_address)
        finally:
            tls_sock.close()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    server: WebhookServer
    protocol_version = "HTTP/1.1"
    server_version = "llm-instrument-webhook"

    def log_message(self, format: str, *args: Any) -> None:
        _logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("/healthz", "/readyz"):
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/mutate":
            self._send(404, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            self._send(411, {"error": "Content-Length required"})
            return
        if length < 0 or length > MAX_BODY:
            self._send(413, {"error": f"body over {MAX_BODY} bytes"})
            return
        body = self.rfile.read(length)
        try:
            answer = review.answer(body, self.server.config)
        except review.BadRequest as exc:
            _logger.warning("bad request from %s: %s", self.address_string(), exc)
            self._send(400, {"error": str(exc)})
            return
        self._send(200, answer)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status >= 400:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)


def make_server(
    config: WebhookConfig, cert: str, key: str, host: str = "", port: int = 8443
) -> WebhookServer:
    """A bound server; call ``serve_forever()`` (or run it in a thread, as the tests do)."""
    return WebhookServer((host, port), config, cert, key)

"""A renewed certificate (cert-manager rewrites the mounted Secret) is served without a restart."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from pathlib import Path

from llm_instrument.webhook import certs, server
from llm_instrument.webhook.options import WebhookConfig


def _handshake(port: int, ca: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.getpeercert(binary_form=True) or b""


def test_renewed_certificate_is_picked_up(tmp_path: Path) -> None:
    live, renewed = tmp_path / "live", tmp_path / "renewed"
    certs.generate(live, ["localhost"])
    certs.generate(renewed, ["localhost"])
    httpd = server.make_server(
        WebhookConfig(), str(live / "tls.crt"), str(live / "tls.key"), "127.0.0.1", 0
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        first = _handshake(httpd.port, live / "ca.crt")
        for name in ("tls.crt", "tls.key"):
            os.replace(renewed / name, live / name)
        stamp = (live / "tls.crt").stat().st_mtime + 5  # mtime resolution on some file systems
        os.utime(live / "tls.crt", (stamp, stamp))
        second = _handshake(httpd.port, renewed / "ca.crt")
        assert first != second
    finally:
        httpd.shutdown()
        httpd.server_close()

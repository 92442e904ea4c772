"""A gevent program: the main greenlet and four spawned ones call a local gevent WSGI
server with requests."""

import os
import sys

import gevent
import requests
from gevent import monkey
from gevent.pool import Pool
from gevent.pywsgi import WSGIServer
from opentelemetry import trace


def wsgi(environ, start_response):
    gevent.sleep(0.01)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


server = WSGIServer(("127.0.0.1", 0), wsgi, log=None)
server.start()
url = f"http://127.0.0.1:{server.server_port}/"
tracer = trace.get_tracer("tests.apps.gevent_app")
with tracer.start_as_current_span("gevent-root"):
    bodies = [requests.get(url, timeout=10).text]
    # spawned greenlets start with an empty context of their own: the gevent plugin gives
    # them the spawner's, so their calls join this trace
    bodies += Pool(4).map(lambda _: requests.get(url, timeout=10).text, range(4))
server.stop()
patched = all(monkey.is_module_patched(m) for m in ("socket", "threading", "time"))
print(f"bodies={bodies} patched={patched} pid={os.getpid()}", flush=True)
sys.exit(0 if patched else 3)

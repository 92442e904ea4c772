"""One request = one ``stop-work`` span and one GenAI operation (its metrics), for the stop
tests: ``asgi`` is a FastAPI app (uvicorn, UvicornWorker), ``wsgi`` a plain WSGI app
(gunicorn sync workers). ``/health`` records nothing. The WSGI app also keeps an up-down
counter of requests in flight, ``stop.in_flight``; ``/leak`` raises it and never lowers it
(a request still in flight when its worker dies)."""

import json
import os

from opentelemetry import metrics, trace

from llm_instrument import genai

tracer = trace.get_tracer("tests.apps.stop_app")
in_flight = metrics.get_meter("tests.apps.stop_app").create_up_down_counter("stop.in_flight")


def _work() -> bytes:
    with tracer.start_as_current_span("stop-work"):
        handle = genai.start_llm("chat", provider="fake", model="stop-model")
        handle.set_usage(genai.Usage(5, 2))
        handle.finish()
    return json.dumps({"pid": os.getpid()}).encode()


def wsgi(environ, start_response):  # type: ignore[no-untyped-def]
    body = json.dumps({"pid": os.getpid()}).encode()
    path = environ.get("PATH_INFO")
    if path == "/leak":
        in_flight.add(1)
    elif path != "/health":
        in_flight.add(1)
        body = _work()
        in_flight.add(-1)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


try:
    from fastapi import FastAPI
except ImportError:  # the WSGI side needs no FastAPI
    FastAPI = None

if FastAPI is not None:
    asgi = FastAPI()

    @asgi.get("/health")
    def health() -> dict[str, int]:
        return {"pid": os.getpid()}

    @asgi.get("/work")
    def work() -> dict[str, int]:
        return json.loads(_work())

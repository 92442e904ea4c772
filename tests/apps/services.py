"""Two FastAPI services in one module (run twice): the front calls BACKEND_URL with requests.

- ``/direct``: the handler calls the backend directly;
- ``/pooled``: the reference pattern, a span opened in the handler and the call made from a
  ``ThreadPoolExecutor`` worker;
- ``/back``: the backend's answer; ``/block``: blocks its event loop briefly, so that
  concurrent requests spread over the workers of a multi-worker server;
- ``/health``: readiness.
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from fastapi import FastAPI
from opentelemetry import trace

app = FastAPI()
tracer = trace.get_tracer("tests.apps.services")
pool = ThreadPoolExecutor(max_workers=2)


def _backend() -> str:
    return os.environ["BACKEND_URL"]


@app.get("/health")
def health() -> dict[str, object]:
    return {"pid": os.getpid()}


@app.get("/back")
def back() -> dict[str, object]:
    return {"pid": os.getpid(), "answer": 42}


@app.get("/direct")
def direct() -> dict[str, object]:
    return requests.get(f"{_backend()}/back", timeout=10).json()


@app.get("/pooled")
def pooled() -> dict[str, object]:
    with tracer.start_as_current_span("front-work"):
        future = pool.submit(requests.get, f"{_backend()}/back", timeout=10)
        return future.result(timeout=10).json()


@app.get("/block")
async def block() -> dict[str, object]:
    time.sleep(0.2)  # blocks this worker's loop on purpose
    return {"pid": os.getpid()}

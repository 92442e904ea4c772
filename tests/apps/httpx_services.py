"""Two FastAPI services in one module (run twice): the front calls BACKEND_URL with httpx
or httpx2, sync and async clients, directly or from a LangChain tool.

- ``/call/{library}/{mode}``: ``library`` is ``httpx`` or ``httpx2``, ``mode`` ``sync``
  (``Client``, from a sync handler) or ``async`` (``AsyncClient``, from an async handler);
- ``/tool``: a LangChain tool whose body calls the backend with ``httpx.get``;
- ``/back``: the backend's answer, with the ``traceparent`` it was sent; ``/health``.
"""

import importlib
import os

from fastapi import FastAPI, Request
from langchain_core.tools import tool

app = FastAPI()


def _url() -> str:
    return f"{os.environ['BACKEND_URL']}/back"


@app.get("/health")
def health() -> dict[str, object]:
    return {"pid": os.getpid()}


@app.get("/back")
def back(request: Request) -> dict[str, object]:
    return {"answer": 42, "traceparent": request.headers.get("traceparent")}


@app.get("/call/{library}/sync")
def call_sync(library: str) -> dict[str, object]:
    with importlib.import_module(library).Client(timeout=10) as client:
        return dict(client.get(_url()).json())


@app.get("/call/{library}/async")
async def call_async(library: str) -> dict[str, object]:
    async with importlib.import_module(library).AsyncClient(timeout=10) as client:
        response = await client.get(_url())
        return dict(response.json())


@tool
def lookup(question: str) -> str:
    """Look the answer up in the backend."""
    import httpx

    return str(httpx.get(_url(), timeout=10).json()["answer"])


@app.get("/tool")
def call_tool() -> dict[str, object]:
    return {"answer": lookup.invoke({"question": "the answer?"})}

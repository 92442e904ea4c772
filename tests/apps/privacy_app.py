"""A FastAPI service that leaks on purpose: secrets in URLs and in exception messages.

- ``/ask?q=...&api_key=...``: calls its own ``/echo`` with ``requests``, through a URL that
  carries a password in its userinfo and a token in its query, and the question as ``q``;
- ``/echo``: answers what it was asked;
- ``/fail?q=...``: raises an exception whose message quotes an API key and the question;
- ``/health``: readiness.
The secrets come from the environment (``PRIVACY_*``) so the test knows what to look for.
"""

import os
from urllib.parse import quote

import requests
from fastapi import FastAPI

app = FastAPI()
KEY = os.environ.get("PRIVACY_KEY", "sk-proj-unset")
TOKEN = os.environ.get("PRIVACY_TOKEN", "unset")
PASSWORD = os.environ.get("PRIVACY_PASSWORD", "unset")


def _self() -> str:
    return os.environ["PRIVACY_SELF"]


@app.get("/health")
def health() -> dict[str, str]:
    return {"ok": "yes"}


@app.get("/echo")
def echo(q: str = "") -> dict[str, str]:
    return {"q": q}


@app.get("/ask")
def ask(q: str, api_key: str = "") -> dict[str, str]:
    host = _self().split("://", 1)[1]
    url = f"http://user:{PASSWORD}@{host}/echo?q={quote(q)}&token={TOKEN}"
    return requests.get(url, timeout=10).json()


@app.get("/fail")
def fail(q: str) -> dict[str, str]:
    raise ValueError(f"upstream rejected key {KEY} for question: {q}")

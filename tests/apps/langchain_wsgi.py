"""A WSGI app for gunicorn: each request runs a LangChain chain whose fake model reports usage
(11 input, 4 output tokens) and answers with the worker's pid."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from tests.apps.langchain_app import FakeChat

CHAIN = ChatPromptTemplate.from_template("{q}") | FakeChat() | StrOutputParser()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") != "/ready":
        CHAIN.invoke({"q": environ.get("PATH_INFO", "/")})
        time.sleep(0.05)  # a busy worker, so concurrent requests spread over both
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

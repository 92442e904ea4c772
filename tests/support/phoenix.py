"""A real Arize Phoenix server for the tests, and what it shows of our spans, read through its API.

Phoenix (PyPI ``arize-phoenix``, pinned in ``test.sh``) lives in its own virtual environment,
``.venv-phoenix`` (or ``$PHOENIX_VENV``), because its dependencies clash with the agent's pinned
OpenTelemetry packages. ``phoenix_server()`` starts ``phoenix serve`` on free 127.0.0.1 ports
with a temporary working directory (so a fresh SQLite store), external resources and telemetry
off (``PHOENIX_ALLOW_EXTERNAL_RESOURCES=false`` also stops the WASM sandbox download, the
web fonts and the analytics pixels), no ``OTEL_*`` variables of ours, and waits for
``/readyz``. Start-up takes 10-20 s here, so tests share one server (``tests/consumers``'
session fixture) and keep apart by project: Phoenix files spans under the resource attribute
``openinference.project.name``, which ``agent_env(project)`` sets.

Reads go through Phoenix's own API, never its database: REST ``/v1/projects/{name}/spans``
gives each span with the kind and the attributes Phoenix stored after converting GenAI
attributes to OpenInference ones on ingest; GraphQL gives the token totals Phoenix computes
per trace (the root span's cumulative counts, which its trace list shows).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.processes import free_port, stop

ROOT = Path(__file__).parents[2]


def venv() -> Path:
    """Where test.sh installs Phoenix; ``$PHOENIX_VENV`` lets worktrees share one install."""
    return Path(os.environ.get("PHOENIX_VENV") or ROOT / ".venv-phoenix")


def python() -> Path:
    """The Phoenix venv's interpreter; AssertionError naming the fix when it is missing."""
    path = venv() / "bin" / "python"
    if not (venv() / "bin" / "phoenix").exists():
        raise AssertionError(f"Phoenix is not installed in {venv()}: run ./test.sh once")
    return path


@dataclass
class PhoenixSpan:
    """One span as Phoenix shows it. ``attributes`` are Phoenix's stored, flattened ones
    (``llm.input_messages.0.message.role``...), ``openinference.span.kind`` taken out as
    ``kind``; the other fields are read from them."""

    name: str
    kind: str  # Phoenix's classification: LLM, CHAIN, RETRIEVER, EMBEDDING, TOOL, AGENT, UNKNOWN
    trace_id: str
    span_id: str
    parent_id: str | None
    status_code: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def input_value(self) -> Any:
        """The Input column of Phoenix's span list (``input.value``)."""
        return self.attributes.get("input.value")

    @property
    def output_value(self) -> Any:
        """The Output column of Phoenix's span list (``output.value``)."""
        return self.attributes.get("output.value")

    @property
    def model_name(self) -> str | None:
        return self.attributes.get("llm.model_name")

    @property
    def tokens(self) -> dict[str, int | None]:
        """``llm.token_count.{prompt,completion,total}``; None where Phoenix has none."""
        return {k: self.attributes.get(f"llm.token_count.{k}") for k in TOKEN_KINDS}

    @property
    def input_messages(self) -> list[dict[str, Any]]:
        """``llm.input_messages``, a system instruction first: ``[{"role", "content", ...}]``."""
        return indexed(self.attributes, "llm.input_messages", "message")

    @property
    def output_messages(self) -> list[dict[str, Any]]:
        return indexed(self.attributes, "llm.output_messages", "message")

    @property
    def documents(self) -> list[dict[str, Any]]:
        """``retrieval.documents``: ``[{"id", "content", "score", "metadata"}]`` as stored."""
        return indexed(self.attributes, "retrieval.documents", "document")

    @property
    def tools(self) -> list[dict[str, Any]]:
        """``llm.tools`` (from ``gen_ai.tool.definitions``): ``[{"json_schema": ...}]``."""
        return indexed(self.attributes, "llm.tools", "tool")


TOKEN_KINDS = ("prompt", "completion", "total")


def indexed(attributes: dict[str, Any], prefix: str, item: str) -> list[dict[str, Any]]:
    """Rebuild an OpenInference list (``PREFIX.N.ITEM.KEY = value``) as ``[{KEY: value}]``.

    Keys below KEY stay dotted (``message.tool_calls.0.tool_call.id`` becomes
    ``tool_calls.0.tool_call.id``), in index order."""
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.{re.escape(item)}\.(.+)$")
    found: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        match = pattern.match(key)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [found[i] for i in sorted(found)]


class Phoenix:
    """A running Phoenix server: its endpoints and read helpers over its API."""

    def __init__(self, port: int, grpc_port: int, proc: subprocess.Popen[str]) -> None:
        self.port = port
        self.grpc_port = grpc_port
        self.proc = proc

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def traces_endpoint(self) -> str:
        """For ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, as Phoenix's docs tell users."""
        return f"{self.base_url}/v1/traces"

    def agent_env(self, project: str) -> dict[str, str]:
        """Variables for a traced process: traces to Phoenix, filed under ``project``.

        Phoenix takes no metrics; left unset, the metrics endpoint would fall back to the SDK's
        ``localhost:4318`` and retry for seconds at exit, so it points at Phoenix, which
        answers 405 at once (logged by the SDK, not retried)."""
        return {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": self.traces_endpoint,
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{self.base_url}/v1/metrics",
            "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}",
        }

    # -- REST ----------------------------------------------------------------------------
    def _get(self, path: str, query: list[tuple[str, str]] | None = None) -> Any:
        url = self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())

    def projects(self) -> list[str]:
        return [p["name"] for p in self._get("/v1/projects")["data"]]

    def spans(self, project: str = "default", trace_id: str | None = None) -> list[PhoenixSpan]:
        """Every span of ``project`` (optionally of one trace), oldest first; [] if none yet."""
        query = [("limit", "1000"), ("sort", "start_time"), ("order", "asc")]
        if trace_id:
            query.append(("trace_id", trace_id))
        path = f"/v1/projects/{urllib.parse.quote(project, safe='')}/spans"
        found: list[PhoenixSpan] = []
        cursor: str | None = None
        while True:
            try:
                page = self._get(path, query + ([("cursor", cursor)] if cursor else []))
            except urllib.error.HTTPError as exc:
                if exc.code == 404:  # the project appears with its first span
                    return []
                raise
            found += [_span(raw) for raw in page["data"]]
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    def wait_for_spans(
        self,
        project: str,
        predicate: Callable[[list[PhoenixSpan]], bool],
        timeout: float = 30.0,
    ) -> list[PhoenixSpan]:
        """Poll until ``predicate(spans)`` holds (Phoenix inserts in batches); return them."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans(project)
            if predicate(spans):
                return spans
            if time.monotonic() > deadline or self.proc.poll() is not None:
                names = sorted(s.name for s in spans)
                raise AssertionError(f"Phoenix project {project!r} has {len(spans)}: {names}")
            time.sleep(0.3)

    # -- GraphQL ---------------------------------------------------------------------------
    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        """Run a GraphQL query; its ``data``, or AssertionError with Phoenix's errors."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/graphql", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise AssertionError(f"Phoenix GraphQL errors: {answer['errors']}")
        return answer["data"]

    def project_id(self, project: str) -> str:
        for raw in self._get("/v1/projects")["data"]:
            if raw["name"] == project:
                return str(raw["id"])
        raise AssertionError(f"no Phoenix project {project!r}; has {self.projects()}")

    def trace_tokens(self, trace_id: str, project: str = "default") -> dict[str, float | None]:
        """Token totals Phoenix computes for one trace: ``{"prompt", "completion", "total"}``
        (its root span's cumulative counts, summed over every span beneath, nested ones
        included), plus ``"spans"``, the trace's span count."""
        data = self.graphql(_TRACE_TOKENS, {"project": self.project_id(project), "trace": trace_id})
        trace = (data.get("node") or {}).get("trace")
        if trace is None:
            raise AssertionError(f"Phoenix has no trace {trace_id} in {project!r}")
        root = trace["rootSpan"] or {}
        return {
            "prompt": root.get("cumulativeTokenCountPrompt"),
            "completion": root.get("cumulativeTokenCountCompletion"),
            "total": root.get("cumulativeTokenCountTotal"),
            "spans": trace["numSpans"],
        }

    def project_tokens(self, project: str = "default") -> dict[str, float]:
        """Phoenix's project-wide token totals: ``{"prompt", "completion", "total"}``."""
        data = self.graphql(_PROJECT_TOKENS, {"project": self.project_id(project)})
        node = data["node"]
        return {
            "prompt": node["tokenCountPrompt"],
            "completion": node["tokenCountCompletion"],
            "total": node["tokenCountTotal"],
        }


_TRACE_TOKENS = """
query($project: ID!, $trace: ID!) {
  node(id: $project) {
    ... on Project {
      trace(traceId: $trace) {
        numSpans
        rootSpan {
          cumulativeTokenCountPrompt cumulativeTokenCountCompletion cumulativeTokenCountTotal
        }
      }
    }
  }
}
"""

_PROJECT_TOKENS = """
query($project: ID!) {
  node(id: $project) { ... on Project { tokenCountPrompt tokenCountCompletion tokenCountTotal } }
}
"""


def _span(raw: dict[str, Any]) -> PhoenixSpan:
    return PhoenixSpan(
        name=raw["name"],
        kind=raw["span_kind"],
        trace_id=raw["context"]["trace_id"],
        span_id=raw["context"]["span_id"],
        parent_id=raw.get("parent_id"),
        status_code=raw["status_code"],
        attributes=raw.get("attributes") or {},
        events=raw.get("events") or [],
    )


def _server_env(workdir: str, port: int, grpc_port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "PHOENIX_", "LLM_INSTRUMENT_")) and k != "PYTHONPATH"
    }
    env.update(
        PHOENIX_WORKING_DIR=workdir,
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        # gRPC cannot be switched off (only with --read-only, which refuses spans) and binds
        # [::]: give it a free port so parallel servers do not collide
        PHOENIX_GRPC_PORT=str(grpc_port),
        PHOENIX_ALLOW_EXTERNAL_RESOURCES="false",
        PHOENIX_TELEMETRY_ENABLED="false",
        PHOENIX_ALLOWED_SANDBOX_PROVIDERS="NONE",
    )
    return env


@contextmanager
def phoenix_server(timeout: float = 120.0) -> Iterator[Phoenix]:
    """Start a fresh Phoenix server, wait until ready (at most ``timeout`` s), stop it after."""
    executable = python().parent / "phoenix"
    with tempfile.TemporaryDirectory(prefix="phoenix-") as workdir:
        port, grpc_port = free_port(), free_port()
        log = Path(workdir) / "server.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [str(executable), "serve"],
                env=_server_env(workdir, port, grpc_port),
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        server = Phoenix(port, grpc_port, proc)
        try:
            _wait_ready(server, log, timeout)
            yield server
        finally:
            stop(proc, timeout=30)


def _wait_ready(server: Phoenix, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            code = server.proc.returncode
            raise AssertionError(f"Phoenix exited with {code}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/readyz", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"Phoenix not ready after {timeout}s:\n{log.read_text()[-3000:]}")

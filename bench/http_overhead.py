"""Requests per second of a FastAPI endpoint that runs a LangChain chain, bare and traced.

    .venv/bin/python bench/http_overhead.py [--requests 400] [--concurrency 8] [--repeats 5]
        [--modes bare,llm-instrument,...] [--json FILE]

The peer must be installed for its row (a missing one is reported and skipped):
``pip install opentelemetry-distro==0.66b2 openinference-instrumentation-langchain``
(their pins agree with ours, so they go into the project's ``.venv``).

The app: ``POST /ask {"question": ...}``, a sync FastAPI endpoint calling ``chain.invoke`` on
the retriever + prompt + fake chat model + parser chain of ``langchain_overhead.build_chain``,
served by uvicorn (one process, no access log). The load generator runs here: ``concurrency``
threads, each on its own keep-alive ``http.client`` connection to 127.0.0.1, share
``requests`` requests; every request has a 30 s timeout and the whole round a deadline.
Spans (and metrics, where the agent exports them) go over OTLP/HTTP to a local receiver in
this process that answers 200 at once; it keeps the trace bodies of the current round only
to count the spans afterwards (spans per request, a check that nothing is dropped).

Modes (each round starts a fresh server, so one mode's late exports never land in
another's round):

- ``bare``: ``uvicorn http_overhead:create_app --factory``;
- ``llm-instrument``: ``llm-instrument uvicorn ...``, as a user runs it (content capture on);
- ``opentelemetry-instrument+openinference``: ``opentelemetry-instrument uvicorn ...`` (the
  distro's FastAPI/requests instrumentors, OTLP/HTTP traces and metrics) with OpenInference's
  ``LangChainInstrumentor().instrument()`` called in the app, as its docs show (its
  ``opentelemetry_instrumentor`` entry point shares the name ``langchain`` with OpenLLMetry's,
  so both are disabled for auto-instrumentation and only OpenInference is applied);
- ``llm-instrument:exporter-none``: ``LLM_INSTRUMENT_EXPORTER=none`` (spans are still created,
  nothing is exported: the cost of making spans, without encoding and sending them).

Extra modes for the profile (``--modes``): ``llm-instrument:no-content``
(``LLM_INSTRUMENT_CAPTURE_CONTENT=false``), ``llm-instrument:fastapi-only`` (LangChain
plugin disabled) and ``llm-instrument:langchain-only`` (FastAPI plugin disabled; FastAPI
0.16x then emits 4 spans per request of its own through the OpenTelemetry API).

Each server gets ``warmup`` untimed requests first and, where it exports traces, a wait for
its first export (the OTLP exporter is built, and protobuf imported, on first use: a one-off
that a long-running server does not pay per request). In the first repeat the spans are
counted once the exports have settled (spans per request: every mode must send all its
spans; the peer's SDK loses its last batch when uvicorn stops, so the count waits for it).
Rounds are interleaved: repeat ``i`` runs every mode once, in an order rotated by ``i``.
Reported per mode: median req/s, the median over repeats of the ratio to ``bare`` in the
same repeat (min-max), and the server's CPU time per request (user + system from
``/proc``, export threads included), which another process's load disturbs much less than
the wall clock. The server is one GIL-bound process, so req/s follows CPU per request: a
0.8x req/s target means at most about 1.25x bare CPU. Target (issue 15): llm-instrument at
least 0.8x bare req/s.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import http.server
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent
TARGET_RATIO = 0.8
PEER_FLAG = "BENCH_HTTP_OPENINFERENCE"
REQUEST_TIMEOUT_S = 30.0
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
FIRST_EXPORT_TIMEOUT_S = 15.0
SETTLE_QUIET_S = 6.0
SETTLE_BOUND_S = 30.0

sys.path.insert(0, str(BENCH))


# -- the app (runs in the server process) ----------------------------------------------------
def create_app() -> Any:
    """The FastAPI app: ``POST /ask`` runs the chain (uvicorn's ``--factory`` calls this)."""
    from fastapi import Body, FastAPI
    from langchain_overhead import build_chain

    if os.environ.get(PEER_FLAG) == "1":
        from openinference.instrumentation.langchain import LangChainInstrumentor

        LangChainInstrumentor().instrument()
    chain = build_chain()

    app = FastAPI()

    @app.post("/ask")
    def ask(question: str = Body(embed=True)) -> dict[str, str]:
        return {"answer": chain.invoke(question)}

    return app


# -- the modes -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mode:
    name: str
    launcher: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    exports_traces: bool = True


_OURS = (str(BIN / "llm-instrument"),)
_PEER_ENV = {
    "OTEL_TRACES_EXPORTER": "otlp_proto_http",
    "OTEL_METRICS_EXPORTER": "otlp_proto_http",
    "OTEL_LOGS_EXPORTER": "none",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    # OpenInference and OpenLLMetry both register the entry point "langchain"
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "langchain,transformers",
    PEER_FLAG: "1",
}
MODES = {
    mode.name: mode
    for mode in (
        Mode("bare", (), exports_traces=False),
        Mode("llm-instrument", _OURS),
        Mode(
            "opentelemetry-instrument+openinference",
            (str(BIN / "opentelemetry-instrument"),),
            _PEER_ENV,
        ),
        Mode("llm-instrument:exporter-none", _OURS, {"LLM_INSTRUMENT_EXPORTER": "none"}, False),
        Mode("llm-instrument:no-content", _OURS, {"LLM_INSTRUMENT_CAPTURE_CONTENT": "false"}),
        Mode(
            "llm-instrument:fastapi-only",
            _OURS,
            {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "langchain"},
        ),
        Mode(
            "llm-instrument:langchain-only",
            _OURS,
            {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "fastapi"},
        ),
    )
}
DEFAULT_MODES = (
    "bare",
    "llm-instrument",
    "opentelemetry-instrument+openinference",
    "llm-instrument:exporter-none",
)


# -- the OTLP receiver -----------------------------------------------------------------------
class _Sink(http.server.BaseHTTPRequestHandler):
    """Answers every OTLP/HTTP export with an empty 200; keeps this round's trace bodies."""

    lock = threading.Lock()
    traces: list[bytes] = []  # noqa: RUF012 - one receiver per bench process
    exports = 0
    last_export = 0.0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/v1/traces"):
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            with _Sink.lock:
                _Sink.traces.append(body)
                _Sink.exports += 1
                _Sink.last_export = time.monotonic()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass

    @classmethod
    def take(cls) -> list[bytes]:
        with cls.lock:
            bodies, cls.traces, cls.exports = cls.traces, [], 0
        return bodies


def _count_spans(bodies: Sequence[bytes]) -> int | None:
    try:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )
    except ImportError:
        return None
    total = 0
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                total += len(scope_spans.spans)
    return total


# -- the server process ----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (all its threads), from ``/proc``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """One uvicorn process of one mode, its log in a temporary file."""

    def __init__(self, mode: Mode, env: dict[str, str], log_dir: Path) -> None:
        self.mode = mode
        self.port = _free_port()
        self.log = log_dir / f"{mode.name.replace(':', '_')}.log"
        command = [
            *mode.launcher,
            str(BIN / "uvicorn"),
            "http_overhead:create_app",
            "--factory",
            "--app-dir",
            str(BENCH),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                command,
                env={**env, **mode.env},
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.mode.name}: server exited\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.mode.name}: server not ready in {START_TIMEOUT_S:.0f}s")

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down, the agents flush at exit), then kill if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)

    def log_tail(self) -> str:
        try:
            return self.log.read_text()[-2000:]
        except OSError:
            return ""


# -- the load generator ----------------------------------------------------------------------
@dataclass
class Load:
    elapsed_s: float
    latencies_s: list[float]
    errors: list[str]


def _load(port: int, total: int, concurrency: int) -> Load:
    """``total`` POSTs from ``concurrency`` threads on keep-alive connections, all started at
    once; the elapsed time runs from the start to the last response."""
    lock = threading.Lock()
    issued = [0]
    latencies: list[float] = []
    errors: list[str] = []
    start_line = threading.Barrier(concurrency + 1)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        mine: list[float] = []
        try:
            start_line.wait(REQUEST_TIMEOUT_S)
            while True:
                with lock:
                    index = issued[0]
                    if index >= total:
                        break
                    issued[0] += 1
                body = json.dumps({"question": f"How long do cats sleep? {index}"})
                began = time.perf_counter()
                try:
                    conn.request("POST", "/ask", body, {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    payload = response.read()
                    if response.status != 200 or b"Cats sleep" not in payload:
                        raise RuntimeError(f"HTTP {response.status}: {payload[:200]!r}")
                except Exception as exc:
                    with lock:
                        errors.append(repr(exc))
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
                    continue
                mine.append(time.perf_counter() - began)
        except threading.BrokenBarrierError:
            with lock:
                errors.append("start barrier broken")
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start_line.wait(REQUEST_TIMEOUT_S)
    began = time.perf_counter()
    deadline = began + REQUEST_TIMEOUT_S * (total / concurrency + 1)
    for thread in threads:
        thread.join(max(0.0, deadline - time.perf_counter()))
    elapsed = time.perf_counter() - began
    if any(thread.is_alive() for thread in threads):
        errors.append("round deadline passed")
    return Load(elapsed, latencies, errors)


# -- one round -------------------------------------------------------------------------------
@dataclass
class Round:
    mode: str
    rps: float
    cpu_ms_per_request: float | None
    p50_ms: float
    p99_ms: float
    spans_per_request: float | None


def _settle(quiet_s: float, bound_s: float) -> None:
    """Wait until no trace export came for ``quiet_s`` (the batch processor's last, partial
    batch goes out after its 5 s schedule delay), at most ``bound_s``."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline and time.monotonic() - _Sink.last_export < quiet_s:
        time.sleep(0.2)


def _run_round(
    mode: Mode, env: dict[str, str], args: argparse.Namespace, logs: Path, count: bool
) -> Round:
    """One server of ``mode``: warm-up, the timed load; with ``count``, the spans counted
    after the last export (the peer's SDK does not flush on uvicorn's SIGTERM shutdown)."""
    _Sink.take()
    server = Server(mode, env, logs)
    try:
        server.wait_ready()
        warm = _load(server.port, args.warmup, args.concurrency)
        if warm.errors:
            raise RuntimeError(f"{mode.name}: warm-up failed: {warm.errors[:3]}")
        if mode.exports_traces:
            deadline = time.monotonic() + FIRST_EXPORT_TIMEOUT_S
            while _Sink.exports == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
        before = _cpu_seconds(server.proc.pid)
        load = _load(server.port, args.requests, args.concurrency)
        after = _cpu_seconds(server.proc.pid)
        if load.errors:
            raise RuntimeError(f"{mode.name}: {len(load.errors)} errors: {load.errors[:3]}")
        count = count and mode.exports_traces
        if count:
            _settle(SETTLE_QUIET_S, SETTLE_BOUND_S)
    finally:
        server.stop()
    spans = _count_spans(_Sink.take()) if count else None
    served = args.warmup + args.requests
    cpu = None if before is None or after is None else (after - before) / args.requests * 1e3
    latencies = sorted(load.latencies_s)
    return Round(
        mode.name,
        args.requests / load.elapsed_s,
        cpu,
        latencies[len(latencies) // 2] * 1e3,
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3,
        None if spans is None else spans / served,
    )


def _env(endpoint: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "LLM_INSTRUMENT_")) and k != "PYTHONPATH"
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_SERVICE_NAME="bench-http",
        # a queue that never fills: every span is exported, so export costs count in full
        OTEL_BSP_MAX_QUEUE_SIZE="65536",
        PYTHONUNBUFFERED="1",
    )
    return env


def _available(mode: Mode) -> str | None:
    """Why ``mode`` cannot run here, or None."""
    for tool in mode.launcher:
        if not Path(tool).exists():
            return f"{Path(tool).name} not installed"
    if mode.env.get(PEER_FLAG):
        import importlib.util

        if importlib.util.find_spec("openinference.instrumentation.langchain") is None:
            return "openinference-instrumentation-langchain not installed"
    return None


def summarise(rounds: list[Round], modes: Sequence[str]) -> list[dict[str, Any]]:
    """Per mode: medians, and the median (min, max) of the per-repeat ratios to bare."""
    by_mode: dict[str, list[Round]] = {m: [r for r in rounds if r.mode == m] for m in modes}
    bare = by_mode.get("bare") or []
    rows = []
    for name, mine in by_mode.items():
        if not mine:
            continue
        row: dict[str, Any] = {
            "mode": name,
            "rps_median": statistics.median(r.rps for r in mine),
            "rps_samples": [round(r.rps, 1) for r in mine],
            "p50_ms_median": statistics.median(r.p50_ms for r in mine),
            "p99_ms_median": statistics.median(r.p99_ms for r in mine),
        }
        cpus = [r.cpu_ms_per_request for r in mine if r.cpu_ms_per_request is not None]
        if cpus:
            row["cpu_ms_per_request_median"] = statistics.median(cpus)
        spans = [r.spans_per_request for r in mine if r.spans_per_request is not None]
        if spans:
            row["spans_per_request"] = statistics.median(spans)
        if bare and len(bare) == len(mine):
            ratios = [m.rps / b.rps for m, b in zip(mine, bare, strict=True)]
            row["rps_ratio"] = statistics.median(ratios)
            row["rps_ratio_min"], row["rps_ratio_max"] = min(ratios), max(ratios)
            pairs = [
                (m.cpu_ms_per_request, b.cpu_ms_per_request)
                for m, b in zip(mine, bare, strict=True)
                if m.cpu_ms_per_request and b.cpu_ms_per_request
            ]
            if pairs:
                cpu_ratios = [m / b for m, b in pairs]
                row["cpu_ratio"] = statistics.median(cpu_ratios)
                row["cpu_ratio_min"], row["cpu_ratio_max"] = min(cpu_ratios), max(cpu_ratios)
        rows.append(row)
    return rows


def _print(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'mode':<40}{'req/s':>8}{'ratio':>8}{'(min-max)':>13}{'cpu ms/req':>12}"
        f"{'cpu ratio':>11}{'p50 ms':>8}{'p99 ms':>8}{'spans/req':>11}"
    )
    for row in rows:
        ratio = f"{row['rps_ratio']:.2f}x" if "rps_ratio" in row else ""
        spread = (
            f"{row['rps_ratio_min']:.2f}-{row['rps_ratio_max']:.2f}" if "rps_ratio" in row else ""
        )
        cpu = row.get("cpu_ms_per_request_median")
        cpu_ratio = f"{row['cpu_ratio']:.2f}x" if "cpu_ratio" in row else ""
        spans = row.get("spans_per_request")
        print(
            f"{row['mode']:<40}{row['rps_median']:>8.1f}{ratio:>8}{spread:>13}"
            f"{'' if cpu is None else f'{cpu:.2f}':>12}{cpu_ratio:>11}"
            f"{row['p50_ms_median']:>8.1f}{row['p99_ms_median']:>8.1f}"
            f"{'' if spans is None else f'{spans:.1f}':>11}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=80, help="untimed requests per server")
    parser.add_argument("--modes", default=",".join(DEFAULT_MODES), help=", ".join(MODES))
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    modes = []
    for name in args.modes.split(","):
        if name not in MODES:
            parser.error(f"unknown mode {name!r}; known: {', '.join(MODES)}")
        missing = _available(MODES[name])
        if missing:
            print(f"{name}: skipped ({missing})", file=sys.stderr)
            continue
        modes.append(name)

    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    env = _env(f"http://127.0.0.1:{sink.server_address[1]}")
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="llmi-bench-http-") as tmp:
        for repeat in range(args.repeats):
            shift = repeat % len(modes)
            for name in modes[shift:] + modes[:shift]:
                try:
                    done = _run_round(MODES[name], env, args, Path(tmp), repeat == 0)
                except RuntimeError as exc:
                    print(f"{name}: round failed: {exc}", file=sys.stderr)
                    sink.shutdown()
                    return 1
                rounds.append(done)
                print(
                    f"  repeat {repeat + 1}/{args.repeats} {name:<40} {done.rps:7.1f} req/s",
                    file=sys.stderr,
                )
    sink.shutdown()

    rows = summarise(rounds, modes)
    print(
        f"{args.requests} requests x {args.repeats} repeats, concurrency {args.concurrency},"
        f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    _print(rows)
    ours = next((r for r in rows if r["mode"] == "llm-instrument"), None)
    if ours is not None and "rps_ratio" in ours:
        met = ours["rps_ratio"] >= TARGET_RATIO
        print(
            f"target (llm-instrument >= {TARGET_RATIO}x bare req/s): {'met' if met else 'MISSED'}"
        )
    if args.json:
        result = {
            "benchmark": "http",
            "command": " ".join(["bench/http_overhead.py", *(argv or sys.argv[1:])]),
            "requests": args.requests,
            "concurrency": args.concurrency,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_average": list(os.getloadavg()),
            "target_ratio": TARGET_RATIO,
            "results": rows,
            "rounds": [vars(r) for r in rounds],
        }
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

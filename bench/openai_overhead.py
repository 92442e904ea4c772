"""Microseconds added per ``openai`` SDK call against a local OpenAI-compatible server.

    .venv/bin/python bench/openai_overhead.py [--calls 400] [--repeats 7] [--peers-python PY]

Each mode runs in its own process, calling one local server (started here: a stdlib HTTP
server with keep-alive that answers every chat completion with the same canned reply,
plain or as server-sent events, so only the client side differs between modes), and
exporting spans over OTLP/HTTP to a local sink (started here, discarding what it gets):

- ``bare``: the SDK, no instrumentation;
- ``llm-instrument``: ``llm-instrument python bench/openai_overhead.py --child ...``, the way
  users run it (all plugins on, content capture on: an LLM span and an httpx span per call);
- ``llm-instrument-no-http``: the same with the httpx plugins off, one span per call as the
  peers make;
- ``openllmetry``: ``opentelemetry-instrumentation-openai`` (Traceloop) with an SDK tracer
  provider, batch span processor and OTLP exporter (one span per call);
- ``openinference``: ``openinference-instrumentation-openai``, the same pipeline.

The peers run under ``--peers-python`` (default: this interpreter); a missing one is
reported and skipped. To keep them out of ``.venv``, give them a venv of their own that sees
``.venv``'s packages through a ``.pth`` file, the way ``.ci/openai-2x`` builds its venv, and
``pip install opentelemetry-instrumentation-openai openinference-instrumentation-openai``
there.

A round is ``--calls`` plain ``chat.completions.create`` calls, then as many streamed ones
(``stream_options={"include_usage": True}``, fully read). Reported per mode and kind of
call: the fastest and the median round's mean wall time per call, the client process's CPU
time per call (median round), and each against ``bare`` as a ratio and as microseconds.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODES = ("bare", "llm-instrument", "llm-instrument-no-http", "openllmetry", "openinference")
# one span per call, as the peers make: the httpx plugins off
NO_HTTP = {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "httpx,httpx2"}
MESSAGES = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "How long do cats sleep?"},
]
REPLY = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 0,
    "model": "bench-model",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Cats sleep twelve to sixteen hours."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 21, "completion_tokens": 8, "total_tokens": 29},
}
WORDS = ["Cats ", "sleep ", "twelve ", "to ", "sixteen ", "hours."]


def _sse_body() -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0}
    base["model"] = "bench-model"
    chunks = [{"role": "assistant", "content": ""}] + [{"content": w} for w in WORDS]
    events = [
        {**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}], "usage": None}
        for d in chunks
    ]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**base, "choices": [], "usage": REPLY["usage"]})
    text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return text.encode()


class _ModelServer(http.server.BaseHTTPRequestHandler):
    """Canned chat completions, plain or streamed, over keep-alive HTTP/1.1."""

    protocol_version = "HTTP/1.1"
    plain = json.dumps(REPLY).encode()
    streamed = _sse_body()

    def setup(self) -> None:
        super().setup()
        # headers and body go out as two writes: without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every reply
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        payload = self.streamed if body.get("stream") else self.plain
        self.send_response(200)
        kind = "text/event-stream" if body.get("stream") else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


class _Sink(http.server.BaseHTTPRequestHandler):
    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _setup_peer(mode: str) -> Any:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    if mode == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor as OIInstrumentor

        OIInstrumentor().instrument(tracer_provider=provider)
    return provider


def _round(client: Any, calls: int, stream: bool) -> tuple[float, float]:
    """(mean wall us, mean CPU us) per call over ``calls`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        if stream:
            for _chunk in client.chat.completions.create(
                model="bench-model",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            ):
                pass
        else:
            client.chat.completions.create(model="bench-model", messages=MESSAGES)
    return (
        (time.perf_counter() - wall) / calls * 1e6,
        (time.process_time() - cpu) / calls * 1e6,
    )


def child(mode: str, calls: int, repeats: int) -> None:
    provider = _setup_peer(mode) if mode in ("openllmetry", "openinference") else None
    import openai

    client = openai.OpenAI(api_key="not-needed", max_retries=0)
    for stream in (False, True):
        _round(client, 50, stream)  # warm-up: connections, imports, caches
    rounds: dict[str, list[tuple[float, float]]] = {"plain": [], "stream": []}
    for _ in range(repeats):
        rounds["plain"].append(_round(client, calls, False))
        rounds["stream"].append(_round(client, calls, True))
    if provider is None:
        from opentelemetry import trace

        provider = trace.get_tracer_provider()
    flush = getattr(provider, "force_flush", None)
    if flush:
        flush()
    print(json.dumps({"mode": mode, "openai": openai.__version__, "rounds": rounds}))


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--peers-python", default=sys.executable)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.calls, args.repeats)
        return
    model, sink = _serve(_ModelServer), _serve(_Sink)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLM_INSTRUMENT_"))}
    env.update(
        OPENAI_BASE_URL=f"http://127.0.0.1:{model.server_address[1]}/v1",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink.server_address[1]}",
        OTEL_BSP_MAX_QUEUE_SIZE="65536",
        OTEL_METRIC_EXPORT_INTERVAL="5000",
        TRACELOOP_TELEMETRY="false",
    )
    results: dict[str, dict[str, list[tuple[float, float]]]] = {}
    versions = set()
    for mode in args.modes.split(","):
        python = args.peers_python if mode in ("openllmetry", "openinference") else sys.executable
        sizes = ["--calls", str(args.calls), "--repeats", str(args.repeats)]
        command = [python, __file__, "--child", mode, *sizes]
        mode_env = env
        if mode.startswith("llm-instrument"):
            command = [str(Path(sys.executable).parent / "llm-instrument"), *command]
            mode_env = {**env, **NO_HTTP} if mode.endswith("no-http") else env
        done = subprocess.run(command, env=mode_env, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(f"{mode}: failed or not installed\n{done.stderr[-1500:]}", file=sys.stderr)
            continue
        record = json.loads(done.stdout.strip().splitlines()[-1])
        results[mode] = record["rounds"]
        versions.add(record["openai"])
    _report(results, versions, _Sink.received)
    model.shutdown()
    sink.shutdown()


def _report(
    results: dict[str, dict[str, list[tuple[float, float]]]], versions: set[str], exports: int
) -> None:
    print(f"openai {', '.join(sorted(versions))}; per call, wall us (min / median round), CPU us")
    header = f"{'mode':<24}{'call':<8}{'min':>8}{'median':>8}{'cpu':>8}"
    print(f"{header}{'x bare':>9}{'+us':>8}{'cpu x bare':>12}{'cpu +us':>9}")
    bare = results.get("bare")
    for mode, kinds in results.items():
        for kind, rounds in kinds.items():
            walls = [w for w, _ in rounds]
            cpu = statistics.median(c for _, c in rounds)
            low, mid = min(walls), statistics.median(walls)
            line = f"{mode:<24}{kind:<8}{low:>8.0f}{mid:>8.0f}{cpu:>8.0f}"
            if bare is not None and mode != "bare":
                base_mid = statistics.median(w for w, _ in bare[kind])
                base_cpu = statistics.median(c for _, c in bare[kind])
                line += f"{mid / base_mid:>9.2f}{mid - base_mid:>8.0f}"
                line += f"{cpu / base_cpu:>12.2f}{cpu - base_cpu:>9.0f}"
            print(line)
    print(f"(OTLP export requests received: {exports})")


if __name__ == "__main__":
    main()

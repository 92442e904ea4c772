"""Microseconds added per ``chain.invoke`` of a retriever + prompt + model + parser chain.

    .venv/bin/python bench/langchain_overhead.py [--iterations 1000] [--repeats 5]

The peers must be installed for their rows (a missing one is reported and skipped):
``pip install openinference-instrumentation-langchain opentelemetry-instrumentation-langchain``.

Each mode runs in its own process, exporting spans over OTLP/HTTP to one local receiver
(started here, discarding what it gets):

- ``bare``: the chain, no instrumentation;
- ``llm-instrument``: ``llm-instrument python bench/langchain_overhead.py --child ...``, the
  way users run it (all plugins on, content capture on);
- ``openinference``: ``openinference-instrumentation-langchain`` with an SDK tracer provider,
  batch span processor and OTLP exporter;
- ``openllmetry``: ``opentelemetry-instrumentation-langchain`` (Traceloop), same pipeline.

Reported per mode: the fastest and the median repeat's mean time per invoke (the fastest is
the least disturbed by other load on the machine), and the overhead of each against ``bare``.

The chain: ``{"context": retriever | join, "question": passthrough} | prompt | chat model |
StrOutputParser``, with an in-memory vector store over deterministic fake
embeddings and a fake chat model that reports token usage, so only instrumentation costs
differ.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODES = ("bare", "llm-instrument", "openinference", "openllmetry")


def build_chain() -> Any:
    from langchain_core.documents import Document
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough
    from langchain_core.vectorstores import InMemoryVectorStore

    class FakeChat(BaseChatModel):
        model_name: str = "fake-chat-1"

        @property
        def _llm_type(self) -> str:
            return "fake-chat"

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            message = AIMessage(
                content="Cats sleep a lot.",
                usage_metadata={"input_tokens": 11, "output_tokens": 4, "total_tokens": 15},
                response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
            )
            return ChatResult(generations=[ChatGeneration(message=message)])

    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
    store.add_documents(
        [Document(id=f"d{i}", page_content=f"Fact number {i} about cats.") for i in range(20)]
    )
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from: {context}"), ("human", "{question}")]
    )
    retriever = store.as_retriever(search_kwargs={"k": 2})

    def join(docs: list[Any]) -> str:
        return "\n".join(d.page_content for d in docs)

    return (
        {"context": retriever | join, "question": RunnablePassthrough()}
        | prompt
        | FakeChat()
        | StrOutputParser()
    )


def setup_peer(mode: str) -> Any:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    if mode == "openinference":
        from openinference.instrumentation.langchain import LangChainInstrumentor

        LangChainInstrumentor().instrument(tracer_provider=provider)
    elif mode == "openllmetry":
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor

        LangchainInstrumentor().instrument(tracer_provider=provider)
    return provider


def child(mode: str, iterations: int, repeats: int) -> None:
    provider = setup_peer(mode) if mode in ("openinference", "openllmetry") else None
    chain = build_chain()
    for i in range(200):
        chain.invoke(f"warm-up {i}")
    means = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(iterations):
            chain.invoke(f"How long do cats sleep? {i}")
        means.append((time.perf_counter() - start) / iterations * 1e6)
    if provider is not None:
        provider.force_flush()
    else:
        from opentelemetry import trace

        flush = getattr(trace.get_tracer_provider(), "force_flush", None)
        if flush:
            flush()
    print(json.dumps({"mode": mode, "means_us": means}))


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


def start_receiver() -> tuple[http.server.ThreadingHTTPServer, dict[str, str]]:
    """A local OTLP receiver (``_Sink``) on its own thread, and the environment for the
    children: no ``OTEL_``/``LLM_INSTRUMENT_`` setting of ours, spans and metrics to it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLM_INSTRUMENT_"))}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}",
        OTEL_BSP_MAX_QUEUE_SIZE="65536",
        TRACELOOP_TELEMETRY="false",
    )
    return server, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.iterations, args.repeats)
        return
    server, env = start_receiver()
    env["OTEL_METRIC_EXPORT_INTERVAL"] = "5000"
    results: dict[str, tuple[float, float]] = {}
    for mode in args.modes.split(","):
        sizes = ["--iterations", str(args.iterations), "--repeats", str(args.repeats)]
        command = [sys.executable, __file__, "--child", mode, *sizes]
        if mode == "llm-instrument":
            command = [str(Path(sys.executable).parent / "llm-instrument"), *command]
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(f"{mode}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        record = json.loads(done.stdout.strip().splitlines()[-1])
        results[mode] = (min(record["means_us"]), statistics.median(record["means_us"]))
    bare = results.get("bare")
    print(f"{'mode':<16}{'min us':>9}{'median us':>11}{'overhead min':>14}{'overhead median':>17}")
    for mode, (low, mid) in results.items():
        line = f"{mode:<16}{low:>9.0f}{mid:>11.0f}"
        if bare is not None and mode != "bare":
            line += f"{low - bare[0]:>14.0f}{mid - bare[1]:>17.0f}"
        print(line)
    print(f"(OTLP export requests received: {_Sink.received})")
    server.shutdown()


if __name__ == "__main__":
    main()

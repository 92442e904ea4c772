"""Where the added CPU goes: py-spy profiles and in-process ablations, bare vs ours.

    .venv/bin/python bench/profile_overhead.py invoke [--iterations 4000] [--rate 300]
    .venv/bin/python bench/profile_overhead.py http [--requests 3000] [--rate 300]
    .venv/bin/python bench/profile_overhead.py ablate [--iterations 300] [--rounds 7]
    .venv/bin/python bench/profile_overhead.py summarise BARE.txt OURS.txt... --per N

Needs ``pip install py-spy`` (PyPI; it samples the process from outside, all threads).

``invoke`` runs ``langchain_overhead.py --child`` for ``bare``, ``llm-instrument`` and
``llm-instrument`` with ``LLM_INSTRUMENT_EXPORTER=none``, each under ``py-spy record --gil``
(only samples of the thread holding the GIL: the Python work of the process, export thread
included); ``http`` serves ``http_overhead.py``'s app the same way and drives it with its
load generator. The raw stacks go to ``--out-dir`` (default ``$TMPDIR/llmi-profile``).
Each sample goes to the group of its innermost frame outside the standard library (self
time; standard-library calls count for their caller, ``json/encoder.py`` and
``http/client.py`` for their own group, thread-pool and event-loop code for "other"):
OTLP encoding, HTTP send, batch processor, attribute validation, OTel SDK spans/context,
metrics, ASGI/FastAPI instrumentation, our content/JSON, handler, core, wrapping,
LangChain callback dispatch, other. Samples become ms per request (or invoke); start-up
(imports, building the chain) is left out. On a loaded machine a sample also lands where
the GIL holder was descheduled, so groups that exist in both profiles ("other", LangChain)
differ by noise of about +-0.2 ms; groups that exist only in ours are the firm figures.

``ablate`` runs the chain inside one ``llm-instrument`` process and switches parts off in
turn (a plugin unpatched, content capture off, GenAI metrics off, the handler ignoring chain
events, ``suppress_instrumentation``), alternating variants over ``rounds`` and timing
process CPU per invoke: what each part costs, robust to other load on the machine. It uses
the agent's internals (``registry._entries``, ``config.reset``), so it may need updating
when they change.
"""

from __future__ import annotations

import argparse
import collections
import http.server
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(BENCH))

import http_overhead  # noqa: E402 - after the path is set

# (group, substrings of a frame's file); the innermost frame that matches one decides
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "OTLP encoding (protobuf)",
        ("opentelemetry/exporter/otlp/proto/common", "google/protobuf", "opentelemetry/proto/"),
    ),
    (
        "OTLP HTTP send",
        ("opentelemetry/exporter/otlp/proto/http", "requests/", "urllib3/", "http/client.py"),
    ),
    ("batch span processor", ("opentelemetry/sdk/_shared_internal", "sdk/trace/export")),
    ("attribute validation (SDK)", ("opentelemetry/attributes",)),
    ("metrics (SDK record/export)", ("opentelemetry/sdk/metrics", "opentelemetry/metrics")),
    (
        "ASGI/FastAPI instrumentation",
        (
            "opentelemetry/instrumentation/asgi",
            "opentelemetry/instrumentation/fastapi",
            "opentelemetry/util/http",
            "opentelemetry/propagat",
            "opentelemetry/baggage",
        ),
    ),
    (
        "OTel SDK spans + context",
        (
            "opentelemetry/sdk/trace",
            "opentelemetry/trace",
            "opentelemetry/context",
            "opentelemetry/sdk/util",
            "opentelemetry/util",
            "opentelemetry/instrumentation/utils",
        ),
    ),
    ("ours: content policy/JSON", ("llm_instrument/genai/content.py", "json/encoder.py")),
    ("ours: langchain handler + extract", ("llm_instrument/instrumentors/langchain",)),
    ("ours: threading context", ("llm_instrument/instrumentors/threading",)),
    ("ours: GenAI core", ("llm_instrument/genai",)),
    ("ours: wrapping/guard", ("llm_instrument/agent", "wrapt/")),
    ("peer instrumentation", ("openinference/", "opentelemetry/instrumentation/langchain")),
    ("LangChain callbacks/run managers", ("langchain_core/callbacks", "langchain_core/tracers")),
)
OTHER = "other (app, LangChain runnables, FastAPI, uvicorn)"
ANY = "*"
# standard-library frames that do their own work rather than a call made for their caller
MACHINERY = (
    "/threading.py", "/concurrent/futures/", "/asyncio/", "/selectors.py", "/queue.py",
    "/socketserver.py",
)  # fmt: skip
# stacks that are start-up, not the measured work
STARTUP_MARKERS = ("build_chain (", "create_app (", "_find_and_load (", "setup_peer (")


def _frames(stack: str) -> list[str]:
    return stack.split(";")


def _is_stdlib(frame: str) -> bool:
    where = frame.rpartition(" (")[2]
    if "site-packages" in where or "/llm_instrument/" in where:
        return False
    return where.startswith(("<", ")")) or "/lib/python3" in where


def _group(frames: Sequence[str]) -> str:
    """The group of the innermost frame outside the standard library (self time: a wrapper
    is charged for its own code, not for the application work it calls)."""
    return _decide(frames)[0]


def _decide(frames: Sequence[str]) -> tuple[str, str]:
    """(group, the frame that decided it)."""
    for frame in reversed(frames):
        if frame.startswith("thread ("):
            continue
        if _is_stdlib(frame) and not _named(frame):
            if any(m in frame for m in MACHINERY):
                return OTHER, frame  # a pool's or event loop's own work, not its caller's
            continue
        return _named(frame) or OTHER, frame
    return OTHER, frames[-1]


def by_deciding_frame(
    samples: Iterable[tuple[list[str], int]], group: str
) -> collections.Counter[str]:
    """Self samples (standard-library calls folded in) per deciding frame of ``group``."""
    found: collections.Counter[str] = collections.Counter()
    for frames, count in samples:
        name, frame = _decide(frames)
        if group in (ANY, name):
            found[_short(frame)] += count
    return found


def _named(frame: str) -> str | None:
    for name, patterns in GROUPS:
        if any(p in frame for p in patterns):
            return name
    return None


def read_raw(path: Path, keep: str | None) -> list[tuple[list[str], int]]:
    """py-spy's raw (collapsed) stacks, start-up left out; with ``keep``, only stacks that
    contain it or run outside the main thread (the agent's export and metric threads)."""
    samples = []
    main_thread = None
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = _frames(stack)
        if any(marker in stack for marker in STARTUP_MARKERS):
            continue
        thread = frames[0] if frames[0].startswith("thread (") else None
        if thread is not None and main_thread is None and "<module>" in stack:
            main_thread = thread
        samples.append((frames, int(count)))
    if keep is None:
        return samples
    return [
        (frames, count)
        for frames, count in samples
        if any(keep in f for f in frames) or (frames[0] != main_thread)
    ]


def by_group(samples: Iterable[tuple[list[str], int]]) -> collections.Counter[str]:
    found: collections.Counter[str] = collections.Counter()
    for frames, count in samples:
        found[_group(frames)] += count
    return found


def by_function(samples: Iterable[tuple[list[str], int]], needle: str) -> collections.Counter[str]:
    """Inclusive samples per function whose frame contains ``needle`` (once per stack)."""
    found: collections.Counter[str] = collections.Counter()
    for frames, count in samples:
        for frame in {f for f in frames if needle in f}:
            found[_short(frame)] += count
    return found


def frame_of(short: str) -> str:
    """A ``_short`` frame, back in a form ``_group`` classifies the same way."""
    return short.replace(" (", " (/site-packages/", 1) if "llm_instrument/" not in short else short


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/llm_instrument/", "/lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            if marker == "/llm_instrument/":
                where = "llm_instrument/" + where
            break
    return f"{name} ({where})"


def summarise(
    bare: Path, profiles: Sequence[Path], per: int, per_bare: int, rate: int, keep: str | None
) -> str:
    """A Markdown table: ms per unit in each group, bare and each profile, and the added."""
    base = by_group(read_raw(bare, keep))
    others = [by_group(read_raw(p, keep)) for p in profiles]

    def ms(samples: int, units: int) -> float:
        return samples / rate * 1000 / units

    heads = " | ".join(f"{p.stem} | added" for p in profiles)
    lines = [f"| group | {bare.stem} | {heads} |", "|---" * (2 + 2 * len(profiles)) + "|"]
    names = [name for name, _ in GROUPS] + [OTHER]
    for name in names:
        if not base[name] and not any(o[name] for o in others):
            continue
        cells = [f"{ms(base[name], per_bare):.3f}"]
        for other in others:
            added = ms(other[name], per) - ms(base[name], per_bare)
            cells += [f"{ms(other[name], per):.3f}", f"{added:+.3f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    total = [f"{ms(sum(base.values()), per_bare):.3f}"]
    for other in others:
        added = ms(sum(other.values()), per) - ms(sum(base.values()), per_bare)
        total += [f"{ms(sum(other.values()), per):.3f}", f"{added:+.3f}"]
    lines.append("| **total** | " + " | ".join(total) + " |")
    bare_samples = read_raw(bare, keep)
    for profile in profiles:
        samples = read_raw(profile, keep)
        lines.append("")
        lines.append(f"Largest self-time increases vs bare in {profile.stem} (ms per unit):")
        mine, theirs = by_deciding_frame(samples, ANY), by_deciding_frame(bare_samples, ANY)
        growth = {f: ms(c, per) - ms(theirs.get(f, 0), per_bare) for f, c in mine.items()}
        for frame, extra in sorted(growth.items(), key=lambda kv: -kv[1])[:25]:
            lines.append(f"    {extra:+7.3f}  [{_group([frame_of(frame)])[:24]}] {frame}")
        lines.append(f"Top inclusive frames of `llm_instrument` in {profile.stem} (ms per unit):")
        for frame, count in by_function(samples, "llm_instrument/").most_common(14):
            lines.append(f"    {ms(count, per):7.3f}  {frame}")
        lines.append(f"Top inclusive LangChain callback frames in {profile.stem}:")
        for frame, count in by_function(samples, "langchain_core/callbacks").most_common(8):
            lines.append(f"    {ms(count, per):7.3f}  {frame}")
    return "\n".join(lines)


def _py_spy(out: Path, rate: int) -> list[str]:
    py_spy = BIN / "py-spy"
    if not py_spy.exists():
        raise SystemExit("py-spy not found: pip install py-spy")
    return [
        str(py_spy), "record", "--gil", "--threads", "--full-filenames", "--nolineno",
        "--format", "raw", "--rate", str(rate), "--output", str(out), "--",
    ]  # fmt: skip


def _sink() -> tuple[http.server.ThreadingHTTPServer, str]:
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http_overhead._Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    return sink, f"http://127.0.0.1:{sink.server_address[1]}"


PROFILED = {
    "bare": ((), {}),
    "llm-instrument": ((str(BIN / "llm-instrument"),), {}),
    "llm-instrument-exporter-none": (
        (str(BIN / "llm-instrument"),),
        {"LLM_INSTRUMENT_EXPORTER": "none"},
    ),
}


def profile_invoke(args: argparse.Namespace) -> None:
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sink, endpoint = _sink()
    env = http_overhead._env(endpoint)
    paths = []
    for name, (launcher, extra) in PROFILED.items():
        out = out_dir / f"invoke-{name}.txt"
        mode = "bare" if name == "bare" else "llm-instrument"
        command = [
            *launcher, *_py_spy(out, args.rate), sys.executable,
            str(BENCH / "langchain_overhead.py"), "--child", mode,
            "--iterations", str(args.iterations), "--repeats", "1",
        ]  # fmt: skip
        done = subprocess.run(
            command, env={**env, **extra}, cwd=ROOT, capture_output=True, text=True, timeout=1800
        )
        if done.returncode != 0:
            raise SystemExit(f"{name}: failed\n{done.stderr[-2000:]}")
        print(f"{name}: {done.stdout.strip().splitlines()[-1]}", file=sys.stderr)
        paths.append(out)
    sink.shutdown()
    units = args.iterations + 200  # the child's warm-up invokes are profiled too
    print(summarise(paths[0], paths[1:], units, units, args.rate, "child ("))


def _child_pid(pid: int, timeout_s: float = 60.0) -> int:
    """The program py-spy started (its only child)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("py-spy started no program")


def profile_http(args: argparse.Namespace) -> None:
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sink, endpoint = _sink()
    env = http_overhead._env(endpoint)
    paths = []
    with tempfile.TemporaryDirectory(prefix="llmi-profile-") as tmp:
        for name, (launcher, extra) in PROFILED.items():
            out = out_dir / f"http-{name}.txt"
            mode = http_overhead.Mode(name, (*launcher, *_py_spy(out, args.rate)), extra)
            server = http_overhead.Server(mode, env, Path(tmp))
            try:
                server.wait_ready()
                served = http_overhead._load(server.port, args.warmup, 8)
                load = http_overhead._load(server.port, args.requests, 8)
                if served.errors or load.errors:
                    raise SystemExit(f"{name}: errors {(served.errors + load.errors)[:3]}")
                print(f"{name}: {args.requests / load.elapsed_s:.0f} req/s", file=sys.stderr)
            finally:
                if server.proc.poll() is None:
                    os.kill(_child_pid(server.proc.pid), signal.SIGTERM)
                server.proc.wait(120)
            paths.append(out)
    sink.shutdown()
    units = args.requests + args.warmup
    print(summarise(paths[0], paths[1:], units, units, args.rate, None))


# -- ablation: what each part costs, toggled inside one traced process ------------------------
def _registry_entry(name: str) -> Any:
    from llm_instrument.agent import registry

    return registry._entries[name]


class _Unpatched:
    """A plugin unpatched for the modules it patched (all, or those named ``only``)."""

    def __init__(self, plugin: str, only: str | None = None) -> None:
        self.entry = _registry_entry(plugin)
        self.only = only
        self.modules: list[Any] = []

    def __enter__(self) -> None:
        self.modules = [m for m in self.entry.patched if self.only in (None, m.__name__)]
        for module in self.modules:
            self.entry.plugin.unpatch(module)

    def __exit__(self, *exc: object) -> None:
        for module in self.modules:
            self.entry.plugin.patch(module)


class _Settings:
    """The agent's settings replaced for a while (content capture off)."""

    def __init__(self, **changes: Any) -> None:
        self.changes = changes
        self.saved: Any = None

    def __enter__(self) -> None:
        import dataclasses

        from llm_instrument.agent import config

        self.saved = config.current()
        config.reset(dataclasses.replace(self.saved, **self.changes))

    def __exit__(self, *exc: object) -> None:
        from llm_instrument.agent import config

        config.reset(self.saved)


class _NoMetrics:
    """The GenAI core records into a no-op meter for a while."""

    def __enter__(self) -> None:
        from opentelemetry.metrics import NoOpMeterProvider

        from llm_instrument.genai import metrics

        metrics.use_meter_provider(NoOpMeterProvider())

    def __exit__(self, *exc: object) -> None:
        from llm_instrument.genai import metrics

        metrics.use_meter_provider(None)


class _HandlerIgnores:
    """The LangChain handler skips an event family (``ignore_chain`` ...) for a while."""

    def __init__(self, *names: str) -> None:
        self.names = names

    def __enter__(self) -> None:
        from llm_instrument.instrumentors.langchain import _state

        for name in self.names:
            setattr(type(_state.handler), name, True)

    def __exit__(self, *exc: object) -> None:
        from llm_instrument.instrumentors.langchain import _state

        for name in self.names:
            delattr(type(_state.handler), name)


class _Suppressed:
    """OpenTelemetry's ``suppress_instrumentation``: our wrappers and the core do nothing."""

    def __enter__(self) -> None:
        from opentelemetry.instrumentation.utils import suppress_instrumentation

        self.inner = suppress_instrumentation()
        self.inner.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(None, None, None)


class _Unsampled:
    """The GenAI core's spans are not sampled (non-recording) for a while: what remains is
    the callback path without span data, content or export."""

    def __enter__(self) -> None:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

        from llm_instrument import genai

        genai.configure(tracer_provider=TracerProvider(sampler=ALWAYS_OFF))

    def __exit__(self, *exc: object) -> None:
        from llm_instrument import genai

        genai.configure()


class _Stack:
    def __init__(self, *parts: Any) -> None:
        self.parts = parts

    def __enter__(self) -> None:
        for part in self.parts:
            part.__enter__()

    def __exit__(self, *exc: object) -> None:
        for part in reversed(self.parts):
            part.__exit__(*exc)


def _ablations() -> dict[str, Any]:
    import contextlib

    return {
        "all on": contextlib.nullcontext(),
        "no plugins (langchain, threading off)": _Stack(
            _Unpatched("langchain"), _Unpatched("threading")
        ),
        "langchain plugin off": _Unpatched("langchain"),
        "embedding wrapper off": _Unpatched("langchain", "langchain_core.embeddings.embeddings"),
        "threading plugin off": _Unpatched("threading"),
        "content capture off": _Settings(capture_content=False),
        "GenAI metrics off": _NoMetrics(),
        "handler ignore_chain (loses the chain span)": _HandlerIgnores("ignore_chain"),
        "GenAI spans not sampled": _Unsampled(),
        "suppress_instrumentation": _Suppressed(),
    }


def ablate_child(iterations: int, rounds: int) -> None:
    import json

    from langchain_overhead import build_chain

    chain = build_chain()
    variants = _ablations()
    for i in range(200):
        chain.invoke(f"warm-up {i}")
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for index in range(rounds):
        for name in order if index % 2 == 0 else reversed(order):
            with variants[name]:
                for i in range(20):
                    chain.invoke(f"settle {i}")
                start = time.process_time()
                for i in range(iterations):
                    chain.invoke(f"How long do cats sleep? {i}")
                samples[name].append((time.process_time() - start) / iterations * 1e6)
    from opentelemetry import trace

    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush()
    print(json.dumps(samples))


def ablate(args: argparse.Namespace) -> None:
    import json

    sink, endpoint = _sink()
    rows: dict[str, dict[str, list[float]]] = {}
    for label, extra in (("OTLP", {}), ("exporter none", {"LLM_INSTRUMENT_EXPORTER": "none"})):
        env = {**http_overhead._env(endpoint), **extra}
        command = [
            str(BIN / "llm-instrument"), sys.executable, __file__, "ablate", "--child",
            "--iterations", str(args.iterations), "--rounds", str(args.rounds),
        ]  # fmt: skip
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"ablation failed\n{done.stderr[-3000:]}")
        rows[label] = json.loads(done.stdout.strip().splitlines()[-1])
    sink.shutdown()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "ablate.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(ablation_table(rows))


def ablation_table(rows: dict[str, dict[str, list[float]]]) -> str:
    """Min and median process CPU per invoke of each variant, and what switching it off saved
    against "all on" (min: the least disturbed round; median: the typical one)."""
    import statistics

    labels = list(rows)
    heads = " | ".join(f"{label}: min | median | saved (min, median)" for label in labels)
    lines = [
        f"| variant (process CPU per invoke, us) | {heads} |",
        "|---" * (1 + 3 * len(labels)) + "|",
    ]
    for name in rows[labels[0]]:
        cells = []
        for label in labels:
            low, mid = min(rows[label][name]), statistics.median(rows[label][name])
            full = rows[label]["all on"]
            saved = f"{min(full) - low:+.0f}, {statistics.median(full) - mid:+.0f}"
            cells += [f"{low:.0f}", f"{mid:.0f}", "" if name == "all on" else saved]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- micro: single pieces of the hot path, timed in tight loops --------------------------------
def _best_us(fn: Any, number: int, repeat: int = 7) -> float:
    """The fastest of ``repeat`` loops of ``number`` calls, in microseconds per call."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, time.process_time() - start)
    return best / number * 1e6


def micro_child(number: int) -> None:
    """Runs under ``llm-instrument`` (exporter none, or OTLP to the sink: metrics recorded)."""
    import json
    import uuid

    from langchain_core.callbacks.manager import CallbackManager
    from langchain_core.messages import HumanMessage, SystemMessage

    from llm_instrument import genai
    from llm_instrument.genai import content, metrics
    from llm_instrument.instrumentors.langchain import _state
    from llm_instrument.instrumentors.langchain._extract import chat_inputs

    handler = _state.handler
    question = "How long do cats sleep? " * 4
    docs = "Fact number 3 about cats.\nFact number 7 about cats."
    messages = [[SystemMessage(f"Answer from: {docs}"), HumanMessage(question)]]
    found: dict[str, float] = {}

    def dispatch(handlers: list[Any], name: str) -> Any:
        manager = CallbackManager(handlers=handlers, inheritable_handlers=handlers)

        def run() -> None:
            run_manager = manager.on_chain_start(None, {"question": question}, name=name)
            run_manager.on_chain_end({"output": "Cats sleep a lot."})

        return run

    parent = CallbackManager(handlers=[handler], inheritable_handlers=[handler])
    outer = parent.on_chain_start(None, {"question": question}, name="RunnableSequence")

    def folded_child() -> None:
        child = outer.get_child("seq:step:2")
        run_manager = child.on_chain_start(None, {"question": question}, name="RunnableLambda")
        run_manager.on_chain_end("Cats sleep a lot.")

    def folded_direct() -> None:
        run_id = uuid.uuid4()
        handler.on_chain_start(
            None, {"q": question}, run_id=run_id, parent_run_id=outer.run_id,
            tags=["seq:step:2"], name="RunnableLambda",
        )  # fmt: skip
        handler.on_chain_end("Cats sleep a lot.", run_id=run_id)

    found["LangChain chain run start+end, no handler"] = _best_us(dispatch([], "Chain"), number)
    found["LangChain chain run start+end, our handler (root: CHAIN span)"] = _best_us(
        dispatch([handler], "RunnableSequence"), number
    )
    found["LangChain folded child run via get_child (our handler)"] = _best_us(folded_child, number)
    found["our handler only: folded run start+end"] = _best_us(folded_direct, number)
    found["genai.start_chain + finish (text in/out)"] = _best_us(
        lambda: genai.start_chain("RunnableSequence", inputs=question).finish(outputs="Cats."),
        number,
    )
    inputs = chat_inputs(messages)
    found["extract chat inputs (2 messages)"] = _best_us(lambda: chat_inputs(messages), number)
    found["genai.start_llm + finish (2 messages in, 1 out)"] = _best_us(
        lambda: genai.start_llm(
            genai.Operation.CHAT, provider="fake", model="fake-chat-1", inputs=inputs
        ).finish(outputs="Cats sleep a lot.", finish_reasons=["stop"]),
        number,
    )
    policy = content.policy()
    found["content.messages_json (2 messages)"] = _best_us(
        lambda: content.messages_json(inputs, policy.limit), number
    )
    found["content.redact (100 chars)"] = _best_us(lambda: content.redact(question), number)
    labels = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "fake",
              "gen_ai.request.model": "fake-chat-1"}  # fmt: skip
    usage = genai.Usage(11, 4)
    found["metrics.record_operation (duration + 2 token counts)"] = _best_us(
        lambda: metrics.record_operation(labels, 0, 1000, usage, None, 0), number
    )
    found["metrics.histogram() lookup only"] = _best_us(
        lambda: metrics._genai("gen_ai.client.operation.duration"), number
    )
    print(json.dumps(found))


def micro(args: argparse.Namespace) -> None:
    import json

    sink, endpoint = _sink()
    rows: dict[str, dict[str, float]] = {}
    for label, extra in (("OTLP", {}), ("exporter none", {"LLM_INSTRUMENT_EXPORTER": "none"})):
        env = {**http_overhead._env(endpoint), **extra}
        command = [
            str(BIN / "llm-instrument"), sys.executable, __file__, "micro", "--child",
            "--number", str(args.number),
        ]  # fmt: skip
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"micro failed\n{done.stderr[-3000:]}")
        rows[label] = json.loads(done.stdout.strip().splitlines()[-1])
    sink.shutdown()
    labels = list(rows)
    print("| piece (best of 7 loops, process CPU us per call) | " + " | ".join(labels) + " |")
    print("|---" * (1 + len(labels)) + "|")
    for name in rows[labels[0]]:
        print(f"| {name} | " + " | ".join(f"{rows[label][name]:.1f}" for label in labels) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    small = sub.add_parser("micro")
    small.add_argument("--number", type=int, default=2000)
    small.add_argument("--child", action="store_true")
    cut = sub.add_parser("ablate")
    cut.add_argument("--iterations", type=int, default=150)
    cut.add_argument("--rounds", type=int, default=15)
    cut.add_argument("--child", action="store_true")
    cut.add_argument("--out-dir", default=str(Path(tempfile.gettempdir()) / "llmi-profile"))
    invoke = sub.add_parser("invoke")
    invoke.add_argument("--iterations", type=int, default=3000)
    web = sub.add_parser("http")
    web.add_argument("--requests", type=int, default=1500)
    web.add_argument("--warmup", type=int, default=100)
    for each in (invoke, web):
        each.add_argument("--rate", type=int, default=250)
        each.add_argument("--out-dir", default=str(Path(tempfile.gettempdir()) / "llmi-profile"))
    again = sub.add_parser("summarise")
    again.add_argument("bare", type=Path)
    again.add_argument("profiles", type=Path, nargs="+")
    again.add_argument("--per", type=int, required=True, help="requests or invokes profiled")
    again.add_argument("--per-bare", type=int, default=None)
    again.add_argument("--rate", type=int, default=250)
    again.add_argument("--keep", default=None, help="'child (' for invoke profiles")
    args = parser.parse_args()
    if args.what == "micro":
        if args.child:
            micro_child(args.number)
        else:
            micro(args)
    elif args.what == "ablate":
        if args.child:
            ablate_child(args.iterations, args.rounds)
        else:
            ablate(args)
    elif args.what == "invoke":
        profile_invoke(args)
    elif args.what == "http":
        profile_http(args)
    else:
        per_bare = args.per_bare or args.per
        print(summarise(args.bare, args.profiles, args.per, per_bare, args.rate, args.keep))


if __name__ == "__main__":
    main()

"""Instructions per ``chain.invoke``, counted by valgrind: overhead ratios that do not move
with the machine's load, and where the agent's instructions go.

    .venv/bin/python bench/instructions.py [--small 50] [--large 250] [--rows ROW,...] [--jobs 2]

Needs valgrind (Debian ``valgrind``); the peers' rows need their packages (see
``langchain_overhead.py``) and are skipped without them. Each row runs the
``langchain_overhead`` chain in a child process under ``valgrind --tool=cachegrind
--cache-sim=no``, once for ``small`` and once for ``large`` invokes: the difference over
``large - small`` is the instructions of one invoke, start-up and exit cancelling out.

Why: on this shared 2-core VM the bare invoke's time moved between 1.5 and 2.4 ms in one
day, and the timed ratios by more than a change saves. User-space instructions move less,
though not nothing: the chain's parallel step starts one pool thread or two per invoke
depending on timing (~0.2 M instructions each), so a row moves by a few percent between runs
(bare 6.17-6.59 M over eight). They are not time: they leave out the kernel (the thread
starts above), cache misses and the GIL hand-offs to the export thread, so the timed ratios
of ``run_all.py`` stay the figures the overhead issue asks for; these say roughly what a
change saved and where the instructions go.

Rows (``--rows``, default all):

- ``bare``, ``llm-instrument`` (OTLP to a local receiver, GenAI metrics on: ``run_all``'s
  configuration), ``openinference``, ``openllmetry`` (the peers, same receiver);
- ablations, the agent with spans exported nowhere (``LLM_INSTRUMENT_EXPORTER=none``) and
  one part after another taken away, so consecutive rows differ by one part:
  ``metrics-on`` (the GenAI metrics recorded and sent to the receiver), ``exporter-none``
  (no metrics either), ``no-content`` (``LLM_INSTRUMENT_CAPTURE_CONTENT=false``), ``unsampled``
  (``OTEL_TRACES_SAMPLER=always_off``: the callback path without span data),
  ``handler-noop`` (unsampled, and our callback handler's methods do nothing: what LangChain
  and our wrappers cost), ``no-handler`` (unsampled, no handler added: our wrappers, the
  embedding handle and the threading plugin alone). These two reach into the agent's
  internals (``instrumentors.langchain._state``) and may need updating when they change.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from langchain_overhead import ROOT, build_chain, setup_peer, start_receiver

BIN = Path(sys.executable).parent
OUT = ROOT / "bench" / "results"
PEERS = ("openinference", "openllmetry")
_NONE = {"LLM_INSTRUMENT_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
_UNSAMPLED = {**_NONE, "OTEL_TRACES_SAMPLER": "always_off"}
ROWS: dict[str, dict[str, str] | None] = {
    # row -> the agent's environment (None: no agent)
    "bare": None,
    "llm-instrument": {},
    "openinference": None,
    "openllmetry": None,
    "metrics-on": {"LLM_INSTRUMENT_EXPORTER": "none"},  # metrics to the receiver
    "exporter-none": _NONE,
    "no-content": {**_NONE, "LLM_INSTRUMENT_CAPTURE_CONTENT": "false"},
    "unsampled": _UNSAMPLED,
    "handler-noop": _UNSAMPLED,
    "no-handler": _UNSAMPLED,
}
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def _ablate(row: str) -> None:
    """Take the row's part away inside the traced child (after the chain's imports patched)."""
    if row not in ("handler-noop", "no-handler"):
        return
    from llm_instrument.instrumentors.langchain import _callbacks, _state

    if row == "no-handler":
        _state.handler = None
        return
    handler_class = type(_state.handler)
    for name in vars(_callbacks.TracingCallbacks):
        if name.startswith("on_"):
            setattr(handler_class, name, lambda self, *args, **kwargs: None)


def child(row: str, invokes: int) -> None:
    provider = setup_peer(row) if row in PEERS else None
    chain = build_chain()
    _ablate(row)
    for i in range(invokes):
        chain.invoke(f"How long do cats sleep? {i}")
    if provider is None:
        from opentelemetry import trace

        provider = trace.get_tracer_provider()
    flush = getattr(provider, "force_flush", None)
    if flush is not None:
        flush()


def _agent_environment(base: dict[str, str]) -> dict[str, str]:
    """The environment ``llm-instrument python`` gives the app, so valgrind can run the
    interpreter itself (it would otherwise count the launcher, which ``exec``s it)."""
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    command = [str(BIN / "llm-instrument"), sys.executable, "-c", code]
    done = subprocess.run(command, env=base, capture_output=True, text=True, check=True)
    environment: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return environment


def _instructions(row: str, invokes: int, env: dict[str, str]) -> int:
    command = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, __file__, "--child", row, "--invokes", str(invokes),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    found = _REFS.findall(done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"{row} ({invokes} invokes) failed:\n{done.stderr[-2000:]}")
    return int(found[-1].replace(",", ""))


def _installed(row: str) -> bool:
    module = {"openinference": "openinference.instrumentation.langchain",
              "openllmetry": "opentelemetry.instrumentation.langchain"}.get(row)  # fmt: skip
    if module is None:
        return True
    import importlib.util

    return importlib.util.find_spec(module) is not None


def measure(rows: list[str], small: int, large: int, jobs: int) -> dict[str, float]:
    server, base = start_receiver()
    base["HF_HUB_OFFLINE"] = "1"
    envs: dict[str, dict[str, str]] = {}
    for row in rows:
        agent = ROWS[row]
        if agent is None:
            envs[row] = base
            continue
        envs[row] = _agent_environment({**base, **agent})
    runs = [(row, n) for row in rows for n in (small, large)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        counts = list(pool.map(lambda run: _instructions(run[0], run[1], envs[run[0]]), runs))
    server.shutdown()
    by_run = dict(zip(runs, counts, strict=True))
    return {row: (by_run[(row, large)] - by_run[(row, small)]) / (large - small) for row in rows}


def table(per_invoke: dict[str, float]) -> str:
    bare = per_invoke.get("bare")
    lines = ["| row | instructions per invoke | vs bare | added |", "|---|---|---|---|"]
    for row, count in per_invoke.items():
        ratio = f"{count / bare:.2f}x" if bare else ""
        added = f"+{(count - bare) / 1e6:.2f} M" if bare and row != "bare" else ""
        lines.append(f"| {row} | {count / 1e6:.2f} M | {ratio} | {added} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=50)
    parser.add_argument("--large", type=int, default=250)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--child")
    parser.add_argument("--invokes", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.invokes)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    rows = [row for row in args.rows.split(",") if row]
    unknown = [row for row in rows if row not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows: {', '.join(unknown)} (known: {', '.join(ROWS)})")
    skipped = [row for row in rows if not _installed(row)]
    for row in skipped:
        print(f"{row}: not installed, skipped", file=sys.stderr)
    rows = [row for row in rows if row not in skipped]
    per_invoke = measure(rows, args.small, args.large, args.jobs)
    OUT.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"small": args.small, "large": args.large, "per_invoke": per_invoke}
    (OUT / "instructions.json").write_text(json.dumps(record, indent=1) + "\n")
    text = table(per_invoke)
    (OUT / "instructions.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

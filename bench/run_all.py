"""All four overhead workloads of issue 15, against bare and the peers, three times: one table.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/run_all.py [--times 3] [--only startup,invoke,...]
        [--quick] [--out bench/results/run_all.json]

Each time runs, in turn, ``startup.py`` (start-up of an app importing fastapi, requests and
langchain-core, OTLP export), ``langchain_overhead.py`` (per ``chain.invoke``),
``http_overhead.py`` (FastAPI endpoint running the chain, 400 requests at concurrency 8) and
``transformers_overhead.py`` (``generate()``, 32 tokens, medium model, CPU), each in its own
process, so a slow moment of the machine hits one workload of one time, not one variant.
Every benchmark already compares against bare within its own run; this script takes each
run's ratios and prints their median and min-max over the times, as a Markdown table to
paste into the README, with the targets of the issue. The raw outputs and ratios go to
``--out``.

Peers needed (a missing one is a missing row): ``pip install opentelemetry-distro==0.66b2
openinference-instrumentation-langchain opentelemetry-instrumentation-langchain
opentelemetry-instrumentation-transformers``; their pins agree with ours, so they share the
project's ``.venv``. The generate workload needs the ``local`` extra (torch, transformers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
BENCH_TIMEOUT_S = 3600
INVOKE_MODES = ("bare", "llm-instrument", "openinference", "openllmetry")


@dataclass(frozen=True)
class Row:
    """One line of the final table: a workload's variant and how its ratio is judged."""

    workload: str
    variant: str
    target: str
    check: Callable[[float], bool] | None = None


ROWS = (
    Row("start-up", "llm-instrument (OTLP)", "<= 1.15x", lambda r: r <= 1.15),
    Row("start-up", "llm-instrument (local store)", "<= 1.15x", lambda r: r <= 1.15),
    Row("start-up", "opentelemetry-instrument", "peer"),
    Row("per invoke", "llm-instrument", "<= 1.3x", lambda r: r <= 1.3),
    Row("per invoke", "openinference", "peer"),
    Row("per invoke", "openllmetry", "peer"),
    Row("HTTP req/s", "llm-instrument", ">= 0.8x", lambda r: r >= 0.8),
    Row("HTTP req/s", "opentelemetry-instrument+openinference", "peer"),
    Row("HTTP req/s", "llm-instrument:exporter-none", ""),
    Row("HTTP CPU/request", "llm-instrument", ""),
    Row("HTTP CPU/request", "opentelemetry-instrument+openinference", "peer"),
    Row("HTTP CPU/request", "llm-instrument:exporter-none", ""),
    Row("generate()", "llm-instrument", "<= 1.02x", lambda r: r <= 1.02),
    Row("pipeline", "llm-instrument", ""),
    Row("pipeline", "openllmetry", "peer"),
)


def _run(argv: list[str], timeout: int = BENCH_TIMEOUT_S) -> str:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    started = time.monotonic()
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    took = time.monotonic() - started
    print(f"  {' '.join(Path(a).name if '/' in a else a for a in argv)}: {took:.0f} s", flush=True)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[1]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


# -- the four workloads: each returns {(workload, variant): (ratio, bare figure)} -------------
Ratios = dict[tuple[str, str], tuple[float, str]]


def startup(quick: bool, tmp: Path) -> tuple[Ratios, str]:
    out = tmp / "startup.json"
    runs = "4" if quick else "10"
    text = _run([PYTHON, str(BENCH / "startup.py"), "--runs", runs, "--out", str(out)])
    rows = {row["variant"]: row for row in json.loads(out.read_text())["results"]}
    bare = f"{rows['python']['wall_median_s'] * 1000:.0f} ms"
    names = {
        "llm-instrument": "llm-instrument (OTLP)",
        "llm-instrument (local store)": "llm-instrument (local store)",
        "opentelemetry-instrument": "opentelemetry-instrument",
    }
    found = {
        ("start-up", ours): (rows[theirs]["wall_ratio_to_bare"], bare)
        for theirs, ours in names.items()
        if theirs in rows
    }
    return found, text


def invoke(quick: bool, tmp: Path) -> tuple[Ratios, str]:
    sizes = ["--iterations", "100", "--repeats", "3"] if quick else ["--iterations", "300"]
    if not quick:
        sizes += ["--repeats", "5"]
    text = _run([PYTHON, str(BENCH / "langchain_overhead.py"), *sizes])
    fastest: dict[str, float] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] in INVOKE_MODES:
            fastest[words[0]] = float(words[1])  # the fastest repeat's mean per invoke, us
    if "bare" not in fastest:
        raise RuntimeError(f"langchain_overhead.py printed no bare row:\n{text}")
    bare = fastest.pop("bare")
    found = {("per invoke", m): (us / bare, f"{bare / 1000:.2f} ms") for m, us in fastest.items()}
    return found, text


def http(quick: bool, tmp: Path) -> tuple[Ratios, str]:
    out = tmp / "http.json"
    sizes = ["--requests", "200", "--repeats", "2"] if quick else ["--repeats", "3"]
    text = _run([PYTHON, str(BENCH / "http_overhead.py"), *sizes, "--json", str(out)])
    rows = {row["mode"]: row for row in json.loads(out.read_text())["results"]}
    found: Ratios = {}
    bare_rps = f"{rows['bare']['rps_median']:.0f} req/s"
    bare_cpu = f"{rows['bare'].get('cpu_ms_per_request_median', float('nan')):.2f} ms"
    for mode, row in rows.items():
        if mode == "bare":
            continue
        found[("HTTP req/s", mode)] = (row["rps_ratio"], bare_rps)
        if "cpu_ratio" in row:
            found[("HTTP CPU/request", mode)] = (row["cpu_ratio"], bare_cpu)
    return found, text


def generate(quick: bool, tmp: Path) -> tuple[Ratios, str]:
    out = tmp / "transformers.json"
    rounds = "6" if quick else "20"
    text = _run(
        [PYTHON, str(BENCH / "transformers_overhead.py"), "--rounds", rounds, "--json", str(out)]
    )
    found: Ratios = {}
    for row in json.loads(out.read_text()):
        if row["model"] != "medium":
            continue
        bare = f"{row['bare'] * 1000:.0f} ms"
        workload = "generate()" if row["call"] == "generate" else "pipeline"
        found[(workload, "llm-instrument")] = (row["llm-instrument ratio"], bare)
        if "openllmetry ratio" in row:
            found[(workload, "openllmetry")] = (row["openllmetry ratio"], bare)
    return found, text


WORKLOADS: dict[str, Callable[[bool, Path], tuple[Ratios, str]]] = {
    "startup": startup,
    "invoke": invoke,
    "http": http,
    "generate": generate,
}


# -- the table -------------------------------------------------------------------------------
def _number(text: str) -> float:
    """The figure at the start of "1397 ms", "380 req/s"."""
    try:
        return float(text.split()[0])
    except (ValueError, IndexError):
        return float("nan")


def table(times: list[Ratios]) -> tuple[str, list[dict[str, Any]]]:
    lines = [
        "| workload | variant | bare (median) | ratio to bare, median (min-max) | target | met |",
        "|---|---|---|---|---|---|",
    ]
    rows: list[dict[str, Any]] = []
    for row in ROWS:
        key = (row.workload, row.variant)
        found = [t[key] for t in times if key in t]
        if not found:
            continue
        ratios = [ratio for ratio, _ in found]
        median = statistics.median(ratios)
        bares = [bare for _, bare in found]
        bare = sorted(bares, key=_number)[len(bares) // 2]
        met = "" if row.check is None else ("yes" if row.check(median) else "no")
        lines.append(
            f"| {row.workload} | {row.variant} | {bare} | {median:.2f}x "
            f"({min(ratios):.2f}-{max(ratios):.2f}) | {row.target} | {met} |"
        )
        rows.append(
            {
                "workload": row.workload,
                "variant": row.variant,
                "ratio_median": round(median, 3),
                "ratios": [round(r, 3) for r in ratios],
                "bare": bares,
                "target": row.target,
                "met": met,
            }
        )
    return "\n".join(lines), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=3, help="runs of every workload")
    parser.add_argument("--only", default=",".join(WORKLOADS), help=", ".join(WORKLOADS))
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the script")
    parser.add_argument("--out", default=str(BENCH / "results" / "run_all.json"))
    parser.add_argument("--reprint", help="print the table of a saved --out file and stop")
    args = parser.parse_args()
    if args.reprint:
        saved = json.loads(Path(args.reprint).read_text())
        again: list[Ratios] = [
            {
                (row["workload"], row["variant"]): (row["ratios"][i], row["bare"][i])
                for row in saved["table"]
                if i < len(row["ratios"])
            }
            for i in range(saved["times"])
        ]
        print(table(again)[0])
        return 0
    chosen = args.only.split(",")
    unknown = sorted(set(chosen) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; known: {', '.join(WORKLOADS)}")

    started = time.monotonic()
    times: list[Ratios] = []
    outputs: list[dict[str, str]] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="llmi-run-all-") as tmp:
        for index in range(args.times):
            print(f"time {index + 1}/{args.times}", flush=True)
            ratios: Ratios = {}
            texts: dict[str, str] = {}
            for name in chosen:
                try:
                    found, text = WORKLOADS[name](args.quick, Path(tmp))
                except (RuntimeError, subprocess.TimeoutExpired, KeyError, ValueError) as exc:
                    failures.append(f"{name} (time {index + 1}): {exc}")
                    print(f"  {name} failed: {str(exc)[:2000]}", file=sys.stderr, flush=True)
                    continue
                ratios.update(found)
                texts[name] = text
            times.append(ratios)
            outputs.append(texts)

    markdown, rows = table(times)
    load = os.getloadavg()
    print()
    print(markdown)
    print()
    print(
        f"(`HF_HUB_OFFLINE=1 .venv/bin/python bench/run_all.py{' --quick' if args.quick else ''}`:"
        f" median of {args.times} runs, min-max across them; {os.cpu_count()} CPUs, load average"
        f" {load[0]:.1f} at the end, {time.monotonic() - started:.0f} s in all)"
    )
    result = {
        "benchmark": "run_all",
        "times": args.times,
        "quick": args.quick,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average": list(load),
        "seconds": round(time.monotonic() - started),
        "table": rows,
        "failures": failures,
        "outputs": outputs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Starting real processes under the launcher, as a user would, for the tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
LAUNCHER = shutil.which("llm-instrument", path=str(VENV_BIN)) or "llm-instrument"
CHECKOUT = Path(__file__).resolve().parents[2]


def _with_checkout(pythonpath: str) -> str:
    """Tests run with this checkout on ``PYTHONPATH`` (a worktree beside the venv's editable
    install) start their processes with it too, after the test's own folders, so they test
    this checkout's agent; otherwise no ``PYTHONPATH`` is inherited."""
    if str(CHECKOUT) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        return pythonpath
    return os.pathsep.join(p for p in (pythonpath, str(CHECKOUT)) if p)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def agent_env(receiver_endpoint: str | None = None, **extra: str) -> dict[str, str]:
    """A clean environment for a traced process: fast export, no inherited agent settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "LLM_INSTRUMENT_")) and k != "PYTHONPATH"
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["OTEL_BSP_SCHEDULE_DELAY"] = "200"
    env["OTEL_METRIC_EXPORT_INTERVAL"] = "1000"
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    if receiver_endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver_endpoint
    env.update(extra)
    pythonpath = _with_checkout(env.pop("PYTHONPATH", ""))
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def run_traced(
    args: Sequence[str],
    env: Mapping[str, str],
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``llm-instrument ARGS...`` to completion, output captured."""
    return subprocess.run(
        [LAUNCHER, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"process exited with {proc.returncode} before serving:\n{out}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} not up after {timeout}s")


@contextmanager
def serve(
    args: Sequence[str],
    env: Mapping[str, str],
    ready_url: str,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> Iterator[subprocess.Popen[str]]:
    """Start a long-running traced server, wait until ``ready_url`` answers, stop it after."""
    proc = subprocess.Popen(
        [LAUNCHER, *args],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_http(ready_url, timeout, proc)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str], timeout: float = 15.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(5)


def get(url: str, timeout: float = 30.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bytes(response.read())

"""A real Prometheus server and ``promtool`` for the tests (Debian's ``prometheus`` package).

``prometheus_server(targets)`` starts ``prometheus`` with a config of its own scraping the
given ``host:port`` targets every second, a temporary TSDB directory, and
``--web.listen-address`` on a free 127.0.0.1 port; it waits for ``/-/ready`` and stops the
server after. Reads go through its HTTP API: ``/api/v1/targets`` (health and last scrape
error per target) and ``/api/v1/query`` (instant vectors). ``promtool_check_metrics`` runs
``promtool check metrics`` (the exposition linter: base units, ``_total`` suffixes, help).

``test.sh`` and ``.ci/run`` install the package when ``promtool`` is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.processes import free_port, stop


def binary(name: str) -> str:
    """``prometheus`` or ``promtool`` from PATH; AssertionError naming the fix if missing."""
    found = shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} not found: run ./test.sh once (apt-get install prometheus)")
    return found


def promtool_check_metrics(text: str) -> tuple[bool, str]:
    """Lint an exposition text as ``promtool check metrics`` does: (passed, its output).

    promtool exits 0 when clean, 3 on lint problems (e.g. a non-base unit) and 1 when the
    text does not parse; the output names each problem."""
    done = subprocess.run(
        [binary("promtool"), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode == 0, (done.stdout + done.stderr).strip()


class Prometheus:
    """A running Prometheus: its URL and API helpers."""

    def __init__(self, port: int, proc: subprocess.Popen[str], log: Path) -> None:
        self.port = port
        self.proc = proc
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _api(self, path: str, **params: str) -> Any:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=30) as response:
            answer = json.loads(response.read())
        if answer.get("status") != "success":
            raise AssertionError(f"Prometheus {path}: {answer}")
        return answer["data"]

    def targets(self) -> list[dict[str, Any]]:
        """Active targets: ``{"scrapeUrl", "health" ("up"/"down"/"unknown"), "lastError",
        "lastScrape", "labels"}`` each, as Prometheus reports them."""
        active: list[dict[str, Any]] = self._api("targets", state="active")["activeTargets"]
        return active

    def wait_for_scrapes(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until every target has been scraped at least once (health no longer
        ``unknown``); return the targets, whatever their health."""
        deadline = time.monotonic() + timeout
        while True:
            targets = self.targets()
            if targets and all(t["health"] != "unknown" for t in targets):
                return targets
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"targets never scraped: {targets}\n{self._log_tail()}")
            time.sleep(0.3)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query: ``[{"metric": {label: value}, "value": float}]`` (vector results;
        a scalar comes back as one entry with no labels)."""
        data = self._api("query", query=expr)
        if data["resultType"] == "vector":
            return [{"metric": r["metric"], "value": float(r["value"][1])} for r in data["result"]]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": float(data["result"][1])}]
        raise AssertionError(f"unexpected result type {data['resultType']} for {expr!r}")

    def value(self, expr: str) -> float | None:
        """The single value of ``expr`` (e.g. a ``sum(...)``); None when it has no series."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) > 1:
            raise AssertionError(f"{expr!r} has {len(result)} series: {result}")
        return float(result[0]["value"])

    def wait_for_value(
        self, expr: str, done: Callable[[float | None], bool], timeout: float = 30.0
    ) -> float | None:
        """Poll ``value(expr)`` until ``done(value)`` holds (scrapes come every second);
        return the last value read even if it never held, so the test's assert shows it."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.value(expr)
            if done(value) or time.monotonic() > deadline:
                return value
            time.sleep(0.3)

    def _log_tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""


def _config(targets: Sequence[str], metrics_path: str, interval: str) -> str:
    # JSON is YAML: no YAML writer needed
    return json.dumps(
        {
            "global": {"scrape_interval": interval, "scrape_timeout": interval},
            "scrape_configs": [
                {
                    "job_name": "app",
                    "metrics_path": metrics_path,
                    "static_configs": [{"targets": list(targets)}],
                }
            ],
        }
    )


@contextmanager
def prometheus_server(
    targets: Sequence[str],
    metrics_path: str = "/metrics",
    interval: str = "1s",
    timeout: float = 60.0,
) -> Iterator[Prometheus]:
    """Start Prometheus scraping ``targets`` (``"127.0.0.1:PORT"`` each) at ``metrics_path``
    every ``interval``; wait until ready (at most ``timeout`` s); stop it after."""
    executable = binary("prometheus")
    with tempfile.TemporaryDirectory(prefix="prometheus-") as workdir:
        config = Path(workdir) / "prometheus.yml"
        config.write_text(_config(targets, metrics_path, interval))
        port = free_port()
        log = Path(workdir) / "server.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [
                    executable,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={Path(workdir) / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        server = Prometheus(port, proc, log)
        try:
            _wait_ready(server, timeout)
            yield server
        finally:
            stop(proc)


def _wait_ready(server: Prometheus, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            code = server.proc.returncode
            raise AssertionError(f"prometheus exited {code}:\n{server._log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"prometheus not ready after {timeout}s:\n{server._log_tail()}")

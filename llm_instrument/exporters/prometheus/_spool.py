"""The spool directory shared by the serving process and its workers.

- Each worker writes one file, ``w-<pid>-<random>.json`` (the random part makes a reused PID
  a new name), in place, and holds a shared ``flock`` on it for its whole life; the lock goes
  with the process, however it ends (SIGKILL included).
- The server finds a dead worker by taking that lock: it folds the worker's last counters and
  histograms into one retired record it keeps in memory, and deletes the file. Up-down
  counters and gauges of a dead worker are dropped. So the directory holds one file per live
  worker and nothing grows with the number of worker lifetimes.
- Reads are cached by (mtime, size): a scrape parses only the files that changed. A file is
  ``<length>\\n<json>``; a read that catches a write half done keeps the previous parse.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from typing import Any

from llm_instrument.exporters.prometheus._records import Record

try:
    import fcntl
except ImportError:  # not POSIX: every worker counts as alive, nothing is folded
    fcntl = None  # type: ignore[assignment]


class WorkerFile:
    """This process's spool file, locked for as long as the process lives."""

    def __init__(self, spool: str) -> None:
        self.path = os.path.join(spool, f"w-{os.getpid()}-{secrets.token_hex(4)}.json")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH)

    def write(self, records: list[Record]) -> None:
        body = json.dumps(records, separators=(",", ":")).encode()
        data = b"%d\n%s" % (len(body), body)
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))

    def close_inherited(self) -> None:
        """In a forked child: let go of the parent's descriptor (the lock stays the
        parent's while the parent lives)."""
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _parse(data: bytes) -> list[Record] | None:
    head, sep, body = data.partition(b"\n")
    if not sep or not head.isdigit() or int(head) > len(body):
        return None
    try:
        parsed = json.loads(body[: int(head)])
    except ValueError:
        return None
    return parsed if isinstance(parsed, list) else None


def _is_dead(path: str) -> bool:
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its writer holds the lock: alive
    finally:
        os.close(fd)
    return True


class SpoolReader:
    """The server's view of the spool: live workers' records, and the dead folded."""

    def __init__(self, spool: str) -> None:
        self.spool = spool
        self.retired: list[Record] = []
        self._cache: dict[str, tuple[int, int, list[Record]]] = {}

    def _read(self, path: str, stat: os.stat_result) -> list[Record] | None:
        cached = self._cache.get(path)
        if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return cached[2]
        try:
            with open(path, "rb") as handle:
                records = _parse(handle.read())
        except OSError:
            records = None
        if records is None:
            return cached[2] if cached is not None else None
        self._cache[path] = (stat.st_mtime_ns, stat.st_size, records)
        return records

    def live(self, fold: Any) -> list[list[Record]]:
        """Every live worker's records, oldest write first; dead ones are passed to
        ``fold(records)`` and removed."""
        found: list[tuple[int, list[Record]]] = []
        try:
            entries = list(os.scandir(self.spool))
        except OSError:
            return []
        for entry in entries:
            if not (entry.name.startswith("w-") and entry.name.endswith(".json")):
                continue
            try:
                stat = entry.stat()
            except OSError:
                continue
            records = self._read(entry.path, stat)
            if _is_dead(entry.path):
                # its last write came before it died: read it afresh, not from the cache
                self._cache.pop(entry.path, None)
                final = self._read(entry.path, os.stat(entry.path)) or records
                self._cache.pop(entry.path, None)
                if final:
                    fold(final)
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                continue
            if records:
                found.append((stat.st_mtime_ns, records))
        found.sort(key=lambda item: item[0])
        return [records for _, records in found]

"""A parent that starts two child Python processes: subprocess.run and multiprocessing spawn."""

import multiprocessing
import os
import subprocess
import sys

from opentelemetry import trace


def child(kind: str) -> None:
    with trace.get_tracer("tests.apps.children").start_as_current_span(f"child-{kind}"):
        pass
    print(f"child {kind} pid={os.getpid()}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        child(sys.argv[1])
        sys.exit(0)
    with trace.get_tracer("tests.apps.children").start_as_current_span("parent"):
        subprocess.run([sys.executable, __file__, "subprocess"], check=True)
        process = multiprocessing.get_context("spawn").Process(target=child, args=("spawn",))
        process.start()
        process.join(60)
        assert process.exitcode == 0, process.exitcode
    print(f"parent pid={os.getpid()}", flush=True)

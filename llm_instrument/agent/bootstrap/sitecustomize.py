"""The agent's bootstrap: Python runs this at start-up because the launcher (or the
Kubernetes injection) puts this folder first on ``PYTHONPATH``.

It stays on ``PYTHONPATH`` so child Python processes (uvicorn workers and reloaders,
multiprocessing spawn, ``subprocess.run([sys.executable, ...])``) are traced too. It only
starts the agent, then runs the ``sitecustomize`` the application already had. It must
never raise: the application starts whatever happens here.
"""

import gc
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _start_agent() -> None:
    # In Kubernetes the agent's packages sit in their own folder, appended after
    # site-packages so they never shadow the application's own versions.
    agent_site = os.environ.get("LLM_INSTRUMENT_AGENT_SITE")
    if agent_site and agent_site not in sys.path:
        sys.path.append(agent_site)
    try:
        from llm_instrument.agent import startup
    except ImportError as exc:
        hint = ""
        ours = os.environ.get("LLM_INSTRUMENT_LAUNCHER_PYTHON")  # envvars.LAUNCHER_PYTHON
        if ours and os.path.abspath(ours) != os.path.abspath(sys.executable):
            # e.g. a system "python" found on PATH instead of the venv's
            hint = f" (llm-instrument is installed for {ours}: run the app with that Python)"
        sys.stderr.write(f"llm-instrument: agent not started in {sys.executable}: {exc}{hint}\n")
        return
    startup.initialize()


def _run_app_sitecustomize() -> None:
    """Import the next ``sitecustomize`` on the path, as if ours were not there."""
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    ours = sys.modules.pop("sitecustomize", None)
    try:
        import sitecustomize  # noqa: F401 - the application's own, if any
    except ImportError as exc:
        if exc.name != "sitecustomize":
            raise
        if ours is not None:
            sys.modules["sitecustomize"] = ours


def _start_agent_without_collections() -> None:
    """The agent's start-up allocates some 20,000 long-lived objects (modules, classes) and
    no garbage worth collecting. Left to run, the collector makes ~70 young collections of
    them, which moves its generation counters ahead of where a bare start leaves them: the
    application's import phase then reaches an extra full collection of its whole heap
    (60 ms in a fastapi + langchain-core app, more than all our start-up imports). With
    collections paused here, the counters stand where a bare start leaves them; the end of
    start-up collects the young generation once and freezes what is left (``startup``,
    unless ``LLM_INSTRUMENT_GC_FREEZE=false``), and the collector is back on before the
    application's first line."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        _start_agent()
    finally:
        if enabled:
            gc.enable()


try:
    _start_agent_without_collections()
except Exception as exc:  # noqa: BLE001 - the application must start regardless
    sys.stderr.write(f"llm-instrument: agent not started: {exc!r}\n")
_run_app_sitecustomize()

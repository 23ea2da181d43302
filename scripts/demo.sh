#!/usr/bin/env bash
# `make demo`: start the bundled emulator, print the dry-run plan of the split-and-retry example (250,000
# OpenAI requests: its export, dry run and budget check run, its submit and report do not), then run the
# nightly example DAG end to end with `airflow dags test` on SQLite, print where the results are and the
# manifest, and stop the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"
DEMO="$ROOT/.demo"
rm -rf "$DEMO" && mkdir -p "$DEMO"

export AIRFLOW_HOME="$DEMO/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags_examples"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export GENAI_BATCH_EXAMPLES_DIR="$DEMO/data"
export GENAI_BATCH_POLL_INTERVAL=1

PORT=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN/python" -m airflow_provider_genai_batch.testing.emulator --port "$PORT" \
    --pending-seconds 1 --running-seconds 2 --api-key demo-key >"$DEMO/emulator.log" 2>&1 &
EMULATOR_PID=$!
trap 'kill $EMULATOR_PID 2>/dev/null || true' EXIT
"$BIN/python" - "$PORT" <<'PY'
import sys, time, urllib.request
for _ in range(120):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_emulator/health", timeout=1)
        break
    except OSError:
        time.sleep(0.25)
else:
    sys.exit("the emulator did not start; see .demo/emulator.log")
PY
echo "emulator on http://127.0.0.1:$PORT (log: $DEMO/emulator.log)"

export AIRFLOW_CONN_GEMINI_BATCH_DEFAULT="{\"conn_type\": \"genaigemini\", \"host\": \"http://127.0.0.1:$PORT\", \"password\": \"demo-key\"}"
export AIRFLOW_CONN_OPENAI_BATCH_DEFAULT="{\"conn_type\": \"genaiopenai\", \"host\": \"http://127.0.0.1:$PORT/openai/v1\", \"password\": \"demo-key\"}"
DAY=2026-11-20
"$BIN/airflow" db migrate >"$DEMO/db-migrate.log" 2>&1

# The dry run: what the split-and-retry example would send, and its estimated input cost, before paying.
"$BIN/airflow" dags test genai_batch_split_and_retry "$DAY" --mark-success-pattern '^(submit|report)$' \
    >"$DEMO/dry-run.log" 2>&1 || {
    tail -n 60 "$DEMO/dry-run.log"; echo "dry run failed; full log: $DEMO/dry-run.log"; exit 1;
}
PLAN=$(ls "$GENAI_BATCH_EXAMPLES_DIR"/split_and_retry/"$DAY"/*/plan.txt)
echo
echo "dry run of genai_batch_split_and_retry (log: $DEMO/dry-run.log; plan: $PLAN):"
cat "$PLAN"
"$BIN/python" - "$PORT" <<'PY'
import json, sys, urllib.request
log = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_emulator/requests"))["requests"]
print(f"API requests the emulator received during the dry run: {len(log)}")
PY
echo
"$BIN/airflow" dags test genai_batch_gemini_nightly "$DAY" >"$DEMO/dags-test.log" 2>&1 || {
    tail -n 60 "$DEMO/dags-test.log"; echo "demo DAG failed; full log: $DEMO/dags-test.log"; exit 1;
}

# Each run writes to <run day>/<run id> (dags_examples/_runs.py): find this run's folder.
RESULTS_DIR=$(ls -d "$GENAI_BATCH_EXAMPLES_DIR"/gemini_nightly/"$DAY"/*/results)
echo
echo "DAG genai_batch_gemini_nightly ran green for $DAY (log: $DEMO/dags-test.log)"
echo "results:  $RESULTS_DIR/results.jsonl ($(wc -l <"$RESULTS_DIR/results.jsonl") rows)"
echo "manifest: $RESULTS_DIR/manifest.json"
cat "$RESULTS_DIR/manifest.json"
echo
echo "first result row:"
head -n 1 "$RESULTS_DIR/results.jsonl"

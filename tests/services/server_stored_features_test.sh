#!/usr/bin/env bash
# Stored features through the real server: PutUsers / PutItems, then Decide
# and an exploring Recommend naming stored attributes (a user updated between
# two decisions); the live log, read by `recbandit export` beside the running
# server, holds each decision's values as they were at its time, and
# EvaluatePolicy replays a policy over those logged values.
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init

make_python_stubs "$work/stubs"
start_server "$work/out" "$work/err" --demo --data_dir="$work/data"
echo "server on port $port"
CLIENT="$SRC/tests/services/stored_features_client.py"
"$PY" "$CLIENT" decide "127.0.0.1:$port" "$work/stubs"
"$BIN" export --data_dir="$work/data" --experiment=stored --format=jsonl --out="$work/log.jsonl"
"$PY" "$CLIENT" log "$work/log.jsonl"
stop_server "$work/err"
echo "PASS"

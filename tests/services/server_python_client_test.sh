#!/usr/bin/env bash
# Starts `recbandit serve --demo` (the README's run command) on a free port and
# checks it with an independent Python client (Debian's python3-grpcio,
# tests/services/python_client.py): every rpc, the error codes, the metrics
# endpoint; then SIGTERM stops it cleanly (exit 0).
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init

make_python_stubs "$work/stubs"
start_server "$work/out" "$work/err" --demo --metrics_port=-1 --data_dir="$work/data"
metrics="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics_port"])' "$work/out")"
echo "server on port $port, metrics on $metrics"

"$PY" "$SRC/tests/services/python_client.py" "127.0.0.1:$port" "$work/stubs" "$metrics"

stop_server "$work/err"
cat "$work/err"
echo "PASS"

#!/usr/bin/env bash
# Starts `recbandit serve --demo` (the README's run command) on a free port and
# checks it with an independent Python client (Debian's python3-grpcio,
# tests/services/python_client.py): every rpc, the error codes, the metrics
# endpoint; then SIGTERM stops it cleanly (exit 0).
set -euo pipefail
BIN="${RECBANDIT_BINARY:?}"
SRC="${RECBANDIT_SOURCE_DIR:?}"
PY=/usr/bin/python3
work="$(mktemp -d)"
trap 'kill -9 "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

# Stubs from our proto/ and from grpc-proto's health and reflection protos
# (copied flat, so their modules do not shadow the installed `grpc` package).
mkdir -p "$work/stubs/proto" "$work/extra"
cp /usr/share/grpc-proto/grpc/health/v1/health.proto "$work/extra/health.proto"
cp /usr/share/grpc-proto/grpc/reflection/v1alpha/reflection.proto "$work/extra/reflection.proto"
"$PY" -m grpc_tools.protoc -I"$SRC" -I"$work/extra" \
  --python_out="$work/stubs" --grpc_python_out="$work/stubs" \
  "$SRC"/proto/*.proto "$work/extra/health.proto" "$work/extra/reflection.proto"
touch "$work/stubs/proto/__init__.py"
cp "$SRC/tests/services/grpc_reflection_stubs.py" "$work/stubs/"

"$BIN" serve --demo --port=0 --metrics_port=-1 --data_dir="$work/data" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 600); do
  grep -q '"port"' "$work/out" 2>/dev/null && break
  sleep 0.1
done
port="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/out")"
metrics="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics_port"])' "$work/out")"
echo "server on port $port, metrics on $metrics"

"$PY" "$SRC/tests/services/python_client.py" "127.0.0.1:$port" "$work/stubs" "$metrics"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
cat "$work/err"
if [ "$status" -ne 0 ]; then
  echo "FAIL: serve exited with $status after SIGTERM" >&2
  exit 1
fi
grep -q "stopped" "$work/err"
echo "PASS"

#!/usr/bin/env bash
# Starts `recbandit serve --demo` on a free port and checks it with an
# independent Node.js client (@grpc/grpc-js and @grpc/proto-loader from npm,
# cached under $RECBANDIT_BUILD_DIR/node_client; tests/services/node_client.js):
# health, Recommend, a Train job watched to its end, PutEvents, Decide, Reward,
# EvaluatePolicy and error codes; then SIGTERM stops it cleanly (exit 0).
set -euo pipefail
BIN="${RECBANDIT_BINARY:?}"
SRC="${RECBANDIT_SOURCE_DIR:?}"
BUILD="${RECBANDIT_BUILD_DIR:?}"
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL: '$tool' not found; install Node.js and npm (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
done
work="$(mktemp -d)"
trap 'kill -9 "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

# The npm packages, installed once into the build tree.
cache="$BUILD/node_client"
if [ ! -f "$cache/node_modules/@grpc/grpc-js/package.json" ] ||
   [ ! -f "$cache/node_modules/@grpc/proto-loader/package.json" ]; then
  mkdir -p "$cache"
  echo '{"name": "recbandit-node-client", "private": true}' >"$cache/package.json"
  (cd "$cache" && npm install --no-audit --no-fund --silent \
    @grpc/grpc-js@1 @grpc/proto-loader@0)
fi

"$BIN" serve --demo --port=0 --metrics_port=0 --data_dir="$work/data" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 600); do
  grep -q '"port"' "$work/out" 2>/dev/null && break
  sleep 0.1
done
if ! grep -q '"port"' "$work/out"; then
  cat "$work/err" >&2
  echo "FAIL: serve printed no port" >&2
  exit 1
fi
port="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).port)' "$work/out")"
echo "server on port $port"

NODE_PATH="$cache/node_modules" node "$SRC/tests/services/node_client.js" "127.0.0.1:$port" "$SRC"

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

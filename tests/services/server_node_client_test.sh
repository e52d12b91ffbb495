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

PY=/usr/bin/python3
source "$SRC/tests/services/server_harness.sh"
start_server "$work/out" "$work/err" --demo --metrics_port=0 --data_dir="$work/data"
echo "server on port $port"

NODE_PATH="$cache/node_modules" node "$SRC/tests/services/node_client.js" "127.0.0.1:$port" "$SRC" "$work/data"

stop_server "$work/err"
cat "$work/err"
echo "PASS"

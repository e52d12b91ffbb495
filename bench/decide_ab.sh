#!/usr/bin/env bash
# Decide throughput on the demo experiment (`demo_layout`: epsilon-greedy and
# Thompson variants, a UCB1 shadow, every decision fsynced before its reply),
# one or more server binaries alternating round by round so a shared, noisy
# machine affects each alike. Each run starts `serve --demo` on a fresh data
# directory, drives it with `recbandit loadtest --rpc=decide` (the load
# generator runs on the same cores: say so beside the figures) and prints
# one line: binary, QPS, p50 and p99 ms, errors.
#
#   bench/decide_ab.sh [binary ...]                   # default: build/recbandit
#   ROUNDS=4 CONCURRENCY=64 DURATION=6 bench/decide_ab.sh /tmp/before build/recbandit
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
CONCURRENCY="${CONCURRENCY:-64}"
DURATION="${DURATION:-6}"
PORT="${PORT:-50091}"
LOADTEST="${LOADTEST:-$ROOT/build/recbandit}"
[ $# -gt 0 ] || set -- "$ROOT/build/recbandit"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for round in $(seq "$ROUNDS"); do
  for bin in "$@"; do
    rm -rf "$work/data"
    "$bin" serve --demo --port="$PORT" --data_dir="$work/data" >"$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do  # until the demo is loaded and serving
      grep -q "recbandit serving on" "$work/server.log" 2>/dev/null && break
      sleep 0.1
    done
    "$LOADTEST" loadtest --target="127.0.0.1:$PORT" --rpc=decide --experiment=demo_layout \
      --concurrency="$CONCURRENCY" --duration_s="$DURATION" 2>/dev/null |
      tail -n 1 | /usr/bin/python3 -c "
import json, sys
r = json.loads(sys.stdin.read())
print('round $round', '$bin', 'qps %.0f' % r['qps'], 'p50 %.2f ms' % r['p50_ms'],
      'p99 %.2f ms' % r['p99_ms'], 'errors %d' % r['errors'])"
    kill "$server"
    wait "$server" || true
  done
done

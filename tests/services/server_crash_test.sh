#!/usr/bin/env bash
# Crash durability of `recbandit serve`: under Decide+Reward load from 8 Python
# client threads (tests/services/crash_client.py, Debian's python3-grpcio) the
# server is killed with SIGKILL, restarted on the same --data_dir and checked:
# the restored policy_version lies between the acknowledged and the attempted
# rewards, and after a clean SIGTERM stop (exit 0) `recbandit export
# --format=jsonl` holds every acknowledged decision and reward, with exactly as
# many rewards as the restored policy learned (latest snapshot + journal
# replay). Two crash/restart rounds on one data dir.
set -euo pipefail
BIN="${RECBANDIT_BINARY:?}"
SRC="${RECBANDIT_SOURCE_DIR:?}"
: "${RECBANDIT_BUILD_DIR:=}"
PY=/usr/bin/python3
CLIENT="$SRC/tests/services/crash_client.py"
ROUNDS=2
work="$(mktemp -d)"
pid=""
client_pid=""
trap 'kill -9 ${client_pid:-} ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT

source "$SRC/tests/services/server_harness.sh"
mkdir -p "$work/records"
make_python_stubs "$work/stubs"

starts=0
# The harness's start/stop with one stdout/stderr pair per start.
start_next() {
  starts=$((starts + 1))
  start_server "$work/out.$starts" "$work/err.$starts" --data_dir="$work/data"
  echo "server start $starts: pid $pid, port $port"
}

start_next
for round in $(seq 1 "$ROUNDS"); do
  # Load, then kill -9 while it is still running.
  "$PY" "$CLIENT" load "127.0.0.1:$port" "$work/stubs" "$work/records" "$round" &
  client_pid=$!
  load_start_us=${EPOCHREALTIME/./}
  for _ in $(seq 1 3000); do   # up to 300 s for the first acknowledged rewards
    [ -e "$work/records/ready.$round" ] &&
      [ $((${EPOCHREALTIME/./} - load_start_us)) -ge 2000000 ] && break
    kill -0 "$client_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! kill -0 "$client_pid" 2>/dev/null || [ ! -e "$work/records/ready.$round" ]; then
    echo "FAIL: round $round: the load ended or stalled before the kill" >&2
    cat "$work/err.$starts" >&2
    exit 1
  fi
  touch "$work/records/killed.$round"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  echo "round $round: server killed with SIGKILL after $(((${EPOCHREALTIME/./} - load_start_us) / 1000)) ms of load"
  pid=""
  status=0
  wait "$client_pid" || status=$?
  client_pid=""
  if [ "$status" -ne 0 ]; then
    echo "FAIL: round $round: load client failed ($status)" >&2
    exit 1
  fi

  # Restart on the same data dir and check what it restored.
  start_next
  "$PY" "$CLIENT" verify "127.0.0.1:$port" "$work/stubs" "$work/records" "$round" \
    "$work/verify.$round.json"
  # A clean stop (final snapshot) before the export; the next round then
  # also starts from a shutdown snapshot.
  stop_server "$work/err.$starts"
  cat "$work/err.$starts"
  "$BIN" export --data_dir="$work/data" --experiment=crash --format=jsonl \
    --out="$work/export.$round.jsonl"
  "$PY" "$CLIENT" check "$work/records" "$work/export.$round.jsonl" "$work/verify.$round.json"
  if [ "$round" -lt "$ROUNDS" ]; then
    start_next
  fi
done
echo "PASS"

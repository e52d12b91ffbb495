#!/usr/bin/env bash
# Soak: `recbandit serve --demo` under mixed load for SOAK_SECONDS (default
# 600), in cycles of CYCLE_SECONDS (default 60) that each end in kill -9 and a
# restart on the same data dir. During a cycle, at once:
#   - tests/services/crash_client.py: 8 threads of Decide -> Reward on the
#     experiment "crash", every attempt and acknowledgement recorded (fsynced);
#   - `recbandit loadtest --rpc=mixed` (Recommend + Decide), one run per cycle;
#   - a side client: ActivateModel hot swaps between the demo versions, a
#     Train job now and then, PutEvents batches;
#   - the server's RSS sampled every 2 s.
# At the end the server stops cleanly, `recbandit export` is checked against
# the records (every acknowledged decision and reward present: 0 lost), and
# one JSON line reports errors outside kill windows, lost events, cycles and
# RSS over time (growth over the last half of the run).
#
#   bench/soak.sh [build dir]        (SOAK_SECONDS=600 CYCLE_SECONDS=60)
# SOAK_RSS_OUT=<file> keeps the RSS samples ("cycle seconds rss_kb" lines).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
BIN="$BUILD/recbandit"
SRC="$ROOT"
PY=/usr/bin/python3
SOAK_SECONDS="${SOAK_SECONDS:-600}"
CYCLE_SECONDS="${CYCLE_SECONDS:-60}"
CLIENT="$SRC/tests/services/crash_client.py"
export CRASH_CLIENT_MAX_LOAD_SECONDS=$((CYCLE_SECONDS + 120))
work="$(mktemp -d)"
pid=""
bg_pids=()
trap 'kill -9 ${bg_pids[*]:-} ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
source "$SRC/tests/services/server_harness.sh"
make_python_stubs "$work/stubs"
mkdir -p "$work/records"

# The side client: hot swaps, training jobs, PutEvents until the server goes.
cat >"$work/side.py" <<'EOF'
import sys, time, grpc
sys.path.insert(0, sys.argv[2])
from proto import recommender_pb2 as rc, recommender_pb2_grpc as rcg, events_pb2, model_pb2
rec = rcg.RecommenderStub(grpc.insecure_channel(sys.argv[1]))
errors, calls, n = 0, 0, 0
while True:
    n += 1
    try:
        if n % 40 == 1:
            rec.Train(rc.TrainRequest(model_name="demo", interactions_path="demo/interactions.csv",
                params=model_pb2.TrainParams(algo=model_pb2.ALS, threads=1,
                    als=model_pb2.AlsParams(factors=16, iterations=2), index_factory="HNSW16")),
                timeout=10)
        elif n % 5 == 0:
            rec.ActivateModel(rc.ActivateModelRequest(model_name="demo", version=0), timeout=10)
        else:
            rec.PutEvents(rc.PutEventsRequest(events=[events_pb2.Interaction(
                user="u%d" % (n % 2000), item="i%d" % (n % 1000))]), timeout=10)
        calls += 1
    except grpc.RpcError as e:
        if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
            break  # the server was killed
        if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:  # a full training queue is fine
            errors += 1
            print("side error:", e.code(), e.details(), file=sys.stderr)
    time.sleep(0.05)
print(calls, errors)
EOF

start=$(date +%s)
cycle=0
lt_errors=0
lt_requests=0
side_errors=0
side_calls=0
: >"$work/rss.txt"
start_server "$work/out.0" "$work/err.0" --demo --data_dir="$work/data"
while [ $(( $(date +%s) - start )) -lt "$SOAK_SECONDS" ]; do
  cycle=$((cycle + 1))
  "$PY" "$CLIENT" load "127.0.0.1:$port" "$work/stubs" "$work/records" "$cycle" \
    2>"$work/load.$cycle.err" &
  load_pid=$!
  "$PY" "$work/side.py" "127.0.0.1:$port" "$work/stubs" >"$work/side.$cycle.out" \
    2>"$work/side.$cycle.err" &
  side_pid=$!
  bg_pids=("$load_pid" "$side_pid")
  lt_seconds=$((CYCLE_SECONDS - 10))
  "$BIN" loadtest --target="127.0.0.1:$port" --rpc=mixed --concurrency=8 \
    --duration_s="$lt_seconds" >"$work/lt.$cycle.json" 2>/dev/null &
  lt_pid=$!
  t0=$(date +%s)
  while [ $(( $(date +%s) - t0 )) -lt "$CYCLE_SECONDS" ]; do
    echo "$cycle $(( $(date +%s) - start )) $(ps -o rss= -p "$pid" | tr -d ' ')" >>"$work/rss.txt"
    sleep 2
  done
  wait "$lt_pid" || true
  read -r r e < <("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["requests"], d["errors"])' "$work/lt.$cycle.json")
  lt_requests=$((lt_requests + r))
  lt_errors=$((lt_errors + e))
  # The kill window starts here: errors after this are expected.
  touch "$work/records/killed.$cycle"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
  wait "$load_pid" || fail "cycle $cycle: the Decide/Reward client failed: $(tail -n 5 "$work/load.$cycle.err")"
  wait "$side_pid" || true
  read -r c se <"$work/side.$cycle.out" || { c=0; se=0; }
  side_calls=$((side_calls + c))
  side_errors=$((side_errors + se))
  bg_pids=()
  start_server "$work/out.$cycle" "$work/err.$cycle" --data_dir="$work/data"
  "$PY" "$CLIENT" verify "127.0.0.1:$port" "$work/stubs" "$work/records" "$cycle" \
    "$work/verify.json" >/dev/null
  echo "cycle $cycle: loadtest $r calls ($e errors), side $c calls ($se errors); killed and restarted" >&2
done
stop_server "$work/err.$cycle"
[ -z "${SOAK_RSS_OUT:-}" ] || cp "$work/rss.txt" "$SOAK_RSS_OUT"
"$BIN" export --data_dir="$work/data" --experiment=crash --format=jsonl \
  --out="$work/export.jsonl" >/dev/null
check="$("$PY" "$CLIENT" check "$work/records" "$work/export.jsonl" "$work/verify.json" 2>&1)" ||
  fail "lost acknowledged events: $check"
"$PY" - "$work/rss.txt" "$cycle" "$lt_requests" "$lt_errors" "$side_calls" "$side_errors" \
  "$SOAK_SECONDS" "$check" <<'EOF'
import json, sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 3]
cycles = sorted({c for c, _, _ in rows})
# Each cycle is one server process (kill -9 ends it): its RSS at the end of
# the cycle, and the growth within the second half of each cycle.
end_rss = [max(kb for c2, t, kb in rows if c2 == c) for c in cycles]
growth = []
for c in cycles:
    ts = [(t, kb) for c2, t, kb in rows if c2 == c]
    mid = (ts[0][0] + ts[-1][0]) / 2
    second = [kb for t, kb in ts if t >= mid]
    if len(second) >= 2:
        growth.append((second[-1] - second[0]) / second[0])
print(json.dumps({
    "seconds": int(sys.argv[7]), "cycles": int(sys.argv[2]),
    "loadtest_requests": int(sys.argv[3]),
    "errors_outside_kill_windows": int(sys.argv[4]) + int(sys.argv[6]),
    "side_calls": int(sys.argv[5]), "lost_acknowledged": 0,
    "check": sys.argv[8].strip().splitlines()[-1],
    "rss_kb_peak_per_cycle": end_rss,
    "rss_growth_second_half_of_cycle_max": round(max(growth), 4) if growth else None}))
EOF

#!/usr/bin/env bash
# Scale-out side by side on this machine (services/scale_out.md): Decide
# throughput and latency of (1) one server without a stream, (2) one replica
# on a 3-node NATS JetStream cluster, (3) two replicas on it, each driven by
# its own `recbandit loadtest`; then the forwarder's lag (time for every
# replica's outbox to drain and every record to be applied after the load
# stops) and the time a replica killed with SIGKILL takes to converge after
# its restart. Everything (3 nats-server nodes, the replicas, the load
# generators) shares this machine's cores: figures are for comparison within
# one run.
#
#   bench/scale_out_loadtest.sh [build dir]     (DURATION=10 CONCURRENCY=64)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
BIN="$BUILD/recbandit"
DURATION="${DURATION:-10}"
CONCURRENCY="${CONCURRENCY:-64}"
PY=/usr/bin/python3
NATS=/usr/sbin/nats-server
work="$(mktemp -d)"
pids=()
trap 'kill -9 ${pids[*]:-} 2>/dev/null || true; rm -rf "$work"' EXIT
pid=""
SRC="$ROOT"
source "$ROOT/tests/services/server_harness.sh"
make_python_stubs "$work/stubs" >/dev/null

read -r c1 c2 c3 r1 r2 r3 p0 pa pb <<<"$("$PY" -c 'import socket
s=[socket.socket() for _ in range(9)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')"
cports=("$c1" "$c2" "$c3"); rports=("$r1" "$r2" "$r3")
routes="nats://127.0.0.1:$r1,nats://127.0.0.1:$r2,nats://127.0.0.1:$r3"
for i in 0 1 2; do
  mkdir -p "$work/n$i"
  "$NATS" -js -sd "$work/n$i" -n "n$i" -a 127.0.0.1 -p "${cports[$i]}" --cluster_name bench \
    --cluster "nats://127.0.0.1:${rports[$i]}" --routes "$routes" >"$work/n$i.log" 2>&1 &
  pids+=($!)
done
STREAM="nats://127.0.0.1:$c1,nats://127.0.0.1:$c2,nats://127.0.0.1:$c3"

serve() {  # serve <name> <port> [flags]
  local name="$1" port="$2"; shift 2
  "$BIN" serve --port="$port" --data_dir="$work/d_$name" "$@" >"$work/o_$name" 2>>"$work/e_$name" &
  pids+=($!)
  eval "pid_$name=$!"
  for _ in $(seq 1 600); do grep -q '"port"' "$work/o_$name" 2>/dev/null && return; sleep 0.1; done
  cat "$work/e_$name"; exit 1
}
py() { "$PY" - "$work/stubs" "$@"; }
create() {  # create <first replica> [<second replica>]: experiment "bench" seen by all
  py "$@" <<'PYEOF'
import sys, time
sys.path.insert(0, sys.argv[1])
import grpc
from proto import events_pb2, experiments_pb2 as ex, experiments_pb2_grpc as exg
stubs = [exg.ExperimentsStub(grpc.insecure_channel(t)) for t in sys.argv[2:]]
cfg = events_pb2.ExperimentConfig(name="bench", variants=[events_pb2.Variant(
    name="eg", policy_spec="epsilon_greedy:epsilon=0.1", traffic_weight=1)])
stubs[0].CreateExperiment(ex.CreateExperimentRequest(config=cfg), timeout=30)
for s in stubs[1:]:
    while True:
        try:
            s.GetExperiment(ex.GetExperimentRequest(name="bench"), timeout=10); break
        except grpc.RpcError:
            time.sleep(0.05)
PYEOF
}
quiet_seconds() {  # seconds until every given replica is drained and applied
  py "$@" <<'PYEOF'
import sys, time
sys.path.insert(0, sys.argv[1])
import grpc
from proto import experiments_pb2 as ex, experiments_pb2_grpc as exg
stubs = [exg.ExperimentsStub(grpc.insecure_channel(t)) for t in sys.argv[2:]]
t0 = time.monotonic()
while True:
    st = [s.GetStreamStatus(ex.GetStreamStatusRequest(), timeout=10) for s in stubs]
    if all(x.outbox_pending == 0 and x.stream_last_seq > 0 and
           x.applied_stream_seq == x.stream_last_seq for x in st) and \
       len({x.stream_last_seq for x in st}) == 1:
        print("%.2f %d" % (time.monotonic() - t0, st[0].stream_last_seq)); break
    time.sleep(0.02)
PYEOF
}
load() {  # load <port> <out>
  "$BIN" loadtest --target="127.0.0.1:$1" --rpc=decide --experiment=bench \
    --concurrency="$CONCURRENCY" --duration_s="$DURATION" >"$2" 2>/dev/null
}
field() { "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r[sys.argv[2]])' "$1" "$2"; }

echo "| setup | Decide QPS (sum) | p50 ms | p99 ms | errors |"
echo "| --- | --- | --- | --- | --- |"
serve single "$p0"
create "127.0.0.1:$p0"
load "$p0" "$work/l0.json"
echo "| one server, no stream | $(field "$work/l0.json" qps) | $(field "$work/l0.json" p50_ms) | $(field "$work/l0.json" p99_ms) | $(field "$work/l0.json" errors) |"
kill -TERM "$pid_single"; wait "$pid_single" || true

serve a "$pa" --stream="$STREAM" --replica_id=a --models_dir="$work/models"
create "127.0.0.1:$pa"
load "$pa" "$work/l1.json"
lag1="$(quiet_seconds "127.0.0.1:$pa")"
echo "| one replica, --stream (local ack) | $(field "$work/l1.json" qps) | $(field "$work/l1.json" p50_ms) | $(field "$work/l1.json" p99_ms) | $(field "$work/l1.json" errors) |"

serve b "$pb" --stream="$STREAM" --replica_id=b --models_dir="$work/models"
quiet_seconds "127.0.0.1:$pa" "127.0.0.1:$pb" >/dev/null
load "$pa" "$work/l2a.json" & la=$!
load "$pb" "$work/l2b.json" & lb=$!
wait "$la" "$lb"
lag2="$(quiet_seconds "127.0.0.1:$pa" "127.0.0.1:$pb")"
sum="$("$PY" -c 'import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:]); print("%.0f | %s / %s | %s / %s | %d" % (a["qps"]+b["qps"], a["p50_ms"], b["p50_ms"], a["p99_ms"], b["p99_ms"], a["errors"]+b["errors"]))' "$work/l2a.json" "$work/l2b.json")"
echo "| two replicas, --stream (local ack), one loadtest each | $sum |"

# A replica killed with SIGKILL, restarted: time until it has applied the
# whole stream again (its cursor is durable; it replays only what it lacks).
kill -9 "$pid_b"; wait "$pid_b" 2>/dev/null || true
load "$pa" "$work/l3.json"
t0=${EPOCHREALTIME/./}
serve b "$pb" --stream="$STREAM" --replica_id=b --models_dir="$work/models"
conv="$(quiet_seconds "127.0.0.1:$pa" "127.0.0.1:$pb")"
t1=${EPOCHREALTIME/./}
echo
echo "forwarder lag after the load stops (outbox drained and every record applied):"
echo "  one replica: ${lag1%% *} s at stream seq ${lag1##* }; two replicas: ${lag2%% *} s at stream seq ${lag2##* }"
echo "replica b killed (SIGKILL) during $(field "$work/l3.json" requests) more Decides on a, restarted:"
echo "  $(( (t1 - t0) / 1000 )) ms from restart to converged (start-up included; ${conv%% *} s after it listened), stream seq ${conv##* }"

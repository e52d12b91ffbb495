#!/usr/bin/env bash
# Scale-out (services/scale_out.md): a 3-node NATS JetStream cluster (Debian's
# nats-server, started here on loopback) and 2 recbandit replicas sharing it
# and one model folder. Mixed Decide/Reward load across both replicas
# (tests/services/scale_out_client.py) while one NATS node and one replica are
# killed with SIGKILL and restarted. Then: every acknowledged decision and
# reward is in the stream exactly once, every reward is joined, both replicas
# hold equal policy states, OPE on either replica's log gives the same
# numbers, and a model activated on one replica is served by the other.
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init
NATS=/usr/sbin/nats-server
[ -x "$NATS" ] || fail "nats-server is not installed (./build.sh installs Debian's nats-server)"
CLIENT="$SRC/tests/services/scale_out_client.py"
pids=()
trap 'kill -9 ${pids[*]:-} ${nats_pid[*]:-} ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
make_python_stubs "$work/stubs"

free_ports() {
  "$PY" -c 'import socket,sys
socks=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}
read -r c1 c2 c3 r1 r2 r3 pa pb <<<"$(free_ports 8)"
client_ports=("$c1" "$c2" "$c3")
route_ports=("$r1" "$r2" "$r3")
routes="nats://127.0.0.1:$r1,nats://127.0.0.1:$r2,nats://127.0.0.1:$r3"
declare -a nats_pid
start_nats() {  # start_nats <index 0..2>
  local i="$1"
  mkdir -p "$work/nats$i"
  "$NATS" -js -sd "$work/nats$i" -n "n$i" -a 127.0.0.1 -p "${client_ports[$i]}" \
    --cluster_name recbandit-test --cluster "nats://127.0.0.1:${route_ports[$i]}" \
    --routes "$routes" >>"$work/nats$i.log" 2>&1 &
  nats_pid[$i]=$!
}
for i in 0 1 2; do start_nats "$i"; done
STREAM="nats://127.0.0.1:$c1,nats://127.0.0.1:$c2,nats://127.0.0.1:$c3"

declare -A rpid
start_replica() {  # start_replica <a|b> <port>
  local id="$1" p="$2"
  "$BIN" serve --port="$p" --data_dir="$work/data_$id" --models_dir="$work/models" \
    --stream="$STREAM" --replica_id="$id" --stream_name=SO >>"$work/out_$id" 2>>"$work/err_$id" &
  rpid[$id]=$!
  for _ in $(seq 1 600); do
    grep -q '"port"' "$work/out_$id" 2>/dev/null && return 0
    kill -0 "${rpid[$id]}" 2>/dev/null || fail "replica $id exited:"$'\n'"$(cat "$work/err_$id")"
    sleep 0.1
  done
  fail "replica $id did not listen in 60 s"
}
start_replica a "$pa"
start_replica b "$pb"
A="127.0.0.1:$pa"
B="127.0.0.1:$pb"
pids=("${rpid[a]}" "${rpid[b]}")

# The stream needs its 3-node cluster up (a leader elected) before the first
# publish: setup waits for B to see A's experiment.
"$PY" "$CLIENT" setup "$A" "$B" "$work/stubs"

mkdir -p "$work/records"
"$PY" "$CLIENT" load "$A" "$B" "$work/stubs" "$work/records" 12 &
load_pid=$!
sleep 3
kill -9 "${nats_pid[1]}"; wait "${nats_pid[1]}" 2>/dev/null || true
echo "killed NATS node n1 (SIGKILL)"
sleep 1
kill -9 "${rpid[b]}"; wait "${rpid[b]}" 2>/dev/null || true
echo "killed replica b (SIGKILL)"
sleep 2
start_nats 1
echo "restarted NATS node n1"
sleep 1
: >"$work/out_b"
start_replica b "$pb"
pids=("${rpid[a]}" "${rpid[b]}")
echo "restarted replica b"
wait "$load_pid" || fail "the load client failed"

# First pass waits for quiet; then the stream is dumped and checked.
"$PY" "$CLIENT" verify "$A" "$B" "$work/stubs" "$work/records" "$work/none" "$work/v.json" |
  grep -q QUIET || fail "replicas never became quiet"
"$BIN" stream --stream="$STREAM" --stream_name=SO --out="$work/dump.jsonl" >"$work/dump.json"
echo "stream: $(cat "$work/dump.json")"
"$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["duplicate_message_ids"]==0 and r["unreadable"]==0 and r["messages"]==r["last_seq"], r' \
  "$work/dump.json" || fail "the stream holds a duplicate or unreadable record"
"$PY" "$CLIENT" verify "$A" "$B" "$work/stubs" "$work/records" "$work/dump.jsonl" "$work/v.json"

# A model trained into the shared folder and activated on A is served by B.
"$BIN" gen interactions --users=60 --items=40 --nnz=900 --factors=4 --seed=3 \
  --out="$work/x.csv" >/dev/null
"$BIN" train --input="$work/x.csv" --algo=als --factors=4 --iterations=3 --seed=1 \
  --out="$work/models/m/1" >/dev/null
"$PY" - "$A" "$B" "$work/stubs" <<'PYEOF'
import sys, time
sys.path.insert(0, sys.argv[3])
import grpc
from proto import recommender_pb2 as rp, recommender_pb2_grpc as rpg
a = rpg.RecommenderStub(grpc.insecure_channel(sys.argv[1]))
b = rpg.RecommenderStub(grpc.insecure_channel(sys.argv[2]))
a.ActivateModel(rp.ActivateModelRequest(model_name="m", version=1), timeout=30)
ra = a.Recommend(rp.RecommendRequest(model_name="m", user="u1", k=5), timeout=10)
deadline = time.monotonic() + 30
while True:
    try:
        rb = b.Recommend(rp.RecommendRequest(model_name="m", user="u1", k=5), timeout=10)
        break
    except grpc.RpcError as e:
        assert e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION), e
        assert time.monotonic() < deadline, "B never activated m"
        time.sleep(0.1)
assert [i.item for i in ra.items] == [i.item for i in rb.items] and rb.model_version == 1, (ra, rb)
print("model m@1 activated on A is served by B:", [i.item for i in rb.items])
PYEOF

for id in a b; do
  kill -TERM "${rpid[$id]}"
  wait "${rpid[$id]}" || fail "replica $id did not stop cleanly"
done
pids=()
for id in a b; do
  "$BIN" ope --log="$work/data_$id" --experiment=so --target=uniform --estimators=ips,snips \
    --bootstrap=0 >"$work/ope_$id.json" 2>/dev/null
done
# Equal apart from the log's path.
"$PY" -c 'import json,sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
a.pop("input"); b.pop("input")
sys.exit(a != b)' "$work/ope_a.json" "$work/ope_b.json" ||
  fail "OPE differs between the replicas:"$'\n'"$(cat "$work/ope_a.json" "$work/ope_b.json")"
echo "OPE equal on both replicas: $(cat "$work/ope_a.json")"
echo "PASS"

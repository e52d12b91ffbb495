#!/usr/bin/env bash
# Side-by-side load test of the gRPC service on this machine (the load
# generator runs on the same cores as the server: say so beside the figures):
#   1. Recommend on a model of $ITEMS items x $FACTORS dims with a $INDEX (default HNSW8)
#      index, k=10, seen items excluded, at several concurrencies and efSearch;
#   2. Decide on a LinUCB experiment (32 context dims, 10 actions, durable log);
#   3. a hot swap of model versions every 0.5 s during a Recommend load
#      (the number of failed calls must be 0; version 2 is a copy of version
#      1's artifact, so loading and swapping cost what a retrained one would).
# Prints one JSON line per run (recbandit loadtest's report) with a label.
#
#   ITEMS=1000000 bench/service_loadtest.sh            # the issue's setting
#   ITEMS=100000 DURATION=5 bench/service_loadtest.sh  # quicker
#
# The model is cached in $WORK (default /tmp/recbandit_service_bench) and
# reused when its parameters match.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${RECBANDIT_BINARY:-$ROOT/build/recbandit}"
ITEMS="${ITEMS:-1000000}"
USERS="${USERS:-200000}"
NNZ="${NNZ:-5000000}"
FACTORS="${FACTORS:-64}"
INDEX="${INDEX:-HNSW8}"
DURATION="${DURATION:-10}"
WORK="${WORK:-/tmp/recbandit_service_bench}"
PY=/usr/bin/python3
tag="items${ITEMS}_users${USERS}_nnz${NNZ}_f${FACTORS}_${INDEX}"
data="$WORK/$tag"
mkdir -p "$data"
log() { echo "[service_loadtest] $*" >&2; }

if [ ! -f "$data/models/big/1/items.index" ]; then
  log "generating $USERS users x $ITEMS items, $NNZ interactions"
  "$BIN" gen interactions --users="$USERS" --items="$ITEMS" --nnz="$NNZ" --factors=16 --seed=1 \
    --out="$data/interactions.csv" >/dev/null
  log "training ALS ($FACTORS factors, 3 iterations)"
  mkdir -p "$data/models/big"
  rm -rf "$data/models/big/1" "$data/models/big/1.tmp"
  "$BIN" train --input="$data/interactions.csv" --algo=als --factors="$FACTORS" --iterations=3 \
    --threads=2 --seed=1 --out="$data/models/big/1.tmp" >/dev/null
  log "building $INDEX over $ITEMS item vectors"
  start=$(date +%s)
  "$BIN" index --model="$data/models/big/1.tmp" --index="$INDEX" --threads=2 >/dev/null
  log "index built in $(( $(date +%s) - start )) s"
  mv "$data/models/big/1.tmp" "$data/models/big/1"
  # Version 2 for the hot-swap run: the same artifact under a new version
  # number (loading and swapping cost the same; a second 1M-item HNSW build
  # would add a quarter of an hour).
  rm -rf "$data/models/big/2"
  cp -r "$data/models/big/1" "$data/models/big/2"
fi

stubs="$WORK/stubs"
if [ ! -f "$stubs/proto/experiments_pb2.py" ]; then
  mkdir -p "$stubs/proto"
  "$PY" -m grpc_tools.protoc -I"$ROOT" --python_out="$stubs" --grpc_python_out="$stubs" \
    "$ROOT"/proto/*.proto
  touch "$stubs/proto/__init__.py"
fi

run_dir="$(mktemp -d)"
trap 'kill "${pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$run_dir"' EXIT
# A fresh event log each run; the models are shared (read-only) via a symlink.
mkdir -p "$run_dir/data"
ln -s "$data/models" "$run_dir/data/models"
"$BIN" serve --port=0 --data_dir="$run_dir/data" >"$run_dir/out" 2>"$run_dir/err" &
pid=$!
for _ in $(seq 1 3000); do
  grep -q '"port"' "$run_dir/out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$run_dir/err" >&2; exit 1; }
  sleep 0.1
done
port="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$run_dir/out")"
target="127.0.0.1:$port"
log "server on $target (pid $pid), model loaded"

# Make version 1 active and create the LinUCB experiment.
PYTHONPATH="$stubs" "$PY" - "$target" <<'EOF'
import sys, grpc
from proto import recommender_pb2 as rc, recommender_pb2_grpc as rcg
from proto import experiments_pb2 as ex, experiments_pb2_grpc as exg, events_pb2
ch = grpc.insecure_channel(sys.argv[1])
rcg.RecommenderStub(ch).ActivateModel(rc.ActivateModelRequest(model_name="big", version=1),
                                      timeout=600)
exg.ExperimentsStub(ch).CreateExperiment(ex.CreateExperimentRequest(
    config=events_pb2.ExperimentConfig(
        name="linucb32", context_dim=32,
        variants=[events_pb2.Variant(name="lin", policy_spec="linucb:alpha=1",
                                     traffic_weight=1)])), timeout=60)
EOF

run() {  # label, loadtest flags...
  local label="$1"
  shift
  local json
  json="$("$BIN" loadtest --target="$target" --duration_s="$DURATION" --users="$USERS" "$@" \
          2>/dev/null)"
  echo "{\"label\":\"$label\",\"items\":$ITEMS,\"report\":$json}"
}

"$BIN" loadtest --target="$target" --rpc=recommend --concurrency=8 --duration_s=2 \
  --users="$USERS" >/dev/null 2>&1  # warm up
for ef in 64 128 160 256; do
  for c in 8 16 32; do
    run "recommend ef_search=$ef concurrency=$c" --rpc=recommend --k=10 --concurrency="$c" \
      --ef_search="$ef" --client_threads=1
  done
done
for c in 16 64 128; do
  run "decide linucb 32d 10 actions concurrency=$c" --rpc=decide --experiment=linucb32 \
    --actions=10 --concurrency="$c" --client_threads=1
done

# Hot swap: flip versions every 0.5 s while Recommend runs.
PYTHONPATH="$stubs" "$PY" - "$target" "$((DURATION * 3))" <<'EOF' &
import sys, time, grpc
from proto import recommender_pb2 as rc, recommender_pb2_grpc as rcg
stub = rcg.RecommenderStub(grpc.insecure_channel(sys.argv[1]))
end = time.time() + float(sys.argv[2]) - 1
v, seconds = 2, []
while time.time() < end:
    t = time.time()
    stub.ActivateModel(rc.ActivateModelRequest(model_name="big", version=v), timeout=600)
    seconds.append(time.time() - t)
    v = 3 - v
    time.sleep(0.5)
print("[service_loadtest] %d swaps, ActivateModel %.2f-%.2f s each" % (
    len(seconds), min(seconds), max(seconds)), file=sys.stderr)
EOF
swapper=$!
DURATION=$((DURATION * 3)) run "recommend during hot swaps (versions 1<->2, 0.5 s apart)" \
  --rpc=recommend --k=10 --concurrency=16 --client_threads=1
wait "$swapper"
kill -TERM "$pid"
wait "$pid" || true

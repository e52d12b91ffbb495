#!/usr/bin/env bash
# Side-by-side latency of the three ways Recommend can run, against one
# `recbandit serve --demo` on this machine (the load generator shares its
# cores: say so beside the figures), at the same concurrency, alternating
# the kinds round by round so machine noise falls on all of them:
#   plain        Recommend on the default model (nothing logged);
#   exploring    Recommend with an experiment at exploration_weight 0 (the
#                slate logged durably before the reply);
#   deployment   Recommend through a two-variant deployment (demo@1 and demo,
#                weights 1:1; the slate and its candidates logged durably);
#   deployment_shadow  the same with a shadow pipeline computing (and
#                logging) a slate for every call off the latency path;
#   deployment_queued  deployment_shadow with slate_durability
#                QUEUED_BEFORE_REPLY (the reply does not wait for the fsync).
# Each kind runs twice per round: closed loop at --concurrency (throughput
# and latency at saturation, where the kinds' different work per call
# decides) and open loop at the same offered load, --qps=$QPS for every kind
# (latency at equal load: what the issue's "p99 within 10% of a plain
# Recommend at the same load" asks). Prints one JSON line per run
# (recbandit loadtest's report) with a label, then the p99 ratios.
#
#   bench/deployment_loadtest.sh                    # 3 rounds of 10 s each
#   ROUNDS=1 DURATION=5 bench/deployment_loadtest.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${RECBANDIT_BINARY:-$ROOT/build/recbandit}"
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
CONCURRENCY="${CONCURRENCY:-16}"
QPS="${QPS:-1000}"
PY=/usr/bin/python3
log() { echo "[deployment_loadtest] $*" >&2; }

work="$(mktemp -d)"
trap 'kill "${pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/stubs/proto"
"$PY" -m grpc_tools.protoc -I"$ROOT" --python_out="$work/stubs" --grpc_python_out="$work/stubs" \
  "$ROOT"/proto/*.proto
touch "$work/stubs/proto/__init__.py"
"$BIN" serve --demo --port=0 --data_dir="$work/data" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 3000); do
  grep -q '"port"' "$work/out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
  sleep 0.1
done
port="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/out")"
target="127.0.0.1:$port"
log "server on $target"

PYTHONPATH="$work/stubs" "$PY" - "$target" <<'PYEOF'
import sys, grpc
from proto import deployments_pb2 as dp, deployments_pb2_grpc as dpg
from proto import experiments_pb2 as ex, experiments_pb2_grpc as exg, events_pb2
ch = grpc.insecure_channel(sys.argv[1])
dpg.DeploymentsStub(ch).CreateDeployment(dp.CreateDeploymentRequest(deployment=dp.Deployment(
    name="ab", variants=[
        dp.DeploymentVariant(name="pinned", traffic_weight=1, pipeline=dp.Pipeline(model="demo@1")),
        dp.DeploymentVariant(name="active", traffic_weight=1, pipeline=dp.Pipeline(model="demo"))])),
    timeout=60)
dpg.DeploymentsStub(ch).CreateDeployment(dp.CreateDeploymentRequest(deployment=dp.Deployment(
    name="ab_shadow", variants=[
        dp.DeploymentVariant(name="pinned", traffic_weight=1, pipeline=dp.Pipeline(model="demo@1")),
        dp.DeploymentVariant(name="active", traffic_weight=1, pipeline=dp.Pipeline(model="demo"))],
    shadows=[dp.ShadowPipeline(name="next", pipeline=dp.Pipeline(model="demo"), sample_rate=1)])),
    timeout=60)
dpg.DeploymentsStub(ch).CreateDeployment(dp.CreateDeploymentRequest(deployment=dp.Deployment(
    name="ab_queued", slate_durability=dp.QUEUED_BEFORE_REPLY, variants=[
        dp.DeploymentVariant(name="pinned", traffic_weight=1, pipeline=dp.Pipeline(model="demo@1")),
        dp.DeploymentVariant(name="active", traffic_weight=1, pipeline=dp.Pipeline(model="demo"))],
    shadows=[dp.ShadowPipeline(name="next", pipeline=dp.Pipeline(model="demo"), sample_rate=1)])),
    timeout=60)
exg.ExperimentsStub(ch).CreateExperiment(ex.CreateExperimentRequest(
    config=events_pb2.ExperimentConfig(name="explore", variants=[
        events_pb2.Variant(name="a", policy_spec="epsilon_greedy:epsilon=0.1", traffic_weight=1)])),
    timeout=60)
PYEOF

run() {  # label, loadtest flags...
  local label="$1"
  shift
  local json
  json="$("$BIN" loadtest --target="$target" --rpc=recommend --k=10 --users=2000 \
          --concurrency="$CONCURRENCY" --client_threads=1 --duration_s="$DURATION" "$@" \
          2>/dev/null)"
  echo "{\"label\":\"$label\",\"report\":$json}" | tee -a "$work/runs.jsonl"
}

"$BIN" loadtest --target="$target" --rpc=recommend --concurrency=8 --duration_s=2 \
  >/dev/null 2>&1  # warm up
for round in $(seq 1 "$ROUNDS"); do
  run "plain"
  run "exploring" --experiment=explore
  run "deployment" --deployment=ab
  run "deployment_shadow" --deployment=ab_shadow
  run "deployment_queued" --deployment=ab_queued
  run "plain@qps" --qps="$QPS" --concurrency=64
  run "deployment@qps" --qps="$QPS" --concurrency=64 --deployment=ab
  run "deployment_shadow@qps" --qps="$QPS" --concurrency=64 --deployment=ab_shadow
  run "deployment_queued@qps" --qps="$QPS" --concurrency=64 --deployment=ab_queued
done
"$PY" - "$work/runs.jsonl" <<'PYEOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def p99(label):
    return statistics.median(r["report"]["p99_ms"] for r in runs if r["label"] == label)
plain, exploring, deployment = p99("plain"), p99("exploring"), p99("deployment")
shadowed = p99("deployment_shadow")
queued = p99("deployment_queued")
print(json.dumps({"median_p99_ms": {"plain": plain, "exploring": exploring,
                                     "deployment": deployment, "deployment_shadow": shadowed,
                                     "deployment_queued": queued},
                  "deployment_over_plain": round(deployment / plain, 2),
                  "queued_over_plain": round(queued / plain, 2),
                  "at_equal_qps": {"median_p99_ms": {
                      k: p99(k + "@qps") for k in
                      ("plain", "deployment", "deployment_shadow", "deployment_queued")},
                      "deployment_over_plain": round(p99("deployment@qps") / p99("plain@qps"), 2),
                      "shadow_over_plain": round(p99("deployment_shadow@qps") / p99("plain@qps"), 2),
                      "queued_shadow_over_plain":
                          round(p99("deployment_queued@qps") / p99("plain@qps"), 2)},
                  "deployment_over_exploring": round(deployment / exploring, 2),
                  "shadowed_over_deployment": round(shadowed / deployment, 2)}))
PYEOF

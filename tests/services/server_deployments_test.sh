#!/usr/bin/env bash
# Starts `recbandit serve --demo` on a free port and checks the Deployments
# service with an independent Python client (tests/services/deployments_client.py):
# a blue/green deployment of two demo versions, Recommend through it, slate
# rewards, guarded updates and every documented error code; then restarts
# the server on the same data directory and checks that the deployment, its
# journal and each unit's variant survived, and exports the served slates.
# Between them: blue/green switch and rollback, and canary rollouts the
# server rolls back (a canary earning less) and promotes by itself.
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init

make_python_stubs "$work/stubs"
start_server "$work/out" "$work/err" --demo --data_dir="$work/data" --rollout_check_ms=50
"$PY" "$SRC/tests/services/deployments_client.py" "127.0.0.1:$port" "$work/stubs" first \
  "$work/variants"
stop_server "$work/err"

start_server "$work/out2" "$work/err2" --data_dir="$work/data" --rollout_check_ms=50
"$PY" "$SRC/tests/services/deployments_client.py" "127.0.0.1:$port" "$work/stubs" restarted \
  "$work/variants"
# The served slates, exported while the server keeps writing the log.
"$BIN" export --data_dir="$work/data" --deployment=homepage --format=csv --out="$work/slates.csv" \
  >"$work/export.json"
"$PY" - "$work/export.json" "$work/slates.csv" <<'PYEOF'
import csv, json, sys
report = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
assert report["deployment"] == "homepage" and report["rows"] == len(rows), report
assert len(rows) >= 5 * 400, len(rows)  # five rounds of 400 units, plus the single calls
clicked = [r for r in rows if r["clicked_positions"]]
assert len(clicked) == 1 and clicked[0]["clicked_positions"] == "4", clicked
assert clicked[0]["reward"] == "1.5", clicked[0]
for r in rows:
    slate = r["slate"].split(";")
    assert slate and set(slate) <= set(r["candidates"].split(";")), r
    assert r["slate_propensities"] == ";".join(["1"] * len(slate)), r
    assert r["model"] == ("demo@1" if r["variant"] == "blue" else "demo@2"), r
print("export --deployment: %d slates, %d clicked" % (len(rows), len(clicked)))
PYEOF
# Slate OPE from the CLI on the live log (a secondary reader) agrees with
# EvaluatePolicy's figures in kind: version 2 judged on the exploring slates.
"$BIN" ope --log="$work/data" --deployment=explore --target=model:demo@2 \
  --estimators=iips,pi --bootstrap=50 >"$work/ope.json" 2>"$work/ope.err"
"$PY" - "$work/ope.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["n"] == 400 and r["input_kind"] == "deployment", r
assert [e["estimator"] for e in r["estimates"]] == ["iips", "pi"], r
assert all(e["ci_low"] <= e["value"] <= e["ci_high"] for e in r["estimates"]), r
print("ope --deployment: " + ", ".join("%s=%.3f" % (e["estimator"], e["value"]) for e in r["estimates"]))
PYEOF
if "$BIN" ope --log="$work/data" --deployment=explore --target=uniform 2>"$work/bad.err"; then
  echo "ope --deployment with target uniform must fail" >&2; exit 1
fi
grep -q "model:<name>\[@<version>\] or shadow:<name>" "$work/bad.err"
stop_server "$work/err2"
echo "PASS"

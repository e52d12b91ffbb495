#!/usr/bin/env bash
# The bad-input catalogue against the real server: starts `recbandit serve
# --demo` with a metrics port and runs tests/services/bad_input_client.py
# (Debian's python3-grpcio): every catalogued bad input gets its code and
# message, the metrics port answers every method and path, health stays
# SERVING; then the server must still stop cleanly (exit 0) and restart on
# the same data dir with the demo model still there (no name escaped the
# models folder). The README's table must equal the catalogue.
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init

make_python_stubs "$work/stubs"
start_server "$work/out" "$work/err" --demo --metrics_port=-1 --data_dir="$work/data"
metrics="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics_port"])' "$work/out")"
echo "server on port $port, metrics on $metrics"

"$PY" "$SRC/tests/services/bad_input_client.py" "127.0.0.1:$port" "$work/stubs" "$metrics"
kill -0 "$pid" || fail "the server died"
stop_server "$work/err"

# Nothing outside <data_dir>/models/<name>/ was written by a model name.
[ ! -e "$work/data/ACTIVE" ] && [ ! -e "$work/data/1" ] && [ ! -e "$work/data/models/ACTIVE" ] ||
  fail "a model name wrote outside the models folder: $(ls "$work/data" "$work/data/models")"

# Draining: after SIGTERM with --drain_seconds, health is NOT_SERVING (overall
# and per service) while calls are still answered; then it exits 0.
start_server "$work/out2" "$work/err2" --data_dir="$work/data" --drain_seconds=4
kill -TERM "$pid"
"$PY" - "127.0.0.1:$port" "$work/stubs" <<'PYEOF'
import sys, time, grpc
sys.path.insert(0, sys.argv[2])
import health_pb2, health_pb2_grpc
from proto import recommender_pb2 as rc, recommender_pb2_grpc as rcg
ch = grpc.insecure_channel(sys.argv[1])
health = health_pb2_grpc.HealthStub(ch)
deadline = time.time() + 3
while True:
    s = health.Check(health_pb2.HealthCheckRequest(service="recbandit.Recommender"), timeout=5).status
    if s == health_pb2.HealthCheckResponse.NOT_SERVING or time.time() > deadline:
        break
    time.sleep(0.05)
assert s == health_pb2.HealthCheckResponse.NOT_SERVING, s
for service in ("", "recbandit.Experiments"):
    assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == \
        health_pb2.HealthCheckResponse.NOT_SERVING, service
r = rcg.RecommenderStub(ch).Recommend(rc.RecommendRequest(user="u1", k=3), timeout=5)
assert len(r.items) == 3, r
print("draining: health NOT_SERVING, Recommend still answered")
PYEOF
status=0
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || fail "serve exited with $status after a drained SIGTERM"
grep -q "health NOT_SERVING; serving 4 s more" "$work/err2" || fail "no drain message"

# The README's catalogue table is this catalogue.
"$PY" "$SRC/tests/services/bad_input_client.py" --markdown "$work/stubs" >"$work/table.md"
expect_readme_table "$work/table.md" "python3 tests/services/bad_input_client.py --markdown <stubs>"
echo "PASS"

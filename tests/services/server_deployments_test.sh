#!/usr/bin/env bash
# Starts `recbandit serve --demo` on a free port and checks the Deployments
# service with an independent Python client (tests/services/deployments_client.py):
# a blue/green deployment of two demo versions, Recommend through it, slate
# rewards, guarded updates and every documented error code; then restarts
# the server on the same data directory and checks that the deployment, its
# journal and each unit's variant survived.
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init

make_python_stubs "$work/stubs"
start_server "$work/out" "$work/err" --demo --data_dir="$work/data"
"$PY" "$SRC/tests/services/deployments_client.py" "127.0.0.1:$port" "$work/stubs" first \
  "$work/variants"
stop_server "$work/err"

start_server "$work/out2" "$work/err2" --data_dir="$work/data"
"$PY" "$SRC/tests/services/deployments_client.py" "127.0.0.1:$port" "$work/stubs" restarted \
  "$work/variants"
stop_server "$work/err2"
echo "PASS"

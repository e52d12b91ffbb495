#!/usr/bin/env bash
# Every README example runs as written (tests/services/readme_examples.py):
# in a fresh folder where `recbandit serve --demo --data_dir=demo_data` (what
# `./build.sh demo` runs) listens, with Python stubs generated as the README
# says and ../shared/data beside it, the documented commands and the demo's
# Python calls must succeed and print what the README shows.
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init

mkdir -p "$work/run"
ln -s "$(cd "$SRC/../shared" && pwd)" "$work/shared"
(cd "$SRC" && "$PY" -m grpc_tools.protoc -I. --python_out="$work/run" \
  --grpc_python_out="$work/run" proto/*.proto)
cd "$work/run"
start_server "$work/out" "$work/err" --demo --data_dir=demo_data
echo "demo server on port $port"
"$PY" "$SRC/tests/services/readme_examples.py" "$SRC/README.md" "$BIN" "$work/run" "$port"
kill -0 "$pid" || fail "the server died"
stop_server "$work/err"
echo "PASS"

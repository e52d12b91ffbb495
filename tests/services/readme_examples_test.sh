#!/usr/bin/env bash
# Every README example runs as written (tests/services/readme_examples.py):
# in a fresh folder where `recbandit serve --demo --data_dir=demo_data
# --http_port=...` (what `./build.sh demo` runs, on free ports) listens, with Python stubs generated as the README
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
start_server "$work/out" "$work/err" --demo --data_dir=demo_data --http_port=-1
http="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["http_port"])' "$work/out")"
echo "demo server on port $port, HTTP on $http"
"$PY" "$SRC/tests/services/readme_examples.py" "$SRC/README.md" "$BIN" "$work/run" "$port" "$http"
kill -0 "$pid" || fail "the server died"
stop_server "$work/err"
echo "PASS"

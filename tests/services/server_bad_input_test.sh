#!/usr/bin/env bash
# The bad-input catalogue against the real server: starts `recbandit serve
# --demo` with a metrics port and runs tests/services/bad_input_client.py
# (Debian's python3-grpcio): every catalogued bad input gets its code and
# message, the metrics port answers every method and path, health stays
# SERVING; then the server must still stop cleanly (exit 0) and restart on
# the same data dir with the demo model still there (no name escaped the
# models folder). The README's table must equal the catalogue.
set -euo pipefail
BIN="${RECBANDIT_BINARY:?}"
SRC="${RECBANDIT_SOURCE_DIR:?}"
PY=/usr/bin/python3
work="$(mktemp -d)"
trap 'kill -9 "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

source "$SRC/tests/services/server_harness.sh"
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

# The README's catalogue table is this catalogue.
"$PY" "$SRC/tests/services/bad_input_client.py" --markdown "$work/stubs" >"$work/table.md"
if ! grep -qxFf "$work/table.md" "$SRC/README.md" ||
   [ "$(grep -cxFf "$work/table.md" "$SRC/README.md")" -ne "$(wc -l <"$work/table.md")" ]; then
  echo "README.md must hold the bad-input table exactly as printed by" >&2
  echo "  python3 tests/services/bad_input_client.py --markdown <stubs>:" >&2
  cat "$work/table.md" >&2
  exit 1
fi
echo "PASS"

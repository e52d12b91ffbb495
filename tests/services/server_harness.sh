# Shared by the scripted server tests (sourced, not run): Python stubs of our
# protos, starting `recbandit serve` on a free port, and a clean SIGTERM stop.
# The sourcing script sets BIN, SRC, PY and work first, or calls harness_init.

# harness_init: BIN, SRC and PY from the test's environment, a fresh $work,
# and an EXIT trap that kills the server ($pid) and removes $work.
harness_init() {
  BIN="${RECBANDIT_BINARY:?}"
  SRC="${RECBANDIT_SOURCE_DIR:?}"
  PY=/usr/bin/python3
  export PYTHONUNBUFFERED=1  # a client's lines reach the log even if it is killed
  work="$(mktemp -d)"
  trap 'kill -9 "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_readme_table <table file> <command that prints it>: README.md must
# hold the table, line for line and in one piece.
expect_readme_table() {
  "$PY" -c 'import sys; sys.exit(open(sys.argv[1]).read() not in open(sys.argv[2]).read())' \
    "$1" "$SRC/README.md" && return 0
  echo "README.md must hold this table exactly as printed by \`$2\`:" >&2
  cat "$1" >&2
  exit 1
}

# make_python_stubs <dir>: stubs of proto/*.proto in <dir>, plus grpc-proto's
# health and reflection protos copied flat (so their modules do not shadow the
# installed `grpc` package) and the reflection helper.
make_python_stubs() {
  local dir="$1"
  mkdir -p "$dir/proto" "$work/extra"
  cp /usr/share/grpc-proto/grpc/health/v1/health.proto "$work/extra/health.proto"
  cp /usr/share/grpc-proto/grpc/reflection/v1alpha/reflection.proto "$work/extra/reflection.proto"
  "$PY" -m grpc_tools.protoc -I"$SRC" -I"$work/extra" \
    --python_out="$dir" --grpc_python_out="$dir" \
    "$SRC"/proto/*.proto "$work/extra/health.proto" "$work/extra/reflection.proto"
  touch "$dir/proto/__init__.py"
  cp "$SRC/tests/services/grpc_reflection_stubs.py" "$dir/"
}

# start_server <stdout file> <stderr file> [serve flags...]: runs
# `recbandit serve --port=0 [flags]` in the background and waits up to 120 s
# for its JSON line; sets pid and port. Fails at once if the server exits.
start_server() {
  local out="$1" err="$2"
  shift 2
  "$BIN" serve --port=0 "$@" >"$out" 2>"$err" &
  pid=$!
  for _ in $(seq 1 1200); do
    grep -q '"port"' "$out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || fail "serve exited before listening:"$'\n'"$(cat "$err")"
    sleep 0.1
  done
  grep -q '"port"' "$out" || fail "serve printed no port in 120 s:"$'\n'"$(cat "$err")"
  port="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$out")"
}

# stop_server <stderr file>: SIGTERM; the server must exit 0 and say
# "serve: stopped" (calls drained, policies snapshotted). Clears pid.
stop_server() {
  local err="$1"
  kill -TERM "$pid"
  local status=0
  wait "$pid" || status=$?
  pid=""
  [ "$status" -eq 0 ] || fail "serve exited with $status after SIGTERM:"$'\n'"$(cat "$err")"
  grep -q "serve: stopped" "$err" || fail "no 'serve: stopped' on stderr:"$'\n'"$(cat "$err")"
}

#!/usr/bin/env bash
# A damaged write-ahead log is never skipped in silence: Decide load on
# `recbandit serve --demo`, kill -9, 8 bytes flipped in the middle of the
# event log's WAL. Then `serve`, `export` and `ope --log` refuse with one line
# naming the damaged file; `recbandit log repair` keeps a copy, drops only the
# damaged records and says how many; the server starts again and the export
# holds exactly the decisions the repair did not report as dropped. A
# truncated table file is refused by export too (never "rows":0).
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init

json() { "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])[sys.argv[1]])' "$1"; }
rows() {  # rows <data dir>: decisions of demo_layout in an export
  "$BIN" export --data_dir="$1" --experiment=demo_layout --format=jsonl --out="$work/x.jsonl" \
    2>/dev/null | json rows
}
expect_refusal() {  # expect_refusal <label> <pattern> <command...>
  local label="$1" pattern="$2" status=0
  shift 2
  timeout 120 "$@" >"$work/r.out" 2>"$work/r.err" || status=$?
  [ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "$label: exit $status: $(cat "$work/r.err")"
  [ ! -s "$work/r.out" ] || fail "$label printed: $(cat "$work/r.out")"
  [ "$(wc -l <"$work/r.err")" -eq 1 ] || fail "$label: not one line: $(cat "$work/r.err")"
  grep -q "$pattern" "$work/r.err" || fail "$label: expected '$pattern': $(cat "$work/r.err")"
  echo "  $label -> exit $status: $(cut -c1-160 "$work/r.err")"
}

start_server "$work/out" "$work/err" --demo --data_dir="$work/data"
"$BIN" loadtest --target="127.0.0.1:$port" --rpc=decide --concurrency=8 --requests=3000 \
  >"$work/lt.json" 2>/dev/null
acked=$(( $(json requests <"$work/lt.json") - $(json errors <"$work/lt.json") ))
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pid=""
cp -a "$work/data" "$work/pristine"
before=$(rows "$work/pristine")
[ "$before" -ge "$acked" ] || fail "only $before of $acked acknowledged decisions before the damage"
echo "$acked decisions acknowledged, $before logged before the damage"

wal="$(ls -S "$work/data/events/"*.log | head -n 1)"
"$PY" - "$wal" <<'PYEOF'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
mid = len(data) // 2
for i in range(mid, mid + 8):
    data[i] ^= 0xff
open(path, "wb").write(bytes(data))
PYEOF
name="$(basename "$wal")"
echo "flipped 8 bytes in the middle of $name"

echo "refusals"
expect_refusal "serve" "damaged write-ahead log $name.*recbandit log repair" \
  "$BIN" serve --port=0 --data_dir="$work/data"
expect_refusal "export" "damaged write-ahead log $name" \
  "$BIN" export --data_dir="$work/data" --experiment=demo_layout --format=csv --out="$work/e.csv"
expect_refusal "ope --log" "damaged write-ahead log $name" \
  "$BIN" ope --log="$work/data" --experiment=demo_layout --target=uniform

"$BIN" log repair --data_dir="$work/data" >"$work/repair.json" 2>"$work/repair.err"
cat "$work/repair.err"
lost=$(json operations_lost <"$work/repair.json")
copy=$(json damaged_copy <"$work/repair.json")
[ "$(json repaired <"$work/repair.json")" = "True" ] || fail "not repaired: $(cat "$work/repair.json")"
[ "$lost" -gt 0 ] || fail "the repair reports no loss: $(cat "$work/repair.json")"
[ -e "$copy/$name" ] || fail "no copy of the damaged $name in $copy"

start_server "$work/out2" "$work/err2" --data_dir="$work/data"
stop_server "$work/err2"
after=$(rows "$work/data")
echo "after the repair: $after decisions, $lost operations reported lost"
[ $((before - after)) -eq $((lost / 2)) ] ||
  fail "$before before, $after after, but the repair reported $lost operations ($((lost / 2)) decisions)"
[ "$after" -gt 0 ] || fail "nothing left after the repair"
# A second repair finds nothing to do.
"$BIN" log repair --data_dir="$work/data" 2>/dev/null | grep -q '"repaired":false' ||
  fail "a second repair changed something"

echo "a truncated table file"
start_server "$work/out3" "$work/err3" --data_dir="$work/pristine"
stop_server "$work/err3"
"$BIN" log repair --data_dir="$work/pristine" >/dev/null 2>&1 || true
# Make the decisions land in table files (a clean open flushes the WAL), then cut one.
sst="$(ls -S "$work/pristine/events/"*.sst | head -n 1)"
truncate -s $(( $(stat -c %s "$sst") / 2 )) "$sst"
expect_refusal "export, truncated $(basename "$sst")" "damaged.*$(basename "$sst")" \
  "$BIN" export --data_dir="$work/pristine" --experiment=demo_layout --format=csv --out="$work/e.csv"
echo "PASS"

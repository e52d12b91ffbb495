#!/usr/bin/env bash
# Every long CLI command reports progress on stderr (plain lines off a
# terminal) and keeps stdout to its one JSON line: gen + train (with an index
# build), index, recommend --all_users, simulate, ope bootstraps, export and
# loadtest against a demo server. Each must end with its final count.
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init
cd "$work"

# run <name> <recbandit args...>: stdout must be one JSON line.
run() {
  local name="$1"; shift
  "$BIN" "$@" >"$name.out" 2>"$name.err" || fail "$name: $(cat "$name.err")"
  [ "$(wc -l <"$name.out")" -eq 1 ] || fail "$name: stdout is not one line: $(cat "$name.out")"
  "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$name.out" ||
    fail "$name: stdout is not JSON"
}
# expect <name> <regex>: a stderr line of <name> matches.
expect() {
  grep -Eq -- "$2" "$1.err" || fail "$1: no stderr line matches '$2':"$'\n'"$(cat "$1.err")"
}

run gen gen interactions --users=2000 --items=30000 --nnz=200000 --factors=4 --seed=3 \
  --out=data.csv
run train train --input=data.csv --algo=als --factors=8 --iterations=2 --threads=2 \
  --index=HNSW8 --out=model
items="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["num_items"])' train.out)"
[ "$items" -gt 16384 ] || fail "only $items items: too few for two batches"
expect train '^als 2/2 '
expect train "^index HNSW8 items $items/$items "
run index index --model=model --index=IVF64,Flat --threads=2
# Items are added in batches of 16384: the count moves before the end.
expect index "^index IVF64,Flat items 16384/$items "
expect index "^index IVF64,Flat items $items/$items .* in [0-9.]+ s\$"
run all recommend --model=model --all_users --k=3 --threads=2 --out=all.jsonl
expect all '^recommend [0-9]+/[0-9]+ '
run simulate simulate --env=bernoulli --arms=4 --horizon=2000 --runs=6 --threads=2 \
  --policies=thompson,ucb1
expect simulate '^simulate runs 12/12 '
run ope ope --obd="$SRC/../shared/data/obd/random/men/men.csv" --target=uniform --bootstrap=50
expect ope '^ope bootstrap \(50 resamples\) rounds 10000/10000 '

start_server "$work/serve.out" "$work/serve.err" --demo --data_dir="$work/data"
run loadtest loadtest --target="127.0.0.1:$port" --rpc=decide --requests=300 --concurrency=4
expect loadtest '^loadtest calls 300/300 .* 300 calls, 0 errors$'
run loadtest_timed loadtest --target="127.0.0.1:$port" --rpc=recommend --duration_s=2 --concurrency=2
expect loadtest_timed '^loadtest seconds 2/2 '
run export export --data_dir="$work/data" --experiment=demo_layout --format=jsonl --out=log.jsonl
rows="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"])' export.out)"
[ "$rows" -ge 300 ] || fail "export: $rows rows"
expect export "^export rows $rows elapsed"
stop_server "$work/serve.err"

# A command that fails prints its error, not a progress line.
if "$BIN" simulate --env=linear --policies=thompson --horizon=10 --runs=1 >f.out 2>f.err; then
  fail "simulate should fail"
fi
[ "$(wc -l <f.err)" -eq 1 ] || fail "a failing simulate printed more than its error: $(cat f.err)"
echo "PASS"

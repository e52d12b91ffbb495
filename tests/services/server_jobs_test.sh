#!/usr/bin/env bash
# Durable jobs through the real server (tests/services/jobs_client.py, Debian's
# python3-grpcio): a 1-thread ALS Train job is killed with SIGKILL after a few
# checkpoints; the restarted server resumes it from its checkpoint and the
# version it writes is bitwise the model `recbandit train` makes uninterrupted
# with the same parameters. BatchRecommend jobs write the same bytes as
# `recbandit recommend --all_users` (jsonl and csv); a queued one cancels; a
# gated Train that fails its gates ends NOT_PROMOTED and ListModels shows it;
# bad requests get their codes. Ends with a clean SIGTERM stop.
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init
CLIENT="$SRC/tests/services/jobs_client.py"
make_python_stubs "$work/stubs"
data="$work/data"
mkdir -p "$data/batch"
"$BIN" gen interactions --users=5000 --items=2000 --nnz=100000 --factors=16 --seed=1 \
  --out="$data/train.csv" >/dev/null

start_server "$work/out.1" "$work/err.1" --data_dir="$data"
"$PY" "$CLIENT" start "127.0.0.1:$port" "$work/stubs" "$work/job_id"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pid=""
echo "server killed with SIGKILL mid-job"

start_server "$work/out.2" "$work/err.2" --data_dir="$data"
grep -q "queued again after a restart" "$work/err.2" ||
  fail "the restarted server did not take the job up again:"$'\n'"$(cat "$work/err.2")"
"$PY" "$CLIENT" resume "127.0.0.1:$port" "$work/stubs" "$work/job_id" | tee "$work/resume.txt"
version="$(sed -n 's/^VERSION //p' "$work/resume.txt")"
served="$data/models/resumable/$version"
[ -d "$served" ] || fail "no model directory $served"

# The same training without interruption, through the CLI.
"$BIN" train --input="$data/train.csv" --algo=als --factors=32 --iterations=30 --threads=1 \
  --seed=7 --out="$work/uninterrupted" >/dev/null 2>&1
for f in user_factors.bin item_factors.bin users.txt items.txt; do
  cmp "$served/$f" "$work/uninterrupted/$f" ||
    fail "$f of the resumed job differs from an uninterrupted run"
done
echo "the resumed job's factors equal an uninterrupted run's, byte for byte"

"$PY" "$CLIENT" batch "127.0.0.1:$port" "$work/stubs"
"$BIN" recommend --model="$served" --all_users --k=5 --out="$work/cli.jsonl" >/dev/null
"$BIN" recommend --model="$served" --all_users --k=5 --format=csv --out="$work/cli.csv" >/dev/null
cmp "$data/batch/all.jsonl" "$work/cli.jsonl" || fail "BatchRecommend jsonl != recommend --all_users"
cmp "$data/batch/all.csv" "$work/cli.csv" || fail "BatchRecommend csv != recommend --all_users"
[ ! -e "$data/batch/cancelled.jsonl" ] || fail "a cancelled BatchRecommend job wrote its file"
"$PY" - "$data/batch/some.jsonl" "$work/cli.jsonl" <<'PY'
import json, sys
some = [json.loads(l) for l in open(sys.argv[1])]
every = {r["user"]: r for r in map(json.loads, open(sys.argv[2]))}
assert [r["user"] for r in some] == ["u5", "nobody", "u3"], some
assert some[1]["fallback"] and not some[0]["fallback"], some
for r in (some[0], some[2]):
    assert r["items"] == every[r["user"]]["items"][:3], (r, every[r["user"]])
PY
echo "BatchRecommend output equals recommend --all_users (jsonl, csv, a user list)"

"$PY" "$CLIENT" gates "127.0.0.1:$port" "$work/stubs"
stop_server "$work/err.2"
echo "PASS"

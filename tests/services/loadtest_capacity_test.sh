#!/usr/bin/env bash
# `recbandit loadtest --slo_p99_ms` (the capacity ramp) through the real
# server (`serve --demo`) and the real CLI, with short steps (~15 s in all):
#  1. a generous objective (mixed rpcs): the report's invariants (steps rising
#     in concurrency from 1, within_slo as defined, max_qps_within_slo the
#     best qps among steps within it, top-level figures those of that step,
#     replicas_needed = ceil(target / max), qps_per_core, totals), the
#     --curve_out CSV equal to the steps, the --plot SVG well-formed XML with
#     a p99 line, a p50 line and the objective;
#  2. a tighter objective (recommend): the same invariants, whatever the knee;
#  3. an objective nothing meets (0.001 ms): exit 1, the report still on
#     stdout with max_qps_within_slo 0 after two steps, one error line;
#  4. every call failing (an unknown deployment): one step, ended by the
#     error bound, exit 1 naming the first error.
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init

start_server "$work/out" "$work/err" --demo --data_dir="$work/data"
target="127.0.0.1:$port"
echo "demo server on $target"

# check <report> <slo> <target_qps or 0> <server_cores> <max_concurrency> [csv] [svg]
check() {
  "$PY" - "$@" <<'EOF'
import csv, json, math, sys, xml.etree.ElementTree as ET
path, slo, target, cores, max_c = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])
csv_path = sys.argv[6] if len(sys.argv) > 6 else ""
svg_path = sys.argv[7] if len(sys.argv) > 7 else ""
lines = open(path).read().splitlines()
assert len(lines) == 1, lines
r = json.loads(lines[0])
steps = r["steps"]
assert r["slo_p99_ms"] == slo and r["server_cores"] == cores, r
assert steps and steps[0]["concurrency"] == 1, steps
cs = [s["concurrency"] for s in steps]
assert cs == sorted(set(cs)) and cs[-1] <= max_c, cs
# Doubling steps, plus at most 3 bisection steps.
doubling = len([c for c in cs if c & (c - 1) == 0 or c == max_c])
assert len(cs) <= doubling + 3, cs
for s in steps:
    assert s["requests"] > 0 and s["qps"] > 0, s
    assert s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"], s
    expected = s["p99_ms"] <= slo and s["errors"] <= 0.01 * s["requests"]
    assert s["within_slo"] == expected, s
assert r["requests"] == sum(s["requests"] for s in steps), r
assert r["errors"] == sum(s["errors"] for s in steps), r
within = [s for s in steps if s["within_slo"]]
if r["errors"] == 0:  # then within the objective means p99 <= slo
    assert within == [s for s in steps if s["p99_ms"] <= slo]
best = max(within, key=lambda s: s["qps"]) if within else None
assert r["max_qps_within_slo"] == (best["qps"] if best else 0), r
assert r["concurrency_at_max"] == (best["concurrency"] if best else 0), r
assert r["qps_per_core"] == r["max_qps_within_slo"] / cores, r
if best:  # the top-level figures are the chosen step's
    assert r["qps"] == best["qps"] and r["p99_ms"] == best["p99_ms"], r
    assert r["concurrency"] == best["concurrency"], r
assert r["planned_qps"] == target, r
if target > 0 and best:
    assert r["replicas_needed"] == math.ceil(target / best["qps"]), r
    assert r["replicas_with_headroom"] == math.ceil(
        target / (best["qps"] * (1 - r["headroom"]))), r
    assert r["replicas_with_headroom"] >= r["replicas_needed"] >= 1, r
else:
    assert r["replicas_needed"] == 0 and r["replicas_with_headroom"] == 0, r
reasons = ("p99 over the objective at 2 consecutive steps", "error rate ",
           "reached the concurrency bound %d" % max_c)
assert r["stop_reason"].startswith(reasons), r["stop_reason"]
if csv_path:
    rows = list(csv.reader(open(csv_path)))
    assert rows[0] == ["concurrency", "qps", "p50_ms", "p95_ms", "p99_ms", "requests",
                       "errors", "within_slo"], rows[0]
    assert len(rows) == len(steps) + 1, rows
    for row, s in zip(rows[1:], steps):
        assert int(row[0]) == s["concurrency"] and int(row[5]) == s["requests"], (row, s)
        assert int(row[6]) == s["errors"] and row[7] == str(s["within_slo"]).lower()
        for i, key in ((1, "qps"), (2, "p50_ms"), (3, "p95_ms"), (4, "p99_ms")):
            assert math.isclose(float(row[i]), s[key], rel_tol=1e-8), (row, s)
if svg_path:
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.parse(svg_path).getroot()
    assert root.tag == ns + "svg", root.tag
    paths = root.findall(".//%spath" % ns)
    assert [p.find(ns + "title").text for p in paths] == ["p99", "p50"], paths
    assert len(root.findall(".//%scircle" % ns)) == 2 * len(steps)
    refs = [l for l in root.iter(ns + "line") if l.get("class") == "reference"]
    assert len(refs) == 1 and "p99 <= %g ms" % slo in refs[0].find(ns + "title").text, refs
print("%s: steps %s, max %.0f qps within %g ms at concurrency %d, replicas %d; %s" % (
    path.rsplit("/", 1)[-1], cs, r["max_qps_within_slo"], slo, r["concurrency_at_max"],
    r["replicas_needed"], r["stop_reason"]))
EOF
}

# 1. A generous objective; the default --server_cores is this machine's.
cores="$("$PY" -c 'import os; print(os.cpu_count())')"
"$BIN" loadtest --target="$target" --rpc=mixed --slo_p99_ms=200 --target_qps=5000 \
  --step_duration_s=0.5 --max_concurrency=8 --curve_out="$work/curve.csv" \
  --plot="$work/curve.svg" >"$work/generous.json" 2>"$work/generous.err" ||
  fail "the generous ramp failed: $(cat "$work/generous.err")"
check "$work/generous.json" 200 5000 "$cores" 8 "$work/curve.csv" "$work/curve.svg"
grep -q "^loadtest ramp step 1 (at most 7): concurrency 1: " "$work/generous.err" ||
  fail "no progress line per step: $(cat "$work/generous.err")"

# 2. A tighter objective, Recommend only, 4 server cores (given).
"$BIN" loadtest --target="$target" --rpc=recommend --slo_p99_ms=2 --step_duration_s=0.5 \
  --max_concurrency=32 --server_cores=4 --target_qps=1e6 --headroom=0.5 \
  >"$work/tight.json" 2>"$work/tight.err" || status=$?
if [ "${status:-0}" -ne 0 ]; then  # a loaded machine: nothing met 2 ms
  grep -q "no step met the objective" "$work/tight.err" || fail "$(cat "$work/tight.err")"
fi
check "$work/tight.json" 2 1e6 4 32
unset status

# 3. An objective nothing meets: the documented exit 1, the curve still printed.
status=0
"$BIN" loadtest --target="$target" --rpc=recommend --slo_p99_ms=0.001 --target_qps=100 \
  --step_duration_s=0.5 --curve_out="$work/none.csv" >"$work/none.json" 2>"$work/none.err" ||
  status=$?
[ "$status" -eq 1 ] || fail "an objective nothing meets exited $status"
check "$work/none.json" 0.001 100 "$cores" 256 "$work/none.csv"
"$PY" - "$work/none.json" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read())
assert [s["concurrency"] for s in r["steps"]] == [1, 2], r["steps"]
assert r["max_qps_within_slo"] == 0 and r["replicas_needed"] == 0 and r["qps"] == 0, r
assert r["stop_reason"] == "p99 over the objective at 2 consecutive steps", r
EOF
tail -n 1 "$work/none.err" | grep -q "^recbandit loadtest: no step met the objective (p99 <= 0.001 ms" ||
  fail "no one-line error: $(cat "$work/none.err")"
[ "$(grep -c "^recbandit loadtest:" "$work/none.err")" -eq 1 ] || fail "$(cat "$work/none.err")"

# 4. Every call fails: the error bound ends the ramp at its first step.
status=0
"$BIN" loadtest --target="$target" --rpc=recommend --deployment=nope --slo_p99_ms=10 \
  --step_duration_s=0.5 >"$work/errors.json" 2>"$work/errors.err" || status=$?
[ "$status" -eq 1 ] || fail "a ramp of failing calls exited $status"
check "$work/errors.json" 10 0 "$cores" 256
"$PY" - "$work/errors.json" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read())
assert len(r["steps"]) == 1 and r["steps"][0]["errors"] == r["steps"][0]["requests"], r
assert r["stop_reason"] == "error rate 1 at concurrency 1 over the bound 0.01", r
EOF
grep -q "first error: Recommend: NOT_FOUND: unknown deployment 'nope'" "$work/errors.err" ||
  fail "the error line does not name the first error: $(cat "$work/errors.err")"

kill -0 "$pid" || fail "the server died"
stop_server "$work/err"
echo "PASS"

#!/usr/bin/env bash
# End-to-end test of `recbandit simulate` through the built binary:
#  1. the issue-7 reference problem at full size (50 runs, T = 100,000, K = 10
#     Bernoulli arms, best 0.5, others 0.4; ~6 CPU-seconds): Thompson ~240,
#     UCB1 ~1525, epsilon-greedy(0.1) ~1033 must each lie inside the 95% band
#     the command reports, and the Lai-Robbins term is 44.7 ln T = 514.6;
#  2. --out CSV and --plot SVG: the SVG parses as XML (python3 xml.etree) with
#     exactly one <path> per policy, a title naming the environment, log and
#     linear x axes;
#  3. obd_replay on the uniform-random Open Bandit Dataset sample;
#  4. bad flags give exit code 1 and a one-line error.
#
# Replay data: Open Bandit Dataset, ZOZO, Inc., CC BY 4.0
# (https://creativecommons.org/licenses/by/4.0/); small sample from
# st-tech/zr-obp obp/dataset/obd/. Saito, Aihara, Matsutani, Narita, "Open
# Bandit Dataset and Pipeline", arXiv:2008.07146.
set -euo pipefail
BIN="${RECBANDIT_BINARY:?}"
SRC="${RECBANDIT_SOURCE_DIR:?}"
PY=/usr/bin/python3
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 1 + 2: the reference problem, with CSV and SVG.
"$BIN" simulate --env=bernoulli --arms=10 --gap=0.1 --horizon=100000 --runs=50 \
  --threads=2 --seed=1 --policies=thompson,ucb1,epsilon_greedy:epsilon=0.1 \
  --out="$work/curves.csv" --plot="$work/curves.svg" > "$work/report.json"
"$PY" - "$work" <<'EOF'
import json, sys, xml.etree.ElementTree as ET
work = sys.argv[1]
lines = open(work + "/report.json").read().splitlines()
assert len(lines) == 1, lines
r = json.loads(lines[0])
assert r["horizon"] == 100000 and r["runs"] == 50 and r["env"] == "bernoulli", r
assert abs(r["lai_robbins_final"] - 514.6) < 0.1, r["lai_robbins_final"]
ref = {"thompson": 240, "ucb1:c=1": 1525, "epsilon_greedy:epsilon=0.1": 1033}
assert [p["policy"] for p in r["policies"]] == list(ref), r["policies"]
for p in r["policies"]:
    lo, hi = p["ci_low"], p["ci_high"]
    assert lo <= ref[p["policy"]] <= hi, (p["policy"], lo, hi)
    assert lo <= p["final_regret"] <= hi and p["steps_per_second"] > 0
csv = open(work + "/curves.csv").read().splitlines()
assert csv[0] == "policy,t,mean,low,high", csv[0]
finals = {}
for row in csv[1:]:
    name, t, mean, low, high = row.rsplit(",", 4)
    if int(t) == 100000:
        finals[name] = float(mean)
assert set(finals) == set(ref) | {"lai_robbins"}, finals
assert abs(finals["thompson"] - r["policies"][0]["final_regret"]) < 1e-3
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse(work + "/curves.svg").getroot()
paths = root.findall(".//s:path", ns)
assert len(paths) == 3, len(paths)
assert [p.find("s:title", ns).text for p in paths] == list(ref)
assert len(root.findall(".//s:polygon", ns)) == 3
texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
assert "bernoulli K=10" in texts and "cumulative pseudo-regret" in texts, texts
assert "Lai-Robbins 44.7 ln t" in texts and "log scale" in texts, texts
print("reference OK:", [(p["policy"], round(p["final_regret"], 1)) for p in r["policies"]])
EOF

# Linear x axis and a contextual environment.
"$BIN" simulate --env=linear --arms=4 --dim=3 --horizon=2000 --runs=4 --threads=2 \
  --policies=linucb:alpha=1,lin_ts,ucb1 --plot="$work/linear.svg" --log_x=false \
  > "$work/linear.json"
"$PY" - "$work" <<'EOF'
import json, sys, xml.etree.ElementTree as ET
work = sys.argv[1]
r = json.loads(open(work + "/linear.json").read())
assert r["lai_robbins_final"] == 0 and len(r["policies"]) == 3, r
root = ET.parse(work + "/linear.svg").getroot()
assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) == 3
texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
assert "linear K=4 d=3" in texts and "log scale" not in texts, texts
EOF

# 3: replay on the uniform-random OBD log; the uniform policy estimates the
# log's mean click (0.0046; 100 runs x ~294 matched steps, sd ~4e-4).
OBD="$SRC/../shared/data/obd/random/men/men.csv"
"$BIN" simulate --env=obd_replay --obd="$OBD" --runs=100 --threads=2 --horizon=1000000 \
  --policies=epsilon_greedy:epsilon=1,thompson --plot="$work/replay.svg" > "$work/replay.json"
"$PY" - "$work" <<'EOF'
import json, sys, xml.etree.ElementTree as ET
work = sys.argv[1]
r = json.loads(open(work + "/replay.json").read())
assert r["env"] == "obd_replay", r
u = r["policies"][0]
assert abs(u["matched_steps"] - 10000 / 34) < 15, u
assert abs(u["final_reward_per_step"] - 0.0046) < 0.0016, u
assert u["reward_ci_low"] <= u["final_reward_per_step"] <= u["reward_ci_high"]
root = ET.parse(work + "/replay.svg").getroot()
assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) == 2
texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
assert "clicks per matched step" in texts and "obd_replay" in texts, texts
EOF

# 4: bad input.
expect_error() {
  local want="$1"; shift
  if "$BIN" simulate "$@" > "$work/out" 2> "$work/err"; then
    echo "expected failure for: $*" >&2; exit 1
  fi
  grep -q -- "$want" "$work/err" || { echo "stderr lacks '$want':" >&2; cat "$work/err" >&2; exit 1; }
  [ "$(wc -l < "$work/err")" -eq 1 ] || { cat "$work/err" >&2; exit 1; }
}
expect_error "unknown --env 'nope'" --env=nope
expect_error "--gap must be in (0, 0.5]" --gap=0.7
expect_error "--means\[1\] = 2 is outside" --means=0.5,2
expect_error "--means item 1 'x' is not a number" --means=0.5,x
expect_error "--horizon must be in" --horizon=0
expect_error "unknown policy family 'bogus'" --policies=bogus
expect_error "policy thompson (run 0, step 1): Update: thompson (Beta-Bernoulli) needs rewards" \
  --env=linear --policies=thompson --horizon=10 --runs=1
expect_error "--runs must be in" --runs=0
expect_error "No such file\|not found\|cannot open\|open" --env=obd_replay --obd="$work/missing.csv"
echo OK

"""Python driver of tests/services/server_crash_test.sh (Debian's python3-grpcio,
stubs generated from proto/; stdlib otherwise): the phases of a kill -9
durability test of `recbandit serve`.

  load   <host:port> <stub dir> <record dir> <round>
      Creates experiment "crash" (epsilon-greedy, snapshot every 25 learned
      rewards) unless it exists, then 8 threads loop Decide -> Reward (1 when
      "a" was chosen, else 0) until the server goes away. Every attempt and
      every acknowledgement is appended to a per-thread record file, flushed
      and fsynced before the next call, so the record survives the kill:
        d <event_id>            Decide about to be sent (client-chosen id)
        D <event_id>            Decide acknowledged
        a <event_id> <value>    Reward about to be sent
        R <event_id> <value>    Reward acknowledged (and learned)
      Writes <record dir>/ready.<round> once >= MIN_REWARDS rewards of this
      round are acknowledged. An rpc error ends a thread quietly only once
      <record dir>/killed.<round> exists (the script creates it right before
      kill -9); any error before that fails the phase.
  verify <host:port> <stub dir> <record dir> <round> <out json>
      After the restart: one Decide in "crash" must report a policy_version
      between the acknowledged rewards (all rounds) and the attempted ones, and
      the restored epsilon-greedy state must still prefer "a". Writes the
      restored policy_version to <out json>.
  check  <record dir> <export.jsonl> <verify json>
      On `recbandit export --format=jsonl` of the stopped server: every
      acknowledged decision is exported, every acknowledged reward is there with
      its value, nothing was exported that was never attempted, and the number
      of rewarded rows equals the restored policy_version (snapshot + journal
      replay learned exactly the stored rewards).
"""
import glob
import json
import os
import random
import sys
import threading
import time

import grpc

TIMEOUT = 60          # per rpc; generous for a loaded 2-core machine
THREADS = 8
MIN_REWARDS = 200     # acknowledged rewards per round before the kill is allowed
# Safety stop if the server is never killed (bench/soak.sh sets it above its
# cycle length).
MAX_LOAD_SECONDS = int(os.environ.get("CRASH_CLIENT_MAX_LOAD_SECONDS", "300"))
EXPERIMENT = "crash"
ACTIONS = ("a", "b", "c")
EPSILON = 0.1


def stubs(stub_dir):
    sys.path.insert(0, stub_dir)
    from proto import common_pb2, events_pb2  # noqa: E402
    from proto import experiments_pb2 as ex, experiments_pb2_grpc as exg  # noqa: E402
    return common_pb2, events_pb2, ex, exg


class Recorder:
    """Append-only record file of one thread; every line is fsynced."""

    def __init__(self, path):
        self.f = open(path, "a", encoding="ascii")

    def line(self, *fields):
        self.f.write(" ".join(str(x) for x in fields) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self):
        self.f.close()


def read_records(record_dir):
    """Returns every record (all rounds) as sets/dicts."""
    rec = {"d": set(), "D": set(), "a": {}, "R": {}}
    for path in sorted(glob.glob(os.path.join(record_dir, "rec.*"))):
        with open(path, encoding="ascii") as f:
            for raw in f:
                if not raw.endswith("\n"):
                    continue  # cannot happen (the client is not killed), but be strict
                parts = raw.split()
                kind, eid = parts[0], parts[1]
                if kind in ("d", "D"):
                    assert eid not in rec[kind], ("duplicate record", kind, eid, path)
                    rec[kind].add(eid)
                else:
                    assert eid not in rec[kind], ("duplicate record", kind, eid, path)
                    rec[kind][eid] = float(parts[2])
    assert rec["D"] <= rec["d"], "acknowledged decisions were attempted"
    assert set(rec["a"]) <= rec["D"], "rewards are only sent for acknowledged decisions"
    assert set(rec["R"]) <= set(rec["a"]), "acknowledged rewards were attempted"
    for eid, v in rec["R"].items():
        assert rec["a"][eid] == v, (eid, v, rec["a"][eid])
    return rec


def cmd_load(target, stub_dir, record_dir, rnd):
    common_pb2, events_pb2, ex, exg = stubs(stub_dir)
    killed_marker = os.path.join(record_dir, "killed.%s" % rnd)
    ready_marker = os.path.join(record_dir, "ready.%s" % rnd)
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        exp = exg.ExperimentsStub(channel)
        config = events_pb2.ExperimentConfig(
            name=EXPERIMENT, snapshot_every_rewards=25,
            variants=[events_pb2.Variant(name="eg", policy_spec="epsilon_greedy:epsilon=0.1",
                                         traffic_weight=1)])
        try:
            stored = exp.CreateExperiment(ex.CreateExperimentRequest(config=config),
                                          timeout=TIMEOUT)
            print("round %s: created experiment %s" % (rnd, stored.name))
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.ALREADY_EXISTS and rnd != "1", (e.code(),
                                                                               e.details())
            stored = exp.GetExperiment(ex.GetExperimentRequest(name=EXPERIMENT),
                                       timeout=TIMEOUT)
            print("round %s: experiment %s exists" % (rnd, stored.name))
        assert stored.snapshot_every_rewards == 25 and not stored.shadow_policy_specs, stored

        lock = threading.Lock()
        counts = {"decisions": 0, "rewards": 0, "attempts": 0}
        failures = []
        start = time.monotonic()
        actions = [common_pb2.Action(id=x) for x in ACTIONS]

        def worker(t):
            rng = random.Random("%s-%d-%d" % (rnd, t, os.getpid()))
            recorder = Recorder(os.path.join(record_dir, "rec.%s.%d" % (rnd, t)))
            n = 0
            try:
                while time.monotonic() - start < MAX_LOAD_SECONDS:
                    n += 1
                    eid = "r%s-t%d-%d-%08x" % (rnd, t, n, rng.getrandbits(32))
                    recorder.line("d", eid)
                    d = exp.Decide(ex.DecideRequest(experiment=EXPERIMENT, event_id=eid,
                                                    unit_id="u%d" % rng.randrange(1 << 30),
                                                    actions=actions), timeout=TIMEOUT)
                    assert d.event_id == eid and d.chosen_action in ACTIONS, d
                    assert d.variant == "eg", d
                    recorder.line("D", eid)
                    with lock:
                        counts["decisions"] += 1
                    value = 1 if d.chosen_action == "a" else 0
                    recorder.line("a", eid, value)
                    with lock:
                        counts["attempts"] += 1
                    r = exp.Reward(ex.RewardRequest(experiment=EXPERIMENT, event_id=eid,
                                                    value=value), timeout=TIMEOUT)
                    assert r.learned and r.aggregated == value, (eid, r)
                    recorder.line("R", eid, value)
                    with lock:
                        counts["rewards"] += 1
                        if counts["rewards"] == MIN_REWARDS:
                            with open(ready_marker, "w") as f:
                                f.write("%d\n" % MIN_REWARDS)
                with lock:
                    failures.append("thread %d: server never killed in %d s" %
                                    (t, MAX_LOAD_SECONDS))
            except grpc.RpcError as e:
                if not os.path.exists(killed_marker):
                    with lock:
                        failures.append("thread %d: %s before the kill: %s" %
                                        (t, e.code(), e.details()))
                # else: the server is gone; end quietly.
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    failures.append("thread %d: %r" % (t, e))
            finally:
                recorder.close()

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    print("round %s load: %d decisions acknowledged, %d rewards attempted, %d acknowledged"
          " (%.1f s)" % (rnd, counts["decisions"], counts["attempts"], counts["rewards"],
                         time.monotonic() - start))
    if failures:
        for f in failures:
            print("FAIL: " + f, file=sys.stderr)
        sys.exit(1)
    assert counts["rewards"] >= MIN_REWARDS, counts


def cmd_verify(target, stub_dir, record_dir, rnd, out_path):
    common_pb2, events_pb2, ex, exg = stubs(stub_dir)
    rec = read_records(record_dir)
    acked, attempted = len(rec["R"]), len(rec["a"])
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        exp = exg.ExperimentsStub(channel)
        stored = exp.GetExperiment(ex.GetExperimentRequest(name=EXPERIMENT), timeout=TIMEOUT)
        assert stored.snapshot_every_rewards == 25, stored
        d = exp.Decide(ex.DecideRequest(experiment=EXPERIMENT, event_id="verify-%s" % rnd,
                                        unit_id="verifier",
                                        actions=[common_pb2.Action(id=x) for x in ACTIONS]),
                       timeout=TIMEOUT)
    version = d.policy_version
    print("round %s verify: restored policy_version %d; acknowledged rewards %d, attempted %d"
          % (rnd, version, acked, attempted))
    assert acked <= version <= attempted, (
        "restored policy_version %d outside [acknowledged %d, attempted %d]"
        % (version, acked, attempted))
    # The learned state survived: "a" (always rewarded 1) is the greedy arm.
    greedy = 1 - EPSILON + EPSILON / len(ACTIONS)
    assert abs(d.pmf[0] - greedy) < 1e-9, ("restored policy does not prefer a", list(d.pmf))
    with open(out_path, "w") as f:
        json.dump({"policy_version": version, "event_id": d.event_id}, f)


def cmd_check(record_dir, export_path, verify_path):
    rec = read_records(record_dir)
    with open(verify_path) as f:
        version = json.load(f)["policy_version"]
    rows = {}
    with open(export_path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            assert row["event_id"] not in rows, ("exported twice", row["event_id"])
            assert row["experiment"] == EXPERIMENT and row["variant"] == "eg", row
            rows[row["event_id"]] = row
    lost_decisions = sorted(rec["D"] - set(rows))
    lost_rewards = sorted(e for e in rec["R"] if e not in rows or rows[e]["reward"] is None)
    wrong_rewards = sorted((e, v, rows[e]["reward"]) for e, v in rec["R"].items()
                           if e in rows and rows[e]["reward"] is not None
                           and rows[e]["reward"] != v)
    phantom_rows = sorted(e for e in rows if e not in rec["d"] and not e.startswith("verify-"))
    phantom_rewards = sorted(e for e, r in rows.items()
                             if r["reward"] is not None and rec["a"].get(e) != r["reward"])
    rewarded = sum(1 for r in rows.values() if r["reward"] is not None)
    print("check: %d decisions acknowledged, %d exported rows (%d rewarded); %d rewards "
          "acknowledged, %d attempted; restored policy_version %d" % (
              len(rec["D"]), len(rows), rewarded, len(rec["R"]), len(rec["a"]), version))
    problems = []
    if lost_decisions:
        problems.append("%d acknowledged decisions missing from the export: %s" % (
            len(lost_decisions), lost_decisions[:10]))
    if lost_rewards:
        problems.append("%d acknowledged rewards missing from the export: %s" % (
            len(lost_rewards), lost_rewards[:10]))
    if wrong_rewards:
        problems.append("%d rewards with the wrong value (id, sent, exported): %s" % (
            len(wrong_rewards), wrong_rewards[:10]))
    if phantom_rows:
        problems.append("%d exported decisions never attempted: %s" % (
            len(phantom_rows), phantom_rows[:10]))
    if phantom_rewards:
        problems.append("%d exported rewards never attempted with that value: %s" % (
            len(phantom_rewards), phantom_rewards[:10]))
    if rewarded != version:
        problems.append("restored policy_version %d != %d stored (journaled) rewards" % (
            version, rewarded))
    for row in rows.values():
        if row["policy_version"] > version:
            problems.append("decision %s logged policy_version %d > restored %d" % (
                row["event_id"], row["policy_version"], version))
            break
    if problems:
        for p in problems:
            print("FAIL: " + p, file=sys.stderr)
        sys.exit(1)


def main():
    phase, args = sys.argv[1], sys.argv[2:]
    if phase == "load":
        cmd_load(*args)
    elif phase == "verify":
        cmd_verify(*args)
    elif phase == "check":
        cmd_check(*args)
    else:
        sys.exit("unknown phase " + phase)


if __name__ == "__main__":
    main()

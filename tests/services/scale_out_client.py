"""Python driver of tests/services/server_scale_out_test.sh (Debian's
python3-grpcio, stubs generated from proto/; stdlib otherwise): two recbandit
replicas sharing one NATS JetStream stream.

  setup  <A> <B> <stub dir>
      Creates experiment "so" (a linear Thompson-free epsilon-greedy variant
      and a LinUCB one) on replica A and waits until replica B has it too.
  load   <A> <B> <stub dir> <record dir> <seconds>
      6 threads loop for <seconds>: Decide on a random replica, then Reward the
      decision on a random replica (often the other one). Errors (a replica
      being killed and restarted) are tolerated: only acknowledged calls are
      recorded, one line each, in <record dir>/rec.<thread>:
        D <event_id>            Decide acknowledged
        a <event_id> <value>    Reward about to be sent
        R <event_id> <value>    Reward acknowledged (queued to the stream)
  verify <A> <B> <stub dir> <record dir> <stream dump jsonl> <out json>
      Waits until both replicas are quiet (outbox empty, everything in the
      stream applied, nothing parked), then checks: every acknowledged
      decision is in the stream exactly once, every acknowledged reward is in
      it (no reward id twice, none never attempted), no reward is left
      unjoined, and both replicas hold equal policy states for every variant.
      Writes the policy states to <out json>.
"""
import collections
import glob
import json
import os
import random
import sys
import threading
import time

import grpc

EXPERIMENT = "so"
ACTIONS = ["a", "b", "c"]
THREADS = 6
TIMEOUT = 10


def stubs(stub_dir):
    sys.path.insert(0, stub_dir)
    from proto import common_pb2, events_pb2  # noqa: E402
    from proto import experiments_pb2 as ex, experiments_pb2_grpc as exg  # noqa: E402
    return common_pb2, events_pb2, ex, exg


def channel_to(target):
    ch = grpc.insecure_channel(target)
    return ch


def context(common_pb2, rng):
    return common_pb2.Context(dense=[rng.uniform(-1, 1), rng.uniform(-1, 1)])


def cmd_setup(a, b, stub_dir):
    common_pb2, events_pb2, ex, exg = stubs(stub_dir)
    ea = exg.ExperimentsStub(channel_to(a))
    eb = exg.ExperimentsStub(channel_to(b))
    config = events_pb2.ExperimentConfig(
        name=EXPERIMENT, context_dim=2, snapshot_every_rewards=50,
        variants=[events_pb2.Variant(name="eg", policy_spec="epsilon_greedy:epsilon=0.2",
                                     traffic_weight=1),
                  events_pb2.Variant(name="lin", policy_spec="linucb:alpha=1",
                                     traffic_weight=1)])
    stored = ea.CreateExperiment(ex.CreateExperimentRequest(config=config), timeout=TIMEOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            seen = eb.GetExperiment(ex.GetExperimentRequest(name=EXPERIMENT), timeout=TIMEOUT)
            break
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, (e.code(), e.details())
            assert time.monotonic() < deadline, "replica B never saw the experiment"
            time.sleep(0.05)
    assert seen == stored, (seen, stored)
    print("setup: experiment created on A appeared on B (created_unix_ms %d)"
          % seen.created_unix_ms)


def cmd_load(a, b, stub_dir, record_dir, seconds):
    common_pb2, events_pb2, ex, exg = stubs(stub_dir)
    targets = [exg.ExperimentsStub(channel_to(a)), exg.ExperimentsStub(channel_to(b))]
    actions = [common_pb2.Action(id=x) for x in ACTIONS]
    counts = collections.Counter()
    lock = threading.Lock()
    start = time.monotonic()

    def worker(t):
        rng = random.Random("load-%d" % t)
        n = 0
        with open(os.path.join(record_dir, "rec.%d" % t), "w") as rec:
            while time.monotonic() - start < seconds:
                n += 1
                eid = "t%d-%d-%08x" % (t, n, rng.getrandbits(32))
                ctx = context(common_pb2, rng)
                try:
                    d = rng.choice(targets).Decide(
                        ex.DecideRequest(experiment=EXPERIMENT, event_id=eid, context=ctx,
                                         unit_id="u%d" % rng.randrange(1000), actions=actions),
                        timeout=TIMEOUT)
                except grpc.RpcError as e:
                    with lock:
                        counts["decide_" + e.code().name] += 1
                    time.sleep(0.01)
                    continue
                rec.write("D %s\n" % eid)
                with lock:
                    counts["decisions"] += 1
                # Click-through depends on the action and the context.
                p = {"a": 0.2, "b": 0.5, "c": 0.35}[d.chosen_action] + 0.2 * ctx.dense[0]
                value = 1 if rng.random() < p else 0
                for attempt in range(3):
                    rec.write("a %s %d\n" % (eid, value))
                    rec.flush()
                    try:
                        r = rng.choice(targets).Reward(
                            ex.RewardRequest(experiment=EXPERIMENT, event_id=eid, value=value),
                            timeout=TIMEOUT)
                        assert r.queued, r
                        rec.write("R %s %d\n" % (eid, value))
                        with lock:
                            counts["rewards"] += 1
                        break
                    except grpc.RpcError as e:
                        with lock:
                            counts["reward_" + e.code().name] += 1
                        time.sleep(0.01)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    print("load: %s in %.1f s" % (dict(counts), time.monotonic() - start))
    assert counts["decisions"] >= 200 and counts["rewards"] >= 200, counts


def read_records(record_dir):
    decided, attempted, acked = set(), collections.Counter(), collections.Counter()
    for path in glob.glob(os.path.join(record_dir, "rec.*")):
        for line in open(path):
            f = line.split()
            if len(f) < 2:
                continue  # a torn last line
            if f[0] == "D":
                decided.add(f[1])
            elif f[0] == "a":
                attempted[f[1]] += 1
            elif f[0] == "R":
                acked[f[1]] += 1
    return decided, attempted, acked


def wait_quiet(ea, eb, ex):
    deadline = time.monotonic() + 60
    while True:
        sa = ea.GetStreamStatus(ex.GetStreamStatusRequest(), timeout=TIMEOUT)
        sb = eb.GetStreamStatus(ex.GetStreamStatusRequest(), timeout=TIMEOUT)
        quiet = all(s.outbox_pending == 0 and s.stream_last_seq > 0 and
                    s.applied_stream_seq == s.stream_last_seq for s in (sa, sb))
        if quiet and sa.stream_last_seq == sb.stream_last_seq:
            return sa, sb
        assert time.monotonic() < deadline, ("replicas never quiet", sa, sb)
        time.sleep(0.2)


def cmd_verify(a, b, stub_dir, record_dir, dump_path, out_path):
    common_pb2, events_pb2, ex, exg = stubs(stub_dir)
    ea = exg.ExperimentsStub(channel_to(a))
    eb = exg.ExperimentsStub(channel_to(b))
    t0 = time.monotonic()
    sa, sb = wait_quiet(ea, eb, ex)
    print("verify: quiet after %.1f s at stream seq %d" % (time.monotonic() - t0,
                                                            sa.stream_last_seq))
    for s in (sa, sb):
        assert s.parked_rewards == 0, ("unjoined rewards", s)
        assert s.rejected == 0 and s.conflicts == 0, s
    decided, attempted, acked = read_records(record_dir)
    if not os.path.exists(dump_path):
        # The script dumps the stream after this first pass prints "quiet".
        print("QUIET")
        return
    decisions = collections.Counter()
    rewards = collections.Counter()
    reward_ids = collections.Counter()
    for line in open(dump_path):
        row = json.loads(line)
        if row["kind"] == "decision":
            decisions[row["event_id"]] += 1
        elif row["kind"] == "reward":
            rewards[row["event_id"]] += 1
            reward_ids[row["reward_id"]] += 1
    missing = [e for e in decided if decisions[e] != 1]
    assert not missing, ("acknowledged decisions not in the stream exactly once",
                         missing[:5], len(missing))
    assert all(n == 1 for n in reward_ids.values()), "a reward id stored twice"
    for e, n in acked.items():
        assert rewards[e] >= n, ("acknowledged reward missing", e, n, rewards[e])
    for e, n in rewards.items():
        assert n <= attempted[e], ("a reward in the stream never attempted", e, n, attempted[e])
        assert decisions[e] == 1, ("a reward whose decision is not in the stream", e)
    states = {}
    for variant in ("eg", "lin"):
        pa = ea.GetPolicyState(ex.GetPolicyStateRequest(experiment=EXPERIMENT, variant=variant),
                               timeout=TIMEOUT)
        pb = eb.GetPolicyState(ex.GetPolicyStateRequest(experiment=EXPERIMENT, variant=variant),
                               timeout=TIMEOUT)
        assert pa.state.SerializeToString() == pb.state.SerializeToString(), (variant, pa, pb)
        assert pa.state.step > 0, (variant, pa)
        states[variant] = pa.state.step
    total = sum(rewards.values())
    assert sum(states.values()) <= total, (states, total)
    print("verify: %d decisions and %d rewards in the stream (%d acknowledged); "
          "policy states equal on both replicas (steps %s)"
          % (len(decisions), total, sum(acked.values()), states))
    with open(out_path, "w") as f:
        json.dump({"steps": states, "decisions": len(decisions), "rewards": total}, f)


def main():
    cmd = sys.argv[1]
    if cmd == "setup":
        cmd_setup(*sys.argv[2:5])
    elif cmd == "load":
        cmd_load(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]))
    elif cmd == "verify":
        cmd_verify(*sys.argv[2:8])
    else:
        sys.exit("unknown phase " + cmd)


if __name__ == "__main__":
    main()

"""An independent client (Debian's python3-grpcio, stubs generated from proto/)
for the Deployments service against `recbandit serve --demo`: a second demo
version is trained, a blue/green deployment of versions 1 and 2 is created,
Recommend through it follows the weights (chi-square) and keeps each unit's
variant, served slates carry event ids and propensities, RewardSlate credits
the clicked position, updates are guarded by their revision, the journal
lists every change, SwitchDeployment and RollbackDeployment move all traffic
at once, a canary that earns less is rolled back by the server itself and a
healthy one promoted, an exploring deployment's slates judge another version
offline (EvaluatePolicy with a deployment), and every bad request gets its
documented code.

Usage: deployments_client.py <host:port> <stub dir> <first | restarted> <variants file>
(the first phase writes each unit's variant there; the restarted one checks it)
"""
import sys
import time

import grpc

sys.path.insert(0, sys.argv[2])
from proto import deployments_pb2 as dp, deployments_pb2_grpc as dpg  # noqa: E402
from proto import experiments_pb2 as ex, experiments_pb2_grpc as exg  # noqa: E402
from proto import model_pb2  # noqa: E402
from proto import recommender_pb2 as rc, recommender_pb2_grpc as rcg  # noqa: E402

TIMEOUT = 30
UNITS = 400


def expect_code(code, fn, request):
    """Calls fn and returns the RpcError, asserting its status code."""
    try:
        fn(request, timeout=TIMEOUT)
    except grpc.RpcError as e:
        assert e.code() == code, (code, e.code(), e.details())
        assert e.details() and len(e.details()) < 2048, "errors carry a bounded message"
        print("  %-19s %s: %s" % (code.name, fn._method.decode().split("/")[-1], e.details()))
        return e
    raise AssertionError("expected %s from %s" % (code.name, fn._method))


def blue_green(blue, green):
    return dp.Deployment(
        name="homepage", description="blue/green of the demo model",
        variants=[dp.DeploymentVariant(name="blue", traffic_weight=blue,
                                       pipeline=dp.Pipeline(model="demo@1")),
                  dp.DeploymentVariant(name="green", traffic_weight=green,
                                       pipeline=dp.Pipeline(model="demo@2"))])


def train_second_version(rec):
    params = model_pb2.TrainParams(algo=model_pb2.ALS,
                                   als=model_pb2.AlsParams(factors=8, iterations=2),
                                   threads=2, seed=5)
    job = rec.Train(rc.TrainRequest(model_name="demo", interactions_path="demo/interactions.csv",
                                    params=params), timeout=TIMEOUT)
    final = list(rec.WatchJob(rc.GetJobRequest(job_id=job.job_id), timeout=600))[-1]
    assert final.state == rc.JOB_STATE_SUCCEEDED, final
    assert final.model_version == 2, final


def serve_all(rec, deployment):
    """Recommend through `deployment` for every unit; returns unit -> response."""
    out = {}
    for i in range(UNITS):
        out["u%d" % i] = rec.Recommend(rc.RecommendRequest(deployment=deployment, user="u%d" % i,
                                                           k=5), timeout=TIMEOUT)
    return out


def check_shares(served, green_share):
    green = sum(1 for r in served.values() if r.variant == "green")
    expected = UNITS * green_share
    # Chi-square with 1 degree of freedom below 10.83 (its 0.999 quantile).
    chi2 = ((green - expected) ** 2 / expected +
            (UNITS - green - (UNITS - expected)) ** 2 / (UNITS - expected))
    assert chi2 < 10.83, (green, expected)
    for r in served.values():
        assert r.event_id and len(r.items) == 5, r
        assert all(item.propensity == 1.0 for item in r.items), r
        assert r.model_version == (1 if r.variant == "blue" else 2), r
    print("  %d of %d units on green (expected %.0f)" % (green, UNITS, expected))


def first(channel):
    rec = rcg.RecommenderStub(channel)
    dep = dpg.DeploymentsStub(channel)
    print("Train a second demo version")
    train_second_version(rec)

    print("CreateDeployment and its errors")
    created = dep.CreateDeployment(dp.CreateDeploymentRequest(deployment=blue_green(1, 3)),
                                   timeout=TIMEOUT)
    assert created.revision == 1 and created.created_unix_ms > 0, created
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    bad = blue_green(-1, 3)
    expect_code(invalid, dep.CreateDeployment, dp.CreateDeploymentRequest(deployment=bad))
    bad = blue_green(0, 0)
    bad.name = "zero"
    expect_code(invalid, dep.CreateDeployment, dp.CreateDeploymentRequest(deployment=bad))
    bad = blue_green(1, 1)
    bad.name = "x" * 5000
    e = expect_code(invalid, dep.CreateDeployment, dp.CreateDeploymentRequest(deployment=bad))
    assert "x" * 300 not in e.details(), "the long name is not echoed whole"
    bad = blue_green(1, 1)
    bad.name = "pinned"
    bad.variants[1].pipeline.model = "demo@99"
    expect_code(grpc.StatusCode.NOT_FOUND, dep.CreateDeployment,
                dp.CreateDeploymentRequest(deployment=bad))
    expect_code(grpc.StatusCode.ALREADY_EXISTS, dep.CreateDeployment,
                dp.CreateDeploymentRequest(deployment=blue_green(1, 1)))
    taken = blue_green(1, 1)
    taken.name = "demo_layout"  # the demo's experiment
    expect_code(grpc.StatusCode.ALREADY_EXISTS, dep.CreateDeployment,
                dp.CreateDeploymentRequest(deployment=taken))

    print("Recommend through the deployment: shares, stickiness, logged slates")
    served = serve_all(rec, "homepage")
    check_shares(served, 0.75)
    again = serve_all(rec, "homepage")
    assert all(again[u].variant == served[u].variant for u in served), "units keep their variant"
    session = rec.Recommend(rc.RecommendRequest(deployment="homepage", user="u1",
                                                unit_id="session-42", k=3), timeout=TIMEOUT)
    assert session.variant in ("blue", "green"), session
    expect_code(invalid, rec.Recommend,
                rc.RecommendRequest(deployment="homepage", user="u1", model_name="demo"))
    expect_code(grpc.StatusCode.NOT_FOUND, rec.Recommend,
                rc.RecommendRequest(deployment="nope", user="u1"))
    expect_code(invalid, rec.Recommend, rc.RecommendRequest(user="u1", unit_id="s"))

    print("RewardSlate: a click credited to its position")
    r = served["u7"]
    reward = dep.RewardSlate(dp.RewardSlateRequest(deployment="homepage", event_id=r.event_id,
                                                   item=r.items[3].item, value=1),
                             timeout=TIMEOUT)
    assert reward.position == 4 and reward.aggregated_reward == 1 and not reward.late, reward
    whole = dep.RewardSlate(dp.RewardSlateRequest(deployment="homepage", event_id=r.event_id,
                                                  value=0.5), timeout=TIMEOUT)
    assert whole.position == 0 and whole.aggregated_reward == 1.5, whole
    expect_code(invalid, dep.RewardSlate,
                dp.RewardSlateRequest(deployment="homepage", event_id=r.event_id,
                                      item="not-in-the-slate", value=1))
    expect_code(grpc.StatusCode.NOT_FOUND, dep.RewardSlate,
                dp.RewardSlateRequest(deployment="homepage", event_id="no-such-event", value=1))
    expect_code(grpc.StatusCode.NOT_FOUND, dep.RewardSlate,
                dp.RewardSlateRequest(deployment="nope", event_id=r.event_id, value=1))
    expect_code(invalid, dep.RewardSlate,
                dp.RewardSlateRequest(deployment="homepage", event_id=r.event_id,
                                      value=float("nan")))

    print("UpdateDeployment: guarded by revision; a green switch")
    expect_code(grpc.StatusCode.FAILED_PRECONDITION, dep.UpdateDeployment,
                dp.UpdateDeploymentRequest(deployment=blue_green(0, 1), expected_revision=5))
    expect_code(grpc.StatusCode.NOT_FOUND, dep.UpdateDeployment,
                dp.UpdateDeploymentRequest(deployment=dp.Deployment(
                    name="nope", variants=blue_green(1, 1).variants)))
    updated = dep.UpdateDeployment(dp.UpdateDeploymentRequest(deployment=blue_green(0, 1),
                                                              expected_revision=1),
                                   timeout=TIMEOUT)
    assert updated.revision == 2 and updated.created_unix_ms == created.created_unix_ms, updated
    switched = serve_all(rec, "homepage")
    assert all(s.variant == "green" and s.deployment_revision == 2 for s in switched.values())

    listed = dep.ListDeployments(dp.ListDeploymentsRequest(), timeout=TIMEOUT)
    # `serve --demo` also runs its own deployment, demo_home.
    assert [d.name for d in listed.deployments if d.name != "demo_home"] == ["homepage"], listed
    got = dep.GetDeployment(dp.GetDeploymentRequest(name="homepage"), timeout=TIMEOUT)
    assert got == updated, got
    expect_code(grpc.StatusCode.NOT_FOUND, dep.GetDeployment, dp.GetDeploymentRequest(name="nope"))

    print("A throwaway deployment, deleted")
    temp = blue_green(1, 1)
    temp.name = "temp"
    dep.CreateDeployment(dp.CreateDeploymentRequest(deployment=temp), timeout=TIMEOUT)
    expect_code(grpc.StatusCode.FAILED_PRECONDITION, dep.DeleteDeployment,
                dp.DeleteDeploymentRequest(name="temp", expected_revision=3))
    deleted = dep.DeleteDeployment(dp.DeleteDeploymentRequest(name="temp"), timeout=TIMEOUT)
    assert deleted.deployment.name == "temp", deleted
    expect_code(grpc.StatusCode.NOT_FOUND, rec.Recommend,
                rc.RecommendRequest(deployment="temp", user="u1"))
    expect_code(grpc.StatusCode.NOT_FOUND, dep.DeleteDeployment,
                dp.DeleteDeploymentRequest(name="temp"))
    blue_green_and_canary(rec, dep)
    slate_ope(channel, rec, dep)
    interleaving(rec, dep)


def with_rollout(name, steps):
    """Deployment `name`: blue (demo@1) baseline, green (demo@2) canary."""
    d = blue_green(1, 0)
    d.name = name
    d.rollout.baseline = "blue"
    d.rollout.canary = "green"
    for share, events in steps:
        d.rollout.steps.add(canary_share=share, min_events=events)
    return d


def await_phase(dep, name, phase):
    """Polls GetDeployment (up to 60 s) until the rollout reaches `phase`."""
    deadline = time.time() + 60
    while time.time() < deadline:
        got = dep.GetDeployment(dp.GetDeploymentRequest(name=name), timeout=TIMEOUT)
        if got.rollout_status.phase == phase:
            return got
        time.sleep(0.05)
    raise AssertionError("%s never reached phase %d: %s" % (name, phase, got.rollout_status))


def blue_green_and_canary(rec, dep):
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    print("SwitchDeployment and RollbackDeployment: all traffic at once")
    d = blue_green(1, 0)
    d.name = "switch"
    dep.CreateDeployment(dp.CreateDeploymentRequest(deployment=d), timeout=TIMEOUT)
    expect_code(grpc.StatusCode.FAILED_PRECONDITION, dep.RollbackDeployment,
                dp.RollbackDeploymentRequest(name="switch"))
    expect_code(invalid, dep.SwitchDeployment,
                dp.SwitchDeploymentRequest(name="switch", variant="purple"))
    expect_code(grpc.StatusCode.NOT_FOUND, dep.SwitchDeployment,
                dp.SwitchDeploymentRequest(name="nope", variant="green"))
    expect_code(grpc.StatusCode.FAILED_PRECONDITION, dep.SwitchDeployment,
                dp.SwitchDeploymentRequest(name="switch", variant="green", expected_revision=9))
    green = dep.SwitchDeployment(dp.SwitchDeploymentRequest(name="switch", variant="green",
                                                            expected_revision=1), timeout=TIMEOUT)
    assert green.revision == 2 and dict(green.rollback_weights) == {"blue": 1, "green": 0}, green
    assert all(r.variant == "green" for r in serve_all(rec, "switch").values())
    blue = dep.RollbackDeployment(dp.RollbackDeploymentRequest(name="switch"), timeout=TIMEOUT)
    assert blue.revision == 3 and not blue.rollback_weights, blue
    assert all(r.variant == "blue" for r in serve_all(rec, "switch").values())

    print("A canary rollout: bad plans, then a canary that earns less is rolled back")
    bad = with_rollout("checkout", [(0.5, 10), (0.2, 10)])
    e = expect_code(invalid, dep.CreateDeployment, dp.CreateDeploymentRequest(deployment=bad))
    assert "deployment.rollout.steps[1].canary_share" in e.details(), e.details()
    bad = with_rollout("checkout", [(0.5, 10)])
    bad.rollout.canary = "purple"
    e = expect_code(invalid, dep.CreateDeployment, dp.CreateDeploymentRequest(deployment=bad))
    assert "deployment.rollout.canary" in e.details(), e.details()
    canary = with_rollout("checkout", [(0.5, 10 ** 6)])
    created = dep.CreateDeployment(dp.CreateDeploymentRequest(deployment=canary), timeout=TIMEOUT)
    assert created.rollout_status.phase == dp.RolloutStatus.IN_PROGRESS, created
    assert [v.traffic_weight for v in created.variants] == [0.5, 0.5], created
    served = {"blue": 0, "green": 0}
    for unit, r in serve_all(rec, "checkout").items():
        n = served[r.variant]
        served[r.variant] += 1
        if n % (2 if r.variant == "blue" else 20) == 0:  # 50% vs 5% of slates clicked
            dep.RewardSlate(dp.RewardSlateRequest(deployment="checkout", event_id=r.event_id,
                                                  item=r.items[0].item, value=1),
                            timeout=TIMEOUT)
    back = await_phase(dep, "checkout", dp.RolloutStatus.ROLLED_BACK)
    ev = back.rollout_status.evidence
    assert back.revision == 2 and "reward" in back.rollout_status.reason, back.rollout_status
    assert ev.reward.breached and ev.reward.ci_high < 0, ev
    assert ev.baseline.served == served["blue"] and ev.canary.served == served["green"], ev
    assert [v.traffic_weight for v in back.variants] == [1, 0], back
    print("  rolled back: %s" % back.rollout_status.reason)
    kinds = [c.kind for c in dep.ListDeploymentChanges(
        dp.ListDeploymentChangesRequest(name="checkout"), timeout=TIMEOUT).changes]
    assert kinds == [dp.DeploymentChange.CREATED, dp.DeploymentChange.ROLLED_BACK], kinds

    print("A healthy canary advances and is promoted")
    healthy = with_rollout("promo", [(0.5, 20), (1.0, 20)])
    dep.CreateDeployment(dp.CreateDeploymentRequest(deployment=healthy), timeout=TIMEOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        got = dep.GetDeployment(dp.GetDeploymentRequest(name="promo"), timeout=TIMEOUT)
        if got.rollout_status.phase == dp.RolloutStatus.PROMOTED:
            break
        serve_all(rec, "promo")
    assert got.rollout_status.phase == dp.RolloutStatus.PROMOTED, got.rollout_status
    assert all(r.variant == "green" for r in serve_all(rec, "promo").values())
    kinds = [c.kind for c in dep.ListDeploymentChanges(
        dp.ListDeploymentChangesRequest(name="promo"), timeout=TIMEOUT).changes]
    assert kinds == [dp.DeploymentChange.CREATED, dp.DeploymentChange.ROLLOUT_ADVANCED,
                     dp.DeploymentChange.PROMOTED], kinds


def slate_ope(channel, rec, dep):
    """An exploring deployment's slates judge version 2 offline (EvaluatePolicy)."""
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    exp = exg.ExperimentsStub(channel)
    print("Slate OPE: version 2 judged from uniformly explored version-1 traffic")
    d = dp.Deployment(name="explore", variants=[dp.DeploymentVariant(
        name="v1", traffic_weight=1, pipeline=dp.Pipeline(
            model="demo@1", exploration=dp.SlateExploration(epsilon=1, pool=50)))])
    dep.CreateDeployment(dp.CreateDeploymentRequest(deployment=d), timeout=TIMEOUT)
    for unit, r in serve_all(rec, "explore").items():
        assert all(abs(i.propensity - 1.0 / (50 - j)) < 1e-12 for j, i in enumerate(r.items)), r
        if int(unit[1:]) % 3 == 0:
            dep.RewardSlate(dp.RewardSlateRequest(deployment="explore", event_id=r.event_id,
                                                  item=r.items[0].item, value=1),
                            timeout=TIMEOUT)
    report = exp.EvaluatePolicy(ex.EvaluatePolicyRequest(
        deployment="explore", target="model:demo@2", estimators=["iips", "pi", "sniips"],
        bootstrap=50), timeout=TIMEOUT)
    assert report.n == UNITS and report.input_kind == "deployment", report
    assert [e.estimator for e in report.estimates] == ["iips", "pi", "sniips"], report
    assert all(e.ci_low <= e.value <= e.ci_high for e in report.estimates), report
    print("  " + ", ".join("%s=%.3f [%.3f, %.3f]" % (e.estimator, e.value, e.ci_low, e.ci_high)
                           for e in report.estimates))
    expect_code(invalid, exp.EvaluatePolicy, ex.EvaluatePolicyRequest(
        deployment="explore", target="uniform"))
    expect_code(invalid, exp.EvaluatePolicy, ex.EvaluatePolicyRequest(
        deployment="explore", experiment="demo_layout", target="model:demo"))
    expect_code(grpc.StatusCode.NOT_FOUND, exp.EvaluatePolicy, ex.EvaluatePolicyRequest(
        deployment="explore", target="model:demo@99"))
    expect_code(grpc.StatusCode.NOT_FOUND, exp.EvaluatePolicy, ex.EvaluatePolicyRequest(
        deployment="nope", target="model:demo"))


def interleaving(rec, dep):
    """An INTERLEAVED deployment: merged slates, clicks credited to teams."""
    print("Interleaving: demo@1 against demo@2, users clicking demo@2's items")
    d = blue_green(1, 1)
    d.name = "duel"
    d.mode = dp.INTERLEAVED
    dep.CreateDeployment(dp.CreateDeploymentRequest(deployment=d), timeout=TIMEOUT)
    bad = blue_green(1, 1)
    bad.name = "duel3"
    bad.mode = dp.INTERLEAVED
    bad.variants.add(name="third", traffic_weight=1, pipeline=dp.Pipeline(model="demo@1"))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, dep.CreateDeployment,
                dp.CreateDeploymentRequest(deployment=bad))
    clicked = 0
    for unit, r in serve_all(rec, "duel").items():
        assert r.variant == "interleaved" and len(r.items) == 5, r
        assert all(i.propensity in (0.5, 1.0) for i in r.items), r
        # The teams are logged, not returned: rank each item in demo@2's own
        # slate for the user to find one of green's picks.
        green = rec.Recommend(rc.RecommendRequest(model_name="demo", user=unit, k=5),
                              timeout=TIMEOUT)
        mine = [i.item for i in r.items if i.item in {g.item for g in green.items}]
        if mine:
            dep.RewardSlate(dp.RewardSlateRequest(deployment="duel", event_id=r.event_id,
                                                  item=mine[0], value=1), timeout=TIMEOUT)
            clicked += 1
    got = dep.GetDeployment(dp.GetDeploymentRequest(name="duel"), timeout=TIMEOUT)
    status = got.interleaving
    assert status.impressions == UNITS and status.variant_b == "green", status
    assert status.wins_a + status.wins_b + status.ties == UNITS, status
    assert status.delta_low <= status.delta <= status.delta_high, status
    # Every click went to an item of demo@2's own top 5: green wins more.
    assert status.wins_b > status.wins_a, status
    print("  %d clicks: A %d, B %d, ties %d, delta %.3f [%.3f, %.3f], preferred %r" % (
        clicked, status.wins_a, status.wins_b, status.ties, status.delta, status.delta_low,
        status.delta_high, status.preferred))
    expect_code(grpc.StatusCode.FAILED_PRECONDITION, dep.SwitchDeployment,
                dp.SwitchDeploymentRequest(name="duel", variant="green"))


def restarted(channel):
    rec = rcg.RecommenderStub(channel)
    dep = dpg.DeploymentsStub(channel)
    print("After a restart: the deployment, its journal and its assignment")
    got = dep.GetDeployment(dp.GetDeploymentRequest(name="homepage"), timeout=TIMEOUT)
    assert got.revision == 3, got
    kinds = [c.kind for c in dep.ListDeploymentChanges(
        dp.ListDeploymentChangesRequest(name="homepage"), timeout=TIMEOUT).changes]
    assert kinds == [dp.DeploymentChange.CREATED] + [dp.DeploymentChange.UPDATED] * 2, kinds
    kinds = [c.kind for c in dep.ListDeploymentChanges(
        dp.ListDeploymentChangesRequest(name="temp"), timeout=TIMEOUT).changes]
    assert kinds == [dp.DeploymentChange.CREATED, dp.DeploymentChange.DELETED], kinds
    expect_code(grpc.StatusCode.NOT_FOUND, dep.ListDeploymentChanges,
                dp.ListDeploymentChangesRequest(name="never"))
    # Still 1:3: every unit gets the variant it had before the restart.
    served = serve_all(rec, "homepage")
    check_shares(served, 0.75)
    with open(sys.argv[4]) as f:
        before = dict(line.split() for line in f)
    assert all(served[u].variant == before[u] for u in served), "assignment survives a restart"
    back = dep.GetDeployment(dp.GetDeploymentRequest(name="checkout"), timeout=TIMEOUT)
    assert back.rollout_status.phase == dp.RolloutStatus.ROLLED_BACK, back.rollout_status
    assert back.rollout_status.evidence.reward.breached, back.rollout_status


def main():
    channel = grpc.insecure_channel(sys.argv[1])
    grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
    if sys.argv[3] == "first":
        first(channel)
        # Record each unit's variant at 1:3 for the restarted phase.
        rec = rcg.RecommenderStub(channel)
        dpg.DeploymentsStub(channel).UpdateDeployment(
            dp.UpdateDeploymentRequest(deployment=blue_green(1, 3)), timeout=TIMEOUT)
        with open(sys.argv[4], "w") as f:
            for unit, r in serve_all(rec, "homepage").items():
                f.write("%s %s\n" % (unit, r.variant))
    else:
        restarted(channel)
    print("deployments client: OK")


if __name__ == "__main__":
    main()

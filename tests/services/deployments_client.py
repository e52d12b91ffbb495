"""An independent client (Debian's python3-grpcio, stubs generated from proto/)
for the Deployments service against `recbandit serve --demo`: a second demo
version is trained, a blue/green deployment of versions 1 and 2 is created,
Recommend through it follows the weights (chi-square) and keeps each unit's
variant, served slates carry event ids and propensities, RewardSlate credits
the clicked position, updates are guarded by their revision, the journal
lists every change, and every bad request gets its documented code.

Usage: deployments_client.py <host:port> <stub dir> <first | restarted> <variants file>
(the first phase writes each unit's variant there; the restarted one checks it)
"""
import sys

import grpc

sys.path.insert(0, sys.argv[2])
from proto import deployments_pb2 as dp, deployments_pb2_grpc as dpg  # noqa: E402
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
    assert [d.name for d in listed.deployments] == ["homepage"], listed
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

"""An independent client (Debian's python3-grpcio, stubs generated from proto/)
against `recbandit serve --demo`: health and reflection; training the demo as a
job (Train, WatchJob, GetJob, CancelJob) and the hot swap to its version;
Recommend, RankItems, SimilarItems, ListModels, ActivateModel (rollback);
PutEvents reflected by the very next Recommend; PutItems and a filtered
Recommend; Decide, Reward, exploring
Recommend with logged propensities, EvaluatePolicy; and the documented error
code of every bad request, with the server still serving afterwards.

Usage: python_client.py <host:port> <stub dir> <metrics port or 0>
"""
import sys
import time
import urllib.request

import grpc

sys.path.insert(0, sys.argv[2])
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402
from proto import catalog_pb2, common_pb2, events_pb2, model_pb2  # noqa: E402
from proto import experiments_pb2 as ex, experiments_pb2_grpc as exg  # noqa: E402
from proto import recommender_pb2 as rc, recommender_pb2_grpc as rcg  # noqa: E402

TIMEOUT = 30


def expect_code(code, fn, *args, **kwargs):
    """Calls fn and returns the RpcError, asserting its status code."""
    try:
        fn(*args, timeout=TIMEOUT, **kwargs)
    except grpc.RpcError as e:
        assert e.code() == code, (code, e.code(), e.details())
        assert e.details(), "errors carry a message"
        print("  %-18s %s: %s" % (code.name, fn._method.decode().split("/")[-1], e.details()))
        return e
    raise AssertionError("expected %s from %s" % (code.name, fn._method))


def watch_until_done(rec, job_id):
    """Streams a job to its terminal state; returns every update."""
    updates = list(rec.WatchJob(rc.GetJobRequest(job_id=job_id), timeout=600))
    assert updates, "WatchJob sends the current state at once"
    return updates


def check_training(rec):
    print("Train (job) on the demo interactions")
    params = model_pb2.TrainParams(algo=model_pb2.ALS,
                                   als=model_pb2.AlsParams(factors=16, iterations=4,
                                                           compute_loss=True),
                                   threads=2, seed=3, index_factory="HNSW16")
    job = rec.Train(rc.TrainRequest(model_name="demo", interactions_path="demo/interactions.csv",
                                    params=params, test_path="demo/interactions.csv", k=10),
                    timeout=TIMEOUT)
    assert job.job_id and job.state in (rc.JOB_STATE_QUEUED, rc.JOB_STATE_RUNNING), job
    assert job.total_iterations == 4, job
    updates = watch_until_done(rec, job.job_id)
    final = updates[-1]
    assert final.state == rc.JOB_STATE_SUCCEEDED, final
    iterations = [u.iteration for u in updates]
    assert iterations == sorted(iterations) and final.iteration == 4, iterations
    assert final.model_version == 2 and final.report.num_interactions > 0, final
    assert final.report.index_factory == "HNSW16" and final.report.metrics.k == 10, final.report
    assert all(u.loss > 0 for u in updates if u.iteration > 0), [u.loss for u in updates]
    assert rec.GetJob(rc.GetJobRequest(job_id=job.job_id), timeout=TIMEOUT).state == \
        rc.JOB_STATE_SUCCEEDED
    print("  job %s: %d updates, version %d, loss %.4g, ndcg@10 %.3f" % (
        job.job_id, len(updates), final.model_version, final.loss,
        final.report.metrics.ndcg_at_k))
    # The new version is active and serving.
    reply = rec.Recommend(rc.RecommendRequest(user="u1", k=10), timeout=TIMEOUT)
    assert reply.model_version == 2 and len(reply.items) == 10, reply
    models = rec.ListModels(rc.ListModelsRequest(model_name="demo"), timeout=TIMEOUT).models
    assert [(m.manifest.version, m.active) for m in models] == [(2, True), (1, False)], models
    assert models[0].manifest.metrics.k == 10, models[0]

    # Cancelling: a long job is cancelled while it runs (or before it starts).
    long_params = model_pb2.TrainParams(algo=model_pb2.BPR,
                                        bpr=model_pb2.BprParams(factors=16, epochs=10000))
    job = rec.Train(rc.TrainRequest(model_name="cancelled", interactions_path=
                                    "demo/interactions.csv", params=long_params),
                    timeout=TIMEOUT)
    deadline = time.time() + 60
    while rec.GetJob(rc.GetJobRequest(job_id=job.job_id), timeout=TIMEOUT).iteration < 1:
        assert time.time() < deadline, "the BPR job never started"
        time.sleep(0.05)
    rec.CancelJob(rc.CancelJobRequest(job_id=job.job_id), timeout=TIMEOUT)
    final = watch_until_done(rec, job.job_id)[-1]
    assert final.state == rc.JOB_STATE_CANCELLED and final.iteration < 10000, final
    expect_code(grpc.StatusCode.NOT_FOUND, rec.ListModels,
                rc.ListModelsRequest(model_name="cancelled"))
    print("  cancelled job %s after %d epochs; no model written" % (job.job_id, final.iteration))

    expect_code(grpc.StatusCode.NOT_FOUND, rec.GetJob, rc.GetJobRequest(job_id="job-none"))
    expect_code(grpc.StatusCode.PERMISSION_DENIED, rec.Train, rc.TrainRequest(
        model_name="x", interactions_path="../../../etc/passwd", params=params))
    expect_code(grpc.StatusCode.NOT_FOUND, rec.Train, rc.TrainRequest(
        model_name="x", interactions_path="demo/missing.csv", params=params))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, rec.Train, rc.TrainRequest(
        model_name="bad name!", interactions_path="demo/interactions.csv", params=params))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, rec.Train, rc.TrainRequest(
        model_name="x", interactions_path="demo/interactions.csv",
        params=model_pb2.TrainParams(algo=model_pb2.ALS,
                                     als=model_pb2.AlsParams(factors=-3))))

    # Rollback to version 1, then forward again to the latest.
    act = rec.ActivateModel(rc.ActivateModelRequest(model_name="demo", version=1),
                            timeout=TIMEOUT)
    assert act.model.manifest.version == 1 and act.model.active, act
    assert rec.Recommend(rc.RecommendRequest(user="u1"), timeout=TIMEOUT).model_version == 1
    rec.ActivateModel(rc.ActivateModelRequest(model_name="demo"), timeout=TIMEOUT)
    assert rec.Recommend(rc.RecommendRequest(user="u1"), timeout=TIMEOUT).model_version == 2
    expect_code(grpc.StatusCode.NOT_FOUND, rec.ActivateModel,
                rc.ActivateModelRequest(model_name="demo", version=99))


def check_serving(rec):
    print("Recommend / RankItems / SimilarItems / PutEvents")
    reply = rec.Recommend(rc.RecommendRequest(user="u1", k=10), timeout=TIMEOUT)
    assert len(reply.items) == 10 and reply.model_name == "demo" and not reply.fallback, reply
    scores = [i.score for i in reply.items]
    assert scores == sorted(scores, reverse=True), scores
    top = reply.items[0].item
    # PutEvents: the very next Recommend excludes what was just seen.
    put = rec.PutEvents(rc.PutEventsRequest(events=[events_pb2.Interaction(user="u1", item=top)]),
                        timeout=TIMEOUT)
    assert put.accepted == 1, put
    after = rec.Recommend(rc.RecommendRequest(user="u1", k=10), timeout=TIMEOUT)
    assert top not in [i.item for i in after.items], (top, after)
    # A user the model never saw gets a folded-in vector from their events.
    cold = rec.Recommend(rc.RecommendRequest(user="newcomer", k=5), timeout=TIMEOUT)
    assert cold.fallback, cold
    typed = rec.PutEvents(rc.PutEventsRequest(events=[
        events_pb2.Interaction(user="newcomer", item=i, event_type=t)
        for i, t in (("i3", "click"), ("i7", "purchase"), ("i11", "click"))]), timeout=TIMEOUT)
    assert typed.accepted == 3, typed
    warm = rec.Recommend(rc.RecommendRequest(user="newcomer", k=5), timeout=TIMEOUT)
    assert not warm.fallback and len(warm.items) == 5, warm
    assert not {"i3", "i7", "i11"} & {i.item for i in warm.items}, warm
    print("  PutEvents: %s excluded next time; newcomer folded in: %s" % (
        top, [i.item for i in warm.items]))
    ranked = rec.RankItems(rc.RankItemsRequest(user="u1", items=["i1", "i2", "i3", "zz"]),
                           timeout=TIMEOUT)
    assert sorted(i.item for i in ranked.items) == ["i1", "i2", "i3", "zz"], ranked
    assert ranked.items[-1].item == "zz", "unknown items go last"
    similar = rec.SimilarItems(rc.SimilarItemsRequest(item="i1", k=5), timeout=TIMEOUT)
    assert len(similar.items) == 5 and all(i.item != "i1" for i in similar.items), similar

    expect_code(grpc.StatusCode.INVALID_ARGUMENT, rec.Recommend,
                rc.RecommendRequest(user="u1", k=5000))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, rec.Recommend, rc.RecommendRequest(k=5))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, rec.Recommend,
                rc.RecommendRequest(user="u1", k=10, ef_search=5))
    expect_code(grpc.StatusCode.NOT_FOUND, rec.Recommend,
                rc.RecommendRequest(user="u1", model_name="nope"))
    expect_code(grpc.StatusCode.NOT_FOUND, rec.SimilarItems,
                rc.SimilarItemsRequest(item="no-such-item"))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, rec.RankItems,
                rc.RankItemsRequest(user="u1"))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, rec.PutEvents, rc.PutEventsRequest())
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, rec.PutEvents, rc.PutEventsRequest(
        events=[events_pb2.Interaction(user="u1", item="i1"),
                events_pb2.Interaction(user="u1", item="i2", weight=-1)]))
    # Checked by the event log itself; the whole batch is refused.
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, rec.PutEvents, rc.PutEventsRequest(
        events=[events_pb2.Interaction(user="late-user", item="i1"),
                events_pb2.Interaction(user="late-user", item="i2", timestamp_us=-5)]))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, rec.PutEvents, rc.PutEventsRequest(
        events=[events_pb2.Interaction(user="nul\x00user", item="i1")]))
    assert rec.Recommend(rc.RecommendRequest(user="late-user", k=3), timeout=TIMEOUT).fallback, \
        "nothing of a refused batch is stored"
    # Oversize request: above the server's 4 MiB receive limit.
    expect_code(grpc.StatusCode.RESOURCE_EXHAUSTED, rec.Recommend,
                rc.RecommendRequest(user="u1", exclude_items=["x" * 1000] * 5000))


def check_catalog(rec):
    print("PutItems / filtered Recommend")
    items = [catalog_pb2.CatalogItem(item="i%d" % n, categories=["odd" if n % 2 else "even"],
                                     numbers={"price": float(n)}) for n in range(1, 201)]
    reply = rec.PutItems(catalog_pb2.PutItemsRequest(items=items), timeout=TIMEOUT)
    assert reply.accepted == 200 and reply.catalog_items >= 200, reply
    f = catalog_pb2.Filter(expression='INCLUDE ItemID WHERE Items.category = "odd" AND '
                                      'Items.price < $max')
    f.parameters["max"].numbers.append(100)
    got = rec.Recommend(rc.RecommendRequest(user="u1", k=10, filter=f), timeout=TIMEOUT)
    assert len(got.items) == 10, got
    for s in got.items:
        n = int(s.item[1:])
        assert n % 2 == 1 and n < 100, s.item
    print("  10 items, all odd and priced under 100: %s" % [s.item for s in got.items])
    err = expect_code(grpc.StatusCode.INVALID_ARGUMENT, rec.Recommend, rc.RecommendRequest(
        user="u1", filter=catalog_pb2.Filter(expression="INCLUDE ItemID WHERE Items.price <")))
    assert "column 35" in err.details(), err.details()


def check_experiments(rec, exp):
    print("Decide / Reward / exploring Recommend / EvaluatePolicy")
    d = exp.Decide(ex.DecideRequest(
        experiment="demo_layout", unit_id="u1", event_id="py-decide-0",
        actions=[common_pb2.Action(id=x) for x in ("grid", "list", "carousel")]), timeout=TIMEOUT)
    assert d.chosen_action in ("grid", "list", "carousel") and d.event_id, d
    assert abs(sum(d.pmf) - 1.0) < 1e-9 and d.propensity == d.pmf[d.chosen_index], d
    r = exp.Reward(ex.RewardRequest(experiment="demo_layout", event_id=d.event_id, value=1),
                   timeout=TIMEOUT)
    assert r.learned and r.aggregated == 1, r
    for i in range(40):
        d = exp.Decide(ex.DecideRequest(
            experiment="demo_layout", unit_id="user%d" % i, event_id="py-decide-%d" % (i + 1),
            actions=[common_pb2.Action(id=x) for x in ("grid", "list", "carousel")]),
            timeout=TIMEOUT)
        exp.Reward(ex.RewardRequest(experiment="demo_layout", event_id=d.event_id,
                                    value=1.0 if d.chosen_action == "grid" else 0.0),
                   timeout=TIMEOUT)
    report = exp.EvaluatePolicy(ex.EvaluatePolicyRequest(
        experiment="demo_layout", target="uniform", estimators=["ips", "snips", "dr"],
        bootstrap=50, seed=1), timeout=TIMEOUT)
    assert report.n == 41 and [e.estimator for e in report.estimates] == ["ips", "snips", "dr"], \
        report
    # Rewards are 0/1: IPS is >= 0 and SNIPS (a weighted mean of rewards) is in
    # [0, 1]; DR may leave [0, 1] on 41 rounds. Each interval is ordered.
    # (Event ids are fixed, so the draws and this log are the same every run.)
    ips, snips, dr = report.estimates
    assert ips.value >= 0 and 0 <= snips.value <= 1, report
    for e in report.estimates:
        assert e.ci_low <= e.ci_high and e.ess > 0 and e.max_weight >= 1, e
    shadow = exp.EvaluatePolicy(ex.EvaluatePolicyRequest(experiment="demo_layout",
                                                         target="shadow:ucb1"), timeout=TIMEOUT)
    assert shadow.n == 41, shadow
    print("  EvaluatePolicy uniform: " + ", ".join(
        "%s=%.3f [%.3f, %.3f]" % (e.estimator, e.value, e.ci_low, e.ci_high)
        for e in report.estimates))

    # Recommend through an experiment: the slate and its propensities are logged.
    exp.CreateExperiment(ex.CreateExperimentRequest(config=events_pb2.ExperimentConfig(
        name="homepage", exploration_floor=0.01,
        variants=[events_pb2.Variant(name="eg", policy_spec="epsilon_greedy:epsilon=0.2",
                                     traffic_weight=1)])), timeout=TIMEOUT)
    # The candidates are the model's top max(4k, 50) = 50 items, in model order.
    order = [i.item for i in rec.Recommend(rc.RecommendRequest(user="u2", k=50),
                                           timeout=TIMEOUT).items]
    explored = rec.Recommend(rc.RecommendRequest(user="u2", k=5, experiment="homepage",
                                                 exploration_weight=0.0), timeout=TIMEOUT)
    assert explored.event_id and len(explored.items) == 5, explored
    # Weight 0 is exactly the model's order, propensity 1 per position: the
    # floor (0.01 over 50 candidates) is spent only inside the weight.
    assert [i.item for i in explored.items] == order[:5], (explored, order[:5])
    assert all(i.propensity == 1.0 for i in explored.items), explored
    # Weight 0.3: each position leaves the model's best remaining item with
    # probability at most 0.3 (the floor included).
    for seed in range(20):
        some = rec.Recommend(rc.RecommendRequest(user="u2", k=5, experiment="homepage",
                                                 exploration_weight=0.3), timeout=TIMEOUT)
        remaining = list(order)
        for item in some.items:
            if item.item == remaining[0]:
                assert item.propensity >= 0.7 - 1e-9, (item, remaining[0])
            else:
                assert item.propensity <= 0.3 + 1e-9, item
            remaining.remove(item.item)
    wide = rec.Recommend(rc.RecommendRequest(user="u2", k=5, experiment="homepage",
                                             exploration_weight=1.0, event_id="rec-1"),
                         timeout=TIMEOUT)
    assert wide.event_id == "rec-1" and len({i.item for i in wide.items}) == 5, wide
    r = exp.Reward(ex.RewardRequest(experiment="homepage", event_id="rec-1", value=1),
                   timeout=TIMEOUT)
    assert r.learned, r
    expect_code(grpc.StatusCode.ALREADY_EXISTS, rec.Recommend, rc.RecommendRequest(
        user="u2", k=5, experiment="homepage", event_id="rec-1"))
    expect_code(grpc.StatusCode.NOT_FOUND, rec.Recommend, rc.RecommendRequest(
        user="u2", k=5, experiment="no-such-experiment"))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, rec.Recommend, rc.RecommendRequest(
        user="u2", k=5, experiment="homepage", exploration_weight=1.5))
    print("  exploring Recommend: %s p=%s" % ([i.item for i in wide.items],
                                               ["%.3f" % i.propensity for i in wide.items]))

    # Error codes of the Experiments service.
    expect_code(grpc.StatusCode.NOT_FOUND, exp.GetExperiment, ex.GetExperimentRequest(name="no"))
    expect_code(grpc.StatusCode.NOT_FOUND, exp.Decide, ex.DecideRequest(
        experiment="no", actions=[common_pb2.Action(id="a")]))
    expect_code(grpc.StatusCode.NOT_FOUND, exp.Reward, ex.RewardRequest(
        experiment="demo_layout", event_id="never-decided", value=1))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, exp.Decide, ex.DecideRequest(
        experiment="demo_layout"))
    expect_code(grpc.StatusCode.ALREADY_EXISTS, exp.CreateExperiment,
                ex.CreateExperimentRequest(config=events_pb2.ExperimentConfig(
                    name="homepage", variants=[events_pb2.Variant(
                        name="a", policy_spec="ucb1", traffic_weight=1)])))
    exp.CreateExperiment(ex.CreateExperimentRequest(config=events_pb2.ExperimentConfig(
        name="contextual", context_dim=3,
        variants=[events_pb2.Variant(name="lin", policy_spec="linucb:alpha=1",
                                     traffic_weight=1)])), timeout=TIMEOUT)
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, exp.Decide, ex.DecideRequest(
        experiment="contextual", actions=[common_pb2.Action(id="a")]))  # features missing
    d = exp.Decide(ex.DecideRequest(experiment="contextual",
                                    context=common_pb2.Context(dense=[0.1, 0.2, 0.3]),
                                    actions=[common_pb2.Action(id="a"),
                                             common_pb2.Action(id="b")]), timeout=TIMEOUT)
    assert d.chosen_action in ("a", "b"), d
    # Stored features: the user's age read from the catalog, not sent.
    rec.PutUsers(catalog_pb2.PutUsersRequest(users=[catalog_pb2.CatalogUser(
        user="u1", numbers={"age": 41})]), timeout=TIMEOUT)
    exp.CreateExperiment(ex.CreateExperimentRequest(config=events_pb2.ExperimentConfig(
        name="stored_py", hash_bits=4,
        variants=[events_pb2.Variant(name="lin", policy_spec="linucb:alpha=1",
                                     traffic_weight=1)])), timeout=TIMEOUT)
    d = exp.Decide(ex.DecideRequest(experiment="stored_py", unit_id="u1",
                                    stored_features=["user.age"],
                                    actions=[common_pb2.Action(id="a"),
                                             common_pb2.Action(id="b")]), timeout=TIMEOUT)
    assert d.chosen_action in ("a", "b") and len(d.pmf) == 2, d
    expect_code(grpc.StatusCode.NOT_FOUND, exp.Decide, ex.DecideRequest(
        experiment="stored_py", unit_id="u1", stored_features=["user.shoe_size"],
        actions=[common_pb2.Action(id="a")]))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, exp.EvaluatePolicy,
                ex.EvaluatePolicyRequest(experiment="demo_layout", target="no-such-policy"))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, exp.EvaluatePolicy,
                ex.EvaluatePolicyRequest(experiment="demo_layout", target="uniform",
                                         estimators=["nope"]))
    expect_code(grpc.StatusCode.FAILED_PRECONDITION, exp.EvaluatePolicy,
                ex.EvaluatePolicyRequest(experiment="contextual", target="uniform",
                                         start_time_us=1, end_time_us=2))


def check_metrics(port):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read()
    text = text.decode()
    def value(prefix):
        for line in text.splitlines():
            if line.startswith(prefix):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError("no metric line starts with " + prefix)
    assert value('recbandit_rpc_requests_total{grpc_method="Recommend",grpc_service="recbandit.Recommender"}') >= 10
    assert value('recbandit_rpc_errors_total{grpc_code="INVALID_ARGUMENT",grpc_method="Recommend",grpc_service="recbandit.Recommender"}') >= 2
    assert value('recbandit_rpc_latency_seconds_count{grpc_method="Decide",grpc_service="recbandit.Experiments"}') >= 41
    assert value('recbandit_model_version{model="demo"}') == 2
    assert value('recbandit_training_jobs{state="succeeded"}') >= 1
    assert value("recbandit_event_log_write_seconds_count") >= 80
    # The Prometheus client conventions' process metrics, read from /proc.
    import time
    start = value("process_start_time_seconds ")
    assert time.time() - 3600 < start <= time.time() + 1, start
    assert value("process_cpu_seconds_total ") > 0
    assert value("process_resident_memory_bytes ") > (1 << 20)
    assert value("process_virtual_memory_bytes ") >= value("process_resident_memory_bytes ")
    assert 3 <= value("process_open_fds ") <= value("process_max_fds ")
    build = [l for l in text.splitlines() if l.startswith("recbandit_build_info{")]
    assert len(build) == 1 and build[0].endswith(" 1"), build
    assert 'version="0.1.0"' in build[0] and 'git_commit="' in build[0], build
    # Readable state labels, every state listed.
    assert value('recbandit_training_jobs{state="not_promoted"}') >= 0
    assert "JOB_STATE_" not in text
    print("metrics: %d lines, Recommend calls %d" % (
        len(text.splitlines()), value('recbandit_rpc_requests_total{grpc_method="Recommend",grpc_service="recbandit.Recommender"}')))


def main():
    target, metrics_port = sys.argv[1], int(sys.argv[3])
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
        from grpc_reflection_stubs import list_services
        services = list_services(channel)
        for name in ("recbandit.Recommender", "recbandit.Experiments", "grpc.health.v1.Health"):
            assert name in services, (name, services)
        print("health SERVING; reflection:", ", ".join(sorted(services)))
        rec = rcg.RecommenderStub(channel)
        exp = exg.ExperimentsStub(channel)
        check_serving(rec)
        check_catalog(rec)
        check_training(rec)
        check_experiments(rec, exp)
        # Every error above left the server serving.
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
        if metrics_port:
            check_metrics(metrics_port)
    print("ok")


if __name__ == "__main__":
    main()

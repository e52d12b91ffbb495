"""Stored features through the real server (Python grpcio).

phase "decide": stores a user and items (PutUsers / PutItems), creates a
    linear experiment with hashed features, decides twice naming stored
    attributes with the user's age changed in between, runs an exploring
    Recommend naming them too, rewards, and evaluates a policy on the log.
phase "log": reads the exported JSON lines of the live log and checks that
    each decision holds exactly the values of its time, with the documented
    encoding (README, "Stored features").

Usage: stored_features_client.py decide <host:port> <stub dir>
       stored_features_client.py log <export.jsonl>
"""
import json
import sys

TIMEOUT = 60
FEATURES = ["user.age", "user.category", "item.price", "item.tag"]


def decide(target, stub_dir):
    import grpc
    sys.path.insert(0, stub_dir)
    from proto import catalog_pb2 as cat, common_pb2, events_pb2  # noqa: E402
    from proto import experiments_pb2 as ex, experiments_pb2_grpc as exg  # noqa: E402
    from proto import recommender_pb2 as rc, recommender_pb2_grpc as rcg  # noqa: E402

    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        rec = rcg.RecommenderStub(channel)
        exp = exg.ExperimentsStub(channel)
        rec.PutUsers(cat.PutUsersRequest(users=[cat.CatalogUser(
            user="alice", categories=["jazz"], numbers={"age": 30})]), timeout=TIMEOUT)
        rec.PutItems(cat.PutItemsRequest(items=[
            cat.CatalogItem(item="shoe", numbers={"price": 20}, tags=["new"]),
            cat.CatalogItem(item="hat", numbers={"price": 0})]), timeout=TIMEOUT)
        exp.CreateExperiment(ex.CreateExperimentRequest(config=events_pb2.ExperimentConfig(
            name="stored", hash_bits=4, variants=[events_pb2.Variant(
                name="lin", policy_spec="linucb:alpha=1,model=shared", traffic_weight=1)])),
            timeout=TIMEOUT)
        actions = [common_pb2.Action(id=i) for i in ("shoe", "hat", "bag")]
        d1 = exp.Decide(ex.DecideRequest(experiment="stored", event_id="d1", unit_id="alice",
                                         actions=actions, stored_features=FEATURES),
                        timeout=TIMEOUT)
        rec.PutUsers(cat.PutUsersRequest(users=[cat.CatalogUser(
            user="alice", categories=["jazz", "soul"], numbers={"age": 64})]), timeout=TIMEOUT)
        d2 = exp.Decide(ex.DecideRequest(experiment="stored", event_id="d2", unit_id="alice",
                                         actions=actions, stored_features=FEATURES),
                        timeout=TIMEOUT)
        for d in (d1, d2):
            assert len(d.pmf) == 3 and abs(sum(d.pmf) - 1) < 1e-9, d
        s = rec.Recommend(rc.RecommendRequest(user="alice", k=3, experiment="stored",
                                              exploration_weight=0.5, event_id="r1",
                                              stored_features=["user.age", "item.price"]),
                          timeout=TIMEOUT)
        assert s.event_id == "r1" and len(s.items) == 3, s
        for event_id, value in (("d1", 1), ("d2", 0), ("r1", 1)):
            exp.Reward(ex.RewardRequest(experiment="stored", event_id=event_id, value=value),
                       timeout=TIMEOUT)
        report = exp.EvaluatePolicy(ex.EvaluatePolicyRequest(
            experiment="stored", target="linucb:alpha=1,model=shared",
            estimators=["ips", "replay"]), timeout=TIMEOUT)
        assert report.n == 3, report
        print("decided d1 (age 30) and d2 (age 64), Recommend r1; EvaluatePolicy over the "
              "logged values: n=%d, ips %.3f" % (report.n, report.estimates[0].value))
        # A user attribute without a user, on an experiment that takes them.
        try:
            exp.Decide(ex.DecideRequest(experiment="stored", actions=actions,
                                        stored_features=["user.age"]), timeout=TIMEOUT)
            raise AssertionError("Decide without unit_id succeeded")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
            assert e.details().startswith("unit_id is required"), e.details()


def features(namespaces, name):
    out = []
    for ns in namespaces:
        if ns["name"] == name:
            out += ["%s=%g" % (f["name"], f["value"]) for f in ns["features"]]
    return out


def check_log(path):
    events = {}
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            events[e["event_id"]] = e
    assert sorted(events) == ["d1", "d2", "r1"], sorted(events)
    d1, d2, r1 = events["d1"], events["d2"], events["r1"]
    assert features(d1["context"]["namespaces"], "user") == [
        "age=30", "category=jazz=1"], d1["context"]
    assert features(d2["context"]["namespaces"], "user") == [
        "age=64", "category=jazz=1", "category=soul=1"], d2["context"]
    for d in (d1, d2):
        items = {a["id"]: features(a["namespaces"], "item") for a in d["actions"]}
        assert items == {"shoe": ["price=20", "tag=new=1"],
                         "hat": ["tag:missing=1"],  # price stored as 0: nothing
                         "bag": ["price:missing=1", "tag:missing=1"]}, items
    assert features(r1["context"]["namespaces"], "user") == ["age=64"], r1["context"]
    for a in r1["actions"]:  # demo items have no catalog record
        assert features(a["namespaces"], "item") == ["price:missing=1"], a
    print("log: d1 holds age 30, d2 age 64, r1 age 64; item values per action as stored")


def main():
    if sys.argv[1] == "decide":
        decide(sys.argv[2], sys.argv[3])
    else:
        check_log(sys.argv[2])
    print("ok")


if __name__ == "__main__":
    main()

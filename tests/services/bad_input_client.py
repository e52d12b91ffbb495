"""The bad-input catalogue: an independent client (Debian's python3-grpcio,
stubs generated from proto/) drives bad inputs of every rpc against a real
`recbandit serve --demo` and asserts, for each, the gRPC status code and the
start of its message, and that health stays SERVING; the metrics port is
probed with every method and odd paths; then a few multi-step attacks (reward
overflow, model names that escape the models folder) are checked for what
they must not change. `--markdown` prints the catalogue as the README's table.

Usage: bad_input_client.py <host:port> <stub dir> <metrics port>
       bad_input_client.py --markdown <stub dir>
"""
import http.client
import socket
import sys

import grpc

sys.path.insert(0, sys.argv[2])
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402
from google.protobuf import wrappers_pb2  # noqa: E402
from proto import catalog_pb2 as cat, common_pb2, drift_pb2, events_pb2, model_pb2  # noqa: E402
from proto import deployments_pb2 as dp, deployments_pb2_grpc as dpg  # noqa: E402
from proto import experiments_pb2 as ex, experiments_pb2_grpc as exg  # noqa: E402
from proto import recommender_pb2 as rc, recommender_pb2_grpc as rcg  # noqa: E402

TIMEOUT = 30
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
LONG = "x" * 8192  # longer than gRPC's default 8 KB metadata limit if echoed

ALS = model_pb2.TrainParams(algo=model_pb2.ALS,
                            als=model_pb2.AlsParams(factors=8, iterations=1), threads=1)


def train(name="m", index="", path="demo/interactions.csv"):
    params = model_pb2.TrainParams()
    params.CopyFrom(ALS)
    params.index_factory = index
    return rc.TrainRequest(model_name=name, interactions_path=path, params=params)


def weighted(weights=None, min_weight=0.0):
    request = train()
    for name, w in (weights or {}).items():
        request.params.event_weights[name] = w
    request.params.min_weight = min_weight
    return request


def gated(**gates):
    request = train()
    request.gates.CopyFrom(model_pb2.ValidationGates(**gates))
    return request


def actions(*ids):
    return [common_pb2.Action(id=i) for i in ids]


def experiment(name, **kwargs):
    variants = kwargs.pop("variants", [events_pb2.Variant(name="a", policy_spec="epsilon_greedy:epsilon=1",
                                                          traffic_weight=1)])
    return ex.CreateExperimentRequest(config=events_pb2.ExperimentConfig(
        name=name, variants=variants, **kwargs))


def deployment(name="dep", model="demo", weight=1.0, variant="v"):
    return dp.CreateDeploymentRequest(deployment=dp.Deployment(name=name, variants=[
        dp.DeploymentVariant(name=variant, traffic_weight=weight,
                             pipeline=dp.Pipeline(model=model))]))


def explore(epsilon=0.5, pool=0):
    """A deployment whose variant explores."""
    request = deployment()
    request.deployment.variants[0].pipeline.exploration.epsilon = epsilon
    request.deployment.variants[0].pipeline.exploration.pool = pool
    return request


def interleaved():
    """An INTERLEAVED deployment of one variant."""
    request = deployment()
    request.deployment.mode = dp.INTERLEAVED
    return request


def rollout(share=0.5, events=10, canary="v2", alpha=0.05):
    """A deployment of two variants with a one-step canary rollout."""
    request = deployment()
    request.deployment.variants.add(name="v2", traffic_weight=0, pipeline=dp.Pipeline(model="demo"))
    request.deployment.rollout.baseline = "v"
    request.deployment.rollout.canary = canary
    request.deployment.rollout.steps.add(canary_share=share, min_events=events)
    request.deployment.rollout.guardrails.alpha = alpha
    return request


def invalid_utf8(message, placeholder):
    """The wire bytes of `message` with the string `placeholder` (4 bytes)
    replaced by 4 bytes that are not UTF-8 (no Python client can send them
    otherwise)."""
    wire = message.SerializeToString()
    assert wire.count(placeholder.encode()) == 1, wire
    return wire.replace(placeholder.encode(), b"\xff\xfe\xc0\xaf")


# (input, service, rpc, request, code, message start). The request is built
# when the catalogue runs; rpc names are the .proto's. Service "raw" sends
# the request's bytes as they are.
CATALOGUE = [
    # --- names: one rule (first character a letter or digit), one place
    ("model_name '..'", "rec", "Train", lambda: train(".."), INVALID,
     "model_name '..' must start with a letter or digit"),
    ("model_name '.'", "rec", "Train", lambda: train("."), INVALID,
     "model_name '.' must start with a letter or digit"),
    ("model_name '-rf'", "rec", "Train", lambda: train("-rf"), INVALID,
     "model_name '-rf' must start"),
    ("model_name 'a/b'", "rec", "Train", lambda: train("a/b"), INVALID,
     "model_name 'a/b' may only contain [A-Za-z0-9_.-]"),
    ("model_name of 8 KB", "rec", "Train", lambda: train(LONG), INVALID,
     "model_name must have 1..64 characters, got 8192"),
    ("ActivateModel '..'", "rec", "ActivateModel",
     lambda: rc.ActivateModelRequest(model_name=".."), INVALID, "model_name '..' must start"),
    ("experiment name '..'", "exp", "CreateExperiment", lambda: experiment(".."), INVALID,
     "name '..' must start with a letter or digit"),
    ("variant name '_a'", "exp", "CreateExperiment",
     lambda: experiment("v", variants=[events_pb2.Variant(name="_a", policy_spec="epsilon_greedy:epsilon=1",
                                                          traffic_weight=1)]),
     INVALID, "variants[0].name '_a' must start"),
    # --- index factory strings: checked before FAISS sees them
    ("index HNSW0", "rec", "Train", lambda: train(index="HNSW0"), INVALID,
     "params.index_factory: index factory 'HNSW0': HNSW's M must be in [4, 128], got 0"),
    ("index IVF0,Flat", "rec", "Train", lambda: train(index="IVF0,Flat"), INVALID,
     "params.index_factory: index factory 'IVF0,Flat': IVF's nlist must be in [1, 65536]"),
    ("index IVF99999,Flat", "rec", "Train", lambda: train(index="IVF99999,Flat"), INVALID,
     "params.index_factory: index factory 'IVF99999,Flat': IVF's nlist must be in"),
    ("index HNSW100000", "rec", "Train", lambda: train(index="HNSW100000"), INVALID,
     "params.index_factory: index factory 'HNSW100000': HNSW's M must be in [4, 128]"),
    ("index IVF16,PQ3 (m does not divide d=8)", "rec", "Train", lambda: train(index="IVF16,PQ3"),
     INVALID, "params.index_factory: index factory 'IVF16,PQ3': PQ's m must divide"),
    ("index PQ8x16", "rec", "Train", lambda: train(index="PQ8x16"), INVALID,
     "params.index_factory: index factory 'PQ8x16': PQ's nbits must be in [1, 12]"),
    ("index of 8 KB", "rec", "Train", lambda: train(index=LONG), INVALID,
     "params.index_factory: index factory 'xxxx"),
    # --- rewards: nothing non-finite is stored
    ("Reward value 1e308", "exp", "Reward",
     lambda: ex.RewardRequest(experiment="demo_layout", event_id="e-any", value=1e308),
     INVALID, "reward value must be finite and within [-1e+12, 1e+12]"),
    ("Reward value NaN", "exp", "Reward",
     lambda: ex.RewardRequest(experiment="demo_layout", event_id="e-any", value=float("nan")),
     INVALID, "reward value must be finite"),
    ("Reward value -inf", "exp", "Reward",
     lambda: ex.RewardRequest(experiment="demo_layout", event_id="e-any", value=float("-inf")),
     INVALID, "reward value must be finite"),
    # --- long input is never echoed whole
    ("Recommend model_name of 8 KB", "rec", "Recommend",
     lambda: rc.RecommendRequest(model_name=LONG, user="u1", k=5), NOT_FOUND,
     "unknown model 'xxxx"),
    ("GetExperiment name of 8 KB", "exp", "GetExperiment",
     lambda: ex.GetExperimentRequest(name=LONG), NOT_FOUND, "unknown experiment 'xxxx"),
    ("SimilarItems item of 8 KB", "rec", "SimilarItems",
     lambda: rc.SimilarItemsRequest(item=LONG, k=5), INVALID, "item must have 1.."),
    # --- Train: parameters, paths, bounds
    ("Train without model_name", "rec", "Train", lambda: train(""), INVALID,
     "model_name must have 1..64 characters, got 0"),
    ("Train path outside data_dir", "rec", "Train",
     lambda: train(path="../../../etc/passwd"), grpc.StatusCode.PERMISSION_DENIED,
     "interactions_path '../../../etc/passwd' is outside"),
    ("Train missing file", "rec", "Train", lambda: train(path="demo/none.csv"), NOT_FOUND,
     "interactions_path 'demo/none.csv' does not exist"),
    ("Train empty path", "rec", "Train", lambda: train(path=""), INVALID,
     "interactions_path is required"),
    ("Train factors 5000", "rec", "Train", lambda: rc.TrainRequest(
        model_name="m", interactions_path="demo/interactions.csv",
        params=model_pb2.TrainParams(algo=model_pb2.ALS, als=model_pb2.AlsParams(factors=5000))),
     INVALID, "ALS factors = 5000 is out of range (1..1024)"),
    ("Train threads 1000", "rec", "Train", lambda: rc.TrainRequest(
        model_name="m", interactions_path="demo/interactions.csv",
        params=model_pb2.TrainParams(algo=model_pb2.ALS, threads=1000)),
     INVALID, "params.threads must be in [0, 256], got 1000"),
    ("Train bpr params with algo ALS", "rec", "Train", lambda: rc.TrainRequest(
        model_name="m", interactions_path="demo/interactions.csv",
        params=model_pb2.TrainParams(algo=model_pb2.ALS, bpr=model_pb2.BprParams(epochs=1))),
     INVALID, "params.bpr set with algo ALS"),
    ("Train unknown solver", "rec", "Train", lambda: rc.TrainRequest(
        model_name="m", interactions_path="demo/interactions.csv",
        params=model_pb2.TrainParams(algo=model_pb2.ALS, als=model_pb2.AlsParams(solver="lu"))),
     INVALID, "params.als.solver must be cg or cholesky, got 'lu'"),
    ("Train algo unset", "rec", "Train", lambda: rc.TrainRequest(
        model_name="m", interactions_path="demo/interactions.csv"),
     INVALID, "params.algo must be ALS or BPR"),
    ("Train k 5000", "rec", "Train", lambda: rc.TrainRequest(
        model_name="m", interactions_path="demo/interactions.csv", params=ALS, k=5000),
     INVALID, "k must be in [0, 1000], got 5000"),
    ("Train index 'Flat ' (trailing space)", "rec", "Train", lambda: train(index="Flat "),
     INVALID, "params.index_factory: index factory 'Flat ': unknown index kind"),
    ("Train index LSH", "rec", "Train", lambda: train(index="LSH"), INVALID,
     "params.index_factory: index factory 'LSH': unknown index kind"),
    ("Train index IVF16 (no encoding)", "rec", "Train", lambda: train(index="IVF16"), INVALID,
     "params.index_factory: index factory 'IVF16': IVF<nlist> needs an encoding"),
    ("Train gates holdout fraction 0.9", "rec", "Train", lambda: gated(
        holdout=model_pb2.HoldoutSpec(fraction=0.9)), INVALID,
     "gates.holdout.fraction = 0.9 is out of range ((0, 0.5])"),
    ("Train gates unknown holdout scheme", "rec", "Train", lambda: gated(
        holdout=model_pb2.HoldoutSpec(scheme="random")), INVALID,
     "gates.holdout.scheme must be time or user_holdout, got \"random\""),
    ("Train gates holdout scheme of 8 KB", "rec", "Train", lambda: gated(
        holdout=model_pb2.HoldoutSpec(scheme=LONG)), INVALID,
     "gates.holdout.scheme must be time or user_holdout, got a longer string"),
    ("Train gates negative tolerance", "rec", "Train",
     lambda: gated(ndcg_tolerance=wrappers_pb2.DoubleValue(value=-1)), INVALID,
     "gates.ndcg_tolerance = -1 must be a finite number >= 0"),
    ("Train gates coverage 1.5", "rec", "Train",
     lambda: gated(min_coverage=wrappers_pb2.DoubleValue(value=1.5)), INVALID,
     "gates.min_coverage = 1.5 is out of range ([0, 1])"),
    ("Train gates index recall without an index", "rec", "Train",
     lambda: gated(min_index_recall=wrappers_pb2.DoubleValue(value=0.9)), INVALID,
     "gates.min_index_recall needs an item index (params.index_factory)"),
    ("Train checkpoint_every 20000", "rec", "Train", lambda: rc.TrainRequest(
        model_name="m", interactions_path="demo/interactions.csv", params=ALS,
        checkpoint_every=20000), INVALID, "checkpoint_every = 20000 is out of range (1..10000)"),
    # --- BatchRecommend
    ("BatchRecommend without output_path", "rec", "BatchRecommend",
     lambda: rc.BatchRecommendRequest(), INVALID, "output_path is required"),
    ("BatchRecommend output outside data_dir", "rec", "BatchRecommend",
     lambda: rc.BatchRecommendRequest(output_path="../out.jsonl"),
     grpc.StatusCode.PERMISSION_DENIED, "output_path '../out.jsonl' is outside"),
    ("BatchRecommend output into models/", "rec", "BatchRecommend",
     lambda: rc.BatchRecommendRequest(output_path="models/demo/ACTIVE"),
     grpc.StatusCode.PERMISSION_DENIED, "output_path 'models/demo/ACTIVE' is inside the server's models/ folder"),
    ("BatchRecommend k 1001", "rec", "BatchRecommend",
     lambda: rc.BatchRecommendRequest(output_path="out.jsonl", k=1001), INVALID,
     "k must be in [1, 1000] (0 = 10), got 1001"),
    ("BatchRecommend format xml", "rec", "BatchRecommend",
     lambda: rc.BatchRecommendRequest(output_path="out.jsonl", format="xml"), INVALID,
     "format must be jsonl or csv, got 'xml'"),
    ("BatchRecommend unknown model", "rec", "BatchRecommend",
     lambda: rc.BatchRecommendRequest(output_path="out.jsonl", model_name="nope"), NOT_FOUND,
     "unknown model 'nope'"),
    # --- jobs
    ("GetJob empty id", "rec", "GetJob", lambda: rc.GetJobRequest(), INVALID,
     "job_id is required"),
    ("GetJob unknown id", "rec", "GetJob", lambda: rc.GetJobRequest(job_id="job-none"),
     NOT_FOUND, "unknown job 'job-none'"),
    ("GetJob id of 8 KB", "rec", "GetJob", lambda: rc.GetJobRequest(job_id=LONG), NOT_FOUND,
     "unknown job 'xxxx"),
    ("CancelJob unknown id", "rec", "CancelJob", lambda: rc.CancelJobRequest(job_id="nope"),
     NOT_FOUND, "unknown job 'nope'"),
    ("CancelJob empty id", "rec", "CancelJob", lambda: rc.CancelJobRequest(), INVALID,
     "job_id is required"),
    ("WatchJob unknown id", "rec-stream", "WatchJob", lambda: rc.GetJobRequest(job_id="nope"),
     NOT_FOUND, "unknown job 'nope'"),
    # --- Recommend / RankItems / SimilarItems bounds
    ("Recommend without user", "rec", "Recommend", lambda: rc.RecommendRequest(k=5), INVALID,
     "user must have 1..256 bytes, got 0"),
    ("Recommend user of 8 KB", "rec", "Recommend", lambda: rc.RecommendRequest(user=LONG),
     INVALID, "user must have 1..256 bytes, got 8192"),
    ("Recommend k 5000", "rec", "Recommend", lambda: rc.RecommendRequest(user="u1", k=5000),
     INVALID, "k must be in [1, 1000] (0 = 10), got 5000"),
    ("Recommend k -1", "rec", "Recommend", lambda: rc.RecommendRequest(user="u1", k=-1),
     INVALID, "k must be in [1, 1000] (0 = 10), got -1"),
    ("Recommend ef_search 99999", "rec", "Recommend",
     lambda: rc.RecommendRequest(user="u1", k=5, ef_search=99999), INVALID,
     "ef_search must be 0 or in [k=5, 4096], got 99999"),
    ("Recommend ef_search below k", "rec", "Recommend",
     lambda: rc.RecommendRequest(user="u1", k=50, ef_search=10), INVALID,
     "ef_search must be 0 or in [k=50, 4096], got 10"),
    ("Recommend nprobe -3", "rec", "Recommend",
     lambda: rc.RecommendRequest(user="u1", k=5, nprobe=-3), INVALID,
     "nprobe must be in [0, 65536], got -3"),
    ("Recommend 20000 exclude_items", "rec", "Recommend",
     lambda: rc.RecommendRequest(user="u1", k=5, exclude_items=["i%d" % i for i in range(20000)]),
     INVALID, "exclude_items has 20000 entries; at most 10000"),
    ("Recommend 2000 recent_items", "rec", "Recommend",
     lambda: rc.RecommendRequest(user="u1", k=5, recent_items=["i%d" % i for i in range(2000)]),
     INVALID, "recent_items has 2000 entries; at most 1000"),
    ("Recommend unknown model", "rec", "Recommend",
     lambda: rc.RecommendRequest(model_name="nope", user="u1"), NOT_FOUND, "unknown model 'nope'"),
    ("Recommend unknown experiment", "rec", "Recommend",
     lambda: rc.RecommendRequest(user="u1", k=5, experiment="nope"), NOT_FOUND,
     "unknown experiment 'nope'"),
    ("Recommend exploration_weight 2", "rec", "Recommend",
     lambda: rc.RecommendRequest(user="u1", k=5, experiment="demo_layout",
                                 exploration_weight=2), INVALID,
     "exploration_weight must be in [0, 1], got 2"),
    ("Recommend exploration_weight NaN", "rec", "Recommend",
     lambda: rc.RecommendRequest(user="u1", k=5, experiment="demo_layout",
                                 exploration_weight=float("nan")), INVALID,
     "exploration_weight must be in [0, 1], got nan"),
    ("RankItems no items", "rec", "RankItems", lambda: rc.RankItemsRequest(user="u1"), INVALID,
     "items must have 1..1000 entries, got 0"),
    ("RankItems 2000 items", "rec", "RankItems",
     lambda: rc.RankItemsRequest(user="u1", items=["i%d" % i for i in range(2000)]), INVALID,
     "items must have 1..1000 entries, got 2000"),
    ("RankItems repeated item", "rec", "RankItems",
     lambda: rc.RankItemsRequest(user="u1", items=["i1", "i1"]), INVALID, "items has 'i1' twice"),
    ("RankItems without user", "rec", "RankItems", lambda: rc.RankItemsRequest(items=["i1"]),
     INVALID, "user must have 1..256 bytes, got 0"),
    ("SimilarItems unknown item", "rec", "SimilarItems",
     lambda: rc.SimilarItemsRequest(item="nope", k=5), NOT_FOUND, "unknown item 'nope'"),
    ("SimilarItems k 1001", "rec", "SimilarItems",
     lambda: rc.SimilarItemsRequest(item="i1", k=1001), INVALID,
     "k must be in [1, 1000] (0 = 10), got 1001"),
    ("SimilarItems without item", "rec", "SimilarItems", lambda: rc.SimilarItemsRequest(k=5),
     INVALID, "item must have 1..256 bytes, got 0"),
    # --- PutEvents
    ("PutEvents no events", "rec", "PutEvents", lambda: rc.PutEventsRequest(), INVALID,
     "events must have 1..10000 entries, got 0"),
    ("PutEvents 10001 events", "rec", "PutEvents", lambda: rc.PutEventsRequest(events=[
        events_pb2.Interaction(user="u1", item="i1")] * 10001), INVALID,
     "events must have 1..10000 entries, got 10001"),
    ("PutEvents negative weight", "rec", "PutEvents", lambda: rc.PutEventsRequest(events=[
        events_pb2.Interaction(user="u1", item="i1", weight=-1)]), INVALID, "events[0]."),
    ("PutEvents NaN weight", "rec", "PutEvents", lambda: rc.PutEventsRequest(events=[
        events_pb2.Interaction(user="u1", item="i1", weight=float("nan"))]), INVALID,
     "events[0]."),
    ("PutEvents empty item", "rec", "PutEvents", lambda: rc.PutEventsRequest(events=[
        events_pb2.Interaction(user="u1")]), INVALID, "events[0]."),
    ("PutEvents user of 8 KB", "rec", "PutEvents", lambda: rc.PutEventsRequest(events=[
        events_pb2.Interaction(user=LONG, item="i1")]), INVALID, "events[0]."),
    # --- catalog and filters (PutItems, Recommend / SimilarItems filter)
    ("filter: syntax error", "rec", "Recommend", lambda: rc.RecommendRequest(
        user="u1", filter=cat.Filter(expression="INCLUDE ItemID WHERE Items.price <")), INVALID,
     "filter.expression: column 35: expected a number, a $parameter or CurrentUser.<field>, got the end"),
    ("filter: string compared with <", "rec", "Recommend", lambda: rc.RecommendRequest(
        user="u1", filter=cat.Filter(expression='EXCLUDE ItemID WHERE Items.tag < "a"')), INVALID,
     "filter.expression: column 32: '<' needs a numeric field; Items.tag holds strings"),
    ("filter: unknown field", "rec", "Recommend", lambda: rc.RecommendRequest(
        user="u1", filter=cat.Filter(expression="INCLUDE ItemID WHERE Items.weight < 3")), INVALID,
     "filter.expression: column 22: unknown field 'Items.weight' (no catalog record has it)"),
    ("filter: missing parameter", "rec", "Recommend", lambda: rc.RecommendRequest(
        user="u1", filter=cat.Filter(expression="INCLUDE ItemID WHERE Items.ItemID IN $ids")),
     INVALID, "filter.expression: column 38: parameter $ids is missing from parameters"),
    ("filter: parameter of the wrong type", "rec", "Recommend", lambda: rc.RecommendRequest(
        user="u1", filter=cat.Filter(expression="INCLUDE ItemID WHERE Items.ItemID IN $ids",
                                     parameters={"ids": cat.FilterValue(numbers=[1])})),
     INVALID, "filter.expression: column 38: parameter $ids must hold strings"),
    ("filter: unused parameter", "rec", "Recommend", lambda: rc.RecommendRequest(
        user="u1", filter=cat.Filter(expression='INCLUDE ItemID WHERE Items.tag = "a"',
                                     parameters={"x": cat.FilterValue(numbers=[1])})),
     INVALID, "filter.parameters['x'] is not used by the expression"),
    ("filter of 3000 bytes", "rec", "Recommend", lambda: rc.RecommendRequest(
        user="u1", filter=cat.Filter(expression="INCLUDE " + "x" * 2992)), INVALID,
     "filter.expression: expression has 3000 bytes; at most 2048"),
    ("filter nested 40 deep", "rec", "Recommend", lambda: rc.RecommendRequest(
        user="u1", filter=cat.Filter(expression="INCLUDE ItemID WHERE " + "(" * 40)), INVALID,
     "filter.expression: column 54: parentheses nested deeper than 32"),
    ("SimilarItems filter with CurrentUser", "rec", "SimilarItems",
     lambda: rc.SimilarItemsRequest(item="i1", filter=cat.Filter(
         expression="INCLUDE ItemID WHERE Items.category IN CurrentUser.category")), INVALID,
     "filter.expression: column 40: CurrentUser is not available here (no user)"),
    ("PutItems no items", "rec", "PutItems", lambda: cat.PutItemsRequest(), INVALID,
     "items must have 1..1000 entries, got 0"),
    ("PutItems 1001 items", "rec", "PutItems", lambda: cat.PutItemsRequest(items=[
        cat.CatalogItem(item="i%d" % n) for n in range(1001)]), INVALID,
     "items must have 1..1000 entries, got 1001"),
    ("PutItems repeated item", "rec", "PutItems", lambda: cat.PutItemsRequest(items=[
        cat.CatalogItem(item="i1"), cat.CatalogItem(item="i1")]), INVALID,
     "items[1].item 'i1' repeats items[0]"),
    ("PutItems 33 categories", "rec", "PutItems", lambda: cat.PutItemsRequest(items=[
        cat.CatalogItem(item="i1", categories=["c"] * 33)]), INVALID,
     "items[0].categories has 33 entries; at most 32"),
    ("PutItems tag of 8 KB", "rec", "PutItems", lambda: cat.PutItemsRequest(items=[
        cat.CatalogItem(item="i1", tags=[LONG])]), INVALID,
     "items[0].tags[0] must have 1..128 bytes, got 8192"),
    ("PutItems numeric field 'category'", "rec", "PutItems", lambda: cat.PutItemsRequest(items=[
        cat.CatalogItem(item="i1", numbers={"category": 1})]), INVALID,
     "items[0].numbers name 'category' must be 1..64 bytes"),
    ("PutItems NaN number", "rec", "PutItems", lambda: cat.PutItemsRequest(items=[
        cat.CatalogItem(item="i1", numbers={"price": float("nan")})]), INVALID,
     "items[0].numbers['price'] must be finite"),
    ("PutItems created in 2200", "rec", "PutItems", lambda: cat.PutItemsRequest(items=[
        cat.CatalogItem(item="i1", created_unix_ms=7258118400000)]), INVALID,
     "items[0].created_unix_ms must be 0 or in [1, 4102444800000], got 7258118400000"),
    ("PutUsers user of 8 KB", "rec", "PutUsers", lambda: cat.PutUsersRequest(users=[
        cat.CatalogUser(user=LONG)]), INVALID, "users[0].user must have 1..256 bytes, got 8192"),
    ("PutEvents event_type 'a b'", "rec", "PutEvents", lambda: rc.PutEventsRequest(events=[
        events_pb2.Interaction(user="u1", item="i1", event_type="a b")]), INVALID,
     "events[0].event_type 'a b' may only contain [A-Za-z0-9_.-]"),
    ("PutEvents event_type of 8 KB", "rec", "PutEvents", lambda: rc.PutEventsRequest(events=[
        events_pb2.Interaction(user="u1", item="i1", event_type=LONG)]), INVALID,
     "events[0].event_type must have 1..64 characters, got 8192"),
    ("Train event weight -1", "rec", "Train", lambda: weighted({"click": -1.0}), INVALID,
     "params.event_weights['click'] must be a finite number >= 0, got -1"),
    ("Train event weight NaN", "rec", "Train", lambda: weighted({"click": float("nan")}),
     INVALID, "params.event_weights['click'] must be a finite number >= 0"),
    ("Train event type '-x'", "rec", "Train", lambda: weighted({"-x": 1.0}), INVALID,
     "params.event_weights type '-x' must start with a letter or digit"),
    ("Train min_weight -1", "rec", "Train", lambda: weighted(min_weight=-1.0), INVALID,
     "params.min_weight must be a finite number >= 0, got -1"),
    # --- models
    ("ListModels unknown model", "rec", "ListModels",
     lambda: rc.ListModelsRequest(model_name="nope"), NOT_FOUND, "unknown model 'nope'"),
    ("ActivateModel unknown version", "rec", "ActivateModel",
     lambda: rc.ActivateModelRequest(model_name="demo", version=99), NOT_FOUND,
     "model 'demo' has no version 99"),
    ("ActivateModel negative version", "rec", "ActivateModel",
     lambda: rc.ActivateModelRequest(model_name="demo", version=-1), INVALID,
     "version must be >= 1, or 0 for the latest; got -1"),
    ("ActivateModel unknown model", "rec", "ActivateModel",
     lambda: rc.ActivateModelRequest(model_name="nope"), NOT_FOUND, "unknown model 'nope'"),
    # --- drift
    ("GetDriftReport neither subject", "rec", "GetDriftReport",
     lambda: drift_pb2.GetDriftReportRequest(), INVALID, "give exactly one of model_name and experiment"),
    ("GetDriftReport unknown model", "rec", "GetDriftReport",
     lambda: drift_pb2.GetDriftReportRequest(model_name="nope"), NOT_FOUND, "unknown model 'nope'"),
    ("GetDriftReport unknown experiment", "rec", "GetDriftReport",
     lambda: drift_pb2.GetDriftReportRequest(experiment="nope"), NOT_FOUND, "unknown experiment 'nope'"),
    ("GetDriftReport psi_alert 11", "rec", "GetDriftReport",
     lambda: drift_pb2.GetDriftReportRequest(model_name="demo", psi_alert=11), INVALID,
     "psi_alert must be in (0, 10], got 11"),
    ("GetDriftReport psi_warn above psi_alert", "rec", "GetDriftReport",
     lambda: drift_pb2.GetDriftReportRequest(experiment="demo_layout", psi_warn=0.5), INVALID,
     "psi_warn must be <= psi_alert (0.2), got 0.5"),
    # --- policy state and the shared stream
    ("GetPolicyState unknown experiment", "exp", "GetPolicyState",
     lambda: ex.GetPolicyStateRequest(experiment="nope", variant="a"), NOT_FOUND,
     "unknown experiment 'nope'"),
    ("GetPolicyState unknown variant", "exp", "GetPolicyState",
     lambda: ex.GetPolicyStateRequest(experiment="demo_layout", variant="nope"), NOT_FOUND,
     "experiment 'demo_layout' has no variant 'nope'"),
    ("GetStreamStatus without --stream", "exp", "GetStreamStatus",
     lambda: ex.GetStreamStatusRequest(), grpc.StatusCode.FAILED_PRECONDITION,
     "this server runs without --stream"),
    # --- experiments
    ("CreateExperiment exists", "exp", "CreateExperiment", lambda: experiment("demo_layout"),
     grpc.StatusCode.ALREADY_EXISTS, "experiment 'demo_layout' exists"),
    ("CreateExperiment no variants", "exp", "CreateExperiment",
     lambda: experiment("novariants", variants=[]), INVALID, "variants must have 1.."),
    ("CreateExperiment bad policy spec", "exp", "CreateExperiment",
     lambda: experiment("badspec", variants=[events_pb2.Variant(
         name="a", policy_spec="nosuch:x=1", traffic_weight=1)]), INVALID,
     "variants[0].policy_spec: unknown policy family 'nosuch'"),
    ("CreateExperiment epsilon 2", "exp", "CreateExperiment",
     lambda: experiment("badeps", variants=[events_pb2.Variant(
         name="a", policy_spec="epsilon_greedy:epsilon=2", traffic_weight=1)]), INVALID,
     "variants[0].policy_spec: "),
    ("CreateExperiment weight 0", "exp", "CreateExperiment",
     lambda: experiment("w0", variants=[events_pb2.Variant(
         name="a", policy_spec="ucb1", traffic_weight=0)]), INVALID,
     "variants[0].traffic_weight must be > 0 and finite, got 0"),
    ("CreateExperiment weight inf", "exp", "CreateExperiment",
     lambda: experiment("winf", variants=[events_pb2.Variant(
         name="a", policy_spec="ucb1", traffic_weight=float("inf"))]), INVALID,
     "variants[0].traffic_weight must be > 0 and finite, got inf"),
    ("CreateExperiment repeated variant", "exp", "CreateExperiment",
     lambda: experiment("rep", variants=[
         events_pb2.Variant(name="a", policy_spec="ucb1", traffic_weight=1),
         events_pb2.Variant(name="a", policy_spec="ucb1", traffic_weight=1)]), INVALID,
     "variants[1].name 'a' is repeated"),
    ("CreateExperiment default_reward NaN", "exp", "CreateExperiment",
     lambda: experiment("drnan", default_reward=float("nan")), INVALID,
     "default_reward must be finite"),
    ("CreateExperiment bad shadow", "exp", "CreateExperiment",
     lambda: experiment("shadowbad", shadow_policy_specs=["nosuch"]), INVALID,
     "shadow_policy_specs[0]: "),
    ("CreateExperiment repeated shadow", "exp", "CreateExperiment",
     lambda: experiment("shadowrep", shadow_policy_specs=["ucb1", "ucb1:c=1"]), INVALID,
     "shadow_policy_specs[1] 'ucb1:c=1' is repeated"),
    ("CreateExperiment snapshot_every -1", "exp", "CreateExperiment",
     lambda: experiment("snap", snapshot_every_rewards=-1), INVALID,
     "snapshot_every_rewards must be in [1, "),
    ("CreateExperiment name of 8 KB", "exp", "CreateExperiment", lambda: experiment(LONG),
     INVALID, "name must have 1..64 characters, got 8192"),
    ("GetExperiment unknown", "exp", "GetExperiment",
     lambda: ex.GetExperimentRequest(name="nope"), NOT_FOUND, "unknown experiment 'nope'"),
    ("Decide unknown experiment", "exp", "Decide",
     lambda: ex.DecideRequest(experiment="nope", actions=actions("a")), NOT_FOUND,
     "unknown experiment 'nope'"),
    ("Decide no actions", "exp", "Decide", lambda: ex.DecideRequest(experiment="demo_layout"),
     INVALID, "actions must have 1..1024 entries, got 0"),
    ("Decide 1025 actions", "exp", "Decide", lambda: ex.DecideRequest(
        experiment="demo_layout", actions=actions(*["a%d" % i for i in range(1025)])), INVALID,
     "actions must have 1..1024 entries, got 1025"),
    ("Decide repeated action", "exp", "Decide", lambda: ex.DecideRequest(
        experiment="demo_layout", actions=actions("a", "a")), INVALID, "actions"),
    ("Decide unit_id of 8 KB", "exp", "Decide", lambda: ex.DecideRequest(
        experiment="demo_layout", unit_id=LONG, actions=actions("a")), INVALID,
     "unit_id has 8192 bytes; at most"),
    ("Decide event_id of 8 KB", "exp", "Decide", lambda: ex.DecideRequest(
        experiment="demo_layout", event_id=LONG, actions=actions("a")), INVALID, "event_id"),
    ("Decide 33 stored features", "exp", "Decide", lambda: ex.DecideRequest(
        experiment="demo_layout", unit_id="u1", actions=actions("a"),
        stored_features=["user.f%d" % i for i in range(33)]), INVALID,
     "stored_features has 33 names; at most 32"),
    ("Decide stored feature of 8 KB", "exp", "Decide", lambda: ex.DecideRequest(
        experiment="demo_layout", unit_id="u1", actions=actions("a"),
        stored_features=["user." + LONG]), INVALID,
     "stored_features[0] is 8197 bytes; at most 69"),
    ("Decide stored feature without user./item.", "exp", "Decide", lambda: ex.DecideRequest(
        experiment="demo_layout", unit_id="u1", actions=actions("a"),
        stored_features=["price"]), INVALID,
     "stored_features[0] 'price' must be \"user.<field>\" or \"item.<field>\""),
    ("Decide stored feature field 'a b'", "exp", "Decide", lambda: ex.DecideRequest(
        experiment="demo_layout", unit_id="u1", actions=actions("a"),
        stored_features=["item.a b"]), INVALID,
     "stored_features[0] 'item.a b': the field must be category, tag or a numeric field"),
    ("Decide stored feature repeated", "exp", "Decide", lambda: ex.DecideRequest(
        experiment="demo_layout", unit_id="u1", actions=actions("a"),
        stored_features=["user.tag", "user.tag"]), INVALID,
     "stored_features[1] 'user.tag' repeats stored_features[0]"),
    ("Decide stored numeric field nobody has", "exp", "Decide", lambda: ex.DecideRequest(
        experiment="demo_layout", unit_id="u1", actions=actions("a"),
        stored_features=["user.no_such_field"]), NOT_FOUND,
     "stored_features[0] \"user.no_such_field\": no user or item has the numeric field"),
    ("Decide stored features, hash_bits 0", "exp", "Decide", lambda: ex.DecideRequest(
        experiment="demo_layout", unit_id="u1", actions=actions("a"),
        stored_features=["user.category"]), INVALID,
     "stored_features are added as sparse features, but experiment 'demo_layout' has "
     "hash_bits 0"),
    ("Recommend stored_features without experiment", "rec", "Recommend",
     lambda: rc.RecommendRequest(user="u1", k=5, stored_features=["user.category"]), INVALID,
     "stored_features need an experiment"),
    ("Reward unknown experiment", "exp", "Reward",
     lambda: ex.RewardRequest(experiment="nope", event_id="e", value=1), NOT_FOUND,
     "unknown experiment 'nope'"),
    ("Reward without event_id", "exp", "Reward",
     lambda: ex.RewardRequest(experiment="demo_layout", value=1), INVALID,
     "event_id is required"),
    ("Reward unknown event", "exp", "Reward",
     lambda: ex.RewardRequest(experiment="demo_layout", event_id="no-such-event", value=1),
     NOT_FOUND, "unknown event id 'no-such-event'"),
    ("Reward event id of 8 KB", "exp", "Reward",
     lambda: ex.RewardRequest(experiment="demo_layout", event_id=LONG, value=1), NOT_FOUND,
     "unknown event id 'xxxx"),
    ("EvaluatePolicy without experiment", "exp", "EvaluatePolicy",
     lambda: ex.EvaluatePolicyRequest(target="uniform"), INVALID, "experiment is required"),
    ("EvaluatePolicy unknown estimator", "exp", "EvaluatePolicy",
     lambda: ex.EvaluatePolicyRequest(experiment="demo_layout", target="uniform",
                                      estimators=["magic"]), INVALID,
     "unknown estimator 'magic'"),
    ("EvaluatePolicy bad target", "exp", "EvaluatePolicy",
     lambda: ex.EvaluatePolicyRequest(experiment="demo_layout", target="nosuch:x=1"), INVALID,
     "target 'nosuch:x=1' is not uniform"),
    ("EvaluatePolicy unknown variant snapshot", "exp", "EvaluatePolicy",
     lambda: ex.EvaluatePolicyRequest(experiment="demo_layout", target="snapshot:nope"),
     NOT_FOUND, "experiment 'demo_layout' has no variant 'nope'"),
    ("EvaluatePolicy bootstrap 10^7", "exp", "EvaluatePolicy",
     lambda: ex.EvaluatePolicyRequest(experiment="demo_layout", target="uniform",
                                      bootstrap=10000000), INVALID, "bootstrap must be in [0, "),
    ("EvaluatePolicy unknown experiment", "exp", "EvaluatePolicy",
     lambda: ex.EvaluatePolicyRequest(experiment="nope", target="uniform"), NOT_FOUND,
     "unknown experiment 'nope'"),
    # --- deployments
    ("deployment name '..'", "dep", "CreateDeployment", lambda: deployment(name=".."), INVALID,
     "deployment.name '..' must start with a letter or digit"),
    ("deployment name 8 KB", "dep", "CreateDeployment", lambda: deployment(name=LONG), INVALID,
     "deployment.name must have 1..64 characters, got 8192"),
    ("deployment model '../x'", "dep", "CreateDeployment", lambda: deployment(model="../x"),
     INVALID, "deployment.variants[0].pipeline.model '../x' must start with a letter or digit"),
    ("deployment model 'demo@-1'", "dep", "CreateDeployment",
     lambda: deployment(model="demo@-1"), INVALID,
     "deployment.variants[0].pipeline.model must be <name> or <name>@<version>"),
    ("deployment model 'demo@99999999999999999999'", "dep", "CreateDeployment",
     lambda: deployment(model="demo@99999999999999999999"), INVALID,
     "deployment.variants[0].pipeline.model must be <name> or <name>@<version>"),
    ("deployment traffic_weight NaN", "dep", "CreateDeployment",
     lambda: deployment(weight=float("nan")), INVALID,
     "deployment.variants[0].traffic_weight must be in [0, 1e+06], got nan"),
    ("deployment traffic_weight inf", "dep", "CreateDeployment",
     lambda: deployment(weight=float("inf")), INVALID,
     "deployment.variants[0].traffic_weight must be in [0, 1e+06], got inf"),
    ("deployment of a missing version", "dep", "CreateDeployment",
     lambda: deployment(model="demo@42"), NOT_FOUND, "model 'demo' has no version 42"),
    ("deployment 17 variants", "dep", "CreateDeployment",
     lambda: dp.CreateDeploymentRequest(deployment=dp.Deployment(name="d17", variants=[
         dp.DeploymentVariant(name="v%d" % i, traffic_weight=1, pipeline=dp.Pipeline(model="demo"))
         for i in range(17)])), INVALID, "deployment.variants must have 1..16 entries, got 17"),
    ("GetDeployment of an unknown name", "dep", "GetDeployment",
     lambda: dp.GetDeploymentRequest(name="nope"), NOT_FOUND, "unknown deployment 'nope'"),
    ("GetDeployment name 8 KB", "dep", "GetDeployment",
     lambda: dp.GetDeploymentRequest(name=LONG), NOT_FOUND, "unknown deployment 'xxxx"),
    ("ListDeploymentChanges name '..'", "dep", "ListDeploymentChanges",
     lambda: dp.ListDeploymentChangesRequest(name=".."), INVALID,
     "name '..' must start with a letter or digit"),
    ("RewardSlate event_id 8 KB", "dep", "RewardSlate",
     lambda: dp.RewardSlateRequest(deployment="nope", event_id=LONG, value=1), INVALID,
     "event_id must have 1..256 bytes"),
    ("SwitchDeployment name 8 KB", "dep", "SwitchDeployment",
     lambda: dp.SwitchDeploymentRequest(name=LONG, variant="v"), INVALID,
     "name must have 1..64 characters, got 8192"),
    ("SwitchDeployment to an unknown variant", "dep", "SwitchDeployment",
     lambda: dp.SwitchDeploymentRequest(name="demo_layout", variant="v"), NOT_FOUND,
     "unknown deployment 'demo_layout'"),
    ("RollbackDeployment of an unknown name", "dep", "RollbackDeployment",
     lambda: dp.RollbackDeploymentRequest(name="nope"), NOT_FOUND, "unknown deployment 'nope'"),
    ("deployment rollout canary_share NaN", "dep", "CreateDeployment",
     lambda: rollout(share=float("nan")), INVALID,
     "deployment.rollout.steps[0].canary_share must be in (0, 1], got nan"),
    ("deployment rollout min_events -1", "dep", "CreateDeployment",
     lambda: rollout(events=-1), INVALID, "deployment.rollout.steps[0].min_events must be in [0, "),
    ("deployment rollout canary unknown", "dep", "CreateDeployment",
     lambda: rollout(canary="w"), INVALID,
     "deployment.rollout.canary 'w' is not a variant of the deployment"),
    ("deployment rollout alpha 1", "dep", "CreateDeployment",
     lambda: rollout(alpha=1), INVALID, "deployment.rollout.guardrails.alpha must be in (0, 0.5]"),
    ("EvaluatePolicy of an unknown deployment", "exp", "EvaluatePolicy",
     lambda: ex.EvaluatePolicyRequest(deployment="dep", target="uniform"), NOT_FOUND,
     "unknown deployment 'dep'"),
    ("EvaluatePolicy deployment and experiment", "exp", "EvaluatePolicy",
     lambda: ex.EvaluatePolicyRequest(deployment="dep", experiment="demo_layout",
                                      target="model:demo"), INVALID,
     "give experiment or deployment, not both"),
    ("EvaluatePolicy deployment name '..'", "exp", "EvaluatePolicy",
     lambda: ex.EvaluatePolicyRequest(deployment="..", target="model:demo"), INVALID,
     "deployment '..' must start with a letter or digit"),
    ("deployment exploration epsilon 2", "dep", "CreateDeployment",
     lambda: explore(epsilon=2), INVALID,
     "deployment.variants[0].pipeline.exploration.epsilon must be in [0, 1], got 2"),
    ("deployment exploration pool 5000", "dep", "CreateDeployment",
     lambda: explore(pool=5000), INVALID,
     "deployment.variants[0].pipeline.exploration.pool must be in [0, 1000]"),
    ("deployment INTERLEAVED with 1 variant", "dep", "CreateDeployment",
     lambda: interleaved(), INVALID, "deployment.mode INTERLEAVED needs exactly 2 variants, got 1"),
    ("Recommend unit_id 8 KB", "rec", "Recommend",
     lambda: rc.RecommendRequest(user="u1", deployment="dep", unit_id=LONG), INVALID,
     "unit_id must have 1..256 bytes"),
    # --- invalid UTF-8 in a string field: INVALID_ARGUMENT naming the field
    ("Recommend user not UTF-8", "raw", "/recbandit.Recommender/Recommend",
     lambda: invalid_utf8(rc.RecommendRequest(user="AAAA", k=5), "AAAA"), INVALID,
     "user is not valid UTF-8 (recbandit.RecommendRequest)"),
    ("Train model_name not UTF-8", "raw", "/recbandit.Recommender/Train",
     lambda: invalid_utf8(train("AAAA"), "AAAA"), INVALID,
     "model_name is not valid UTF-8 (recbandit.TrainRequest)"),
    ("PutEvents events[1].item not UTF-8", "raw", "/recbandit.Recommender/PutEvents",
     lambda: invalid_utf8(rc.PutEventsRequest(events=[
         events_pb2.Interaction(user="u1", item="i1"),
         events_pb2.Interaction(user="u1", item="BBBB")]), "BBBB"), INVALID,
     "events[1].item is not valid UTF-8"),
    ("Decide actions[0].id not UTF-8", "raw", "/recbandit.Experiments/Decide",
     lambda: invalid_utf8(ex.DecideRequest(experiment="demo_layout", actions=actions("CCCC")),
                          "CCCC"), INVALID, "actions[0].id is not valid UTF-8"),
    ("GetJob job_id not UTF-8 (streaming WatchJob)", "raw-stream",
     "/recbandit.Recommender/WatchJob",
     lambda: invalid_utf8(rc.GetJobRequest(job_id="DDDD"), "DDDD"), INVALID,
     "job_id is not valid UTF-8"),
    ("CreateDeployment variants[0].name not UTF-8", "raw",
     "/recbandit.Deployments/CreateDeployment",
     lambda: invalid_utf8(deployment(variant="EEEE"), "EEEE"), INVALID,
     "deployment.variants[0].name is not valid UTF-8"),
    ("Recommend unit_id not UTF-8", "raw", "/recbandit.Recommender/Recommend",
     lambda: invalid_utf8(rc.RecommendRequest(user="u1", deployment="dep", unit_id="FFFF"),
                          "FFFF"), INVALID, "unit_id is not valid UTF-8"),
    ("Recommend: bytes that are not a message", "raw", "/recbandit.Recommender/Recommend",
     lambda: b"\x0a\xff\xff\xff\xff\x0f", INVALID,
     "the request is not a valid recbandit.RecommendRequest message"),
]


def stubs(channel):
    return {"rec": rcg.RecommenderStub(channel), "exp": exg.ExperimentsStub(channel),
            "dep": dpg.DeploymentsStub(channel)}


assert len(CATALOGUE) >= 100, len(CATALOGUE)


def check_serving(health):
    for service in ("", "recbandit.Recommender", "recbandit.Experiments"):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.SERVING, (service, status)


def check_health_names(health):
    try:
        health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
        raise AssertionError("an unknown service has no health status")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e.code()
    print("health: SERVING overall and for recbandit.Recommender and recbandit.Experiments; "
          "NOT_FOUND for an unknown service")


def call(channel, services, service, rpc, request):
    if service == "raw":
        return channel.unary_unary(rpc)(request, timeout=TIMEOUT)
    if service == "raw-stream":
        return list(channel.unary_stream(rpc)(request, timeout=TIMEOUT))
    if service == "rec-stream":
        return list(getattr(services["rec"], rpc)(request, timeout=TIMEOUT))
    return getattr(services[service], rpc)(request, timeout=TIMEOUT)


def run_catalogue(channel, health):
    services = stubs(channel)
    failures = []
    for label, service, rpc, make, code, start in CATALOGUE:
        try:
            call(channel, services, service, rpc, make())
        except grpc.RpcError as e:
            details = e.details() or ""
            if e.code() != code or not details.startswith(start) or len(details) >= 1024:
                failures.append("%s: expected %s '%s...', got %s '%s' (%d chars)" % (
                    label, code.name, start, e.code().name, details[:200], len(details)))
            else:
                print("  %-40s %-17s %s" % (label, code.name, details[:100]))
        else:
            failures.append("%s: expected %s, the call succeeded" % (label, code.name))
        check_serving(health)
    assert not failures, "\n".join(failures)
    print("catalogue: %d bad inputs, each with its code and message; health SERVING" %
          len(CATALOGUE))


def check_reward_overflow(exp):
    """SUM aggregation, 1e12 twice: the second is refused and changes nothing;
    OPE on the experiment keeps working."""
    exp.CreateExperiment(experiment("overflow", reward_aggregation=events_pb2.SUM),
                         timeout=TIMEOUT)
    d = exp.Decide(ex.DecideRequest(experiment="overflow", actions=actions("a", "b")),
                   timeout=TIMEOUT)
    first = exp.Reward(ex.RewardRequest(experiment="overflow", event_id=d.event_id, value=1e12),
                       timeout=TIMEOUT)
    assert first.aggregated == 1e12, first
    try:
        exp.Reward(ex.RewardRequest(experiment="overflow", event_id=d.event_id, value=1e12),
                   timeout=TIMEOUT)
        raise AssertionError("an overflowing SUM was accepted")
    except grpc.RpcError as e:
        assert e.code() == INVALID, e
        assert "aggregated (SUM) reward" in e.details(), e.details()
    again = exp.Reward(ex.RewardRequest(experiment="overflow", event_id=d.event_id, value=-1),
                       timeout=TIMEOUT)
    assert again.aggregated == 1e12 - 1, again  # the refused one was not stored
    result = exp.EvaluatePolicy(ex.EvaluatePolicyRequest(experiment="overflow", target="uniform",
                                                         estimators=["ips"]), timeout=TIMEOUT)
    # epsilon 1 logs p = 1/2 for either action, as the uniform target does.
    assert result.n == 1 and result.estimates[0].value == 1e12 - 1, result
    print("reward overflow: refused, nothing stored, EvaluatePolicy still answers")


def check_names_do_not_escape(rec):
    models = rec.ListModels(rc.ListModelsRequest(), timeout=TIMEOUT).models
    names = sorted({m.manifest.name for m in models})
    assert names == ["demo"], names
    print("model names: only %s stored after the bad names" % names)


def check_metrics_port(port):
    """Every method and path gets an HTTP answer; the server stays up."""
    def request(method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, dict(resp.getheaders()), data

    status, _, body = request("GET", "/metrics")
    assert status == 200 and b"recbandit_rpc_requests_total" in body, (status, body[:200])
    status, _, body = request("HEAD", "/metrics")
    assert status == 200 and body == b"", (status, body)
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        status, headers, _ = request(method, "/metrics", body=b"x" if method != "OPTIONS" else None)
        assert status == 405 and headers.get("Allow") == "GET, HEAD", (method, status, headers)
    for path in ("/", "/favicon.ico", "/../../etc/passwd", "/metrics/", "/metricsx",
                 "/%00", "/" + "a" * 4000, "/metrics?x=1#y"):
        for method in ("GET", "HEAD", "POST"):
            status, _, _ = request(method, path)
            expected = {"GET": 200, "HEAD": 200, "POST": 405} if path.startswith("/metrics?") \
                else {"GET": 404, "HEAD": 404, "POST": 404}
            assert status == expected[method], (method, path[:40], status)
    # Raw garbage, an unknown method, a request line that never ends, and a
    # client that connects and says nothing.
    for raw in (b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\xa5garbage\r\n\r\n",
                b"GET " + b"/" * 20000 + b" HTTP/1.1\r\n\r\n", b"GET /metrics HTTP/1.1\r\n", b""):
        s = socket.create_connection(("127.0.0.1", port), timeout=15)
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        try:
            answer = s.recv(200)
        except socket.timeout:
            answer = b"(timeout)"
        s.close()
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), (raw[:30], answer[:60])
    status, _, body = request("GET", "/metrics")
    assert status == 200, status
    print("metrics port: GET/HEAD /metrics 200, other methods 405, other paths 404, "
          "garbage answered 4xx; still serving")


def markdown():
    print("| input | rpc | code | message starts with |")
    print("|---|---|---|---|")
    for label, _, rpc, _, code, start in CATALOGUE:
        rpc = rpc.rsplit("/", 1)[-1]
        print("| %s | %s | %s | `%s` |" % (label.replace("|", "\\|"), rpc, code.name,
                                           start.replace("|", "\\|")))


def main():
    if sys.argv[1] == "--markdown":
        markdown()
        return
    target, metrics_port = sys.argv[1], int(sys.argv[3])
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        health = health_pb2_grpc.HealthStub(channel)
        check_serving(health)
        check_health_names(health)
        check_metrics_port(metrics_port)
        check_serving(health)
        run_catalogue(channel, health)
        services = stubs(channel)
        check_reward_overflow(services["exp"])
        check_names_do_not_escape(services["rec"])
        check_serving(health)
    print("ok")


if __name__ == "__main__":
    main()

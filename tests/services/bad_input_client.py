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
from proto import common_pb2, events_pb2, model_pb2  # noqa: E402
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


def actions(*ids):
    return [common_pb2.Action(id=i) for i in ids]


def experiment(name, **kwargs):
    variants = kwargs.pop("variants", [events_pb2.Variant(name="a", policy_spec="epsilon_greedy:epsilon=1",
                                                          traffic_weight=1)])
    return ex.CreateExperimentRequest(config=events_pb2.ExperimentConfig(
        name=name, variants=variants, **kwargs))


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
    ("Recommend: bytes that are not a message", "raw", "/recbandit.Recommender/Recommend",
     lambda: b"\x0a\xff\xff\xff\xff\x0f", INVALID,
     "the request is not a valid recbandit.RecommendRequest message"),
]


def stubs(channel):
    return {"rec": rcg.RecommenderStub(channel), "exp": exg.ExperimentsStub(channel)}


def check_serving(health):
    status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
    assert status == health_pb2.HealthCheckResponse.SERVING, status


def call(channel, services, service, rpc, request):
    if service == "raw":
        return channel.unary_unary(rpc)(request, timeout=TIMEOUT)
    if service == "raw-stream":
        return list(channel.unary_stream(rpc)(request, timeout=TIMEOUT))
    return getattr(services[service], rpc)(request, timeout=TIMEOUT)


def run_catalogue(channel, health):
    services = stubs(channel)
    for label, service, rpc, make, code, start in CATALOGUE:
        try:
            call(channel, services, service, rpc, make())
        except grpc.RpcError as e:
            details = e.details() or ""
            assert e.code() == code, (label, code, e.code(), details[:300])
            assert details.startswith(start), (label, start, details[:300])
            assert len(details) < 1024, (label, len(details))
            print("  %-40s %-17s %s" % (label, code.name, details[:100]))
        else:
            raise AssertionError("%s: expected %s, the call succeeded" % (label, code.name))
        check_serving(health)
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

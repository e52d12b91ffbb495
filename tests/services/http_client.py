"""The HTTP/JSON API (POST /v1/<Service>/<Method>) through Python's urllib and
http.client (stdlib only), beside the gRPC answers to the same requests
(python3-grpcio stubs): driven by tests/services/server_http_test.sh against
`recbandit serve --demo --http_port=-1 --auth_token_file=...`.

Checks: auth (none/wrong -> 401 as gRPC's UNAUTHENTICATED, right -> 200);
Recommend, RankItems, SimilarItems, ListModels, GetExperiment, ListExperiments
equal to gRPC's answers (snake_case keys printed, lowerCamel accepted);
Decide + Reward; a Train job watched as NDJSON (lines flushed as they come,
a cancelled one, one to SUCCEEDED) equal to gRPC's GetJob / WatchJob; every
error mapping we can trigger, with gRPC's code and message; malformed HTTP
(405, 404, 413, 415, bad JSON, bad UTF-8, deep nesting); many requests at once.

Usage: http_client.py <grpc host:port> <http port> <stubs dir> <token file>
"""
import http.client
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

import grpc
from google.protobuf import json_format

sys.path.insert(0, sys.argv[3])
from proto import common_pb2 as c  # noqa: E402
from proto import events_pb2 as ev  # noqa: E402
from proto import experiments_pb2 as e, experiments_pb2_grpc as eg  # noqa: E402
from proto import model_pb2 as m  # noqa: E402
from proto import recommender_pb2 as r, recommender_pb2_grpc as rg  # noqa: E402

GRPC_ADDR, HTTP_PORT, TOKEN = sys.argv[1], int(sys.argv[2]), open(sys.argv[4]).read().strip()
BASE = "http://127.0.0.1:%d" % HTTP_PORT
AUTH = {"Authorization": "Bearer " + TOKEN}
JSON = {"Content-Type": "application/json"}
TIMEOUT = 60
MAX_BODY = 4 << 20  # --max_message_bytes' default

channel = grpc.insecure_channel(GRPC_ADDR)
grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
META = [("authorization", "Bearer " + TOKEN)]
rec, exp = rg.RecommenderStub(channel), eg.ExperimentsStub(channel)

# grpc-gateway's mapping, by gRPC code name.
HTTP_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
               "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
               "ALREADY_EXISTS": 409, "ABORTED": 409, "RESOURCE_EXHAUSTED": 429,
               "CANCELLED": 499, "UNKNOWN": 500, "INTERNAL": 500, "DATA_LOSS": 500,
               "UNIMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}


def post(path, body, headers=None, method="POST"):
    """(status, headers, body bytes) of one request; `body` bytes or a JSON value."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    all_headers = dict(JSON, **AUTH)
    all_headers.update(headers or {})
    all_headers = {k: v for k, v in all_headers.items() if v is not None}
    req = urllib.request.Request(BASE + path, data=data, headers=all_headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def ok(path, body, **kw):
    status, headers, data = post(path, body, **kw)
    assert status == 200, (path, status, data[:500])
    assert headers["Content-Type"].startswith("application/json"), headers
    return json.loads(data)


def error(path, body, status, code_name, **kw):
    """The JSON error body of a refused request: {"code", "message"} only."""
    got, headers, data = post(path, body, **kw)
    assert got == status, (path, got, status, data[:500])
    assert headers["Content-Type"].startswith("application/json"), headers
    doc = json.loads(data)
    assert set(doc) == {"code", "message"}, doc
    assert doc["code"] == grpc.StatusCode[code_name].value[0], (doc, code_name)
    assert 0 < len(doc["message"]) <= 1100, doc
    print("  %d %-19s %s %s" % (got, code_name, path, doc["message"][:110]))
    return doc


def same_as_grpc(path, body, grpc_fn, request, response_type):
    """The JSON answer parses into exactly gRPC's answer to the same request."""
    got = ok(path, body)
    want = grpc_fn(request, metadata=META, timeout=TIMEOUT)
    parsed = json_format.Parse(json.dumps(got), response_type(), ignore_unknown_fields=False)
    assert parsed == want, (path, got, want)
    return got


def same_error_as_grpc(path, body, grpc_fn, request):
    """HTTP refuses as gRPC does: the mapped status, the same code and message."""
    try:
        answer = grpc_fn(request, metadata=META, timeout=TIMEOUT)
        if hasattr(answer, "__next__"):  # a server stream fails when read
            list(answer)
        raise AssertionError("gRPC accepted %s" % request)
    except grpc.RpcError as err:
        code, details = err.code(), err.details()
    doc = error(path, body, HTTP_STATUS[code.name], code.name)
    assert doc["message"] == details, (doc, details)
    return doc


def auth():
    print("auth")
    for headers in ({"Authorization": None}, {"Authorization": "Bearer wrong"},
                    {"Authorization": "Basic " + TOKEN}):
        doc = error("/v1/Recommender/Recommend", {"user": "u1"}, 401, "UNAUTHENTICATED",
                    headers=headers)
        status, hdrs, _ = post("/v1/Recommender/Recommend", {"user": "u1"}, headers=headers)
        assert hdrs["WWW-Authenticate"] == "Bearer", hdrs
        assert TOKEN not in doc["message"]
    # The same check as gRPC's (the scheme is case-insensitive there too).
    ok("/v1/Recommender/Recommend", {"user": "u1"},
       headers={"Authorization": "bearer " + TOKEN})
    error("/v1/Recommender/Recommend", {"user": "u1"}, 400, "INVALID_ARGUMENT",
          headers={"Authorization": "Bearer \u00e9".encode("utf-8").decode("latin-1")})


def serving():
    print("serving, equal to gRPC")
    got = same_as_grpc("/v1/Recommender/Recommend", {"user": "u1", "k": 5}, rec.Recommend,
                       r.RecommendRequest(user="u1", k=5), r.RecommendResponse)
    assert len(got["items"]) == 5 and {"item", "score"} <= set(got["items"][0]), got
    # Every field printed, proto (snake_case) names.
    assert {"fallback", "model_version", "model_name", "event_id"} <= set(got), got
    assert isinstance(got["model_version"], str), got  # int64: a string (protobuf JSON)
    print("  Recommend u1 k=5: %s" % [i["item"] for i in got["items"]])
    # Input in lowerCamel or snake_case, as protobuf's JSON parser takes both.
    camel = ok("/v1/Recommender/Recommend",
               {"user": "u1", "k": 5, "excludeItems": [got["items"][0]["item"]]})
    snake = ok("/v1/Recommender/Recommend",
               {"user": "u1", "k": 5, "exclude_items": [got["items"][0]["item"]]})
    assert camel == snake and camel["items"][0] != got["items"][0], (camel, got)
    same_as_grpc("/v1/Recommender/Recommend", {"user": "new", "recent_items": ["i3", "i7"]},
                 rec.Recommend, r.RecommendRequest(user="new", recent_items=["i3", "i7"]),
                 r.RecommendResponse)
    same_as_grpc("/v1/Recommender/SimilarItems", {"item": "i1", "k": 5}, rec.SimilarItems,
                 r.SimilarItemsRequest(item="i1", k=5), r.SimilarItemsResponse)
    same_as_grpc("/v1/Recommender/RankItems", {"user": "u1", "items": ["i1", "i2", "i3"]},
                 rec.RankItems, r.RankItemsRequest(user="u1", items=["i1", "i2", "i3"]),
                 r.RankItemsResponse)
    models = same_as_grpc("/v1/Recommender/ListModels", {}, rec.ListModels,
                          r.ListModelsRequest(), r.ListModelsResponse)
    assert "keep_versions" in models, models
    assert "demo" in [x["manifest"]["name"] for x in models["models"]], models
    # No body at all is the empty request.
    assert ok("/v1/Recommender/ListModels", None) == models
    same_as_grpc("/v1/Experiments/GetExperiment", {"name": "demo_layout"}, exp.GetExperiment,
                 e.GetExperimentRequest(name="demo_layout"), ev.ExperimentConfig)
    same_as_grpc("/v1/Experiments/ListExperiments", {}, exp.ListExperiments,
                 e.ListExperimentsRequest(), e.ListExperimentsResponse)
    same_as_grpc("/v1/Deployments/ListDeployments", {}, rg_deployments().ListDeployments,
                 deployments_pb2().ListDeploymentsRequest(),
                 deployments_pb2().ListDeploymentsResponse)


def deployments_pb2():
    from proto import deployments_pb2 as d
    return d


def rg_deployments():
    from proto import deployments_pb2_grpc as dg
    return dg.DeploymentsStub(channel)


def decide_reward():
    print("Decide + Reward")
    actions = [{"id": a} for a in ("grid", "list", "carousel")]
    d = ok("/v1/Experiments/Decide",
           {"experiment": "demo_layout", "unit_id": "u1", "actions": actions})
    assert d["chosen_action"] in ("grid", "list", "carousel") and len(d["pmf"]) == 3, d
    assert abs(sum(d["pmf"]) - 1) < 1e-9 and d["propensity"] == d["pmf"][d["chosen_index"]], d
    print("  Decide -> %s (p=%.3f, event %s)" % (d["chosen_action"], d["propensity"],
                                                  d["event_id"]))
    got = ok("/v1/Experiments/Reward",
             {"experiment": "demo_layout", "event_id": d["event_id"], "value": 1})
    json_format.Parse(json.dumps(got), e.RewardResponse())
    # The decision's event id is used: HTTP and gRPC refuse it alike.
    same_error_as_grpc(
        "/v1/Experiments/Decide",
        {"experiment": "demo_layout", "event_id": d["event_id"], "actions": actions},
        exp.Decide, e.DecideRequest(experiment="demo_layout", event_id=d["event_id"],
                                    actions=[c.Action(id=a["id"]) for a in actions]))


def watch_lines(job_id, on_line=None):
    """WatchJob over HTTP: (headers, [Job dicts]) read line by line."""
    conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=300)
    conn.request("POST", "/v1/Recommender/WatchJob", json.dumps({"job_id": job_id}),
                 dict(JSON, **AUTH))
    resp = conn.getresponse()
    assert resp.status == 200, (resp.status, resp.read()[:300])
    assert resp.getheader("Content-Type").startswith("application/x-ndjson"), resp.getheaders()
    assert resp.getheader("Transfer-Encoding") == "chunked", resp.getheaders()
    jobs = []
    while True:
        line = resp.readline()
        if not line:
            break
        assert line.endswith(b"\n"), line
        job = json.loads(line)
        json_format.Parse(line, r.Job())  # every line a whole Job
        jobs.append(job)
        if on_line:
            on_line(job)
    conn.close()
    return resp, jobs


def jobs():
    print("Train jobs watched as NDJSON")
    train = {"model_name": "demo", "interactions_path": "demo/interactions.csv",
             "params": {"algo": "ALS", "threads": 1, "seed": 3,
                        "als": {"factors": 16, "iterations": 1000}}}
    job = ok("/v1/Recommender/Train", train)
    assert job["state"] in ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING"), job
    # Lines are flushed as the job moves: once two iterations have been
    # reported the job is still running, and a cancel ends the same stream.
    seen = []

    def on_line(j):
        seen.append(j)
        if j["iteration"] >= 2 and not any(s.get("cancel_sent") for s in seen):
            seen.append({"cancel_sent": True})
            ok("/v1/Recommender/CancelJob", {"job_id": job["job_id"]})
    _, lines = watch_lines(job["job_id"], on_line)
    assert lines[-1]["state"] == "JOB_STATE_CANCELLED", lines[-1]
    assert any(j["state"] == "JOB_STATE_RUNNING" and j["iteration"] >= 2 for j in lines), lines
    print("  a 1000-iteration job: %d lines while it ran, cancelled at iteration %d" %
          (len(lines), lines[-1]["iteration"]))

    # A queue of 16 waiting jobs is full: the 17th is RESOURCE_EXHAUSTED (429).
    blocker = ok("/v1/Recommender/Train", train)
    small = dict(train, params=dict(train["params"], als={"factors": 8, "iterations": 2}))
    queued, refused = [], None
    for _ in range(20):
        status, _, data = post("/v1/Recommender/Train", small)
        if status == 200:
            queued.append(json.loads(data)["job_id"])
        else:
            refused = (status, json.loads(data))
            break
    assert refused and refused[0] == 429 and refused[1]["code"] == 8, refused
    print("  429 RESOURCE_EXHAUSTED     after %d queued jobs: %s" % (len(queued),
                                                                       refused[1]["message"]))
    for job_id in queued + [blocker["job_id"]]:
        ok("/v1/Recommender/CancelJob", {"job_id": job_id})

    job = ok("/v1/Recommender/Train", small)
    _, lines = watch_lines(job["job_id"])
    assert lines[-1]["state"] == "JOB_STATE_SUCCEEDED", lines[-1]
    assert lines[-1]["iteration"] == 2 and lines[-1]["model_version"] != "0", lines[-1]
    # The last line is the job as gRPC reports it, and a finished job's HTTP
    # stream is gRPC's stream.
    want = rec.GetJob(r.GetJobRequest(job_id=job["job_id"]), metadata=META, timeout=TIMEOUT)
    assert json_format.Parse(json.dumps(lines[-1]), r.Job()) == want, (lines[-1], want)
    _, again = watch_lines(job["job_id"])
    streamed = list(rec.WatchJob(r.GetJobRequest(job_id=job["job_id"]), metadata=META,
                                 timeout=TIMEOUT))
    assert [json_format.Parse(json.dumps(j), r.Job()) for j in again] == streamed, again
    print("  Train -> %d lines, %s as version %s, equal to gRPC's GetJob and WatchJob" %
          (len(lines), lines[-1]["state"], lines[-1]["model_version"]))
    # An unknown job: refused before any line, with gRPC's code and message.
    same_error_as_grpc("/v1/Recommender/WatchJob", {"job_id": "nope"}, rec.WatchJob,
                       r.GetJobRequest(job_id="nope"))


def grpc_errors():
    print("gRPC errors, mapped as grpc-gateway does")
    same_error_as_grpc("/v1/Recommender/Recommend", {"user": "u1", "model_name": "nope"},
                       rec.Recommend, r.RecommendRequest(user="u1", model_name="nope"))
    same_error_as_grpc("/v1/Recommender/Recommend", {"user": "u1", "k": 5000},
                       rec.Recommend, r.RecommendRequest(user="u1", k=5000))
    same_error_as_grpc("/v1/Recommender/Train",
                       {"model_name": "x", "interactions_path": "../../../etc/passwd",
                        "params": {"algo": "ALS"}},
                       rec.Train, r.TrainRequest(model_name="x",
                                                 interactions_path="../../../etc/passwd",
                                                 params=m.TrainParams(algo=m.ALS)))
    same_error_as_grpc("/v1/Experiments/CreateExperiment",
                       {"config": {"name": "demo_layout", "variants": [
                           {"name": "a", "policy_spec": "ucb1", "traffic_weight": 1}]}},
                       exp.CreateExperiment, e.CreateExperimentRequest(config=ev.ExperimentConfig(
                           name="demo_layout", variants=[ev.Variant(
                               name="a", policy_spec="ucb1", traffic_weight=1)])))
    same_error_as_grpc("/v1/Experiments/GetStreamStatus", {}, exp.GetStreamStatus,
                       e.GetStreamStatusRequest())
    # A string the JSON decodes into a lone surrogate: refused, never served.
    status, _, data = post("/v1/Recommender/Recommend", b'{"user": "\\udc00"}')
    assert status == 400 and json.loads(data)["code"] == 3, (status, data)
    # The request log names the failed calls, as for gRPC clients.


def http_errors():
    print("HTTP errors")
    error("/v1/Recommender/Recommend", None, 405, "UNIMPLEMENTED", method="GET")
    status, headers, _ = post("/v1/Recommender/Recommend", None, method="DELETE")
    assert status == 405 and headers["Allow"] == "POST", (status, headers)
    error("/v1/Recommender/Nope", {}, 404, "NOT_FOUND")
    doc = error("/v1/recommender/recommend", {}, 404, "NOT_FOUND")
    assert "did you mean /v1/Recommender/Recommend?" in doc["message"], doc
    error("/v1/recbandit.Recommender/Recommend", {}, 404, "NOT_FOUND")
    # GET / is the dashboard (tests/services/server_dashboard_test.sh).
    error("/v1/", None, 404, "NOT_FOUND", method="GET")
    error("/v1/Recommender/Recommend/", {}, 404, "NOT_FOUND")
    # Bodies: bounded (413 before the body is read), JSON, UTF-8.
    doc = error("/v1/Recommender/Recommend", b"{" + b" " * MAX_BODY + b"}", 413,
                "RESOURCE_EXHAUSTED")
    assert str(MAX_BODY) in doc["message"], doc
    # Just under the bound: read, and refused by gRPC's own check of the user.
    doc = error("/v1/Recommender/Recommend",
                json.dumps({"user": "x" * (MAX_BODY - 100)}).encode(), 400, "INVALID_ARGUMENT")
    assert doc["message"].startswith("user must have 1..256 bytes"), doc
    error("/v1/Recommender/Recommend", b'{"user": "u1"', 400, "INVALID_ARGUMENT")
    doc = error("/v1/Recommender/Recommend", b'{"usr": "u1"}', 400, "INVALID_ARGUMENT")
    assert doc["message"].startswith("invalid JSON for recbandit.RecommendRequest"), doc
    error("/v1/Recommender/Recommend", b'{"user": 5}', 400, "INVALID_ARGUMENT")
    error("/v1/Recommender/Recommend", b'{"k": "many"}', 400, "INVALID_ARGUMENT")
    error("/v1/Recommender/Recommend", b'[1, 2]', 400, "INVALID_ARGUMENT")
    doc = error("/v1/Recommender/Recommend", b'{"user": "' + b"\xff" * 5000 + b'"}', 400,
                "INVALID_ARGUMENT")
    assert "UTF-8" in doc["message"], doc
    # Deep nesting and a long bad value: refused, the message stays short.
    error("/v1/Recommender/Recommend", b"[" * 1000000, 400, "INVALID_ARGUMENT")
    error("/v1/Recommender/Recommend", b"{" * 1000000, 400, "INVALID_ARGUMENT")
    doc = error("/v1/Recommender/Recommend",
                json.dumps({"user": "u1", "k": "9" * 100000}).encode(), 400, "INVALID_ARGUMENT")
    assert len(doc["message"]) <= 1100, len(doc["message"])
    doc = error("/v1/Recommender/Recommend", b'{"user": "u1"}', 415, "INVALID_ARGUMENT",
                headers={"Content-Type": "text/plain"})
    assert "application/json" in doc["message"], doc
    error("/v1/Recommender/Recommend", b'{"user": "u1"}', 415, "INVALID_ARGUMENT",
          headers={"Content-Type": "application/x-www-form-urlencoded"})
    error("/v1/Recommender/Recommend", b'{"user": "u1"}', 415, "INVALID_ARGUMENT",
          headers={"Content-Type": "application/json; charset=latin-1"})
    ok("/v1/Recommender/Recommend", {"user": "u1"},
       headers={"Content-Type": "application/json; charset=UTF-8"})
    # No Content-Type at all: taken as JSON (urllib always sends one).
    conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=TIMEOUT)
    conn.request("POST", "/v1/Recommender/Recommend", b'{"user": "u1"}', AUTH)
    resp = conn.getresponse()
    assert resp.status == 200, (resp.status, resp.read())
    conn.close()


def raw(request_bytes, read_timeout=10):
    """Sends raw bytes on a fresh connection; returns what comes back."""
    s = socket.create_connection(("127.0.0.1", HTTP_PORT), timeout=read_timeout)
    s.sendall(request_bytes)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out


def malformed():
    print("malformed HTTP")
    head = raw(b"POST /v1/Recommender/Recommend HTTP/1.1\r\nHost: x\r\nContent-Type: "
               b"application/json\r\nContent-Length: 99999999999\r\n\r\n{}")
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    # A chunked body over the bound is cut off at the bound.
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
    head = raw(b"POST /v1/Recommender/Recommend HTTP/1.1\r\nHost: x\r\nContent-Type: "
               b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 5 +
               b"0\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    head = raw(b"GARBAGE\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head[:200]
    head = raw(b"POST /v1/Recommender/Recommend HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head[:200]
    # No Content-Length on a POST: an empty body (not a wait for the close).
    t0 = time.time()
    head = raw(b"POST /v1/Recommender/ListModels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
               + TOKEN.encode() + b"\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and time.time() - t0 < 3, head[:200]
    # Keep-alive: several calls on one connection.
    conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=TIMEOUT)
    for _ in range(3):
        conn.request("POST", "/v1/Recommender/Recommend", json.dumps({"user": "u2"}),
                     dict(JSON, **AUTH))
        resp = conn.getresponse()
        assert resp.status == 200, resp.status
        resp.read()
    conn.close()


def concurrent():
    print("64 Recommend calls from 16 threads")
    failures = []

    def worker(n):
        for i in range(4):
            status, _, data = post("/v1/Recommender/Recommend", {"user": "u%d" % (n * 4 + i)})
            if status != 200:
                failures.append((status, data[:200]))
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]


def main():
    auth()
    serving()
    decide_reward()
    grpc_errors()
    http_errors()
    malformed()
    concurrent()
    jobs()
    # The server still serves.
    ok("/v1/Recommender/Recommend", {"user": "u1"})
    print("ok")


if __name__ == "__main__":
    main()

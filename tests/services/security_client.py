"""An independent client (Debian's python3-grpcio, stubs generated from proto/)
against `recbandit serve --demo` with TLS and a bearer token: over TLS a call
with `authorization: Bearer <token>` succeeds, one without the metadata, with a
wrong token or another scheme fails with UNAUTHENTICATED on both services
(unary and streaming); health and reflection stay open without a token; a
plaintext channel, or a TLS channel trusting another CA, cannot reach the TLS
port; and the server still serves after all of it.

Usage: security_client.py <host:port> <stub dir> <CA/cert PEM> <token file> <other CA PEM>
"""
import sys

import grpc

sys.path.insert(0, sys.argv[2])
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402
from proto import common_pb2  # noqa: E402
from proto import experiments_pb2 as ex, experiments_pb2_grpc as exg  # noqa: E402
from proto import recommender_pb2 as rc, recommender_pb2_grpc as rcg  # noqa: E402

TIMEOUT = 30
# How long a channel that cannot connect gets before we call it refused.
UNREACHABLE_TIMEOUT = 5


def expect_code(codes, fn, request, **kwargs):
    """Calls fn (unary, or server streaming when it yields) and asserts the
    failure's status code is in `codes`; returns the RpcError."""
    if isinstance(codes, grpc.StatusCode):
        codes = (codes,)
    timeout = kwargs.pop("timeout", TIMEOUT)
    try:
        result = fn(request, timeout=timeout, **kwargs)
        if hasattr(result, "__iter__") and not hasattr(result, "SerializeToString"):
            list(result)  # a stream: its status arrives at the end
    except grpc.RpcError as e:
        assert e.code() in codes, ([c.name for c in codes], e.code(), e.details())
        assert e.details(), "errors carry a message"
        return e
    raise AssertionError("expected %s from %s" % ([c.name for c in codes], fn._method))


def bearer(token):
    return (("authorization", "Bearer " + token),)


def check_health_and_reflection(channel):
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
        health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection_stubs import list_services
    services = list_services(channel)
    for name in ("recbandit.Recommender", "recbandit.Experiments", "grpc.health.v1.Health"):
        assert name in services, (name, services)
    print("  health SERVING and reflection (%d services) without a token" % len(services))


def check_auth(channel, token):
    rec = rcg.RecommenderStub(channel)
    exp = exg.ExperimentsStub(channel)
    request = rc.RecommendRequest(user="u1", k=10)

    reply = rec.Recommend(request, timeout=TIMEOUT, metadata=bearer(token))
    assert len(reply.items) == 10 and reply.model_name == "demo", reply
    d = exp.Decide(ex.DecideRequest(
        experiment="demo_layout", unit_id="u1",
        actions=[common_pb2.Action(id=x) for x in ("grid", "list", "carousel")]),
        timeout=TIMEOUT, metadata=bearer(token))
    assert d.chosen_action in ("grid", "list", "carousel"), d
    print("  with 'Bearer <token>': Recommend %d items, Decide %s" % (
        len(reply.items), d.chosen_action))
    # The scheme name is case-insensitive (RFC 7235).
    reply = rec.Recommend(request, timeout=TIMEOUT,
                          metadata=(("authorization", "bearer " + token),))
    assert len(reply.items) == 10, reply

    unauth = grpc.StatusCode.UNAUTHENTICATED
    cases = [
        ("no metadata", ()),
        ("wrong token", bearer("not-the-token")),
        ("token prefix", bearer(token[:-1])),
        ("token + suffix", bearer(token + "x")),
        ("empty bearer", (("authorization", "Bearer "),)),
        ("Basic xyz", (("authorization", "Basic xyz"),)),
        ("Basic <token>", (("authorization", "Basic " + token),)),
        ("bare token", (("authorization", token),)),
    ]
    for label, metadata in cases:
        e = expect_code(unauth, rec.Recommend, request, metadata=metadata)
        expect_code(unauth, exp.GetExperiment, ex.GetExperimentRequest(name="demo_layout"),
                    metadata=metadata)
        print("  %-15s -> %s: %s" % (label, e.code().name, e.details()))
    # A streaming rpc is guarded too (WatchJob on a job that does not exist:
    # NOT_FOUND once authorized, UNAUTHENTICATED before).
    expect_code(unauth, rec.WatchJob, rc.GetJobRequest(job_id="job-none"))
    expect_code(grpc.StatusCode.NOT_FOUND, rec.WatchJob, rc.GetJobRequest(job_id="job-none"),
                metadata=bearer(token))
    print("  WatchJob (stream): UNAUTHENTICATED without a token, NOT_FOUND with it")


def check_unreachable(target, other_ca):
    request = rc.RecommendRequest(user="u1", k=10)
    with grpc.insecure_channel(target) as plain:
        e = expect_code((grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED),
                        rcg.RecommenderStub(plain).Recommend, request,
                        timeout=UNREACHABLE_TIMEOUT)
        print("  plaintext channel -> %s: %s" % (e.code().name, e.details()))
        expect_code((grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED),
                    health_pb2_grpc.HealthStub(plain).Check, health_pb2.HealthCheckRequest(),
                    timeout=UNREACHABLE_TIMEOUT)
    with grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=other_ca)) \
            as untrusted:
        e = expect_code((grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED),
                        health_pb2_grpc.HealthStub(untrusted).Check,
                        health_pb2.HealthCheckRequest(), timeout=UNREACHABLE_TIMEOUT)
        print("  TLS trusting another CA -> %s: %s" % (e.code().name, e.details()))


def main():
    target, cert_path, token_path, other_ca_path = sys.argv[1], sys.argv[3], sys.argv[4], \
        sys.argv[5]
    cert = open(cert_path, "rb").read()
    other_ca = open(other_ca_path, "rb").read()
    token = open(token_path).read().strip()
    assert token, "the token file is empty"
    credentials = grpc.ssl_channel_credentials(root_certificates=cert)
    with grpc.secure_channel(target, credentials) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        print("TLS channel to %s" % target)
        check_health_and_reflection(channel)
        check_auth(channel, token)
    print("unreachable without the server's CA")
    check_unreachable(target, other_ca)
    # Every failure above left the server serving (a fresh TLS channel).
    with grpc.secure_channel(target, credentials) as channel:
        reply = rcg.RecommenderStub(channel).Recommend(
            rc.RecommendRequest(user="u2", k=5), timeout=TIMEOUT, metadata=bearer(token))
        assert len(reply.items) == 5, reply
        assert health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
    print("still serving after the failures")
    print("ok")


if __name__ == "__main__":
    main()

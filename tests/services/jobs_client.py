"""Jobs through the real server (Debian's python3-grpcio, stubs from proto/),
driven by tests/services/server_jobs_test.sh in phases around a kill -9:

  start <addr> <stubs> <job file>   submit a 1-thread ALS Train job and return
                                    once it has checkpointed a few iterations
  resume <addr> <stubs> <job file>  the job (after the restart) runs to
                                    SUCCEEDED from its checkpoint
  batch <addr> <stubs>              BatchRecommend jobs (jsonl and csv, and a
                                    user list), a cancelled one, bad requests
  gates <addr> <stubs>              a gated Train that fails its gates ends
                                    NOT_PROMOTED and ListModels shows why

Every phase prints what it checked; an assertion failure exits non-zero.
"""
import json
import sys
import time

import grpc

sys.path.insert(0, sys.argv[3])
from proto import model_pb2  # noqa: E402
from proto import recommender_pb2 as rc, recommender_pb2_grpc as rcg  # noqa: E402

TIMEOUT = 30
MODEL = "resumable"
# The training run the shell script repeats with `recbandit train`.
ITERATIONS = 30
FACTORS = 32
SEED = 7
CHECKPOINTS_BEFORE_KILL = 5
# Every job here ends in seconds; a watch that outlives this has found a hang.
WATCH_TIMEOUT = 180


def params():
    return model_pb2.TrainParams(
        algo=model_pb2.ALS, threads=1, seed=SEED,
        als=model_pb2.AlsParams(factors=FACTORS, iterations=ITERATIONS))


def expect_code(code, fn, request):
    try:
        fn(request, timeout=TIMEOUT)
    except grpc.RpcError as e:
        assert e.code() == code, (code, e.code(), e.details())
        assert e.details() and len(e.details()) < 400, e.details()
        print("  %-18s %s" % (code.name, e.details()))
        return e
    raise AssertionError("expected %s" % code.name)


def watch(rec, job_id):
    """Streams a job to its terminal state; returns the last update."""
    last = None
    for job in rec.WatchJob(rc.GetJobRequest(job_id=job_id), timeout=WATCH_TIMEOUT):
        last = job
    assert last is not None
    return last


def start(rec, job_file):
    job = rec.Train(rc.TrainRequest(model_name=MODEL, interactions_path="train.csv",
                                    params=params()), timeout=TIMEOUT)
    with open(job_file, "w") as f:
        f.write(job.job_id)
    deadline = time.time() + 300
    while time.time() < deadline:
        job = rec.GetJob(rc.GetJobRequest(job_id=job.job_id), timeout=TIMEOUT)
        assert job.state in (rc.JOB_STATE_QUEUED, rc.JOB_STATE_RUNNING), job
        # Iteration n is reported after its checkpoint (checkpoint_every 1).
        if job.iteration >= CHECKPOINTS_BEFORE_KILL:
            assert job.iteration < ITERATIONS, "the job must still be running at the kill"
            print("job %s at iteration %d/%d: ready for the kill" %
                  (job.job_id, job.iteration, job.total_iterations))
            return
        time.sleep(0.02)
    raise AssertionError("the job did not reach iteration %d" % CHECKPOINTS_BEFORE_KILL)


def resume(rec, job_file):
    job_id = open(job_file).read().strip()
    first = rec.GetJob(rc.GetJobRequest(job_id=job_id), timeout=TIMEOUT)
    assert first.restarts == 1, first
    done = watch(rec, job_id)
    assert done.state == rc.JOB_STATE_SUCCEEDED, done
    assert done.resumed_from_iteration >= CHECKPOINTS_BEFORE_KILL, done
    assert done.iteration == ITERATIONS, done
    assert done.kind == rc.JOB_KIND_TRAIN
    print("job %s resumed from iteration %d after %d restart, SUCCEEDED as version %d" %
          (job_id, done.resumed_from_iteration, done.restarts, done.model_version))
    print("VERSION %d" % done.model_version)


def batch(rec):
    # Every user, in the two formats the CLI writes.
    for fmt, path in (("jsonl", "batch/all.jsonl"), ("csv", "batch/all.csv")):
        job = rec.BatchRecommend(rc.BatchRecommendRequest(
            model_name=MODEL, output_path=path, k=5, format=fmt, threads=2), timeout=TIMEOUT)
        assert job.kind == rc.JOB_KIND_BATCH_RECOMMEND, job
        done = watch(rec, job.job_id)
        assert done.state == rc.JOB_STATE_SUCCEEDED, done
        assert done.users_done == done.users_total > 0, done
        assert done.batch_report.users == done.users_total, done
        print("BatchRecommend %s: %d users to %s" % (fmt, done.users_done, path))
    # A user list, unknown users included (popularity fallback), in order.
    users = ["u5", "nobody", "u3"]
    done = watch(rec, rec.BatchRecommend(rc.BatchRecommendRequest(
        model_name=MODEL, output_path="batch/some.jsonl", users=users, k=3),
        timeout=TIMEOUT).job_id)
    assert done.state == rc.JOB_STATE_SUCCEEDED, done
    print("BatchRecommend with a user list: %d users" % done.users_done)

    # Cancelled while queued behind a long training job: no file.
    long_job = rec.Train(rc.TrainRequest(model_name="long", interactions_path="train.csv",
                                         params=params()), timeout=TIMEOUT)
    queued = rec.BatchRecommend(rc.BatchRecommendRequest(
        model_name=MODEL, output_path="batch/cancelled.jsonl"), timeout=TIMEOUT)
    rec.CancelJob(rc.CancelJobRequest(job_id=queued.job_id), timeout=TIMEOUT)
    rec.CancelJob(rc.CancelJobRequest(job_id=long_job.job_id), timeout=TIMEOUT)
    assert watch(rec, queued.job_id).state == rc.JOB_STATE_CANCELLED
    assert watch(rec, long_job.job_id).state == rc.JOB_STATE_CANCELLED
    print("a queued BatchRecommend job cancelled")

    print("bad BatchRecommend requests")
    bad = [
        (grpc.StatusCode.INVALID_ARGUMENT, dict(model_name=MODEL)),  # no output_path
        (grpc.StatusCode.PERMISSION_DENIED, dict(model_name=MODEL, output_path="../x.jsonl")),
        (grpc.StatusCode.PERMISSION_DENIED,
         dict(model_name=MODEL, output_path="/" + "x" * 5000 + ".jsonl")),
        (grpc.StatusCode.INVALID_ARGUMENT, dict(model_name=MODEL, output_path="b.jsonl", k=1001)),
        (grpc.StatusCode.INVALID_ARGUMENT,
         dict(model_name=MODEL, output_path="b.jsonl", format="parquet")),
        (grpc.StatusCode.INVALID_ARGUMENT,
         dict(model_name=MODEL, output_path="b.jsonl", threads=257)),
        (grpc.StatusCode.NOT_FOUND, dict(model_name="no_such_model", output_path="b.jsonl")),
    ]
    for code, fields in bad:
        expect_code(code, rec.BatchRecommend, rc.BatchRecommendRequest(**fields))


def gates(rec):
    models = rec.ListModels(rc.ListModelsRequest(), timeout=TIMEOUT).models
    active = [m.manifest.version for m in models if m.manifest.name == MODEL and m.active]
    assert len(active) == 1, models
    weak = model_pb2.TrainParams(algo=model_pb2.ALS, threads=1, seed=SEED,
                                 als=model_pb2.AlsParams(factors=1, iterations=1))
    strong = model_pb2.TrainParams(algo=model_pb2.ALS, threads=1, seed=SEED,
                                   als=model_pb2.AlsParams(factors=16, iterations=10))
    gated = model_pb2.ValidationGates(k=10)  # the default holdout: the newest 10%
    gated.ndcg_tolerance.value = 0.01

    def train(p, g):
        job = rec.Train(rc.TrainRequest(model_name=MODEL, interactions_path="train.csv",
                                        params=p, gates=g), timeout=TIMEOUT)
        return watch(rec, job.job_id)

    def gate(job, name):
        found = [g for g in job.report.validation.gates if g.gate == name]
        assert len(found) == 1, job.report.validation
        return found[0]

    # The active version trained on the whole file, holdout included: no fair
    # comparison is possible, so the gates fail closed.
    closed = train(strong, gated)
    assert closed.state == rc.JOB_STATE_NOT_PROMOTED, closed
    assert not gate(closed, "holdout").passed
    assert "trained on all" in gate(closed, "holdout").detail, gate(closed, "holdout")
    print("gated Train against a version that saw the holdout: NOT_PROMOTED (%s)" %
          gate(closed, "holdout").detail)

    # Forced: activated all the same, the verdict kept.
    gated.force = True
    forced = train(strong, gated)
    assert forced.state == rc.JOB_STATE_SUCCEEDED and forced.report.validation.forced, forced
    gated.force = False
    baseline = forced.model_version
    print("forced: version %d active" % baseline)

    # A one-factor, one-iteration candidate against it, on the holdout neither
    # trained on.
    done = train(weak, gated)
    assert done.state == rc.JOB_STATE_NOT_PROMOTED, done
    validation = done.report.validation
    assert not validation.promoted and validation.baseline_version == baseline, validation
    ndcg = gate(done, "ndcg_at_k")
    assert not ndcg.passed and ndcg.candidate < ndcg.threshold, ndcg
    assert abs(ndcg.threshold - (ndcg.baseline - 0.01)) < 1e-12, ndcg
    print("gated Train: NOT_PROMOTED, ndcg@10 %.4f < %.4f (active v%d %.4f - 0.01)" %
          (ndcg.candidate, ndcg.threshold, baseline, ndcg.baseline))

    models = rec.ListModels(rc.ListModelsRequest(), timeout=TIMEOUT).models
    held = [m for m in models if m.manifest.name == MODEL and
            m.manifest.version == done.model_version]
    assert len(held) == 1 and not held[0].active, models
    assert not held[0].manifest.validation.promoted
    assert [m.manifest.version for m in models
            if m.manifest.name == MODEL and m.active] == [baseline]
    print("ListModels: version %d stored, not active, with its gate results; v%d still active" %
          (done.model_version, baseline))

    # The same candidate with a generous tolerance passes and is activated.
    gated.ndcg_tolerance.value = 1
    passed = train(weak, gated)
    assert passed.state == rc.JOB_STATE_SUCCEEDED and passed.report.validation.promoted, passed
    assert not passed.report.validation.forced
    print("with tolerance 1: SUCCEEDED, version %d active" % passed.model_version)

    print("bad gates")
    for code, g, p in [
        (grpc.StatusCode.INVALID_ARGUMENT,
         model_pb2.ValidationGates(holdout=model_pb2.HoldoutSpec(fraction=0.9)), weak),
        (grpc.StatusCode.INVALID_ARGUMENT,
         model_pb2.ValidationGates(holdout=model_pb2.HoldoutSpec(scheme="random")), weak),
        (grpc.StatusCode.INVALID_ARGUMENT, model_pb2.ValidationGates(k=5000), weak),
    ]:
        expect_code(code, rec.Train, rc.TrainRequest(
            model_name=MODEL, interactions_path="train.csv", params=p, gates=g))
    no_index = model_pb2.ValidationGates()
    no_index.min_index_recall.value = 0.9
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, rec.Train, rc.TrainRequest(
        model_name=MODEL, interactions_path="train.csv", params=weak, gates=no_index))


def main():
    phase, addr = sys.argv[1], sys.argv[2]
    channel = grpc.insecure_channel(addr)
    grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
    rec = rcg.RecommenderStub(channel)
    if phase == "start":
        start(rec, sys.argv[4])
    elif phase == "resume":
        resume(rec, sys.argv[4])
    elif phase == "batch":
        batch(rec)
    elif phase == "gates":
        gates(rec)
    else:
        raise SystemExit("unknown phase " + phase)


if __name__ == "__main__":
    main()

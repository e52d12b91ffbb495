"""Catalog metadata and filters through the real server (Python grpcio).

phase "put":   trains an Exact-index model on the demo data, stores every
               demo item's metadata (PutItems) and a user's (PutUsers), then
               checks filtered Recommend and SimilarItems against an oracle.
phase "check": after a restart (the catalog read back from disk, possibly with
               another --filter_scan_rows), the same checks again, then
               new-item exploration through a deployment: only the new
               items stored in "put" (not the stale or hidden one) are
               shown, on about the configured share of first positions,
               with the exact propensity; a bad share is refused. And
               BatchRecommend jobs: a filtered job's file equals filtered
               Recommend calls; an unfiltered one leaves hidden items out.

The oracle evaluates the filter itself over the metadata it stored and ranks
the allowed items with RankItems (exact scores): Recommend must return
exactly its top k, in order.

Usage: catalog_client.py <host:port> <stub dir> <data dir> put|check
"""
import json
import os
import sys

import grpc

sys.path.insert(0, sys.argv[2])
from proto import catalog_pb2 as cat, model_pb2  # noqa: E402
from proto import recommender_pb2 as rc, recommender_pb2_grpc as rcg  # noqa: E402
from proto import deployments_pb2 as dp, deployments_pb2_grpc as dpg  # noqa: E402

TIMEOUT = 60
MODEL = "exact"


def demo_items(data_dir):
    items = []
    seen = set()
    with open(data_dir + "/demo/interactions.csv") as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) < 2 or parts[0] == "user":
                continue
            if parts[1] not in seen:
                seen.add(parts[1])
                items.append(parts[1])
    return sorted(items)


def metadata(items):
    """Deterministic metadata: category c0..c4, price 0..99, tag every 7th,
    every 50th item hidden."""
    out = {}
    for n, item in enumerate(items):
        out[item] = {"id": item, "category": "c%d" % (n % 5), "price": float(n % 100),
                     "tags": ["new"] if n % 7 == 0 else [], "hidden": n % 50 == 3}
    return out


def allowed(meta, pred):
    return sorted(i for i, m in meta.items() if not m["hidden"] and pred(m))


def oracle(rec, user, items, k):
    """Top k of `items` for `user` by exact score (RankItems, 1000 at a time)."""
    scored = []
    for start in range(0, len(items), 1000):
        reply = rec.RankItems(rc.RankItemsRequest(model_name=MODEL, user=user,
                                                  items=items[start:start + 1000]),
                              timeout=TIMEOUT)
        scored += [(s.score, s.item) for s in reply.items]
    scored.sort(key=lambda x: (-x[0], x[1]))
    return [item for _, item in scored[:k]]


def recommend(rec, user, k, expression="", **params):
    f = cat.Filter(expression=expression)
    for name, value in params.items():
        if isinstance(value, list) and value and isinstance(value[0], str):
            f.parameters[name].strings.extend(value)
        else:
            f.parameters[name].numbers.extend(value if isinstance(value, list) else [value])
    reply = rec.Recommend(rc.RecommendRequest(model_name=MODEL, user=user, k=k, include_seen=True,
                                              filter=f), timeout=TIMEOUT)
    return [s.item for s in reply.items]


def check_filters(rec, meta):
    users = ["u1", "u17", "u512"]
    ids = sorted(meta)[:4]  # the 4th (n = 3) is hidden
    cases = [
        ("EXCLUDE c1, c2", 'EXCLUDE ItemID WHERE Items.category IN ("c1", "c2")', {},
         lambda m: m["category"] not in ("c1", "c2")),
        ("price < $max", "INCLUDE ItemID WHERE Items.price < $max", {"max": 7},
         lambda m: m["price"] < 7),
        ("tag and price", 'INCLUDE ItemID WHERE Items.tag = "new" AND (Items.price >= 90 OR '
         'Items.category = "c0")', {}, lambda m: "new" in m["tags"] and
         (m["price"] >= 90 or m["category"] == "c0")),
        ("price IN $p", "INCLUDE ItemID WHERE Items.price IN $p AND Items.category = \"c0\"",
         {"p": [0.0, 5.0, 10.0]}, lambda m: m["price"] in (0, 5, 10) and m["category"] == "c0"),
        ("4 ids, 1 hidden", "INCLUDE ItemID WHERE Items.ItemID IN $ids", {"ids": ids},
         lambda m: m["id"] in ids),
        ("no filter", "", {}, lambda m: True),
    ]
    for name, expression, params, pred in cases:
        ok_items = allowed(meta, pred)
        for user in users:
            for k in (10, 100):
                got = recommend(rec, user, k, expression, **params)
                want = oracle(rec, user, ok_items, k)
                assert got == want, (name, user, k, got[:5], want[:5])
                assert len(got) == min(k, len(ok_items)), (name, len(got), len(ok_items))
        print("  %-14s %4d allowed: Recommend == oracle for %d users, k 10 and 100" % (
            name, len(ok_items), len(users)))
    # Hidden items are never returned, even when asked for every item.
    everything = recommend(rec, "u1", 1000)
    hidden = {i for i, m in meta.items() if m["hidden"]}
    assert len(everything) == len(meta) - len(hidden) and not hidden & set(everything)
    print("  hidden: %d items never returned (k=1000 gives the other %d)" % (
        len(hidden), len(everything)))
    # CurrentUser: u1 prefers category c3 (PutUsers).
    got = recommend(rec, "u1", 20, "INCLUDE ItemID WHERE Items.category IN CurrentUser.category")
    assert got == oracle(rec, "u1", allowed(meta, lambda m: m["category"] == "c3"), 20), got
    print("  CurrentUser.category: top 20 == oracle")
    # SimilarItems: the filtered list is the unfiltered exact ranking, filtered.
    item = sorted(meta)[10]
    full = [s.item for s in rec.SimilarItems(rc.SimilarItemsRequest(
        model_name=MODEL, item=item, k=999), timeout=TIMEOUT).items]
    f = cat.Filter(expression='INCLUDE ItemID WHERE Items.category = "c4"')
    got = [s.item for s in rec.SimilarItems(rc.SimilarItemsRequest(
        model_name=MODEL, item=item, k=15, filter=f), timeout=TIMEOUT).items]
    want = [i for i in full if meta[i]["category"] == "c4" and not meta[i]["hidden"]][:15]
    assert got == want and len(got) == 15, (got, want)
    assert not hidden & set(full), "SimilarItems leaves hidden items out"
    print("  SimilarItems with a filter: 15 == the exact ranking, filtered")


NEW_ITEMS = ["fresh%d" % n for n in range(6)]


def put_new_items(rec):
    """Six new items (created now), a stale one and a hidden one."""
    batch = [cat.CatalogItem(item=i, categories=["c%d" % (n % 2)]) for n, i in enumerate(NEW_ITEMS)]
    batch.append(cat.CatalogItem(item="stale", categories=["c0"], created_unix_ms=1700000000000))
    batch.append(cat.CatalogItem(item="fresh_hidden", categories=["c0"], hidden=True))
    reply = rec.PutItems(cat.PutItemsRequest(items=batch), timeout=TIMEOUT)
    assert reply.accepted == len(batch), reply


def check_new_items(channel):
    rec, dep = rcg.RecommenderStub(channel), dpg.DeploymentsStub(channel)
    share, calls = 0.5, 400
    pipeline = dp.Pipeline(model=MODEL, new_items=dp.NewItemExploration(share=share))
    bad = dp.Pipeline(model=MODEL, new_items=dp.NewItemExploration(share=2))
    try:
        dep.CreateDeployment(dp.CreateDeploymentRequest(deployment=dp.Deployment(
            name="fresh", variants=[dp.DeploymentVariant(name="v", traffic_weight=1, pipeline=bad)])),
            timeout=TIMEOUT)
        raise AssertionError("share 2 was accepted")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
        assert "new_items.share must be in [0, 1], got 2" in e.details(), e.details()
    dep.CreateDeployment(dp.CreateDeploymentRequest(deployment=dp.Deployment(
        name="fresh", variants=[dp.DeploymentVariant(name="v", traffic_weight=1, pipeline=pipeline)])),
        timeout=TIMEOUT)
    first_new = 0
    for n in range(calls):
        reply = rec.Recommend(rc.RecommendRequest(deployment="fresh", user="u%d" % n, k=4,
                                                  event_id="fresh-%d" % n), timeout=TIMEOUT)
        assert len(reply.items) == 4, reply
        for item in reply.items:
            assert item.new_item == (item.item in NEW_ITEMS or item.item in ("stale", "fresh_hidden")), item
            assert item.item not in ("stale", "fresh_hidden"), item
        top = reply.items[0]
        if top.new_item:
            first_new += 1
            assert abs(top.propensity - share / len(NEW_ITEMS)) < 1e-9, top
        else:
            assert abs(top.propensity - (1 - share)) < 1e-9, top
    sd = (calls * share * (1 - share)) ** 0.5
    assert abs(first_new - share * calls) <= 4 * sd, first_new
    print("  new items: %d of %d first positions (share %.1f), exact propensities" % (
        first_new, calls, share))


def batch(rec, data_dir, name, users, k, f):
    """Runs a BatchRecommend job to <data_dir>/<name>; returns {user: [items]}."""
    job = rec.BatchRecommend(rc.BatchRecommendRequest(
        model_name=MODEL, output_path=name, users=users, k=k, filter=f), timeout=TIMEOUT)
    final = list(rec.WatchJob(rc.GetJobRequest(job_id=job.job_id), timeout=600))[-1]
    assert final.state == rc.JOB_STATE_SUCCEEDED, final
    with open(os.path.join(data_dir, name)) as lines:
        return {row["user"]: [i["item"] for i in row["items"]] for row in map(json.loads, lines)}


def check_batch(rec, data_dir, meta):
    users = ["u%d" % n for n in range(12)]
    f = cat.Filter(expression='EXCLUDE ItemID WHERE Items.category IN $c')
    f.parameters["c"].strings.extend(["c1", "c2"])
    got = batch(rec, data_dir, "batch_filtered.jsonl", users, 20, f)
    for user in users:
        want = [s.item for s in rec.Recommend(rc.RecommendRequest(
            model_name=MODEL, user=user, k=20, filter=f), timeout=TIMEOUT).items]
        assert got[user] == want and len(want) == 20, (user, got[user][:5], want[:5])
        assert all(meta[i]["category"] not in ("c1", "c2") for i in got[user])
    hidden = {i for i, m in meta.items() if m["hidden"]}
    everything = batch(rec, data_dir, "batch_all.jsonl", users[:3], 1000, cat.Filter())
    for user, items in everything.items():
        assert not hidden & set(items), (user, hidden & set(items))
        assert len(items) > 900, (user, len(items))
    try:
        rec.BatchRecommend(rc.BatchRecommendRequest(
            model_name=MODEL, output_path="x.jsonl", filter=cat.Filter(
                expression="INCLUDE ItemID WHERE Items.category IN CurrentUser.category")),
            timeout=TIMEOUT)
        raise AssertionError("a CurrentUser filter was accepted")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
        assert "CurrentUser is not available here" in e.details(), e.details()
    print("  BatchRecommend: filtered file == filtered Recommend for %d users; "
          "hidden items left out; CurrentUser refused" % len(users))


def main():
    target, _, data_dir, phase = sys.argv[1:5]
    channel = grpc.insecure_channel(target)
    grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
    rec = rcg.RecommenderStub(channel)
    items = demo_items(data_dir)
    meta = metadata(items)
    if phase == "put":
        params = model_pb2.TrainParams(algo=model_pb2.ALS,
                                       als=model_pb2.AlsParams(factors=8, iterations=3),
                                       threads=2, seed=5, index_factory="Exact")
        job = rec.Train(rc.TrainRequest(model_name=MODEL,
                                        interactions_path="demo/interactions.csv",
                                        params=params), timeout=TIMEOUT)
        final = list(rec.WatchJob(rc.GetJobRequest(job_id=job.job_id), timeout=600))[-1]
        assert final.state == rc.JOB_STATE_SUCCEEDED, final
        for start in range(0, len(items), 400):
            batch = []
            for item in items[start:start + 400]:
                m = meta[item]
                batch.append(cat.CatalogItem(item=item, categories=[m["category"]],
                                             tags=m["tags"], numbers={"price": m["price"]},
                                             created_unix_ms=1700000000000, hidden=m["hidden"]))
            reply = rec.PutItems(cat.PutItemsRequest(items=batch), timeout=TIMEOUT)
            assert reply.accepted == len(batch), reply
        assert reply.catalog_items == len(items), reply
        users = rec.PutUsers(cat.PutUsersRequest(users=[cat.CatalogUser(
            user="u1", categories=["c3"], numbers={"max_price": 20})]), timeout=TIMEOUT)
        assert users.accepted == 1 and users.catalog_users == 1, users
        print("  PutItems: %d items (%d hidden), PutUsers: 1" % (
            len(items), sum(m["hidden"] for m in meta.values())))
        put_new_items(rec)
    check_filters(rec, meta)
    if phase == "check":
        check_new_items(channel)
        check_batch(rec, data_dir, meta)
    print("catalog client (%s): OK" % phase)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# hnswlib (Debian's python3-hnswlib) and our "Graph<M>" index side by side on
# the same inner-product vectors, queries and ground truth (ann-benchmarks
# style .fvecs/.ivecs written once by retrieval_benchmark --write_dataset):
# build seconds on 2 threads, then recall@10 and single-thread QPS over an
# efSearch sweep, and bytes per item of each saved index. Both sides answer
# the whole query set on one thread (hnswlib: one knn_query call with
# num_threads=1, so no Python overhead per query; ours: one Search call per
# query). Prints two markdown tables.
#
#   bench/hnswlib_side_by_side.sh [items=100000] [m_list="8 16"] [ef_list=...] [queries=1000]
#   e.g. ITEMS=1000000 bench/hnswlib_side_by_side.sh
# CODES=,SQ4 runs our Graph<M>,SQ4 (4-bit codes) instead of Graph<M> (8-bit).
# HNSW_CACHE=DIR keeps hnswlib's built index there (hnswlib_<items>x<dim>_M<m>.bin,
# save_index/load_index) so a rerun skips its build (~5 min at 1M); its build
# column then reads "cached".
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${RECBANDIT_BUILD_DIR:-$ROOT/build}"
ITEMS="${ITEMS:-100000}"
DIM="${DIM:-64}"
QUERIES="${QUERIES:-1000}"
M_LIST="${M_LIST:-8 16}"
EF_LIST="${EF_LIST:-16,24,32,48,64,96,128,192,256}"
THREADS="${THREADS:-2}"
DATA="${DATA:-/tmp/recbandit-ann-${ITEMS}x${DIM}}"
CODES="${CODES:-}"
HNSW_CACHE="${HNSW_CACHE:-}"
PY=/usr/bin/python3   # Debian's python3, where python3-hnswlib lives

if [[ ! -f "$DATA/gt.ivecs" ]]; then
  "$BUILD/retrieval_benchmark" --items="$ITEMS" --dim="$DIM" --queries="$QUERIES" \
    --write_dataset="$DATA" >&2
fi
echo "data: $DATA ($ITEMS x $DIM, $QUERIES queries, exact top 100 by our scan)"

echo
echo "### hnswlib $($PY -c 'import importlib.metadata as m; print(m.version("hnswlib"))' 2>/dev/null || echo '?') (python3-hnswlib), space='ip'"
"$PY" - "$DATA" "$M_LIST" "$EF_LIST" "$THREADS" "$HNSW_CACHE" <<'EOF'
import os, sys, time, tempfile
import numpy as np
import hnswlib

data, m_list, ef_list, threads = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(','), int(sys.argv[4])
cache = sys.argv[5]

def vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].copy().view(dtype)

base = vecs(os.path.join(data, 'base.fvecs'), np.float32)
queries = vecs(os.path.join(data, 'queries.fvecs'), np.float32)
gt = vecs(os.path.join(data, 'gt.ivecs'), np.int32)[:, :10]
n, d = base.shape
print('| M | build s (%d threads) | bytes/item | efSearch | recall@10 | QPS 1 thread |' % threads)
print('|---|---|---|---|---|---|')
for m in m_list:
    index = hnswlib.Index(space='ip', dim=d)
    cached = os.path.join(cache, 'hnswlib_%dx%d_M%s.bin' % (n, d, m)) if cache else ''
    if cached and os.path.exists(cached):
        index.load_index(cached, max_elements=n)
        build = 'cached'
    else:
        index.init_index(max_elements=n, M=int(m), ef_construction=200, random_seed=100)
        index.set_num_threads(threads)
        t0 = time.perf_counter()
        index.add_items(base, np.arange(n))
        build = '%.1f' % (time.perf_counter() - t0)
        if cached:
            os.makedirs(cache, exist_ok=True)
            index.save_index(cached)
    with tempfile.TemporaryDirectory() as tmp:
        index.save_index(os.path.join(tmp, 'h.bin'))
        per_item = os.path.getsize(os.path.join(tmp, 'h.bin')) / n
    for ef in ef_list:
        index.set_ef(int(ef))
        t0 = time.perf_counter()
        labels, _ = index.knn_query(queries, k=10, num_threads=1)
        qps = len(queries) / (time.perf_counter() - t0)
        hits = sum(len(set(l) & set(g)) for l, g in zip(labels, gt))
        print('| %s | %s | %.0f | %s | %.3f | %.0f |' % (m, build, per_item, ef, hits / (10.0 * len(queries)), qps))
        build = '-'
    sys.stdout.flush()
EOF

echo
echo "### ours: Graph<M>$CODES (retrieval_benchmark, same files)"
for m in $M_LIST; do
  cache="$(mktemp -d)"
  "$BUILD/retrieval_benchmark" --base="$DATA/base.fvecs" --query_file="$DATA/queries.fvecs" \
    --truth="$DATA/gt.ivecs" --queries="$QUERIES" --seen=0 --threads="$THREADS" \
    --kinds="Graph$m$CODES" --ef="$EF_LIST" --index_cache="$cache" | grep '^|' | grep -v 'kind\|---'
  bytes=$(stat -c %s "$cache"/Graph${m}_*.index)
  echo "Graph$m$CODES: $((bytes / ITEMS)) bytes/item (saved index = memory: the file is mapped as it is)"
  rm -rf "$cache"
done

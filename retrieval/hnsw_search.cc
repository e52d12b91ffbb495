// HnswSearch: greedy descent through the upper layers, then a bounded beam
// search at layer 0 that gathers, prefetches and scores each expanded node's
// unvisited neighbours in one pass, with per-thread scratch (a visited table
// with generation counters, heaps) so nothing is cleared or allocated per
// query.
#include "retrieval/hnsw_search.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>

#include <algorithm>
#include <queue>

#include "proto/core/target_clones.h"
#include "retrieval/scan.h"

namespace recbandit::retrieval {
namespace {

// Visited marks for one thread: a node is visited when its stamp equals the
// current generation.
struct VisitedTable {
  std::vector<uint32_t> stamp;
  uint32_t generation = 0;
  void Reset(size_t n) {
    if (stamp.size() < n) stamp.assign(n, 0);
    if (++generation == 0) {  // wrapped: clear once every 4 billion queries
      std::fill(stamp.begin(), stamp.end(), 0);
      generation = 1;
    }
  }
  bool Visit(int32_t id) {
    if (stamp[id] == generation) return false;
    stamp[id] = generation;
    return true;
  }
};

inline float Dot(const float* a, const float* b, int32_t d) {
  float s = 0;
  InnerProducts(a, 1, d, b, &s);
  return s;
}

// Asks for the cache lines of row `id` (d floats) ahead of use: the walk is
// bound by memory latency, one random row per neighbour.
inline void PrefetchRow(const float* x, int32_t id, int32_t d) {
  const char* p = reinterpret_cast<const char*>(x + static_cast<int64_t>(id) * d);
  const int bytes = d * static_cast<int>(sizeof(float));
  for (int off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
}

// Writes out[j] = <x[ids[j]], query> for j < n (rows gathered by id).
RECBANDIT_TARGET_CLONES("avx512f", "avx2", "default")
void GatherInnerProducts(const float* x, int32_t d, const int32_t* ids, int32_t n,
                         const float* query, float* out) {
  for (int32_t j = 0; j < n; ++j) {
    const float* r = x + static_cast<int64_t>(ids[j]) * d;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int32_t t = 0; t < d; ++t) sum += r[t] * query[t];
    out[j] = sum;
  }
}

using Node = std::pair<float, int32_t>;

// Per-thread buffers reused across queries (no allocation per search).
struct Scratch {
  VisitedTable visited;
  std::vector<Node> candidates;  // max-heap by similarity: nodes to expand
  std::vector<Node> results;     // min-heap: the best `width` allowed nodes
  std::vector<int32_t> todo;     // unvisited neighbours of the node expanded
  std::vector<float> sims;       // their similarities
};

struct MinFirst {
  bool operator()(const Node& a, const Node& b) const { return a > b; }
};

}  // namespace

const float* HnswStorageVectors(const faiss::IndexHNSW& index) {
  const auto* flat = dynamic_cast<const faiss::IndexFlat*>(index.storage);
  return flat == nullptr ? nullptr : flat->get_xb();
}

void HnswSearch(const faiss::IndexHNSW& index, const float* query, int32_t k, int32_t ef,
                absl::Span<const int32_t> exclude, std::vector<int32_t>* ids,
                std::vector<float>* scores) {
  ids->clear();
  scores->clear();
  const faiss::HNSW& g = index.hnsw;
  const float* x = HnswStorageVectors(index);
  const int32_t d = index.d;
  if (x == nullptr || index.ntotal == 0 || g.entry_point < 0 || k <= 0) return;
  thread_local Scratch scratch;
  VisitedTable& visited = scratch.visited;
  visited.Reset(static_cast<size_t>(index.ntotal));
  auto allowed = [&](int32_t id) {
    return exclude.empty() || !std::binary_search(exclude.begin(), exclude.end(), id);
  };

  // Greedy descent through the upper layers.
  int32_t cur = g.entry_point;
  float cur_sim = Dot(x + static_cast<int64_t>(cur) * d, query, d);
  for (int level = g.max_level; level >= 1; --level) {
    for (bool changed = true; changed;) {
      changed = false;
      size_t begin, end;
      g.neighbor_range(cur, level, &begin, &end);
      for (size_t j = begin; j < end; ++j) {
        const int32_t nb = g.neighbors[j];
        if (nb < 0) break;
        const float s = Dot(x + static_cast<int64_t>(nb) * d, query, d);
        if (s > cur_sim) {
          cur = nb;
          cur_sim = s;
          changed = true;
        }
      }
    }
  }

  // Beam search at layer 0. For each node expanded, its unvisited neighbours
  // are gathered and prefetched first, then scored in one pass.
  const int32_t width = std::max(ef, k);
  std::vector<Node>& candidates = scratch.candidates;
  std::vector<Node>& results = scratch.results;
  std::vector<int32_t>& todo = scratch.todo;
  std::vector<float>& sims = scratch.sims;
  candidates.clear();
  results.clear();
  visited.Visit(cur);
  candidates.emplace_back(cur_sim, cur);
  if (allowed(cur)) results.emplace_back(cur_sim, cur);
  while (!candidates.empty()) {
    const Node c = candidates.front();
    if (static_cast<int32_t>(results.size()) >= width && c.first < results.front().first) break;
    std::pop_heap(candidates.begin(), candidates.end());
    candidates.pop_back();
    size_t begin, end;
    g.neighbor_range(c.second, 0, &begin, &end);
    todo.clear();
    for (size_t j = begin; j < end; ++j) {
      const int32_t nb = g.neighbors[j];
      if (nb < 0) break;
      if (!visited.Visit(nb)) continue;
      PrefetchRow(x, nb, d);
      todo.push_back(nb);
    }
    if (!candidates.empty()) {
      // The next node to expand: start loading its neighbour list too.
      size_t nb_begin, nb_end;
      g.neighbor_range(candidates.front().second, 0, &nb_begin, &nb_end);
      __builtin_prefetch(g.neighbors.data() + nb_begin);
    }
    sims.resize(todo.size());
    GatherInnerProducts(x, d, todo.data(), static_cast<int32_t>(todo.size()), query,
                        sims.data());
    for (size_t j = 0; j < todo.size(); ++j) {
      const float s = sims[j];
      const int32_t nb = todo[j];
      if (static_cast<int32_t>(results.size()) < width || s > results.front().first) {
        candidates.emplace_back(s, nb);
        std::push_heap(candidates.begin(), candidates.end());
        if (allowed(nb)) {
          results.emplace_back(s, nb);
          std::push_heap(results.begin(), results.end(), MinFirst());
          if (static_cast<int32_t>(results.size()) > width) {
            std::pop_heap(results.begin(), results.end(), MinFirst());
            results.pop_back();
          }
        }
      }
    }
  }
  std::vector<Node>& best = results;
  std::sort(best.begin(), best.end(), [](const Node& a, const Node& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  const size_t n = std::min<size_t>(k, best.size());
  ids->reserve(n);
  scores->reserve(n);
  for (size_t j = 0; j < n; ++j) {
    ids->push_back(best[j].second);
    scores->push_back(best[j].first);
  }
}

}  // namespace recbandit::retrieval

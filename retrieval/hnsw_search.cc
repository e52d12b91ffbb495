// HnswSearch: greedy descent through the upper layers, then a bounded beam
// search at layer 0, with a per-thread visited table (generation counters, so
// no clearing per query).
#include "retrieval/hnsw_search.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>

#include <algorithm>
#include <queue>

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
  thread_local VisitedTable visited;
  visited.Reset(static_cast<size_t>(index.ntotal));
  auto allowed = [&](int32_t id) {
    return !std::binary_search(exclude.begin(), exclude.end(), id);
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

  // Beam search at layer 0. `candidates`: max-heap by similarity (to expand);
  // `results`: min-heap of the best `width` allowed nodes found.
  const int32_t width = std::max(ef, k);
  using Node = std::pair<float, int32_t>;
  std::priority_queue<Node> candidates;
  std::priority_queue<Node, std::vector<Node>, std::greater<Node>> results;
  visited.Visit(cur);
  candidates.emplace(cur_sim, cur);
  if (allowed(cur)) results.emplace(cur_sim, cur);
  while (!candidates.empty()) {
    const Node c = candidates.top();
    if (static_cast<int32_t>(results.size()) >= width && c.first < results.top().first) break;
    candidates.pop();
    size_t begin, end;
    g.neighbor_range(c.second, 0, &begin, &end);
    for (size_t j = begin; j < end; ++j) {
      const int32_t nb = g.neighbors[j];
      if (nb < 0) break;
      if (!visited.Visit(nb)) continue;
      const float s = Dot(x + static_cast<int64_t>(nb) * d, query, d);
      if (static_cast<int32_t>(results.size()) < width || s > results.top().first) {
        candidates.emplace(s, nb);
        if (allowed(nb)) {
          results.emplace(s, nb);
          if (static_cast<int32_t>(results.size()) > width) results.pop();
        }
      }
    }
  }
  std::vector<Node> best;
  best.reserve(results.size());
  while (!results.empty()) {
    best.push_back(results.top());
    results.pop();
  }
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

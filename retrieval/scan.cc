// Exact scan: blocked inner products (multiversioned) and a bounded heap.
#include "retrieval/scan.h"

#include <algorithm>
#include <queue>

#include "proto/core/target_clones.h"

namespace recbandit::retrieval {

RECBANDIT_TARGET_CLONES("avx512f", "avx2", "default")
void InnerProducts(const float* rows, int64_t n, int32_t dim, const float* query,
                   float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float* r = rows + i * dim;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int32_t j = 0; j < dim; ++j) sum += r[j] * query[j];
    out[i] = sum;
  }
}

void TopKScan(const float* rows, int64_t n, int32_t dim, const float* query, int32_t k,
              absl::Span<const int32_t> exclude, std::vector<int32_t>* ids,
              std::vector<float>* scores) {
  ids->clear();
  scores->clear();
  if (k <= 0 || n <= 0) return;
  // Min-heap of the best k so far: (score, -id) so that among equal scores
  // the higher id is evicted first.
  using Entry = std::pair<float, int32_t>;
  auto worse = [](const Entry& a, const Entry& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  std::vector<Entry> heap;
  heap.reserve(k);
  constexpr int64_t kBlock = 1024;
  float block_scores[kBlock];
  size_t ex = 0;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t len = std::min(kBlock, n - start);
    InnerProducts(rows + start * dim, len, dim, query, block_scores);
    for (int64_t j = 0; j < len; ++j) {
      const int32_t id = static_cast<int32_t>(start + j);
      while (ex < exclude.size() && exclude[ex] < id) ++ex;
      if (ex < exclude.size() && exclude[ex] == id) continue;
      const float s = block_scores[j];
      if (static_cast<int32_t>(heap.size()) < k) {
        heap.emplace_back(s, id);
        std::push_heap(heap.begin(), heap.end(), worse);
      } else if (s > heap.front().first) {
        std::pop_heap(heap.begin(), heap.end(), worse);
        heap.back() = Entry(s, id);
        std::push_heap(heap.begin(), heap.end(), worse);
      }
    }
  }
  std::sort(heap.begin(), heap.end(), [](const Entry& a, const Entry& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  ids->reserve(heap.size());
  scores->reserve(heap.size());
  for (const Entry& e : heap) {
    ids->push_back(e.second);
    scores->push_back(e.first);
  }
}

}  // namespace recbandit::retrieval

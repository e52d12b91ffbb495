// Top-K selection with a bounded heap and blocked scoring kernels.
#include "ranking/topk.h"

#include <algorithm>

#include "ranking/simd.h"

namespace recbandit::ranking {
namespace {

// "a ranks before b".
bool Better(const ScoredIndex& a, const ScoredIndex& b) {
  return a.score > b.score || (a.score == b.score && a.index < b.index);
}

constexpr int32_t kItemChunk = 128;

// Scores `nu` users against items [begin, begin + count): the chunk is
// transposed once into `yt` (d x count) and every user's scores are built as
// a sum over factors of scaled rows, so the loop vectorizes over items.
RECBANDIT_MULTIVERSION
void ScoreChunk(const float* users, int32_t nu, const float* items, int32_t d,
                int64_t begin, int32_t count, const float* bias, float* out, int64_t n,
                float* yt) {
  for (int32_t c = 0; c < count; ++c) {
    const float* row = items + (begin + c) * d;
    for (int32_t f = 0; f < d; ++f) yt[f * kItemChunk + c] = row[f];
  }
  float acc[kItemChunk];
  for (int32_t b = 0; b < nu; ++b) {
    const float* u = users + int64_t{b} * d;
#pragma omp simd
    for (int32_t c = 0; c < kItemChunk; ++c) acc[c] = 0.0f;
    for (int32_t f = 0; f < d; ++f) {
      const float uf = u[f];
      const float* y = yt + f * kItemChunk;
#pragma omp simd
      for (int32_t c = 0; c < kItemChunk; ++c) acc[c] += uf * y[c];
    }
    float* o = out + b * n + begin;
    if (bias != nullptr) {
      for (int32_t c = 0; c < count; ++c) o[c] = acc[c] + bias[begin + c];
    } else {
      for (int32_t c = 0; c < count; ++c) o[c] = acc[c];
    }
  }
}

}  // namespace

std::vector<ScoredIndex> TopK(absl::Span<const float> scores, int32_t k,
                              absl::Span<const int32_t> exclude_sorted) {
  std::vector<ScoredIndex> heap;  // worst on top
  if (k <= 0) return heap;
  heap.reserve(k + 1);
  auto worse_first = [](const ScoredIndex& a, const ScoredIndex& b) { return Better(a, b); };
  size_t e = 0;
  const int32_t n = static_cast<int32_t>(scores.size());
  for (int32_t i = 0; i < n; ++i) {
    while (e < exclude_sorted.size() && exclude_sorted[e] < i) ++e;
    if (e < exclude_sorted.size() && exclude_sorted[e] == i) continue;
    const ScoredIndex c{i, scores[i]};
    if (static_cast<int32_t>(heap.size()) < k) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), worse_first);
    } else if (Better(c, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), worse_first);
      heap.back() = c;
      std::push_heap(heap.begin(), heap.end(), worse_first);
    }
  }
  std::sort(heap.begin(), heap.end(), Better);
  return heap;
}

void ScoreBlock(absl::Span<const float> users, absl::Span<const float> items, int32_t d,
                absl::Span<const float> bias, absl::Span<float> out) {
  const int32_t b = static_cast<int32_t>(users.size() / d);
  const int64_t n = static_cast<int64_t>(items.size() / d);
  std::vector<float> yt(static_cast<size_t>(d) * kItemChunk, 0.0f);
  for (int64_t begin = 0; begin < n; begin += kItemChunk) {
    const int32_t count = static_cast<int32_t>(std::min<int64_t>(kItemChunk, n - begin));
    ScoreChunk(users.data(), b, items.data(), d, begin, count,
               bias.empty() ? nullptr : bias.data(), out.data(), n, yt.data());
  }
}

}  // namespace recbandit::ranking

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

constexpr int32_t kUserBlock = 4;
constexpr int32_t kItemBlock = 256;

// Scores up to 4 users against items [begin, end), sharing each item row load.
RECBANDIT_MULTIVERSION
void ScoreTile(const float* users, int32_t nu, const float* items, int32_t d,
               int64_t begin, int64_t end, const float* bias, float* out, int64_t n) {
  for (int64_t i = begin; i < end; ++i) {
    const float* y = items + i * d;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    const float* u0 = users;
    const float* u1 = users + (nu > 1 ? d : 0);
    const float* u2 = users + (nu > 2 ? 2 * d : 0);
    const float* u3 = users + (nu > 3 ? 3 * d : 0);
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (int32_t f = 0; f < d; ++f) {
      s0 += u0[f] * y[f];
      s1 += u1[f] * y[f];
      s2 += u2[f] * y[f];
      s3 += u3[f] * y[f];
    }
    const float b = bias != nullptr ? bias[i] : 0.0f;
    out[i] = s0 + b;
    if (nu > 1) out[n + i] = s1 + b;
    if (nu > 2) out[2 * n + i] = s2 + b;
    if (nu > 3) out[3 * n + i] = s3 + b;
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
  for (int64_t begin = 0; begin < n; begin += kItemBlock) {
    const int64_t end = std::min(n, begin + kItemBlock);
    for (int32_t u = 0; u < b; u += kUserBlock) {
      ScoreTile(users.data() + int64_t{u} * d, std::min(kUserBlock, b - u), items.data(), d,
                begin, end, bias.empty() ? nullptr : bias.data(), out.data() + u * n, n);
    }
  }
}

}  // namespace recbandit::ranking

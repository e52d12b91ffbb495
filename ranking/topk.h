// Exact top-K: batched scoring of users against every item (a matrix
// product) and selection of the K best, skipping excluded items.
#ifndef RECBANDIT_RANKING_TOPK_H_
#define RECBANDIT_RANKING_TOPK_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace recbandit::ranking {

struct ScoredIndex {
  int32_t index = 0;
  float score = 0;
};

// Returns the min(k, available) best entries of `scores`, best first; ties go
// to the lower index. Skips indices in `exclude_sorted` (ascending).
std::vector<ScoredIndex> TopK(absl::Span<const float> scores, int32_t k,
                              absl::Span<const int32_t> exclude_sorted);

// Writes out[b * n + i] = <users[b], items[i]> (+ bias[i] when non-empty) for
// `users` (B x d) and `items` (n x d), both row-major. REQUIRES: out has B * n.
void ScoreBlock(absl::Span<const float> users, absl::Span<const float> items, int32_t d,
                absl::Span<const float> bias, absl::Span<float> out);

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_TOPK_H_

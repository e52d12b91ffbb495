// Offline ranking metrics (precision, recall, NDCG, MAP, MRR, hit rate at K,
// catalog coverage, AUC) of any scorer, with each user's training items
// filtered out, averaged over users with at least one held-out item.
#ifndef RECBANDIT_RANKING_METRICS_H_
#define RECBANDIT_RANKING_METRICS_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/common.pb.h"
#include "ranking/factor_model.h"
#include "ranking/interactions.h"

namespace recbandit::ranking {

struct EvaluateOptions {
  int32_t k = 10;        // cut-off, 1..1000
  int32_t threads = 1;   // 1..256; results do not depend on it
};

// Writes the scores of `users` against every item into `out`
// (users.size() x num_items, row-major). Called concurrently from threads.
using BatchScorer =
    std::function<void(absl::Span<const int32_t> users, absl::Span<float> out)>;

// Returns the metrics (definitions in README.md and proto RankingMetrics):
// per user u with test items T (those also in u's training row dropped) and
// top K list R over items not in u's training row, hits h = |R ∩ T|:
// precision h/K, recall h/|T|, NDCG (binary, log2), AP@K normalized by
// min(K, |T|), reciprocal rank of the first hit, hit = h > 0, AUC of T
// against items in neither row (ties count 1/2; users with no such item are
// left out of the AUC mean). Coverage: distinct recommended items / items.
// `train` and `test` are user x item with the same shape, else INVALID_ARGUMENT.
absl::StatusOr<RankingMetrics> EvaluateRanking(const CsrMatrix& train,
                                               const CsrMatrix& test,
                                               const BatchScorer& scorer,
                                               const EvaluateOptions& options);

// Returns the metrics at each cut-off of `ks` (ascending, distinct, 1..16 of
// them, each 1..1000) as EvaluateRanking defines them, in the order of `ks`,
// from one pass: one top-max(ks) list per user, each k read from its prefix
// (AUC does not depend on k). Personalize reports 5, 10 and 25.
absl::StatusOr<std::vector<RankingMetrics>> EvaluateRankingAtCutoffs(
    const CsrMatrix& train, const CsrMatrix& test, const BatchScorer& scorer,
    absl::Span<const int32_t> ks, int32_t threads);

// Returns the cut-offs of a comma-separated list such as "5,10,25", sorted,
// duplicates dropped; INVALID_ARGUMENT naming `field` when a value is not an
// integer in 1..1000 or there are more than 16.
absl::StatusOr<std::vector<int32_t>> ParseCutoffs(absl::string_view list, absl::string_view field);

// Returns a scorer using a model's user and item factors (and bias).
BatchScorer ModelScorer(const FactorModel& model);
// Returns a scorer giving every user the same per-item `scores`.
BatchScorer FixedScorer(std::vector<float> scores);

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_METRICS_H_

// Fold-in: the exact least-squares user vector for a list of items, from a
// model's item factors (the ALS row solve; used for BPR models too).
#ifndef RECBANDIT_RANKING_FOLD_IN_H_
#define RECBANDIT_RANKING_FOLD_IN_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "ranking/factor_model.h"

namespace recbandit::ranking {

struct FoldInOptions {
  float alpha = 1.0f;            // confidence = 1 + alpha * weight, > 0
  float regularization = 0.01f;  // lambda, >= 0
  bool scale_regularization = false;  // ALS-WR: lambda * number of items
};

// Returns the options an ALS model was trained with (defaults otherwise).
FoldInOptions FoldInOptionsFor(const FactorModel& model);

// Solves user vectors against a model's item factors; precomputes Y^T Y once.
// Borrows `model`, which must outlive it. Thread-safe.
//
//   FoldIn fold_in(model, FoldInOptionsFor(model));
//   ASSIGN_OR_RETURN(std::vector<float> x, fold_in.UserVector({3, 17}, {}));
class FoldIn {
 public:
  FoldIn(const FactorModel& model, FoldInOptions options);
  // Returns the d-vector minimizing the ALS objective of one user with these
  // dense `items` (any order, no duplicates) and `weights` (empty: all 1).
  // INVALID_ARGUMENT for an item out of range or a size mismatch.
  absl::StatusOr<std::vector<float>> UserVector(absl::Span<const int32_t> items,
                                                absl::Span<const float> weights) const;

 private:
  const FactorModel& model_;
  FoldInOptions options_;
  std::vector<float> gram_;
};

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_FOLD_IN_H_

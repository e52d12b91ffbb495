// Fold-in: the exact least-squares user vector for a list of weighted items,
// from a model's item factors (the ALS row solve; used for BPR models too),
// and EventWeighting, how real-time events are weighed for it.
#ifndef RECBANDIT_RANKING_FOLD_IN_H_
#define RECBANDIT_RANKING_FOLD_IN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "ranking/factor_model.h"
#include "ranking/interactions.h"

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

// How fold-in weighs a user's real-time events: as training weighs the rows
// it reads (RowWeight with the model's TrainParams event_weights, min_weight
// and binary). An event counts its own weight times its type's entry (x1 when
// not listed, and for an event without a type), and is dropped when that is
// 0 or below min_weight; an item's kept events sum, as training sums a
// pair's rows; with binary, and for BPR models (whose training uses only
// which rows are kept), every kept item counts 1. Thread-safe.
//
//   ASSIGN_OR_RETURN(EventWeighting w, EventWeighting::FromParams(params));
//   const float purchase = w.EventWeight(1, "purchase");  // 5 with purchase=5
class EventWeighting {
 public:
  // Returns the weighting of `params` (a model manifest's; no weights: every
  // event its own weight). INVALID_ARGUMENT as ValidateWeighting.
  static absl::StatusOr<EventWeighting> FromParams(const TrainParams& params);

  // Returns the training weight of one event of `weight` and `event_type`
  // ("" = none), or 0 when training would drop it.
  float EventWeight(float weight, absl::string_view event_type) const;
  // Returns the fold-in weight of an item whose rows' weights sum to `sum`.
  float ItemWeight(float sum) const { return unit_ ? 1.0f : sum; }
  // Returns whether every kept item counts 1 (binary, or a BPR model).
  bool unit_weights() const { return unit_; }

 private:
  EventWeighting() = default;
  WeightingOptions options_;
  absl::flat_hash_map<std::string, float> factors_;  // event type -> multiplier
  bool unit_ = false;
};

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_FOLD_IN_H_

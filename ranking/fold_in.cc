// Fold-in through the ALS Cholesky row solve, and the weighting of the
// real-time events it folds in.
#include "ranking/fold_in.h"

#include "absl/strings/str_cat.h"
#include "proto/core/status_macros.h"
#include "ranking/als.h"
#include "ranking/train_params.h"

namespace recbandit::ranking {

FoldInOptions FoldInOptionsFor(const FactorModel& model) {
  FoldInOptions o;
  const TrainParams& params = model.manifest().params();
  if (params.algo() == ALS) {
    const AlsOptions als = AlsOptionsFromParams(params);
    o.alpha = als.alpha;
    o.regularization = als.regularization;
    o.scale_regularization = als.scale_regularization;
  }
  return o;
}

FoldIn::FoldIn(const FactorModel& model, FoldInOptions options)
    : model_(model), options_(options) {
  ComputeGram(model.item_factors(), model.factors(), 1, &gram_);
}

absl::StatusOr<std::vector<float>> FoldIn::UserVector(absl::Span<const int32_t> items,
                                                      absl::Span<const float> weights) const {
  if (!weights.empty() && weights.size() != items.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fold-in: ", items.size(), " items but ", weights.size(), " weights"));
  }
  for (int32_t i : items) {
    if (i < 0 || i >= model_.num_items()) {
      return absl::InvalidArgumentError(
          absl::StrCat("fold-in: item ", i, " out of range [0, ", model_.num_items(), ")"));
    }
  }
  std::vector<float> ones;
  if (weights.empty()) {
    ones.assign(items.size(), 1.0f);
    weights = ones;
  }
  const float lambda = options_.scale_regularization
                           ? options_.regularization *
                                 std::max<float>(1.0f, static_cast<float>(items.size()))
                           : options_.regularization;
  std::vector<float> x(model_.factors());
  SolveRowCholesky(model_.item_factors(), model_.factors(), gram_, items, weights,
                   options_.alpha, lambda, x.data());
  return x;
}

absl::StatusOr<EventWeighting> EventWeighting::FromParams(const TrainParams& params) {
  RETURN_IF_ERROR(ValidateWeighting(params));
  EventWeighting w;
  w.options_ = WeightingFromParams(params);
  for (const auto& [name, factor] : w.options_.event_weights) w.factors_[name] = factor;
  w.unit_ = params.binary() || params.algo() == BPR;
  return w;
}

float EventWeighting::EventWeight(float weight, absl::string_view event_type) const {
  float factor = 1.0f;
  if (!event_type.empty()) {
    auto it = factors_.find(event_type);
    if (it != factors_.end()) factor = it->second;
  }
  return RowWeight(weight, factor, options_);
}

}  // namespace recbandit::ranking

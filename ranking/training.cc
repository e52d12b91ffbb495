// The dispatch from TrainParams to the ALS or BPR learner.
#include "ranking/training.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "ranking/als.h"
#include "ranking/bpr.h"
#include "ranking/interactions.h"
#include "ranking/train_params.h"

namespace recbandit::ranking {

absl::Status OptionOutOfRange(const char* learner, const char* field, double value,
                              const char* bound) {
  return absl::InvalidArgumentError(
      absl::StrCat(learner, " ", field, " = ", value, " is out of range (", bound, ")"));
}

absl::Status ValidateSharedOptions(const char* learner, int32_t factors, float regularization,
                                   int32_t threads) {
  if (factors < 1 || factors > 1024) {
    return OptionOutOfRange(learner, "factors", factors, "1..1024");
  }
  if (!(regularization >= 0) || !std::isfinite(regularization)) {
    return OptionOutOfRange(learner, "regularization", regularization, ">= 0");
  }
  if (threads < 1 || threads > 256) return OptionOutOfRange(learner, "threads", threads, "1..256");
  return absl::OkStatus();
}

absl::Status CheckResume(const FactorState& resume, const Interactions& data, int32_t factors,
                         bool item_bias, int32_t total, const char* unit) {
  const size_t d = static_cast<size_t>(factors);
  if (resume.factors != factors ||
      resume.user_factors.size() != static_cast<size_t>(data.num_users()) * d ||
      resume.item_factors.size() != static_cast<size_t>(data.num_items()) * d ||
      resume.item_bias.size() != (item_bias ? static_cast<size_t>(data.num_items()) : 0)) {
    return absl::FailedPreconditionError(
        "checkpoint shape does not match the data, factors and item_bias");
  }
  if (resume.iterations_done > total) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint has ", resume.iterations_done,
                                                      " ", unit, ", more than the ", total,
                                                      " requested"));
  }
  return absl::OkStatus();
}

absl::Status FinishIteration(std::chrono::steady_clock::time_point start, int32_t total,
                             double loss, const FactorState& state,
                             const IterationCallback& callback) {
  if (!callback) return absl::OkStatus();
  TrainingProgress progress;
  progress.iteration = state.iterations_done;
  progress.total = total;
  progress.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.loss = loss;
  return callback(progress, state);
}

absl::StatusOr<FactorState> Train(const TrainParams& params, const Interactions& data,
                                  const FactorState* resume, const IterationCallback& callback) {
  switch (params.algo()) {
    case ALS:
      return AlsTrainer(AlsOptionsFromParams(params)).Fit(data, resume, callback);
    case BPR:
      return BprTrainer(BprOptionsFromParams(params)).Fit(data, resume, callback);
    default:
      return absl::InvalidArgumentError("params.algo must be ALS or BPR");
  }
}

}  // namespace recbandit::ranking

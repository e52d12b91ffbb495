// The dispatch from TrainParams to the ALS or BPR learner.
#include "ranking/training.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "ranking/als.h"
#include "ranking/bpr.h"
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

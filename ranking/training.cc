// The dispatch from TrainParams to the ALS or BPR learner.
#include "ranking/training.h"

#include "absl/strings/str_cat.h"
#include "proto/core/names.h"
#include "ranking/als.h"
#include "ranking/bpr.h"

namespace recbandit::ranking {

absl::Status ValidateTrainParams(const TrainParams& params) {
  if (params.threads() < 0 || params.threads() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("params.threads must be in [0, 256], got ", params.threads()));
  }
  switch (params.algo()) {
    case ALS:
      if (params.has_bpr()) return absl::InvalidArgumentError("params.bpr set with algo ALS");
      if (!params.als().solver().empty() && params.als().solver() != "cg" &&
          params.als().solver() != "cholesky") {
        return absl::InvalidArgumentError(absl::StrCat(
            "params.als.solver must be cg or cholesky, got ", Quote(params.als().solver())));
      }
      return ValidateAlsOptions(AlsOptionsFromParams(params));
    case BPR:
      if (params.has_als()) return absl::InvalidArgumentError("params.als set with algo BPR");
      if (!params.bpr().negative_sampling().empty() &&
          params.bpr().negative_sampling() != "uniform" &&
          params.bpr().negative_sampling() != "popularity") {
        return absl::InvalidArgumentError(
            absl::StrCat("params.bpr.negative_sampling must be uniform or popularity, got ",
                         Quote(params.bpr().negative_sampling())));
      }
      return ValidateBprOptions(BprOptionsFromParams(params));
    default:
      return absl::InvalidArgumentError("params.algo must be ALS or BPR");
  }
}

int32_t FactorsOf(const TrainParams& params) {
  return params.algo() == ALS ? AlsOptionsFromParams(params).factors
                              : BprOptionsFromParams(params).factors;
}

int32_t IterationsOf(const TrainParams& params) {
  return params.algo() == ALS ? AlsOptionsFromParams(params).iterations
                              : BprOptionsFromParams(params).epochs;
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

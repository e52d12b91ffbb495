// The dispatch from TrainParams to the ALS or BPR learner.
#include "ranking/training.h"

#include "ranking/als.h"
#include "ranking/bpr.h"
#include "ranking/train_params.h"

namespace recbandit::ranking {

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

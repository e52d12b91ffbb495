// Types shared by the learners (ALS, BPR): the factor state they produce and
// resume from, per-iteration progress, and the callback that receives both;
// and the one dispatch from TrainParams to a learner, used by the CLI and by
// the server's training jobs alike (ranking/train_params.h validates them).
#ifndef RECBANDIT_RANKING_TRAINING_H_
#define RECBANDIT_RANKING_TRAINING_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/model.pb.h"

namespace recbandit::ranking {

// Factors being trained: row-major users x factors and items x factors.
// Thread-compatible.
struct FactorState {
  int32_t factors = 0;
  std::vector<float> user_factors;
  std::vector<float> item_factors;
  std::vector<float> item_bias;  // empty unless the learner uses item bias
  int32_t iterations_done = 0;   // ALS iterations or BPR epochs finished
};

// What one finished iteration (ALS) or epoch (BPR) reports.
struct TrainingProgress {
  int32_t iteration = 0;  // iterations done so far, 1-based
  int32_t total = 0;      // iterations requested
  double loss = 0;        // training loss, NaN when not computed
  double seconds = 0;     // wall-clock seconds of this iteration
};

// Called after every iteration with the progress and the current state (valid
// only during the call). A non-OK status stops training and is returned.
using IterationCallback =
    std::function<absl::Status(const TrainingProgress&, const FactorState&)>;

class Interactions;

// Checks the options every learner shares: factors 1..1024, regularization
// finite and >= 0, threads 1..256. INVALID_ARGUMENT "<learner> <field> =
// <value> is out of range (<bound>)", the form OptionOutOfRange writes.
absl::Status ValidateSharedOptions(const char* learner, int32_t factors, float regularization,
                                   int32_t threads);
absl::Status OptionOutOfRange(const char* learner, const char* field, double value,
                              const char* bound);

// The learners' shared steps around their iterations. CheckResume returns
// FAILED_PRECONDITION when `resume` does not fit `data` (users, items,
// `factors`, an item bias or none) or has done more than `total`
// iterations ("epochs" for BPR, as `unit` says). FinishIteration reports
// the iteration that `state` just finished, started at `start`, to
// `callback` (may be empty); `loss` is NaN when not computed.
absl::Status CheckResume(const FactorState& resume, const Interactions& data, int32_t factors,
                         bool item_bias, int32_t total, const char* unit);
absl::Status FinishIteration(std::chrono::steady_clock::time_point start, int32_t total,
                             double loss, const FactorState& state,
                             const IterationCallback& callback);

// Trains the learner `params` name on `data`, resuming from `resume` when
// non-null, calling `callback` after every iteration (may be empty).
absl::StatusOr<FactorState> Train(const TrainParams& params, const Interactions& data,
                                  const FactorState* resume, const IterationCallback& callback);

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_TRAINING_H_

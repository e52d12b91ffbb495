// The one bridge between TrainParams (the proto a TrainRequest and a model
// manifest carry) and the learners' options: conversions both ways, the names
// of the enumerated options, validation, and the defaults-filled figures
// other code asks for. The CLI, the training jobs and fold-in all go
// through it.
#ifndef RECBANDIT_RANKING_TRAIN_PARAMS_H_
#define RECBANDIT_RANKING_TRAIN_PARAMS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/model.pb.h"
#include "ranking/als.h"
#include "ranking/bpr.h"
#include "ranking/interactions.h"

namespace recbandit::ranking {

// The names of the enumerated options, as TrainParams and the CLI spell
// them: "cg" | "cholesky", "uniform" | "popularity". Parse* returns
// INVALID_ARGUMENT "<field> must be ..., got '<name>'"; "" is the default.
const char* SolverName(AlsOptions::Solver solver);
absl::StatusOr<AlsOptions::Solver> ParseSolver(absl::string_view name, absl::string_view field);
const char* NegativesName(BprOptions::Negatives negatives);
absl::StatusOr<BprOptions::Negatives> ParseNegatives(absl::string_view name,
                                                    absl::string_view field);

// Conversions to and from TrainParams. FromParams fills the learner's default
// for every field left 0 or empty, and threads 0 as 1.
AlsOptions AlsOptionsFromParams(const TrainParams& params);
TrainParams AlsOptionsToParams(const AlsOptions& options);
BprOptions BprOptionsFromParams(const TrainParams& params);
TrainParams BprOptionsToParams(const BprOptions& options);

// Returns OK when `params` are valid for their algo (defaults filled as the
// learners fill them), INVALID_ARGUMENT naming the field and bound otherwise.
absl::Status ValidateTrainParams(const TrainParams& params);

// Returns the weighting of `params` (event_weights sorted by name,
// min_weight, binary). REQUIRES: ValidateWeighting(params) is OK.
WeightingOptions WeightingFromParams(const TrainParams& params);
// Returns OK when params' event_weights, min_weight and binary are within
// bounds (names by the name rule, at most 256, weights finite and >= 0);
// INVALID_ARGUMENT naming the field otherwise.
absl::Status ValidateWeighting(const TrainParams& params);

// Returns the embedding dimensions and the iterations (ALS) or epochs (BPR)
// `params` ask for, defaults filled. REQUIRES: ValidateTrainParams(params).
int32_t FactorsOf(const TrainParams& params);
int32_t IterationsOf(const TrainParams& params);

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_TRAIN_PARAMS_H_

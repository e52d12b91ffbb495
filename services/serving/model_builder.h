// Making a model version from a training run, shared by `recbandit train`
// and the server's training jobs (or from factors trained elsewhere,
// `recbandit import`): the model with its manifest, its item index, and the
// report every training run fills.
#ifndef RECBANDIT_SERVICES_SERVING_MODEL_BUILDER_H_
#define RECBANDIT_SERVICES_SERVING_MODEL_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/core/progress.h"
#include "proto/model.pb.h"
#include "proto/reports.pb.h"
#include "ranking/factor_import.h"
#include "ranking/factor_model.h"
#include "ranking/interactions.h"
#include "ranking/training.h"

namespace recbandit::services {

// Builds the item index of kind `factory` for the model in `model_dir` and
// saves it there as items.index; fills `report` when non-null; `progress`
// (may be empty) hears (items added, items).
absl::Status BuildModelIndex(const std::string& model_dir, const std::string& factory,
                             int32_t threads, IndexReport* report,
                             const ProgressCallback& progress = nullptr);
// Returns the model for trained `state`, named `name` at `version` (the
// server's <models>/<name>/<version>), with its manifest filled in (algo,
// params, counts, creation time, code version, optional metrics).
absl::StatusOr<ranking::FactorModel> MakeVersionedModel(const ranking::Interactions& data,
                                                        const TrainParams& params,
                                                        const ranking::FactorState& state,
                                                        const std::string& name, int64_t version,
                                                        const RankingMetrics* metrics);
// Returns the model for factors trained elsewhere, named `name` at
// `version`, its manifest filled in as a trained model's (counts, creation
// time, code version) with algo IMPORTED, params {algo IMPORTED,
// index_factory} and imported_from = imported.source. The model has no
// training interactions: no seen items to exclude and no popularity (an
// unknown user's fallback lists items in id-file order, score 0).
absl::StatusOr<ranking::FactorModel> MakeImportedModel(ranking::ImportedFactors imported,
                                                       const std::string& name, int64_t version,
                                                       const std::string& index_factory);
// Returns the name the CLI records for a model written to directory `dir`:
// its last path component, or "model" when that is empty or above 64 bytes.
std::string ModelNameForDir(const std::string& dir);
// Fills the fields of a TrainReport every training run has: algo, factors,
// iterations, mean seconds per iteration (over `iterations_run` timed ones),
// train seconds, model directory and data counts.
void FillTrainReport(const ranking::Interactions& data, const TrainParams& params,
                     const ranking::FactorState& state, int32_t iterations_run,
                     double iteration_seconds, double train_seconds,
                     const std::string& model_dir, TrainReport* report);

// Applies params' event_weights, min_weight and binary to `log`, read from
// `source` (ranking::Reweight); notes on stderr how many rows were dropped or
// merged. INVALID_ARGUMENT for a weighted type `source` does not have, or
// when no row is left.
absl::Status ApplyWeighting(const TrainParams& params, const std::string& source,
                            ranking::InteractionLog* log);

// What EvaluateTestFile computes.
struct TestEvaluationOptions {
  int32_t k = 10;                 // the cut-off of `metrics`, 1..1000
  std::vector<int32_t> cutoffs;   // more cut-offs (ParseCutoffs), for `at_cutoffs`
  int32_t threads = 1;            // 1..256; results do not depend on it
  bool popularity = false;        // also the popularity baseline at k
  bool by_event_type = false;     // also each event type's rows alone
  ranking::LoadOptions load;      // how the test file is read
};

// The metrics of a model on a test file.
struct TestEvaluation {
  RankingMetrics metrics;                   // at k
  std::vector<RankingMetrics> at_cutoffs;   // at each of options.cutoffs, ascending
  RankingMetrics popularity;                // set when options.popularity
  std::vector<EventTypeMetrics> by_event_type;  // by type name, options.by_event_type
};

// Returns the metrics of `model` on the interactions file `test_path` (users
// and items unknown to the model dropped, with a note on stderr), `train`
// items excluded, at k and at each cut-off, from one ranking pass; with
// by_event_type, the same on each event type's rows (INVALID_ARGUMENT when
// the file has no event type column).
absl::StatusOr<TestEvaluation> EvaluateTestFile(const ranking::FactorModel& model,
                                                const ranking::CsrMatrix& train,
                                                const std::string& test_path,
                                                const TestEvaluationOptions& options);

// Returns the ranking metrics at `k` of `model` on the interactions file
// `test_path` (users and items unknown to the model dropped, with a note on
// stderr), `train` items excluded; fills `popularity` with the popularity
// baseline's when non-null. The file is read with `load`.
absl::StatusOr<RankingMetrics> EvaluateOnTestFile(const ranking::FactorModel& model,
                                                  const ranking::CsrMatrix& train,
                                                  const std::string& test_path, int32_t k,
                                                  int32_t threads, RankingMetrics* popularity,
                                                  const ranking::LoadOptions& load = {});

// Returns the training state saved by a checkpoint (a FactorModel written
// mid-training) in `dir`, after checking it was trained with `params`
// (threads aside) on the same users and items as `data`
// (FAILED_PRECONDITION naming what differs otherwise; Load's errors for a
// damaged checkpoint).
absl::StatusOr<ranking::FactorState> LoadTrainingCheckpoint(const std::string& dir,
                                                            const TrainParams& params,
                                                            const ranking::Interactions& data);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_MODEL_BUILDER_H_

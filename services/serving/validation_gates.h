// Validation gates (proto/model.proto ValidationGates): the holdout a gated
// training run makes, and the checks a candidate version must pass against
// the active one before it is promoted. Shared by the server's training jobs
// and `recbandit train --gate_*`.
#ifndef RECBANDIT_SERVICES_SERVING_VALIDATION_GATES_H_
#define RECBANDIT_SERVICES_SERVING_VALIDATION_GATES_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/model.pb.h"
#include "ranking/factor_model.h"
#include "ranking/interactions.h"
#include "retrieval/item_index.h"

namespace recbandit::services {

// Names a ValidationGates field in errors: gets its proto path
// ("holdout.fraction", "ndcg_tolerance", ...) and returns what the caller
// calls it ("gates.holdout.fraction" for an rpc, "--holdout_fraction" for the
// CLI). Also asked for "params.index_factory", the TrainParams field that
// min_index_recall depends on.
using GateFieldNamer = std::function<std::string(const std::string& field)>;

// Returns OK when every field of `gates` is within its documented bound;
// INVALID_ARGUMENT naming the field (through `name`) and the bound otherwise.
// `has_index`: whether the run builds an item index (min_index_recall needs
// one).
absl::Status ValidateGates(const ValidationGates& gates, bool has_index,
                           const GateFieldNamer& name);

// Returns `gates` with its defaults filled in (scheme "time", fraction 0.1,
// k 10, index_recall_users 500).
ValidationGates WithGateDefaults(const ValidationGates& gates);

// A log split into the rows to train on and the rows held out, each with its
// own id maps (ids in first-appearance order). `problem` is non-empty when no
// holdout could be made (e.g. "time" on a file without timestamps); then
// `train` is the whole log and `holdout` is empty.
struct HoldoutSplit {
  ranking::InteractionLog train;
  ranking::InteractionLog holdout;
  std::string problem;
};

// Splits `log` as `spec` says (defaults filled in). Deterministic.
HoldoutSplit SplitHoldout(const ranking::InteractionLog& log, const HoldoutSpec& spec);

// What the gates look at.
struct GateInputs {
  const ranking::FactorModel* candidate = nullptr;   // required
  const ranking::Interactions* train = nullptr;      // the candidate's training data
  const HoldoutSplit* split = nullptr;               // required
  const retrieval::ItemIndex* index = nullptr;       // the candidate's index, or null
  const ranking::FactorModel* active = nullptr;      // the active version, or null
  int64_t active_version = 0;
  std::vector<double> losses;                        // training loss per iteration
};

// Evaluates every gate of `gates` (defaults filled in) and returns the
// report; `promoted` is true when all passed or `gates.force` is set.
// Candidate and active version are compared on the holdout rows whose user
// and item both know and that the active version did not train on (its
// stored training items); the top-K lists of both exclude the candidate's
// training rows and those left-out rows. When the active version trained on
// every comparable row, the holdout gate fails (fail closed). Coverage is the
// candidate's on the same rows. Fails only for errors
// of the evaluation itself (INVALID_ARGUMENT shapes).
absl::StatusOr<ValidationReport> EvaluateGates(const ValidationGates& gates,
                                               const GateInputs& inputs, int32_t threads);

// Returns a one-line summary of the failed gates ("ndcg_at_k 0.101 < 0.120;
// coverage_at_k ..."), empty when none failed.
std::string FailedGatesSummary(const ValidationReport& report);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_VALIDATION_GATES_H_

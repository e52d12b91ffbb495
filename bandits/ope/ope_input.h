// Inputs of offline policy evaluation besides OBD (bandits/ope/obd.h): the target
// pmf CSV (--target_pmf), a fast columnar reader of `recbandit export --format
// =csv` files that fills LoggedRounds directly (memory map + from_chars, only
// the columns the estimators need), and the conversion of LoggedData (JSONL
// exports and the RocksDB event log, bandits/ope/logged_data.h) into LoggedRounds.
// Every reader builds the reward model's features from the logged Context
// through the serving feature path (bandits/ope/reward_features.h).
#ifndef RECBANDIT_BANDITS_OPE_OPE_INPUT_H_
#define RECBANDIT_BANDITS_OPE_OPE_INPUT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "bandits/features.h"
#include "bandits/ope/logged_data.h"
#include "bandits/ope/obd.h"
#include "bandits/ope/ope.h"
#include "bandits/policy.h"

namespace recbandit::bandits {

// Target pmfs per context key, read from CSV lines `context_key,action,
// probability` (an optional header line starting with "context_key"). Key "*"
// applies to every round without a key of its own. Thread-compatible.
struct TargetPmfTable {
  absl::flat_hash_map<std::string, std::vector<std::pair<std::string, double>>> pmfs;
  // Returns the pmf of `key`, else of "*", else nullptr.
  const std::vector<std::pair<std::string, double>>* Find(const std::string& key) const;
};

// Returns the table at `path`. INVALID_ARGUMENT naming file:line for a wrong
// field count, a probability outside [0, 1], a repeated (key, action), or a
// key whose probabilities do not sum to 1 (within 1e-5; rows are then
// renormalized to sum exactly to 1).
absl::StatusOr<TargetPmfTable> ReadTargetPmfCsv(const std::string& path);

// Returns per-position OBD pmfs from a table keyed by position ("1", "2", ...;
// actions are item ids). INVALID_ARGUMENT for a non-integer or out-of-range item.
absl::StatusOr<PositionPmfs> PositionPmfsFromTable(const TargetPmfTable& table,
                                                   int32_t num_items, int32_t num_positions);

// What to evaluate on an exported log.
struct ExportTarget {
  enum class Kind { kUniform, kShadow, kTable, kPolicy };
  Kind kind = Kind::kUniform;
  // kShadow: the shadow policy spec whose logged pmfs are the target, as
  // written, and its canonical form (the server logs shadows under it): a
  // logged shadow matches either. Set both with SetShadowTarget.
  std::string shadow_spec;
  std::string shadow_canonical;
  // kTable: pmfs keyed by the round's unit_id (or "*"); actions missing from
  // the table get 0, and mass on actions not offered is dropped.
  const TargetPmfTable* table = nullptr;
  // kPolicy (RoundsFromLoggedData only): the pmf `policy` gives each logged
  // context and offered actions (Choose seeded by StableHash64(event_id)),
  // with contexts built in `space`. Not owned; must outlive the call.
  const Policy* policy = nullptr;
  FeatureSpace space;
};

struct ExportReadOptions {
  ExportTarget target;
  // true: also fill the target and logging pmf rows and the context features
  // (needed by dm, dr, sndr, switch_dr, replay and the support check); false:
  // only the columns of ips/snips (the fast path).
  bool full = true;
  // With full (RoundsFromLoggedData: always): also build the reward model's
  // context features (dm, dr, sndr and switch_dr need them); false leaves
  // feature_dim 0, so a log whose features would not fit in memory can still
  // be evaluated with the other estimators.
  bool reward_features = true;
  // Reward of decisions that have none (the experiment's default reward).
  double default_reward = 0.0;
};

// Makes `target` the kShadow target of `spec`, as `ope --target=shadow:<spec>`
// and EvaluatePolicy(target="shadow:<spec>") both do: "shadow:ucb1" finds a
// shadow logged as "ucb1" or as its canonical "ucb1:c=...".
void SetShadowTarget(absl::string_view spec, ExportTarget* target);

// Rounds read from an export, with what the reader noticed.
struct ExportRounds {
  LoggedRounds rounds;
  int64_t missing_rewards = 0;     // rounds that got default_reward
  int64_t target_renormalized = 0; // kTable rounds whose pmf was renormalized
};

// Hash bits of the reward model's sparse features for exported files, which do
// not carry the experiment's hash_bits: the most the feature path allows, so
// that distinct features rarely share a slot (the event log uses the
// experiment's own hash_bits, as its policies did).
inline constexpr int32_t kExportHashBits = kMaxHashBits;

// Returns the space exported files' features are hashed in: `dense_dim`
// (the first row's dense length) and kExportHashBits.
FeatureSpace ExportFeatureSpace(int32_t dense_dim);

// Returns the space the reward model hashes `data`'s contexts in: the first
// decision's dense length, and the experiment's hash_bits when `data` was
// read from the event log (data.config set), else kExportHashBits.
FeatureSpace RewardFeatureSpace(const LoggedData& data);

// Returns the rounds of an exported CSV (bandits/log/log_format.md). Reward
// model features: context_dense then context_sparse, hashed in
// ExportFeatureSpace (RewardFeatureBuilder: the slots some row uses).
// INVALID_ARGUMENT naming file:line and field for a wrong header, a wrong
// field count, a malformed number, chosen_index out of range, a propensity
// outside (0, 1] (zero named as such), a pmf that disagrees with the
// propensity, a missing shadow policy, dense contexts of varying size, or a
// malformed or invalid sparse feature; RESOURCE_EXHAUSTED when the reward
// model's features would not fit (kMaxRewardFeatureValues).
// A kPolicy target reads the whole decisions (ReadLoggedDataFromFile) instead.
absl::StatusOr<ExportRounds> ReadExportCsv(const std::string& path,
                                           const ExportReadOptions& options);

// Returns the rounds of already-read decisions (JSONL export or event log),
// same semantics as ReadExportCsv with full = true; the reward model's
// features are each logged context (dense, then every sparse namespace,
// stored user attributes included: Decide logs them in the "user" namespace)
// hashed in RewardFeatureSpace(data), i.e. what the logging policy saw.
// Action features (stored item attributes among them) are not reward-model
// features: the model is one regression per action. `source` names the
// input in errors.
absl::StatusOr<ExportRounds> RoundsFromLoggedData(const LoggedData& data,
                                                  const ExportReadOptions& options,
                                                  const std::string& source);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_OPE_OPE_INPUT_H_

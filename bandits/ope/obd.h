// Reader of Open Bandit Dataset campaign CSVs (ZOZO, Inc., CC BY 4.0; layout in
// ../shared/data/obd/README.md) and the per-position targets OPE evaluates on
// them, following the Open Bandit Pipeline: one round per row (an (item,
// position) impression with its propensity), the target pmf given by position.
// Each row's features are a recbandit Context hashed by the serving path
// (bandits/features.h, through bandits/ope/reward_features.h).
#ifndef RECBANDIT_BANDITS_OPE_OBD_H_
#define RECBANDIT_BANDITS_OPE_OBD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bandits/features.h"
#include "bandits/ope/ope.h"

namespace recbandit::bandits {

// Namespaces of a row's context: "slot" holds "position=<p>", "user" holds
// "<column>=<value>" for each user_feature_* column; every value is 1.
inline constexpr char kObdSlotNamespace[] = "slot";
inline constexpr char kObdUserNamespace[] = "user";
// Hash bits of OBD features: the most the feature path allows, so that the
// few distinct features of a campaign (29 in the sample) do not collide.
inline constexpr int32_t kObdHashBits = kMaxHashBits;

// Returns the FeatureSpace OBD rows are hashed in: no dense part, kObdHashBits.
FeatureSpace ObdFeatureSpace();

// One OBD campaign log in columns. Thread-compatible.
struct ObdLog {
  std::string path;
  int32_t num_items = 0;      // max(item_id) + 1, or item_context.csv's rows if more
  int32_t num_positions = 0;  // max(position); positions are 1-based
  std::vector<int32_t> item;        // item_id of each row
  std::vector<int32_t> position;    // 1-based slot of each row
  std::vector<double> click;        // 0/1
  std::vector<double> propensity;   // propensity_score
  // Context features for the reward model (and replay's policies), n x
  // feature_dim: each row's context (kObdSlotNamespace, kObdUserNamespace)
  // hashed in ObdFeatureSpace(), restricted to the slots some row uses, in
  // ascending slot order (RewardFeatureBuilder). Without collisions this is
  // the position one-hot plus the one-hot of each user_feature_* column, up
  // to the order of the columns.
  int32_t feature_dim = 0;
  std::vector<float> features;
  int32_t hash_bits = 0;                // of ObdFeatureSpace()
  std::vector<uint32_t> feature_slots;  // hashed slot of each feature column
  // Distinct features whose slot an earlier distinct feature already took;
  // 0 means every column is exactly one feature (so on the sample).
  int64_t hash_collisions = 0;
  int64_t size() const { return static_cast<int64_t>(item.size()); }
};

// Returns the log at `path`. INVALID_ARGUMENT naming file and line for a
// missing column, a malformed number, an item or position out of range, a
// propensity outside (0, 1], or a feature name "<column>=<value>" over
// kMaxFeatureNameBytes; RESOURCE_EXHAUSTED when the feature matrix would
// exceed kMaxRewardFeatureValues.
absl::StatusOr<ObdLog> ReadObdCsv(const std::string& path);

// A target pmf over items per position: pmf[position - 1][item].
using PositionPmfs = std::vector<std::vector<double>>;

// Returns 1 / num_items for every item at every position.
PositionPmfs UniformPositionPmfs(int32_t num_items, int32_t num_positions);

// Returns, per position, the empirical item frequencies of `other` (the policy
// that logged `other`, as a stochastic per-position policy).
absl::StatusOr<PositionPmfs> EmpiricalPositionPmfs(const ObdLog& other, int32_t num_items,
                                                   int32_t num_positions);

// Returns the rounds of `log` under the per-position target `target`
// (target_prob, target pmf rows per position, features; no logging pmfs, OBD
// only logs the chosen item's propensity). INVALID_ARGUMENT when a position of
// the log has no target pmf.
absl::StatusOr<LoggedRounds> ObdRounds(const ObdLog& log, const PositionPmfs& target);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_OPE_OBD_H_

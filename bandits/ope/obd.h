// Reader of Open Bandit Dataset campaign CSVs (ZOZO, Inc., CC BY 4.0; layout in
// ../shared/data/obd/README.md) and the per-position targets OPE evaluates on
// them, following the Open Bandit Pipeline: one round per row (an (item,
// position) impression with its propensity), the target pmf given by position.
#ifndef RECBANDIT_BANDITS_OPE_OBD_H_
#define RECBANDIT_BANDITS_OPE_OBD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bandits/ope/ope.h"

namespace recbandit::bandits {

// One OBD campaign log in columns. Thread-compatible.
struct ObdLog {
  std::string path;
  int32_t num_items = 0;      // max(item_id) + 1, or item_context.csv's rows if more
  int32_t num_positions = 0;  // max(position); positions are 1-based
  std::vector<int32_t> item;        // item_id of each row
  std::vector<int32_t> position;    // 1-based slot of each row
  std::vector<double> click;        // 0/1
  std::vector<double> propensity;   // propensity_score
  // Context features for the reward model, n x feature_dim: position one-hot
  // then one-hot of each user_feature_* column (values by first appearance).
  int32_t feature_dim = 0;
  std::vector<float> features;
  int64_t size() const { return static_cast<int64_t>(item.size()); }
};

// Returns the log at `path`. INVALID_ARGUMENT naming file and line for a
// missing column, a malformed number, an item or position out of range, or a
// propensity outside (0, 1].
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

// The context features of OPE's reward model (LoggedRounds::features), built
// from each round's Context through the serving path (HashContext,
// bandits/features.h): the numbers the logging policy saw, whether the rounds
// come from the event log, an export or an Open Bandit Dataset CSV.
#ifndef RECBANDIT_BANDITS_OPE_REWARD_FEATURES_H_
#define RECBANDIT_BANDITS_OPE_REWARD_FEATURES_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "bandits/features.h"
#include "proto/common.pb.h"

namespace recbandit::bandits {

// Largest reward-model feature matrix, in values (rounds x features): 1 GB of
// floats.
inline constexpr int64_t kMaxRewardFeatureValues = int64_t{250} * 1000 * 1000;

// Builds the n x feature_dim reward-model matrix from one Context per round:
// the dense context, then the hashed sparse context features (stored user
// attributes included: they are logged in the context's "user" namespace)
// restricted to the slots some round uses, in ascending slot order. A slot no
// round uses is 0 in every row, so its weight in the L2-penalised per-action
// model is 0 and dropping it changes no prediction: the matrix equals the
// policies' DecisionInput::context up to dropping always-zero columns, and
// its width is the number of distinct features used, not 2^hash_bits.
//
//   RewardFeatureBuilder features(space);
//   for (const LoggedDecision& d : decisions) RETURN_IF_ERROR(features.Add(d.context));
//   RETURN_IF_ERROR(features.Finish(&rounds.feature_dim, &rounds.features));
//
// Not thread-safe.
class RewardFeatureBuilder {
 public:
  // REQUIRES: ValidateFeatureSpace(space) is OK.
  explicit RewardFeatureBuilder(const FeatureSpace& space);

  // Adds the next round's features. INVALID_ARGUMENT as HashContext (a wrong
  // dense length, a non-finite value, a bad name, sparse features when
  // hash_bits is 0...), naming the field.
  absl::Status Add(const Context& context);

  // Returns the number of rounds added.
  int64_t rows() const { return rows_; }

  // Writes the matrix, n x *dim row-major, and returns OK; leaves the builder
  // empty. RESOURCE_EXHAUSTED (nothing written) when n x *dim would exceed
  // kMaxRewardFeatureValues.
  absl::Status Finish(int32_t* dim, std::vector<float>* features);

  // Returns the hashed slot of each sparse column, ascending (column
  // space.dense_dim + j holds slot sparse_slots()[j]); valid after Finish.
  const std::vector<uint32_t>& sparse_slots() const { return slots_; }

 private:
  FeatureSpace space_;
  int64_t rows_ = 0;
  std::vector<float> dense_;              // rows_ x space_.dense_dim
  std::vector<int64_t> offsets_ = {0};    // per row into sparse_
  std::vector<HashedFeature> sparse_;     // every row's hashed features
  std::vector<HashedFeature> scratch_;
  std::vector<uint32_t> slots_;
};

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_OPE_REWARD_FEATURES_H_

// Train/test splits of an interaction log (`recbandit split`): random per
// interaction, leave-last-out per user, and user holdout (as Amazon
// Personalize evaluates). Deterministic for a seed.
#ifndef RECBANDIT_RANKING_SPLIT_H_
#define RECBANDIT_RANKING_SPLIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ranking/interactions.h"

namespace recbandit::ranking {

enum class SplitScheme { kRandom, kLeaveLastOut, kUserHoldout };

// Returns the scheme named "random", "leave_last_out" or "user_holdout".
absl::StatusOr<SplitScheme> ParseSplitScheme(const std::string& name);

struct SplitOptions {
  SplitScheme scheme = SplitScheme::kRandom;
  // kRandom: probability that an interaction goes to test.
  // kUserHoldout: fraction of users held out. Ignored by kLeaveLastOut.
  // Range (0, 1).
  double test_fraction = 0.2;
  // kUserHoldout: fraction of a held-out user's interactions (the newest)
  // that go to test; at least one when the user has two or more. Range (0, 1).
  double holdout_newest_fraction = 0.1;
  uint64_t seed = 1;
};

// Row indices into the log, each in file order; together they are a
// partition of 0..log.size()-1.
struct SplitResult {
  std::vector<int64_t> train;
  std::vector<int64_t> test;
};

// Returns the split, or INVALID_ARGUMENT for a fraction out of range.
// leave_last_out holds out each user's latest interaction (by timestamp, ties
// broken by file order) when the user has at least two. user_holdout picks
// users by a seeded hash of their id, so the choice does not depend on order.
absl::StatusOr<SplitResult> SplitInteractions(const InteractionLog& log,
                                              const SplitOptions& options);

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_SPLIT_H_

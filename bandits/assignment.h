// Assignment of units (users, sessions, a caller's unit id) to weighted
// variants: sticky across calls, processes and restarts because it is a pure
// function of the unit id and a per-experiment salt. Thread-safe.
#ifndef RECBANDIT_BANDITS_ASSIGNMENT_H_
#define RECBANDIT_BANDITS_ASSIGNMENT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace recbandit::bandits {

// Returns the index of the variant that `unit_id` is assigned to: a point
// uniform in [0, 1) from StableHash64(unit_id, salt) falls into the variants'
// cumulative traffic shares. REQUIRES: weights non-empty, each > 0.
int32_t AssignVariant(const std::string& unit_id, uint64_t salt,
                      const std::vector<double>& weights);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_ASSIGNMENT_H_

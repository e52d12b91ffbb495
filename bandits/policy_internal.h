// Internal to bandits/: the spec-parameter reader shared by the policy
// families and the factories of the context-free and linear families.
#ifndef RECBANDIT_BANDITS_POLICY_INTERNAL_H_
#define RECBANDIT_BANDITS_POLICY_INTERNAL_H_

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bandits/policy.h"

namespace recbandit::bandits::internal {

// Reads typed parameters from a PolicySpec and reports unknown keys.
// Thread-compatible.
class SpecParams {
 public:
  explicit SpecParams(const PolicySpec& spec);

  // Returns whether `key` was given.
  bool Has(const std::string& key) const;
  // Returns the value of `key` as a finite double in [lo, hi] (lo excluded when
  // lo_open), or `def` when absent. INVALID_ARGUMENT names family and key.
  absl::StatusOr<double> Double(const std::string& key, double def, double lo,
                                double hi, bool lo_open = false);
  // Returns the value of `key`, one of `choices`, or `def` when absent.
  absl::StatusOr<std::string> Choice(const std::string& key, const std::string& def,
                                     std::initializer_list<const char*> choices);
  // Returns INVALID_ARGUMENT naming the first key no accessor asked for.
  absl::Status CheckAllUsed() const;

 private:
  std::string family_;
  std::vector<std::pair<std::string, std::string>> params_;
  std::vector<bool> used_;
};

// Returns `x` in shortest round-trip form ("1", "0.1", "1e-05").
std::string FormatNumber(double x);

// Factories; `spec.family` is one of theirs.
absl::StatusOr<std::unique_ptr<Policy>> CreateArmPolicy(const PolicySpec& spec,
                                                        const PolicyOptions& options);
absl::StatusOr<std::unique_ptr<Policy>> CreateLinearPolicy(const PolicySpec& spec,
                                                           const PolicyOptions& options);

// Testing only: whether disjoint LinUCB screens actions with its float32
// bound before computing exact scores (bandits/linear_policies.cc; default
// true). Decisions are bitwise the same either way; tests compare the two.
// Returns the previous setting. Thread-safe; affects every LinUCB policy.
bool SetLinUcbScreeningForTesting(bool enabled);

// Returns INVALID_ARGUMENT unless `chosen` indexes input.actions and `reward`
// is finite: the checks every policy's Update starts with.
absl::Status CheckUpdateArgs(const DecisionInput& input, int32_t chosen, double reward);

}  // namespace recbandit::bandits::internal

#endif  // RECBANDIT_BANDITS_POLICY_INTERNAL_H_

// Fuzzes policy specs (bandits/policy.h): a spec either fails with
// INVALID_ARGUMENT or yields a policy whose canonical spec is a fixed point
// and whose pmf over a few actions is a distribution; Update with a finite
// reward keeps it one.
#include <cmath>
#include <cstdint>
#include <string>

#include "bandits/policy.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace recbandit;
  if (size > 512) return 0;
  const std::string spec(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::string> canonical = bandits::CanonicalPolicySpec(spec);
  if (!canonical.ok()) {
    fuzz::Require(absl::IsInvalidArgument(canonical.status()), "bad specs are INVALID_ARGUMENT");
    return 0;
  }
  absl::StatusOr<std::string> again = bandits::CanonicalPolicySpec(*canonical);
  fuzz::Require(again.ok() && *again == *canonical, "the canonical spec is a fixed point");
  bandits::PolicyOptions options;
  options.context_dim = 2;
  options.thompson_pmf_draws = 64;
  absl::StatusOr<std::unique_ptr<bandits::Policy>> policy = bandits::CreatePolicy(spec, options);
  if (!policy.ok()) return 0;  // e.g. a linear model wider than context_dim allows
  bandits::DecisionInput input;
  input.context = {0.5, -1.0};
  for (const char* id : {"a", "b", "c"}) input.actions.push_back({id, {}});
  bandits::Decision decision;
  for (int round = 0; round < 3; ++round) {
    if (!(*policy)->Choose(input, 17 + round, &decision).ok()) return 0;
    double total = 0;
    for (double p : decision.pmf) {
      fuzz::Require(p >= 0 && std::isfinite(p), "pmf entries are probabilities");
      total += p;
    }
    fuzz::Require(std::abs(total - 1) < 1e-6, "the pmf sums to 1");
    fuzz::Require(decision.chosen >= 0 && decision.chosen < 3, "the choice is an offered action");
    (void)(*policy)->Update(input, decision.chosen, round == 1 ? 1.0 : 0.0);
  }
  return 0;
}

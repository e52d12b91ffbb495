// The bandit policy interface: a policy turns a context and the offered actions
// into a full pmf and one seeded draw from it, learns from rewards, and saves
// and restores its state (proto PolicyState). Specs: bandits/log/log_format.md.
#ifndef RECBANDIT_BANDITS_POLICY_H_
#define RECBANDIT_BANDITS_POLICY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/events.pb.h"

namespace recbandit::bandits {

// One offered action: external id and optional action features (ADF-style;
// dense action features, then the action's hashed sparse slots). Per-arm
// policies identify arms by `id`; shared linear policies read `features`.
struct ActionInput {
  std::string id;
  std::vector<double> features;
};

// What a policy sees for one decision: the context feature vector (dense
// features, then sparse named features hashed into a fixed number of slots;
// length PolicyOptions::context_dim) and the offered actions (they may differ
// from call to call; ids unique within one input). Build it from protos with
// bandits/features.h.
struct DecisionInput {
  std::vector<double> context;
  std::vector<ActionInput> actions;
};

// The outcome: index of the chosen action and the full pmf over the offered
// actions (same order, sums to 1); the chosen action is always drawn from pmf
// with SampleFromPmf (bandits/explore.h). Reuse one Decision across calls so
// hot loops do not allocate.
struct Decision {
  int32_t chosen = -1;
  std::vector<double> pmf;
};

// A policy bound to one list of offered actions for one caller on one thread
// (from Policy::Bind; the simulator's per-run loop). Choose and Update decide
// and learn exactly as the policy's own do (the same code, the same draws for
// the same seed and state); they only skip what a sole caller with fixed
// actions makes redundant: the policy's lock and action-id lookups.
// Not thread-safe.
class BoundPolicy {
 public:
  virtual ~BoundPolicy() = default;

  // As Policy::Choose. REQUIRES: input.actions has the bound ids in the bound
  // order (a different number of actions takes the policy's own path).
  virtual absl::Status Choose(const DecisionInput& input, uint64_t seed,
                              Decision* decision) = 0;

  // As Policy::Update. REQUIRES: as Choose.
  virtual absl::Status Update(const DecisionInput& input, int32_t chosen,
                              double reward) = 0;
};

// Largest model dimension of a linear policy (it keeps dim x dim matrices):
// context_dim for disjoint models, the joint dimension for shared ones.
inline constexpr int32_t kMaxLinearDim = 4096;

// Options shared by every policy family (the family's own parameters come from
// the spec string).
struct PolicyOptions {
  // Length of DecisionInput::context (dense features plus hashed slots;
  // bandits/features.h ContextLength). 0..4096 + 2^16; linear policies
  // additionally require their model dimension to be <= kMaxLinearDim.
  int32_t context_dim = 0;
  // Length of every ActionInput::features, read only by shared linear models
  // (model=shared); -1 = fixed by the first input they learn from. -1..4096.
  int32_t action_dim = -1;
  // Every offered action gets probability >= f = min(floor, 1/n): the policy's
  // pmf is mixed with the uniform distribution with weight n f
  // (ApplyExplorationFloor, bandits/explore.h). 0..1; 0 = no floor.
  double exploration_floor = 0;
  // Monte Carlo posterior draws behind lin_ts pmfs. 1..1000000. (The
  // thompson family computes its pmf exactly, bandits/thompson_pmf.h, and
  // ignores it.)
  int32_t thompson_pmf_draws = 1000;
  // false: simulation may skip the Thompson families' pmf (the chosen action is
  // still drawn from the same distribution; pmf may then be left empty).
  bool compute_pmf = true;
};

// A bandit policy. Choose is thread-safe (const, pure given state and seed);
// Update and Restore are thread-safe (internal mutex); Bind gives a
// single-threaded fast path for one exclusive caller.
//
//   PolicyOptions options;
//   options.context_dim = ContextLength(space);   // bandits/features.h
//   ASSIGN_OR_RETURN(auto policy, CreatePolicy("linucb:alpha=1", options));
//   Decision d;
//   RETURN_IF_ERROR(policy->Choose(input, StableHash64(event_id), &d));
//   RETURN_IF_ERROR(policy->Update(input, d.chosen, reward));
class Policy {
 public:
  virtual ~Policy() = default;

  // Returns the canonical spec string, e.g. "linucb:alpha=1,lambda=1": every
  // parameter in effect, in a fixed order, numbers in shortest round-trip form
  // (a mode left at its default, like model=disjoint, is omitted);
  // CreatePolicy(spec()) builds the same policy.
  virtual const std::string& spec() const = 0;

  // Returns the family name, e.g. "linucb" (DecisionEvent.policy_name).
  virtual const std::string& family() const = 0;

  // Fills *decision for `input` using Rng(seed) for every random number.
  // INVALID_ARGUMENT: no actions; for linear families also a context length
  // other than context_dim or mismatched action features. Action ids must be
  // unique (BuildDecisionInput checks it; Choose does not, for speed).
  virtual absl::Status Choose(const DecisionInput& input, uint64_t seed,
                              Decision* decision) const = 0;

  // Learns `reward` (finite) for input.actions[chosen].
  virtual absl::Status Update(const DecisionInput& input, int32_t chosen,
                              double reward) = 0;

  // Returns the learned state (proto/events.proto PolicyState).
  virtual PolicyState Snapshot() const = 0;

  // Replaces the learned state with `state`. INVALID_ARGUMENT when it does not
  // belong to this family or its dimensions differ.
  virtual absl::Status Restore(const PolicyState& state) = 0;

  // Returns the number of updates applied so far.
  virtual int64_t version() const = 0;

  // Returns a binding of this policy to input.actions (ids and order) for a
  // caller that, while the binding lives, is this policy's only user and calls
  // it from one thread (the simulator's per-run loop). This policy must
  // outlive it. The default forwards to Choose and Update; the context-free
  // families skip their lock and id lookups (same decisions).
  virtual std::unique_ptr<BoundPolicy> Bind(const DecisionInput& input);
};

// A parsed spec: family plus key=value parameters in the order written.
struct PolicySpec {
  std::string family;
  std::vector<std::pair<std::string, std::string>> params;
};

// Returns the parsed `spec` ("family[:key=value[,key=value...]]"); keys and
// values are not checked against the family here. INVALID_ARGUMENT on syntax.
absl::StatusOr<PolicySpec> ParsePolicySpec(absl::string_view spec);

// Returns the specs of a comma-separated list: a token without ':' that
// contains '=' continues the previous spec's parameters, so
// "linucb:alpha=1,lambda=2,ucb1" is {"linucb:alpha=1,lambda=2", "ucb1"}.
absl::StatusOr<std::vector<std::string>> ParsePolicySpecList(absl::string_view list);

// Parses a spec (grammar in bandits/log/log_format.md) and returns a fresh policy;
// INVALID_ARGUMENT naming the family or key for a bad spec.
absl::StatusOr<std::unique_ptr<Policy>> CreatePolicy(absl::string_view spec,
                                                     const PolicyOptions& options);

// Returns the canonical form of `spec` (what CreatePolicy(spec)->spec() is).
absl::StatusOr<std::string> CanonicalPolicySpec(absl::string_view spec);

// Returns the family names CreatePolicy accepts.
const std::vector<std::string>& PolicyFamilies();

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_POLICY_H_

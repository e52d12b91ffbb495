// Canary rollouts of a deployment (proto/deployments.proto, RolloutPlan):
// the plan's rules, the live counters a rollout decides with (calls, errors,
// latency, rewards of the baseline and the canary), and the pure decision
// of what to do next: hold, advance a step, promote or roll back.
#ifndef RECBANDIT_SERVICES_SERVING_ROLLOUT_H_
#define RECBANDIT_SERVICES_SERVING_ROLLOUT_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "bandits/confidence_sequence.h"
#include "proto/deployments.pb.h"

namespace recbandit::services {

// Returns OK when deployment.rollout names two distinct variants of
// `deployment` and 1..20 steps with non-decreasing shares in (0, 1] and
// bounded durations and counts, and guardrails in their bounds;
// INVALID_ARGUMENT naming the field and bound otherwise.
absl::Status ValidateRollout(const Deployment& deployment);

// Sets the baseline's and canary's weights of `deployment` for the phase and
// step of its rollout_status: their combined weight (1 when both are 0)
// split by the step's canary share, all of it to the canary once promoted,
// all to the baseline once rolled back. REQUIRES: ValidateRollout passed.
void ApplyRolloutWeights(Deployment* deployment);

// Live evidence of one rollout, for its baseline (role 0) and canary
// (role 1). In memory only: a restart begins counting again (the step's
// clock too). Thread-safe.
class RolloutCounters {
 public:
  static constexpr int kBaseline = 0, kCanary = 1;

  // Counts from `since_us` (microseconds since the Unix epoch): rewards of
  // slates served earlier are not counted.
  explicit RolloutCounters(int64_t since_us) : since_us_(since_us) {}
  int64_t since_us() const { return since_us_; }

  // A call `role` answered (or failed, `error`) in `latency_us`.
  void RecordCall(int role, int64_t latency_us, bool error);
  // A slate of `role` whose aggregated reward went from `before` to `after`.
  void RecordReward(int role, double before, double after, bool first);
  // Starts counting served_in_step again.
  void StartStep();
  // The evidence as RolloutStatus reports it (comparisons left to
  // DecideRollout).
  VariantEvidence Evidence(int role) const;
  // The error and reward summaries of `role`'s calls and served slates.
  bandits::ArmSummary Errors(int role) const;
  bandits::ArmSummary Rewards(int role) const;

 private:
  // Latency buckets: bucket b holds [10 us * 1.05^(b-1), 10 us * 1.05^b).
  static constexpr int kBuckets = 400;
  struct Arm {
    int64_t served = 0, errors = 0, served_in_step = 0, rewarded = 0;
    bandits::RunningMoments rewards;  // per rewarded slate
    std::array<int64_t, kBuckets> latency{};
  };
  static int BucketOf(int64_t latency_us);
  static double P99Ms(const Arm& arm);

  const int64_t since_us_;
  mutable absl::Mutex mu_;
  Arm arms_[2] ABSL_GUARDED_BY(mu_);
};

// What a rollout does next.
struct RolloutDecision {
  enum Action { kHold, kAdvance, kPromote, kRollback };
  Action action = kHold;
  std::string reason;        // set unless kHold
  RolloutEvidence evidence;  // always filled
};

// Decides, for a deployment whose rollout is IN_PROGRESS, from the counters
// at `now_ms`: roll back when a guardrail fires (each comparison needs 30
// calls or slates per arm first; latency 100 calls), else advance (or
// promote after the last step) once the step's duration and canary events
// are reached, else hold.
RolloutDecision DecideRollout(const Deployment& deployment, const RolloutCounters& counters,
                              int64_t now_ms);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_ROLLOUT_H_

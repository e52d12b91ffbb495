// Canary rollouts of a deployment (proto/deployments.proto, RolloutPlan):
// the plan's rules, the live counters a rollout decides with (calls, errors,
// latency, rewards of the baseline and the canary), and the pure decision
// of what to do next: hold, advance a step, promote or roll back.
#ifndef RECBANDIT_SERVICES_SERVING_ROLLOUT_H_
#define RECBANDIT_SERVICES_SERVING_ROLLOUT_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "bandits/confidence_sequence.h"
#include "proto/deployments.pb.h"

namespace recbandit::services {

// The largest traffic weight of a variant (proto/deployments.proto).
inline constexpr double kMaxTrafficWeight = 1e6;

// Returns OK when deployment.rollout names two distinct variants of
// `deployment` and 1..20 steps with non-decreasing shares in (0, 1] and
// bounded durations and counts, guardrails in their bounds, and a
// rollout_status whose phase and step fit the plan;
// INVALID_ARGUMENT naming the field and bound otherwise.
absl::Status ValidateRollout(const Deployment& deployment);

// Sets the baseline's and canary's weights of `deployment` for the phase and
// step of its rollout_status: their combined weight (1 when both are 0)
// (at most kMaxTrafficWeight) split by the step's canary share, all of it
// to the canary once promoted, all to the baseline once rolled back.
// REQUIRES: ValidateRollout passed.
void ApplyRolloutWeights(Deployment* deployment);

// Live evidence of one rollout, for its baseline (role 0) and canary
// (role 1). In memory only: a restart begins counting again (the step's
// clock, journaled, keeps running). Rewards are compared on slates served
// at least a reward delay ago (the deployment's reward_window_ms), so an
// arm whose traffic just grew is not judged on slates whose clicks have not
// arrived yet. Thread-safe.
class RolloutCounters {
 public:
  static constexpr int kBaseline = 0, kCanary = 1;

  // Counts from `since_us` (microseconds since the Unix epoch): rewards of
  // slates served earlier are not counted.
  explicit RolloutCounters(int64_t since_us) : since_us_(since_us) {}
  int64_t since_us() const { return since_us_; }

  // A call `role` answered (or failed, `error`) in `latency_us`, at
  // `now_us`.
  void RecordCall(int role, int64_t latency_us, bool error, int64_t now_us);
  // A slate of `role` served at `served_us` whose aggregated reward went
  // from `before` to `after`.
  void RecordReward(int role, double before, double after, bool first, int64_t served_us);
  // Starts counting served_in_step again.
  void StartStep();
  // The evidence as RolloutStatus reports it (comparisons left to
  // DecideRollout), rewards of slates served before `mature_us`.
  VariantEvidence Evidence(int role, int64_t mature_us) const;
  // The error summary of `role`'s calls, and the reward summary of its
  // slates served before `mature_us` (unrewarded ones count 0).
  bandits::ArmSummary Errors(int role) const;
  bandits::ArmSummary Rewards(int role, int64_t mature_us) const;

 private:
  // Latency buckets: bucket b holds [10 us * 1.05^(b-1), 10 us * 1.05^b).
  static constexpr int kBuckets = 400;
  // Slates served in one second, and the rewards they earned.
  struct Second {
    int64_t served = 0, rewarded = 0;
    bandits::RunningMoments rewards;  // per rewarded slate
  };
  struct Arm {
    int64_t served = 0, errors = 0, served_in_step = 0, rewarded = 0;
    std::map<int64_t, Second> by_second;  // by serving time, seconds
    Second matured;  // seconds folded in once older than every cutoff asked
    std::array<int64_t, kBuckets> latency{};
  };
  static int BucketOf(int64_t latency_us);
  static double P99Ms(const Arm& arm);
  // The served slates and rewards of `arm` served before `mature_us`; folds
  // those seconds into arm.matured. REQUIRES: mu_ held.
  static Second MatureOf(Arm& arm, int64_t mature_us);

  const int64_t since_us_;
  mutable absl::Mutex mu_;
  mutable Arm arms_[2] ABSL_GUARDED_BY(mu_);
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
// calls or slates per arm first; latency 500 calls, as a threshold), else
// advance (or promote after the last step) once the step's duration and
// canary events are reached and each arm has 30 calls, else hold.
RolloutDecision DecideRollout(const Deployment& deployment, const RolloutCounters& counters,
                              int64_t now_ms);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_ROLLOUT_H_

// Canary rollouts: plan rules, counters, and the guardrail decision.
#include "services/serving/rollout.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/core/names.h"

namespace recbandit::services {
namespace {

constexpr int kMaxSteps = 20;
constexpr int64_t kMaxStepDurationMs = int64_t{30} * 24 * 3600 * 1000;
constexpr int64_t kMaxStepEvents = 1000000000;
// Calls (or slates) per arm before a comparison may fire: the plug-in
// variances of the sequential test need a few.
constexpr int64_t kMinPerArm = 30;
constexpr int64_t kMinLatencyCalls = 500;
constexpr double kDefaultAlpha = 0.05;
constexpr double kDefaultEffectSize = 0.1;

int IndexOf(const Deployment& d, const std::string& variant) {
  for (int i = 0; i < d.variants_size(); ++i) {
    if (d.variants(i).name() == variant) return i;
  }
  return -1;
}

double AlphaOf(const RolloutGuardrails& g) { return g.alpha() > 0 ? g.alpha() : kDefaultAlpha; }
double EffectOf(const RolloutGuardrails& g) {
  return g.effect_size() > 0 ? g.effect_size() : kDefaultEffectSize;
}

}  // namespace

absl::Status ValidateRollout(const Deployment& d) {
  const RolloutPlan& plan = d.rollout();
  const int baseline = IndexOf(d, plan.baseline());
  const int canary = IndexOf(d, plan.canary());
  if (baseline < 0) {
    return absl::InvalidArgumentError(absl::StrCat("deployment.rollout.baseline ",
                                                   Quote(plan.baseline()),
                                                   " is not a variant of the deployment"));
  }
  if (canary < 0) {
    return absl::InvalidArgumentError(absl::StrCat("deployment.rollout.canary ",
                                                   Quote(plan.canary()),
                                                   " is not a variant of the deployment"));
  }
  if (baseline == canary) {
    return absl::InvalidArgumentError("deployment.rollout.canary must differ from its baseline");
  }
  if (plan.steps_size() < 1 || plan.steps_size() > kMaxSteps) {
    return absl::InvalidArgumentError(absl::StrCat("deployment.rollout.steps must have 1..",
                                                   kMaxSteps, " entries, got ",
                                                   plan.steps_size()));
  }
  double previous = 0;
  for (int i = 0; i < plan.steps_size(); ++i) {
    const RolloutStep& step = plan.steps(i);
    const std::string field = absl::StrCat("deployment.rollout.steps[", i, "]");
    if (!(step.canary_share() > 0 && step.canary_share() <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".canary_share must be in (0, 1], got ", step.canary_share()));
    }
    if (step.canary_share() < previous) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".canary_share ", step.canary_share(), " is below the previous step's ",
          previous));
    }
    previous = step.canary_share();
    if (step.min_duration_ms() < 0 || step.min_duration_ms() > kMaxStepDurationMs) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".min_duration_ms must be in [0, ",
                                                     kMaxStepDurationMs, "], got ",
                                                     step.min_duration_ms()));
    }
    if (step.min_events() < 0 || step.min_events() > kMaxStepEvents) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".min_events must be in [0, ",
                                                     kMaxStepEvents, "], got ",
                                                     step.min_events()));
    }
  }
  const RolloutStatus& status = d.rollout_status();
  if (!RolloutStatus::Phase_IsValid(status.phase()) || status.step() < 0 ||
      status.step() >= plan.steps_size()) {
    return absl::InvalidArgumentError(absl::StrCat("deployment.rollout_status.step ", status.step(),
                                                   " is outside the plan's ", plan.steps_size(),
                                                   " steps"));
  }
  const RolloutGuardrails& g = plan.guardrails();
  const std::string field = "deployment.rollout.guardrails";
  if (!(g.max_error_rate_increase() >= 0 && g.max_error_rate_increase() <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".max_error_rate_increase must be in [0, 1], got ", g.max_error_rate_increase()));
  }
  if (!(g.max_reward_decrease() >= 0 && g.max_reward_decrease() <= 1e12)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".max_reward_decrease must be in [0, 1e12], got ", g.max_reward_decrease()));
  }
  if (!(g.max_p99_latency_ratio() == 0 ||
        (g.max_p99_latency_ratio() >= 1 && g.max_p99_latency_ratio() <= 1e6))) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".max_p99_latency_ratio must be 0 (off) or in [1, 1e6], got ",
        g.max_p99_latency_ratio()));
  }
  if (!(g.alpha() == 0 || (g.alpha() > 0 && g.alpha() <= 0.5))) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".alpha must be in (0, 0.5] (0 = 0.05), got ", g.alpha()));
  }
  if (!(g.effect_size() == 0 || (g.effect_size() > 0 && g.effect_size() <= 10))) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".effect_size must be in (0, 10] (0 = 0.1), got ", g.effect_size()));
  }
  return absl::OkStatus();
}

void ApplyRolloutWeights(Deployment* d) {
  const RolloutPlan& plan = d->rollout();
  DeploymentVariant* baseline = d->mutable_variants(IndexOf(*d, plan.baseline()));
  DeploymentVariant* canary = d->mutable_variants(IndexOf(*d, plan.canary()));
  double total = std::min(kMaxTrafficWeight, baseline->traffic_weight() + canary->traffic_weight());
  if (!(total > 0)) total = 1;
  double share = 0;
  switch (d->rollout_status().phase()) {
    case RolloutStatus::PROMOTED:
      share = 1;
      break;
    case RolloutStatus::ROLLED_BACK:
      share = 0;
      break;
    default:
      share = plan.steps(std::clamp(d->rollout_status().step(), 0, plan.steps_size() - 1))
                  .canary_share();
  }
  canary->set_traffic_weight(total * share);
  baseline->set_traffic_weight(total - total * share);
}

int RolloutCounters::BucketOf(int64_t latency_us) {
  if (latency_us < 10) return 0;
  const int b = 1 + static_cast<int>(std::log(latency_us / 10.0) / std::log(1.05));
  return std::min(b, kBuckets - 1);
}

double RolloutCounters::P99Ms(const Arm& arm) {
  int64_t total = 0;
  for (int64_t c : arm.latency) total += c;
  if (total == 0) return 0;
  const int64_t rank = static_cast<int64_t>(std::ceil(0.99 * total));
  int64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += arm.latency[b];
    if (seen >= rank) return 10.0 * std::pow(1.05, b) / 1000.0;  // the bucket's upper end
  }
  return 10.0 * std::pow(1.05, kBuckets - 1) / 1000.0;
}

void RolloutCounters::RecordCall(int role, int64_t latency_us, bool error, int64_t now_us) {
  absl::MutexLock lock(&mu_);
  Arm& arm = arms_[role];
  if (error) {
    ++arm.errors;
  } else {
    ++arm.served;
    ++arm.served_in_step;
    ++arm.by_second[now_us / 1000000].served;
  }
  ++arm.latency[BucketOf(latency_us)];
}

void RolloutCounters::RecordReward(int role, double before, double after, bool first,
                                   int64_t served_us) {
  absl::MutexLock lock(&mu_);
  Arm& arm = arms_[role];
  auto it = arm.by_second.find(served_us / 1000000);
  // A slate of a second already folded in (or served before a restart).
  Second& second = it != arm.by_second.end() ? it->second : arm.matured;
  if (first) {
    ++arm.rewarded;
    ++second.rewarded;
    second.rewards.Add(after);
  } else {
    second.rewards.Replace(before, after);
  }
}

RolloutCounters::Second RolloutCounters::MatureOf(Arm& arm, int64_t mature_us) {
  // Whole seconds served before it (all of them for the largest value).
  const int64_t cutoff = mature_us == std::numeric_limits<int64_t>::max()
                             ? std::numeric_limits<int64_t>::max()
                             : mature_us / 1000000;
  Second out = arm.matured;
  for (auto it = arm.by_second.begin(); it != arm.by_second.end() && it->first < cutoff; ++it) {
    out.served += it->second.served;
    out.rewarded += it->second.rewarded;
    out.rewards.Merge(it->second.rewards);
  }
  // Seconds more than an hour before the cutoff are folded in for good (a
  // later call asks a later cutoff; the reward delay is fixed per revision).
  const int64_t fold_before =
      cutoff == std::numeric_limits<int64_t>::max() ? cutoff : cutoff - 3600;
  while (!arm.by_second.empty() && arm.by_second.begin()->first < fold_before) {
    Second& s = arm.by_second.begin()->second;
    arm.matured.served += s.served;
    arm.matured.rewarded += s.rewarded;
    arm.matured.rewards.Merge(s.rewards);
    arm.by_second.erase(arm.by_second.begin());
  }
  return out;
}

void RolloutCounters::StartStep() {
  absl::MutexLock lock(&mu_);
  for (Arm& arm : arms_) arm.served_in_step = 0;
}

VariantEvidence RolloutCounters::Evidence(int role, int64_t mature_us) const {
  absl::MutexLock lock(&mu_);
  Arm& arm = arms_[role];
  const Second mature = MatureOf(arm, mature_us);
  VariantEvidence e;
  e.set_served(arm.served);
  e.set_errors(arm.errors);
  e.set_served_in_step(arm.served_in_step);
  e.set_p99_latency_ms(P99Ms(arm));
  e.set_rewarded(arm.rewarded);
  e.set_reward_mean(mature.rewards.SummaryOver(std::max(mature.served, mature.rewards.n())).mean);
  return e;
}

bandits::ArmSummary RolloutCounters::Errors(int role) const {
  absl::MutexLock lock(&mu_);
  return bandits::BernoulliSummary(arms_[role].errors, arms_[role].served + arms_[role].errors);
}

bandits::ArmSummary RolloutCounters::Rewards(int role, int64_t mature_us) const {
  absl::MutexLock lock(&mu_);
  const Second mature = MatureOf(arms_[role], mature_us);
  return mature.rewards.SummaryOver(std::max(mature.served, mature.rewards.n()));
}

namespace {

void SetComparison(const bandits::DifferenceInterval& ci, MetricComparison* out) {
  out->set_difference(ci.difference);
  out->set_ci_low(ci.defined ? ci.low : 0);
  out->set_ci_high(ci.defined ? ci.high : 0);
}

}  // namespace

RolloutDecision DecideRollout(const Deployment& d, const RolloutCounters& counters,
                              int64_t now_ms) {
  const RolloutPlan& plan = d.rollout();
  const RolloutGuardrails& g = plan.guardrails();
  const RolloutStatus& status = d.rollout_status();
  RolloutDecision decision;
  RolloutEvidence& ev = decision.evidence;
  // Rewards of slates served at least the reward window ago (every slate
  // without a window).
  const int64_t mature_us = d.reward_window_ms() > 0 ? (now_ms - d.reward_window_ms()) * 1000
                                                     : std::numeric_limits<int64_t>::max();
  *ev.mutable_baseline() = counters.Evidence(RolloutCounters::kBaseline, mature_us);
  *ev.mutable_canary() = counters.Evidence(RolloutCounters::kCanary, mature_us);
  ev.mutable_baseline()->set_variant(plan.baseline());
  ev.mutable_canary()->set_variant(plan.canary());
  const double alpha = AlphaOf(g), effect = EffectOf(g);

  // Errors per call.
  const bandits::ArmSummary err_b = counters.Errors(RolloutCounters::kBaseline);
  const bandits::ArmSummary err_c = counters.Errors(RolloutCounters::kCanary);
  const bandits::DifferenceInterval err = bandits::MixtureSprtInterval(err_b, err_c, alpha, effect,
                                                                       /*variance_floor=*/1e-12);
  SetComparison(err, ev.mutable_error_rate());
  // Reward per served slate; the floor keeps rewardless arms comparable.
  const bandits::ArmSummary rew_b = counters.Rewards(RolloutCounters::kBaseline, mature_us);
  const bandits::ArmSummary rew_c = counters.Rewards(RolloutCounters::kCanary, mature_us);
  const bandits::DifferenceInterval rew =
      bandits::MixtureSprtInterval(rew_b, rew_c, alpha, effect, /*variance_floor=*/1e-6);
  SetComparison(rew, ev.mutable_reward());
  const double p99_b = ev.baseline().p99_latency_ms(), p99_c = ev.canary().p99_latency_ms();
  const bool latency_ready = ev.baseline().served() + ev.baseline().errors() >= kMinLatencyCalls &&
                             ev.canary().served() + ev.canary().errors() >= kMinLatencyCalls &&
                             p99_b > 0;
  if (latency_ready) ev.set_p99_latency_ratio(p99_c / p99_b);

  if (err_b.n >= kMinPerArm && err_c.n >= kMinPerArm && err.defined &&
      err.low > g.max_error_rate_increase()) {
    ev.mutable_error_rate()->set_breached(true);
    decision.action = RolloutDecision::kRollback;
    decision.reason = absl::StrFormat(
        "error rate: canary - baseline in [%.4g, %.4g], above %g (%d of %d canary calls failed)",
        err.low, err.high, g.max_error_rate_increase(), ev.canary().errors(), err_c.n);
    return decision;
  }
  if (rew_b.n >= kMinPerArm && rew_c.n >= kMinPerArm && rew.defined &&
      rew.high < -g.max_reward_decrease()) {
    ev.mutable_reward()->set_breached(true);
    decision.action = RolloutDecision::kRollback;
    decision.reason = absl::StrFormat(
        "reward: canary - baseline in [%.4g, %.4g], below %g (canary %.4g, baseline %.4g per "
        "slate)",
        rew.low, rew.high, 0.0 - g.max_reward_decrease(), rew_c.mean, rew_b.mean);
    return decision;
  }
  if (g.max_p99_latency_ratio() > 0 && latency_ready &&
      ev.p99_latency_ratio() > g.max_p99_latency_ratio()) {
    decision.action = RolloutDecision::kRollback;
    decision.reason = absl::StrFormat("p99 latency: canary %.3g ms is %.3gx the baseline's %.3g "
                                      "ms, above %gx",
                                      p99_c, ev.p99_latency_ratio(), p99_b,
                                      g.max_p99_latency_ratio());
    return decision;
  }
  const RolloutStep& step = plan.steps(status.step());
  const int64_t in_step_ms = now_ms - status.step_started_unix_ms();
  // Never on no evidence: each arm answered kMinPerArm calls in the rollout.
  if (in_step_ms >= step.min_duration_ms() && ev.canary().served_in_step() >= step.min_events() &&
      err_b.n >= kMinPerArm && err_c.n >= kMinPerArm) {
    const bool last = status.step() + 1 >= plan.steps_size();
    decision.action = last ? RolloutDecision::kPromote : RolloutDecision::kAdvance;
    decision.reason = absl::StrFormat("step %d passed: %d ms, %d canary slates, no guardrail fired",
                                      status.step(), in_step_ms, ev.canary().served_in_step());
  }
  return decision;
}

}  // namespace recbandit::services

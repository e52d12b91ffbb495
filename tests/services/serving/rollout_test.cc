// Tests of canary rollout rules and decisions over planted counters: the
// plan's bounds name their fields; the weights follow the step, promotion
// and rollback; a step holds until its duration and canary events are
// reached, then advances or (last) promotes; each guardrail (error rate,
// reward, p99 latency) rolls back once its evidence is conclusive and not
// before.
#include "services/serving/rollout.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

Deployment Canary(int steps = 2) {
  Deployment d;
  d.set_name("d");
  for (const char* name : {"blue", "green", "other"}) {
    DeploymentVariant* v = d.add_variants();
    v->set_name(name);
    v->mutable_pipeline()->set_model("m");
    v->set_traffic_weight(std::string(name) == "other" ? 5 : 4);
  }
  RolloutPlan* plan = d.mutable_rollout();
  plan->set_baseline("blue");
  plan->set_canary("green");
  for (int i = 0; i < steps; ++i) {
    RolloutStep* step = plan->add_steps();
    step->set_canary_share(0.1 * (i + 1));
    step->set_min_duration_ms(1000);
    step->set_min_events(50);
  }
  RolloutStatus* status = d.mutable_rollout_status();
  status->set_phase(RolloutStatus::IN_PROGRESS);
  status->set_step(0);
  status->set_step_started_unix_ms(10000);
  return d;
}

TEST(RolloutTest, RulesNameTheFieldAndBound) {
  Deployment d = Canary();
  EXPECT_OK(ValidateRollout(d));
  d.mutable_rollout()->set_canary("nope");
  EXPECT_THAT(ValidateRollout(d), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("deployment.rollout.canary 'nope'")));
  d = Canary();
  d.mutable_rollout()->set_canary("blue");
  EXPECT_THAT(ValidateRollout(d), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("must differ")));
  d = Canary();
  d.mutable_rollout()->mutable_steps(1)->set_canary_share(0.05);
  EXPECT_THAT(ValidateRollout(d),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("steps[1].canary_share 0.05 is below the previous step's 0.1")));
  d = Canary();
  d.mutable_rollout()->mutable_steps(0)->set_canary_share(1.5);
  EXPECT_THAT(ValidateRollout(d), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("steps[0].canary_share must be in (0, 1]")));
  d = Canary();
  d.mutable_rollout()->clear_steps();
  EXPECT_THAT(ValidateRollout(d), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("steps must have 1..20 entries, got 0")));
  d = Canary();
  d.mutable_rollout()->mutable_steps(0)->set_min_events(-1);
  EXPECT_THAT(ValidateRollout(d), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("steps[0].min_events must be in [0, ")));
  d = Canary();
  d.mutable_rollout()->mutable_guardrails()->set_max_p99_latency_ratio(0.5);
  EXPECT_THAT(ValidateRollout(d), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("max_p99_latency_ratio must be 0 (off)")));
  d = Canary();
  d.mutable_rollout()->mutable_guardrails()->set_alpha(0.9);
  EXPECT_THAT(ValidateRollout(d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("alpha must be in (0, 0.5]")));
  d = Canary();
  d.mutable_rollout()->mutable_guardrails()->set_max_error_rate_increase(std::nan(""));
  EXPECT_THAT(ValidateRollout(d), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("max_error_rate_increase")));
}

TEST(RolloutTest, WeightsFollowTheStepPromotionAndRollback) {
  Deployment d = Canary();
  ApplyRolloutWeights(&d);  // step 0: 10% of blue+green's 8
  EXPECT_DOUBLE_EQ(d.variants(0).traffic_weight(), 7.2);
  EXPECT_DOUBLE_EQ(d.variants(1).traffic_weight(), 0.8);
  EXPECT_DOUBLE_EQ(d.variants(2).traffic_weight(), 5);  // others keep theirs
  d.mutable_rollout_status()->set_step(1);
  ApplyRolloutWeights(&d);
  EXPECT_DOUBLE_EQ(d.variants(1).traffic_weight(), 1.6);
  d.mutable_rollout_status()->set_phase(RolloutStatus::PROMOTED);
  ApplyRolloutWeights(&d);
  EXPECT_DOUBLE_EQ(d.variants(0).traffic_weight(), 0);
  EXPECT_DOUBLE_EQ(d.variants(1).traffic_weight(), 8);
  d.mutable_rollout_status()->set_phase(RolloutStatus::ROLLED_BACK);
  ApplyRolloutWeights(&d);
  EXPECT_DOUBLE_EQ(d.variants(0).traffic_weight(), 8);
  EXPECT_DOUBLE_EQ(d.variants(1).traffic_weight(), 0);
  // Both at 0: their combined weight is taken as 1.
  d.mutable_variants(0)->set_traffic_weight(0);
  d.mutable_rollout_status()->set_phase(RolloutStatus::IN_PROGRESS);
  d.mutable_rollout_status()->set_step(0);
  ApplyRolloutWeights(&d);
  EXPECT_DOUBLE_EQ(d.variants(0).traffic_weight(), 0.9);
  EXPECT_DOUBLE_EQ(d.variants(1).traffic_weight(), 0.1);
}

// When the planted calls are served: 1 s after the epoch (the decisions
// below are taken at 10-20 s).
constexpr int64_t kServedUs = 1000000;

// Counts `n` calls of `role`, `errors` of them failed, each `latency_us`.
void Calls(RolloutCounters* c, int role, int n, int errors, int64_t latency_us = 1000) {
  for (int i = 0; i < n; ++i) c->RecordCall(role, latency_us, i < errors, kServedUs);
}

TEST(RolloutTest, AStepHoldsUntilItsDurationAndEventsThenAdvancesAndPromotes) {
  const Deployment d = Canary();
  RolloutCounters c(0);
  Calls(&c, RolloutCounters::kBaseline, 400, 0);
  Calls(&c, RolloutCounters::kCanary, 49, 0);
  EXPECT_EQ(DecideRollout(d, c, 20000).action, RolloutDecision::kHold);  // 49 < 50 events
  Calls(&c, RolloutCounters::kCanary, 1, 0);
  EXPECT_EQ(DecideRollout(d, c, 10999).action, RolloutDecision::kHold);  // 999 ms < 1000
  RolloutDecision next = DecideRollout(d, c, 11000);
  EXPECT_EQ(next.action, RolloutDecision::kAdvance);
  EXPECT_THAT(next.reason, HasSubstr("step 0 passed: 1000 ms, 50 canary slates"));
  EXPECT_EQ(next.evidence.canary().served(), 50);
  EXPECT_EQ(next.evidence.baseline().served(), 400);
  EXPECT_EQ(next.evidence.canary().variant(), "green");
  // The next step counts its own events.
  c.StartStep();
  Deployment last = d;
  last.mutable_rollout_status()->set_step(1);
  EXPECT_EQ(DecideRollout(last, c, 20000).action, RolloutDecision::kHold);
  Calls(&c, RolloutCounters::kCanary, 50, 0);
  EXPECT_EQ(DecideRollout(last, c, 20000).action, RolloutDecision::kPromote);
}

TEST(RolloutTest, ErrorGuardrailRollsBackOnceConclusive) {
  const Deployment d = Canary();
  RolloutCounters few(0);
  // 29 canary calls, all failed: too few to judge.
  Calls(&few, RolloutCounters::kBaseline, 1000, 0);
  Calls(&few, RolloutCounters::kCanary, 29, 29);
  EXPECT_EQ(DecideRollout(d, few, 10000).action, RolloutDecision::kHold);
  Calls(&few, RolloutCounters::kCanary, 1, 1);
  RolloutDecision back = DecideRollout(d, few, 10000);
  EXPECT_EQ(back.action, RolloutDecision::kRollback);
  EXPECT_TRUE(back.evidence.error_rate().breached());
  EXPECT_GT(back.evidence.error_rate().ci_low(), 0);
  EXPECT_THAT(back.reason, HasSubstr("error rate: canary - baseline in ["));
  EXPECT_THAT(back.reason, HasSubstr("30 of 30 canary calls failed"));
  // Equal small error rates never breach.
  RolloutCounters same(0);
  Calls(&same, RolloutCounters::kBaseline, 2000, 20);
  Calls(&same, RolloutCounters::kCanary, 2000, 20);
  EXPECT_FALSE(DecideRollout(d, same, 10000).evidence.error_rate().breached());
  // A tolerance lets a small increase through: 2% vs 1% with 0.05 allowed.
  Deployment tolerant = d;
  tolerant.mutable_rollout()->mutable_guardrails()->set_max_error_rate_increase(0.05);
  RolloutCounters worse(0);
  Calls(&worse, RolloutCounters::kBaseline, 5000, 50);
  Calls(&worse, RolloutCounters::kCanary, 5000, 100);
  EXPECT_EQ(DecideRollout(d, worse, 10000).action, RolloutDecision::kRollback);
  EXPECT_NE(DecideRollout(tolerant, worse, 10000).action, RolloutDecision::kRollback);
}

TEST(RolloutTest, RewardGuardrailRollsBackWhenTheCanaryEarnsLess) {
  const Deployment d = Canary();
  RolloutCounters c(0);
  Calls(&c, RolloutCounters::kBaseline, 1000, 0);
  Calls(&c, RolloutCounters::kCanary, 1000, 0);
  // 30% of baseline slates clicked once, 10% of canary slates.
  for (int i = 0; i < 300; ++i) c.RecordReward(RolloutCounters::kBaseline, 0, 1, true, kServedUs);
  for (int i = 0; i < 100; ++i) c.RecordReward(RolloutCounters::kCanary, 0, 1, true, kServedUs);
  RolloutDecision back = DecideRollout(d, c, 20000);
  EXPECT_EQ(back.action, RolloutDecision::kRollback);
  EXPECT_TRUE(back.evidence.reward().breached());
  EXPECT_NEAR(back.evidence.reward().difference(), -0.2, 1e-12);
  EXPECT_NEAR(back.evidence.baseline().reward_mean(), 0.3, 1e-12);
  EXPECT_EQ(back.evidence.canary().rewarded(), 100);
  EXPECT_LT(back.evidence.reward().ci_high(), 0);
  // A second click of a slate changes its reward, not the slate count.
  c.RecordReward(RolloutCounters::kCanary, 1, 2, false, kServedUs);
  EXPECT_NEAR(c.Rewards(RolloutCounters::kCanary, 20000000).mean, 0.101, 1e-12);
  EXPECT_EQ(c.Evidence(RolloutCounters::kCanary, 20000000).rewarded(), 100);
  // Tolerating a decrease of 0.5 per slate: no rollback.
  Deployment tolerant = d;
  tolerant.mutable_rollout()->mutable_guardrails()->set_max_reward_decrease(0.5);
  EXPECT_NE(DecideRollout(tolerant, c, 20000).action, RolloutDecision::kRollback);
  // A better canary never rolls back on reward.
  RolloutCounters better(0);
  Calls(&better, RolloutCounters::kBaseline, 1000, 0);
  Calls(&better, RolloutCounters::kCanary, 1000, 0);
  for (int i = 0; i < 100; ++i) better.RecordReward(RolloutCounters::kBaseline, 0, 1, true, kServedUs);
  for (int i = 0; i < 300; ++i) better.RecordReward(RolloutCounters::kCanary, 0, 1, true, kServedUs);
  EXPECT_EQ(DecideRollout(d, better, 20000).action, RolloutDecision::kAdvance);
}

TEST(RolloutTest, LatencyGuardrailComparesP99s) {
  Deployment d = Canary();
  d.mutable_rollout()->mutable_guardrails()->set_max_p99_latency_ratio(2);
  RolloutCounters c(0);
  Calls(&c, RolloutCounters::kBaseline, 600, 0, 1000);  // 1 ms
  Calls(&c, RolloutCounters::kCanary, 499, 0, 5000);    // 5 ms, too few yet
  EXPECT_EQ(DecideRollout(d, c, 20000).action, RolloutDecision::kAdvance);
  Calls(&c, RolloutCounters::kCanary, 1, 0, 5000);
  RolloutDecision back = DecideRollout(d, c, 20000);
  EXPECT_EQ(back.action, RolloutDecision::kRollback);
  // Buckets are 5% wide: the ratio is 5 within that.
  EXPECT_NEAR(back.evidence.p99_latency_ratio(), 5, 0.26);
  EXPECT_NEAR(back.evidence.baseline().p99_latency_ms(), 1, 0.051);
  EXPECT_THAT(back.reason, HasSubstr("p99 latency: canary"));
  // Off by default.
  d.mutable_rollout()->mutable_guardrails()->set_max_p99_latency_ratio(0);
  EXPECT_EQ(DecideRollout(d, c, 20000).action, RolloutDecision::kAdvance);
}

TEST(RolloutTest, RewardsAreComparedOnSlatesOlderThanTheRewardWindow) {
  // The canary's slates are all young (served at 19.5 s, clicks still on
  // their way): with a 5 s window they are not judged yet.
  Deployment d = Canary();
  d.set_reward_window_ms(5000);
  RolloutCounters c(0);
  Calls(&c, RolloutCounters::kBaseline, 1000, 0);  // served at 1 s
  for (int i = 0; i < 1000; ++i) c.RecordCall(RolloutCounters::kCanary, 1000, false, 19500000);
  for (int i = 0; i < 300; ++i) c.RecordReward(RolloutCounters::kBaseline, 0, 1, true, kServedUs);
  RolloutDecision young = DecideRollout(d, c, 20000);
  EXPECT_NE(young.action, RolloutDecision::kRollback);
  EXPECT_EQ(c.Rewards(RolloutCounters::kCanary, (20000 - 5000) * 1000).n, 0);
  // Once the window passed without clicks, they count as 0 and it rolls back.
  RolloutDecision old = DecideRollout(d, c, 30000);
  EXPECT_EQ(old.action, RolloutDecision::kRollback);
  EXPECT_THAT(old.reason, HasSubstr("reward"));
}

TEST(RolloutTest, NoStepPassesWithoutEvidenceFromBothArms) {
  Deployment d = Canary();
  d.mutable_rollout()->mutable_steps(0)->set_min_events(0);
  d.mutable_rollout()->mutable_steps(0)->set_min_duration_ms(0);
  RolloutCounters c(0);
  Calls(&c, RolloutCounters::kBaseline, 1000, 0);
  Calls(&c, RolloutCounters::kCanary, 29, 0);
  EXPECT_EQ(DecideRollout(d, c, 20000).action, RolloutDecision::kHold);
  Calls(&c, RolloutCounters::kCanary, 1, 0);
  EXPECT_EQ(DecideRollout(d, c, 20000).action, RolloutDecision::kAdvance);
}

TEST(RolloutTest, MovedWeightsStayInBoundsAndTheStepFitsThePlan) {
  Deployment d = Canary();
  d.mutable_variants(0)->set_traffic_weight(600000);
  d.mutable_variants(1)->set_traffic_weight(600000);
  d.mutable_rollout_status()->set_phase(RolloutStatus::ROLLED_BACK);
  ApplyRolloutWeights(&d);
  EXPECT_DOUBLE_EQ(d.variants(0).traffic_weight(), kMaxTrafficWeight);
  d = Canary();
  d.mutable_rollout_status()->set_step(2);
  EXPECT_THAT(ValidateRollout(d), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("rollout_status.step 2 is outside")));
}

}  // namespace
}  // namespace recbandit::services

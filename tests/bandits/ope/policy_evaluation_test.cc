// Tests of bandits::EvaluatePolicyOnLog (Experiments.EvaluatePolicy): known
// answers on a log written by a uniform logger with a known reward, every
// target kind, time ranges and the documented errors.
#include "bandits/ope/policy_evaluation.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "bandits/experiment.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::bandits {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

// A log of `n` decisions of a uniform logger (epsilon-greedy with epsilon 1)
// over actions a, b, c; action "a" pays 1, the others 0; every 5th decision
// gets no reward (default reward 0). A shadow greedy policy is logged too.
class PolicyEvaluationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ExperimentManagerOptions options;
    options.log.now_us = [this] { return now_; };
    ASSERT_OK_AND_ASSIGN(manager_, ExperimentManager::Open(dir_.path(), options));
    ExperimentConfig config;
    config.set_name("exp");
    config.set_snapshot_every_rewards(10);
    Variant* v = config.add_variants();
    v->set_name("uniform");
    v->set_policy_spec("epsilon_greedy:epsilon=1");
    v->set_traffic_weight(1);
    config.add_shadow_policy_specs("epsilon_greedy:epsilon=0");
    ASSERT_OK(manager_->CreateExperiment(config).status());
    for (int i = 0; i < kN; ++i) {
      now_ += 1000;
      DecideRequest d;
      d.set_experiment("exp");
      d.set_event_id(absl::StrCat("e", i));
      for (const char* id : {"a", "b", "c"}) d.add_actions()->set_id(id);
      ASSERT_OK_AND_ASSIGN(DecideResponse decided, manager_->Decide(d));
      const double reward = decided.chosen_action() == "a" ? 1.0 : 0.0;
      if (i % 5 != 4) {
        RewardRequest r;
        r.set_experiment("exp");
        r.set_event_id(decided.event_id());
        r.set_value(reward);
        ASSERT_OK(manager_->Reward(r).status());
        observed_sum_ += reward;
      }
      if (i == kN / 2 - 1) half_time_us_ = now_ + 1;
    }
  }

  OpeReport Evaluate(const std::string& target, std::vector<std::string> estimators = {}) {
    EvaluatePolicyRequest request;
    request.set_experiment("exp");
    request.set_target(target);
    for (const std::string& e : estimators) request.add_estimators(e);
    absl::StatusOr<OpeReport> report = EvaluatePolicyOnLog(manager_->log(), request);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : OpeReport();
  }

  static double Value(const OpeReport& report, const std::string& estimator) {
    for (const OpeEstimate& e : report.estimates()) {
      if (e.estimator() == estimator) return e.value();
    }
    ADD_FAILURE() << "no estimate " << estimator;
    return -1;
  }

  static constexpr int kN = 300;
  ScratchDir dir_;
  std::unique_ptr<ExperimentManager> manager_;
  double observed_sum_ = 0;
  int64_t now_ = 1'000'000;      // the log's clock, microseconds
  int64_t half_time_us_ = 0;     // just after decision kN/2 - 1
};

TEST_F(PolicyEvaluationTest, UniformTargetOnAUniformLogIsTheObservedMean) {
  const OpeReport report = Evaluate("uniform", {"ips", "snips", "dm", "dr"});
  EXPECT_EQ(report.n(), kN);
  EXPECT_EQ(report.input_kind(), "rocksdb");
  // Target == logger: every weight is 1, so IPS and SNIPS are the mean
  // reward over all decisions (unrewarded ones count as the default 0).
  EXPECT_NEAR(Value(report, "ips"), observed_sum_ / kN, 1e-12);
  EXPECT_NEAR(Value(report, "snips"), observed_sum_ / kN, 1e-12);
  EXPECT_THAT(report.warnings(), ::testing::Contains(HasSubstr("had no reward")));
}

TEST_F(PolicyEvaluationTest, ShadowSpecSnapshotAndReplayTargets) {
  // The greedy shadow soon always picks "a", which earns 1 on rewarded
  // decisions and the default 0 on the unrewarded fifth: about 0.8. IPS
  // (weight 3 on its "a" rounds) has a standard error near 0.08 at n = 300.
  EvaluatePolicyRequest request;
  request.set_experiment("exp");
  request.set_target("shadow:epsilon_greedy:epsilon=0");
  request.add_estimators("ips");
  ASSERT_OK_AND_ASSIGN(OpeReport shadow, EvaluatePolicyOnLog(manager_->log(), request));
  EXPECT_EQ(shadow.n(), kN);
  EXPECT_NEAR(Value(shadow, "ips"), 0.8, 0.3);

  // A fresh policy spec as target, and the snapshot of the live variant.
  const OpeReport fresh = Evaluate("ucb1", {"ips", "snips"});
  EXPECT_EQ(fresh.n(), kN);
  EXPECT_THAT(fresh.warnings(), ::testing::Contains(HasSubstr("fresh")));
  const OpeReport snapshot = Evaluate("snapshot", {"ips"});
  EXPECT_NEAR(Value(snapshot, "ips"), observed_sum_ / kN, 1e-12);  // uniform again
  const OpeReport replay = Evaluate("epsilon_greedy:epsilon=0.1", {"replay"});
  EXPECT_EQ(replay.n(), kN);
}

TEST_F(PolicyEvaluationTest, TimeRangeSelectsDecisions) {
  EvaluatePolicyRequest request;
  request.set_experiment("exp");
  request.set_target("uniform");
  request.add_estimators("ips");
  request.set_end_time_us(half_time_us_);
  ASSERT_OK_AND_ASSIGN(OpeReport first_half, EvaluatePolicyOnLog(manager_->log(), request));
  EXPECT_EQ(first_half.n(), kN / 2);
  request.set_start_time_us(half_time_us_);
  request.set_end_time_us(0);
  ASSERT_OK_AND_ASSIGN(OpeReport second_half, EvaluatePolicyOnLog(manager_->log(), request));
  EXPECT_EQ(second_half.n(), kN - kN / 2);
}

TEST_F(PolicyEvaluationTest, ErrorsCarryTheirCodes) {
  EvaluatePolicyRequest request;
  request.set_experiment("nope");
  request.set_target("uniform");
  EXPECT_THAT(EvaluatePolicyOnLog(manager_->log(), request),
              StatusIs(absl::StatusCode::kNotFound));
  request.set_experiment("exp");
  request.set_target("");
  EXPECT_THAT(EvaluatePolicyOnLog(manager_->log(), request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("target")));
  request.set_target("not_a_policy");
  EXPECT_THAT(EvaluatePolicyOnLog(manager_->log(), request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not_a_policy")));
  request.set_target("uniform");
  request.add_estimators("magic");
  EXPECT_THAT(EvaluatePolicyOnLog(manager_->log(), request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("magic")));
  request.clear_estimators();
  request.set_bootstrap(20000);
  EXPECT_THAT(EvaluatePolicyOnLog(manager_->log(), request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bootstrap")));
  request.set_bootstrap(0);
  request.set_clip(0.5);
  EXPECT_THAT(EvaluatePolicyOnLog(manager_->log(), request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("clip")));
  request.set_clip(0);
  request.set_start_time_us(1);
  request.set_end_time_us(2);
  EXPECT_THAT(EvaluatePolicyOnLog(manager_->log(), request),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  request.set_start_time_us(0);
  request.set_end_time_us(0);
  request.set_target("snapshot:no-such-variant");
  EXPECT_THAT(EvaluatePolicyOnLog(manager_->log(), request),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no-such-variant")));
}

}  // namespace
}  // namespace recbandit::bandits

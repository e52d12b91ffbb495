// Tests of ComputeRewardSeries: known bucket means and intervals on a log
// with decisions at fixed times, rewards joined by event id, decisions
// without a reward at the default, shadows left out, the truncation bound
// and bad options.
#include "bandits/reward_series.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "bandits/log/event_log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::bandits {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;

DecisionEvent Decision(const std::string& id, const std::string& variant, int64_t ts) {
  DecisionEvent e;
  e.set_event_id(id);
  e.set_experiment("e");
  e.set_variant(variant);
  e.set_timestamp_us(ts);
  for (const char* a : {"x", "y"}) e.add_actions()->set_id(a);
  e.add_pmf(0.5);
  e.add_pmf(0.5);
  e.set_chosen_index(0);
  e.set_chosen_action("x");
  return e;
}

class RewardSeriesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(log_, EventLog::Open(dir_.path(), {}));
    config_.set_name("e");
    // Variant a: reward 1 at even i, none at odd i; b: 0.5 always; one
    // shadow decision per step that must be left out. Times 1 s apart.
    for (int i = 0; i < 10; ++i) {
      const int64_t ts = 1000000 + int64_t{i} * 1000000;
      ASSERT_OK(log_->AppendDecision(Decision(absl::StrCat("a", i), "a", ts)));
      ASSERT_OK(log_->AppendDecision(Decision(absl::StrCat("b", i), "b", ts)));
      ASSERT_OK(log_->AppendDecision(Decision(absl::StrCat("s", i), "shadow:ucb1", ts)));
      if (i % 2 == 0) ASSERT_OK(log_->AddReward(config_, absl::StrCat("a", i), 1, {}).status());
      ASSERT_OK(log_->AddReward(config_, absl::StrCat("b", i), 0.5, {}).status());
      ASSERT_OK(log_->AddReward(config_, absl::StrCat("s", i), 7, {}).status());
    }
  }

  ScratchDir dir_;
  std::unique_ptr<EventLog> log_;
  ExperimentConfig config_;
};

TEST_F(RewardSeriesTest, BucketMeansAndIntervalsAreKnownAnswers) {
  RewardSeriesOptions options;
  options.buckets = 2;
  ASSERT_OK_AND_ASSIGN(RewardSeries s, ComputeRewardSeries(*log_, "e", options));
  EXPECT_EQ(s.decisions, 20);
  EXPECT_FALSE(s.truncated);
  EXPECT_EQ(s.first_us, 1000000);
  EXPECT_EQ(s.last_us, 10000000);
  EXPECT_EQ(s.bucket_us, 4500001);  // ceil((9 s + 1 us) / 2)
  ASSERT_EQ(s.variants.size(), 2u);
  const VariantSeries& a = s.variants[0];
  EXPECT_EQ(a.variant, "a");
  ASSERT_EQ(a.buckets.size(), 2u);
  // i = 0..4: rewards 1, -, 1, -, 1 (no reward = default 0): mean 0.6,
  // population variance 0.24.
  EXPECT_EQ(a.buckets[0].start_us, 1000000);
  EXPECT_EQ(a.buckets[0].decisions, 5);
  EXPECT_EQ(a.buckets[0].rewarded, 3);
  EXPECT_NEAR(a.buckets[0].mean, 0.6, 1e-12);
  const double half = 1.96 * std::sqrt(0.24 / 5);
  EXPECT_NEAR(a.buckets[0].low, 0.6 - half, 1e-12);
  EXPECT_NEAR(a.buckets[0].high, 0.6 + half, 1e-12);
  // i = 5..9: -, 1, -, 1, -: mean 0.4.
  EXPECT_EQ(a.buckets[1].start_us, 1000000 + 4500001);
  EXPECT_NEAR(a.buckets[1].mean, 0.4, 1e-12);
  EXPECT_EQ(a.decisions, 10);
  EXPECT_NEAR(a.mean, 0.5, 1e-12);
  const VariantSeries& b = s.variants[1];
  EXPECT_EQ(b.variant, "b");
  for (const RewardBucket& bucket : b.buckets) {
    EXPECT_NEAR(bucket.mean, 0.5, 1e-12);
    EXPECT_NEAR(bucket.low, 0.5, 1e-12);  // no spread: a point interval
    EXPECT_NEAR(bucket.high, 0.5, 1e-12);
  }
}

TEST_F(RewardSeriesTest, DecisionsWithoutARewardCountAsTheDefault) {
  RewardSeriesOptions options;
  options.buckets = 1;
  options.default_reward = 1;
  ASSERT_OK_AND_ASSIGN(RewardSeries s, ComputeRewardSeries(*log_, "e", options));
  ASSERT_EQ(s.variants[0].buckets.size(), 1u);
  EXPECT_NEAR(s.variants[0].buckets[0].mean, 1.0, 1e-12);  // 1 given or defaulted
  EXPECT_EQ(s.variants[0].buckets[0].rewarded, 5);
}

TEST_F(RewardSeriesTest, ReadsAtMostMaxDecisionsOldestFirst) {
  RewardSeriesOptions options;
  options.max_decisions = 3;
  ASSERT_OK_AND_ASSIGN(RewardSeries s, ComputeRewardSeries(*log_, "e", options));
  EXPECT_TRUE(s.truncated);
  EXPECT_EQ(s.decisions, 3);
  EXPECT_EQ(s.last_us, 2000000);
}

TEST_F(RewardSeriesTest, AnExperimentWithoutDecisionsHasNoVariants) {
  ASSERT_OK_AND_ASSIGN(RewardSeries s, ComputeRewardSeries(*log_, "other", {}));
  EXPECT_EQ(s.decisions, 0);
  EXPECT_TRUE(s.variants.empty());
}

TEST_F(RewardSeriesTest, RejectsBadOptions) {
  RewardSeriesOptions options;
  options.buckets = 0;
  EXPECT_THAT(ComputeRewardSeries(*log_, "e", options),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("buckets")));
  options.buckets = 1001;
  EXPECT_THAT(ComputeRewardSeries(*log_, "e", options),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options.buckets = 5;
  options.max_decisions = 0;
  EXPECT_THAT(ComputeRewardSeries(*log_, "e", options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("max_decisions")));
}

}  // namespace
}  // namespace recbandit::bandits

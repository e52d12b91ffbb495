// Tests of bandits/sim/interleaving_simulation.h: the planted world against
// Monte Carlo of its own click draws, the budget interpolation, and the
// comparison the issue asks about (interleaving needs fewer impressions than
// an A/B split for the same error rate), at fixed seeds.
#include "bandits/sim/interleaving_simulation.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::bandits {
namespace {

using ::recbandit::testing::StatusIs;
using ::testing::DoubleNear;
using ::testing::HasSubstr;

TEST(PbmWorldTest, RejectsOptionsOutOfRange) {
  PbmWorldOptions o;
  o.queries = 0;
  EXPECT_THAT(PbmWorld::Create(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("queries")));
  o = PbmWorldOptions();
  o.items = 5;  // fewer than the slate
  EXPECT_THAT(PbmWorld::Create(o), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("items")));
  o = PbmWorldOptions();
  o.b_extra_noise_sd = NAN;
  EXPECT_THAT(PbmWorld::Create(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = PbmWorldOptions();
  o.activity_shape = -1;
  EXPECT_THAT(PbmWorld::Create(o), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PbmWorldTest, DefaultsPlantABetterRankerSharingMostTopItems) {
  ASSERT_OK_AND_ASSIGN(PbmWorld w, PbmWorld::Create(PbmWorldOptions()));
  EXPECT_GT(w.ExpectedClicksA(), w.ExpectedClicksB());
  EXPECT_GT(w.TopOverlap(), 0.6);
  EXPECT_LT(w.TopOverlap(), 0.95);
  for (int32_t q = 0; q < w.queries(); ++q) {
    std::vector<int32_t> top(w.TopA(q).begin(), w.TopA(q).end());
    ASSERT_EQ(top.size(), 10u);
    std::sort(top.begin(), top.end());
    EXPECT_EQ(std::adjacent_find(top.begin(), top.end()), top.end());
  }
}

// The exact expected clicks per impression must match the click draws
// themselves, with and without user activity (the Gamma Laplace transform).
TEST(PbmWorldTest, ExpectedClicksMatchTheClickDraws) {
  for (double shape : {0.0, 1.0}) {
    PbmWorldOptions o;
    o.activity_shape = shape;
    ASSERT_OK_AND_ASSIGN(PbmWorld w, PbmWorld::Create(o));
    Rng rng(8);
    std::vector<int32_t> clicked;
    double clicks = 0;
    constexpr int kImpressions = 200000;
    for (int i = 0; i < kImpressions; ++i) {
      const int32_t q = static_cast<int32_t>(rng.UniformInt(w.queries()));
      w.Click(q, w.TopA(q), rng, &clicked);
      clicks += static_cast<double>(clicked.size());
    }
    // Clicks per impression have sd below 1.5; its mean's sd below 0.0034.
    EXPECT_THAT(clicks / kImpressions, DoubleNear(w.ExpectedClicksA(), 0.015)) << shape;
  }
}

TEST(BudgetForErrorRateTest, InterpolatesInLogBudget) {
  const std::vector<int64_t> budgets = {100, 400, 1600};
  ASSERT_OK_AND_ASSIGN(double n, BudgetForErrorRate(budgets, {0.3, 0.1, 0.02}, 0.05));
  // Between 400 (0.1) and 1600 (0.02): 5/8 of the way in log N.
  EXPECT_THAT(n, DoubleNear(400 * std::pow(4.0, 0.625), 1e-6));
  ASSERT_OK_AND_ASSIGN(n, BudgetForErrorRate(budgets, {0.04, 0.01, 0.0}, 0.05));
  EXPECT_EQ(n, 100);
  EXPECT_THAT(BudgetForErrorRate(budgets, {0.4, 0.3, 0.2}, 0.05),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(BudgetForErrorRate(budgets, {0.4}, 0.05),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ComparisonErrorRatesTest, RejectsBadBudgetsAndStopsEarly) {
  ASSERT_OK_AND_ASSIGN(PbmWorld w, PbmWorld::Create(PbmWorldOptions()));
  const std::vector<int64_t> odd = {10, 15};
  EXPECT_THAT(ComparisonErrorRates(w, ComparisonMethod::kAbSplit, odd, 10, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("budgets[1] = 15")));
  const std::vector<int64_t> decreasing = {20, 10};
  EXPECT_THAT(ComparisonErrorRates(w, ComparisonMethod::kAbSplit, decreasing, 10, 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  const std::vector<int64_t> budgets = {2, 4, 8, 16};
  EXPECT_THAT(ComparisonErrorRates(w, ComparisonMethod::kAbSplit, budgets, 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Stopping at an error rate of 1 ends after the first budget.
  ASSERT_OK_AND_ASSIGN(auto rates,
                       ComparisonErrorRates(w, ComparisonMethod::kInterleaving, budgets, 50, 1, 1.0));
  EXPECT_EQ(rates.size(), 1u);
  ASSERT_OK_AND_ASSIGN(rates, ComparisonErrorRates(w, ComparisonMethod::kInterleaving, budgets, 50, 1));
  EXPECT_EQ(rates.size(), budgets.size());
}

// The comparison itself, in the default world (plain PBM, B = A's scores +
// N(0, 0.5^2), A +5.7% clicks, 77% of the top 10 shared), 2000 seeded runs
// per method. Measured (bench/RESULTS.md): interleaving reaches a 5% error
// rate with 2.1-2.9x fewer impressions than the A/B split in this world, not
// the 10x of the issue; so the check is at 2N, not 5N. At N = 512:
// interleaving's error is about 0.10 and A/B's at 2N = 1024 about 0.14
// (10000-run figures; with 2000 runs the sd of each share is <= 0.008 and
// the gap about 4 sd of their difference).
TEST(ComparisonErrorRatesTest, InterleavingAtNBeatsAbSplitAtTwiceN) {
  ASSERT_OK_AND_ASSIGN(PbmWorld w, PbmWorld::Create(PbmWorldOptions()));
  constexpr int32_t kRuns = 2000;
  const std::vector<int64_t> n = {512};
  const std::vector<int64_t> two_n = {512, 1024};
  ASSERT_OK_AND_ASSIGN(auto il, ComparisonErrorRates(w, ComparisonMethod::kInterleaving, n, kRuns, 3));
  ASSERT_OK_AND_ASSIGN(auto ab, ComparisonErrorRates(w, ComparisonMethod::kAbSplit, two_n, kRuns, 4));
  SCOPED_TRACE(::testing::Message() << "interleaving(512) " << il[0] << ", A/B(512) " << ab[0]
                                    << ", A/B(1024) " << ab[1]);
  EXPECT_LT(il[0], ab[0]);  // same budget
  EXPECT_LT(il[0], ab[1]);  // A/B with twice the impressions
  EXPECT_GT(il[0], 0.0);    // not a degenerate world
  EXPECT_LT(ab[1], ab[0] + 0.01);
}

}  // namespace
}  // namespace recbandit::bandits

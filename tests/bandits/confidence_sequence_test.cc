// Tests of the mixture SPRT confidence sequence: the interval's ends are
// where the mixture likelihood ratio reaches 1/alpha; under no difference
// and a look after every 20 observations it excludes the truth in at most
// alpha of the runs (while a fixed z interval looked at as often does far
// more often); a planted difference is found; arms without spread keep a
// positive width.
#include "bandits/confidence_sequence.h"

#include <cmath>

#include "gtest/gtest.h"
#include "proto/core/random.h"

namespace recbandit::bandits {
namespace {

// The mixture likelihood ratio of difference d, written out independently.
double MixtureRatio(const ArmSummary& b, const ArmSummary& t, double effect, double d) {
  const double v = t.variance / t.n + b.variance / b.n;
  const double pooled = (b.variance * b.n + t.variance * t.n) / (b.n + t.n);
  const double tau2 = effect * effect * pooled;
  const double diff = t.mean - b.mean - d;
  return std::sqrt(v / (v + tau2)) * std::exp(tau2 * diff * diff / (2 * v * (v + tau2)));
}

TEST(ConfidenceSequenceTest, EndsAreWhereTheMixtureRatioReachesOneOverAlpha) {
  const ArmSummary baseline{400, 0.10, 0.09};
  const ArmSummary canary{300, 0.16, 0.1344};
  const DifferenceInterval ci = MixtureSprtInterval(baseline, canary, 0.05, 0.1, 1e-12);
  ASSERT_TRUE(ci.defined);
  EXPECT_NEAR(ci.difference, 0.06, 1e-12);
  EXPECT_NEAR(MixtureRatio(baseline, canary, 0.1, ci.low), 20.0, 1e-6);
  EXPECT_NEAR(MixtureRatio(baseline, canary, 0.1, ci.high), 20.0, 1e-6);
  EXPECT_LT(MixtureRatio(baseline, canary, 0.1, ci.difference), 20.0);
  // Symmetric, and wider than the fixed-sample 95% z interval.
  const double z = 1.96 * std::sqrt(0.09 / 400 + 0.1344 / 300);
  EXPECT_NEAR(ci.high - ci.difference, ci.difference - ci.low, 1e-12);
  EXPECT_GT(ci.high - ci.difference, z);
}

TEST(ConfidenceSequenceTest, UndefinedBeforeTwoObservationsPerArm) {
  EXPECT_FALSE(MixtureSprtInterval({1, 0, 0}, {100, 0.1, 0.09}, 0.05, 0.1, 1e-9).defined);
  EXPECT_TRUE(MixtureSprtInterval({2, 0, 0}, {2, 0, 0}, 0.05, 0.1, 1e-9).defined);
}

TEST(ConfidenceSequenceTest, ArmsWithoutSpreadKeepAPositiveWidth) {
  // No failures anywhere: the interval still has width, shrinking with n.
  const DifferenceInterval small =
      MixtureSprtInterval(BernoulliSummary(0, 50), BernoulliSummary(0, 50), 0.05, 0.1, 1e-9);
  const DifferenceInterval large =
      MixtureSprtInterval(BernoulliSummary(0, 5000), BernoulliSummary(0, 5000), 0.05, 0.1, 1e-9);
  EXPECT_GT(small.high, 0);
  EXPECT_LT(small.low, 0);
  EXPECT_GT(large.high, 0);
  EXPECT_LT(large.high, small.high);
}

// Runs `reps` A/B streams of Bernoulli(p_b) vs Bernoulli(p_t), looking after
// every 20 observations per arm (from 30 on) up to `n` per arm; returns the
// share of runs whose interval ever lay wholly above 0 (`above`) or ever
// excluded the true difference (`miss`), for the mSPRT sequence and for a
// fixed z interval.
struct Peeking {
  double msprt_miss = 0, z_miss = 0, msprt_above = 0;
};
Peeking Peek(double p_b, double p_t, int n, int reps, uint64_t seed) {
  Peeking out;
  const double truth = p_t - p_b;
  for (int rep = 0; rep < reps; ++rep) {
    Rng rng(seed + rep);
    int64_t x_b = 0, x_t = 0;
    bool msprt_missed = false, z_missed = false, msprt_above = false;
    for (int i = 1; i <= n; ++i) {
      x_b += rng.Uniform() < p_b;
      x_t += rng.Uniform() < p_t;
      if (i < 30 || i % 20 != 0) continue;
      const ArmSummary b = BernoulliSummary(x_b, i), t = BernoulliSummary(x_t, i);
      const DifferenceInterval ci = MixtureSprtInterval(b, t, 0.05, 0.1, 1e-9);
      msprt_missed |= ci.low > truth || ci.high < truth;
      msprt_above |= ci.low > 0;
      const double se = std::sqrt(b.variance / i + t.variance / i);
      const double d = t.mean - b.mean;
      z_missed |= d - 1.96 * se > truth || d + 1.96 * se < truth;
    }
    out.msprt_miss += msprt_missed;
    out.z_miss += z_missed;
    out.msprt_above += msprt_above;
  }
  out.msprt_miss /= reps;
  out.z_miss /= reps;
  out.msprt_above /= reps;
  return out;
}

TEST(ConfidenceSequenceTest, StaysValidUnderContinuousLooking) {
  // 400 runs of 4000 calls per arm, 199 looks each. Tolerance: alpha plus
  // three binomial standard errors, 0.05 + 3 sqrt(0.05 * 0.95 / 400) = 0.083.
  const Peeking none = Peek(0.1, 0.1, 4000, 400, 17);
  EXPECT_LE(none.msprt_miss, 0.083);
  // The fixed-sample interval looked at as often misses far more often.
  EXPECT_GT(none.z_miss, 0.15);
  const Peeking shifted = Peek(0.3, 0.35, 4000, 400, 1017);
  EXPECT_LE(shifted.msprt_miss, 0.083);
}

TEST(ConfidenceSequenceTest, FindsAPlantedDifference) {
  // 0.10 vs 0.15 failure rates: found in 4000 calls per arm in >= 90% of runs.
  const Peeking found = Peek(0.10, 0.15, 4000, 200, 77);
  EXPECT_GE(found.msprt_above, 0.9);
}

}  // namespace
}  // namespace recbandit::bandits

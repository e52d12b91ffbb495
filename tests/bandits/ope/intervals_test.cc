// Tests of the incomplete beta function, the beta quantile and Clopper-Pearson
// intervals (bandits/ope/intervals.h). Reference values were computed with
// mpmath at 30 digits (betainc, and a root of it for the quantiles); the
// closed forms at 0 and n successes are checked against their formulas.
#include "bandits/ope/intervals.h"

#include <algorithm>
#include <cmath>

#include "gtest/gtest.h"
#include "proto/core/random.h"

namespace recbandit::bandits {
namespace {

TEST(RegularizedIncompleteBetaTest, MatchesReferenceValues) {
  EXPECT_NEAR(RegularizedIncompleteBeta(2.5, 3.5, 0.3), 0.29675298929566638, 1e-13);
  EXPECT_NEAR(RegularizedIncompleteBeta(0.5, 0.5, 0.1), 0.20483276469913346, 1e-13);
  EXPECT_NEAR(RegularizedIncompleteBeta(200, 300, 0.41), 0.67762816477217895, 1e-11);
  // I_x(1, b) = 1 - (1 - x)^b and I_x(a, 1) = x^a.
  EXPECT_NEAR(RegularizedIncompleteBeta(1, 7, 0.2), 1 - std::pow(0.8, 7), 1e-14);
  EXPECT_NEAR(RegularizedIncompleteBeta(3.3, 1, 0.6), std::pow(0.6, 3.3), 1e-14);
  EXPECT_EQ(RegularizedIncompleteBeta(2, 3, 0), 0);
  EXPECT_EQ(RegularizedIncompleteBeta(2, 3, 1), 1);
  EXPECT_TRUE(std::isnan(RegularizedIncompleteBeta(0, 3, 0.5)));
  EXPECT_TRUE(std::isnan(RegularizedIncompleteBeta(2, 3, 1.5)));
}

TEST(BetaQuantileTest, InvertsTheDistributionFunction) {
  // Over shapes from 0.05 to 1e5 and probabilities from 1e-6 to 1 - 1e-6,
  // Q(p) is the double nearest the root: I(Q(p)) = p to 1e-10, or (where I
  // jumps by more than that between neighbouring doubles, e.g. a root within
  // 1e-16 of 1) the two neighbours of Q(p) bracket p.
  Rng rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    const double a = std::exp(rng.Uniform() * std::log(2e6)) * 0.05;
    const double b = std::exp(rng.Uniform() * std::log(2e6)) * 0.05;
    const double p = 1e-6 + rng.Uniform() * (1 - 2e-6);
    const double x = BetaQuantile(a, b, p);
    ASSERT_GE(x, 0);
    ASSERT_LE(x, 1);
    const bool close = std::fabs(RegularizedIncompleteBeta(a, b, x) - p) <= 1e-10;
    const bool bracketed =
        RegularizedIncompleteBeta(a, b, std::nextafter(x, 0.0)) <= p + 1e-12 &&
        RegularizedIncompleteBeta(a, b, std::nextafter(x, 1.0)) >= p - 1e-12;
    EXPECT_TRUE(close || bracketed) << "a=" << a << " b=" << b << " p=" << p << " x=" << x;
  }
  EXPECT_EQ(BetaQuantile(2, 3, 0), 0);
  EXPECT_EQ(BetaQuantile(2, 3, 1), 1);
  EXPECT_TRUE(std::isnan(BetaQuantile(2, 3, -0.1)));
}

TEST(BetaQuantileTest, QuantileOfTheDistributionFunctionIsTheIdentity) {
  // Q(I(y)) = y up to the conditioning of the inverse: an error of 1e-13 in I
  // moves the root by 1e-13 / density(y).
  Rng rng(11);
  for (int trial = 0; trial < 2000; ++trial) {
    const double a = std::exp(rng.Uniform() * std::log(2e4)) * 0.5;
    const double b = std::exp(rng.Uniform() * std::log(2e4)) * 0.5;
    const double y = 0.001 + 0.998 * rng.Uniform();
    const double i = RegularizedIncompleteBeta(a, b, y);
    if (i < 1e-9 || i > 1 - 1e-9) continue;  // flat: y is not identifiable
    const double h = 1e-7 * std::min(y, 1 - y);
    const double density =
        (RegularizedIncompleteBeta(a, b, y + h) - RegularizedIncompleteBeta(a, b, y - h)) /
        (2 * h);
    EXPECT_NEAR(BetaQuantile(a, b, i), y, 1e-12 + 1e-13 / density)
        << "a=" << a << " b=" << b << " y=" << y;
  }
}

TEST(ClopperPearsonTest, KnownAnswers) {
  Interval i = ClopperPearson(0, 10);
  EXPECT_EQ(i.low, 0);
  EXPECT_NEAR(i.high, 0.308497107818761, 1e-12);
  EXPECT_NEAR(i.high, 1 - std::pow(0.025, 0.1), 1e-15);
  i = ClopperPearson(5, 10);
  EXPECT_NEAR(i.low, 0.187086028447399, 1e-12);
  EXPECT_NEAR(i.high, 0.812913971552601, 1e-12);
  i = ClopperPearson(1, 100);
  EXPECT_NEAR(i.low, 0.000253146032977421, 1e-14);
  EXPECT_NEAR(i.high, 0.0544593853920806, 1e-12);
  i = ClopperPearson(10, 10);
  EXPECT_NEAR(i.low, 0.691502892181239, 1e-12);
  EXPECT_EQ(i.high, 1);
  i = ClopperPearson(7, 50, 0.9);
  EXPECT_NEAR(i.low, 0.0675966990035572, 1e-12);
  EXPECT_NEAR(i.high, 0.246935201731209, 1e-12);
}

TEST(ClopperPearsonTest, NonIntegerCountsForKornGraubard) {
  Interval i = ClopperPearson(3.7, 12.4);
  EXPECT_NEAR(i.low, 0.0820330304986556, 1e-12);
  EXPECT_NEAR(i.high, 0.613254892892135, 1e-12);
  i = ClopperPearson(0.5, 3.2);
  EXPECT_NEAR(i.low, 0.000141950167370658, 1e-14);
  EXPECT_NEAR(i.high, 0.80042032318703, 1e-12);
  i = ClopperPearson(0, 655.7);
  EXPECT_EQ(i.low, 0);
  EXPECT_NEAR(i.high, 0.00561006911325936, 1e-14);
  i = ClopperPearson(2, 655.7);
  EXPECT_NEAR(i.low, 0.000369604076960277, 1e-14);
  EXPECT_NEAR(i.high, 0.0109744720771258, 1e-13);
}

TEST(ClopperPearsonTest, CloseToWilsonForLargeSamples) {
  // At n = 1e5 and 1e6 the exact and Wilson score intervals agree to within
  // a few percent of their half-width.
  for (double n : {1e5, 1e6}) {
    for (double p : {0.003, 0.3}) {
      const double x = p * n;
      const Interval cp = ClopperPearson(x, n);
      const double z = 1.959963984540054;
      const double center = (p + z * z / (2 * n)) / (1 + z * z / n);
      const double half = z / (1 + z * z / n) * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n));
      EXPECT_NEAR(cp.low, center - half, 0.05 * half) << "n=" << n << " p=" << p;
      EXPECT_NEAR(cp.high, center + half, 0.05 * half) << "n=" << n << " p=" << p;
      EXPECT_LT(cp.low, p);
      EXPECT_GT(cp.high, p);
    }
  }
}

TEST(ClopperPearsonTest, EdgeCases) {
  // No information: [0, 1]. Counts outside [0, n] are clamped.
  Interval i = ClopperPearson(0, 0);
  EXPECT_EQ(i.low, 0);
  EXPECT_EQ(i.high, 1);
  i = ClopperPearson(3, -1);
  EXPECT_EQ(i.low, 0);
  EXPECT_EQ(i.high, 1);
  i = ClopperPearson(12, 10);
  EXPECT_NEAR(i.low, std::pow(0.025, 0.1), 1e-15);
  EXPECT_EQ(i.high, 1);
  i = ClopperPearson(-1, 10);
  EXPECT_EQ(i.low, 0);
  // Tiny effective sample sizes still give a valid interval.
  i = ClopperPearson(0, 0.3);
  EXPECT_EQ(i.low, 0);
  EXPECT_NEAR(i.high, 1 - std::pow(0.025, 1 / 0.3), 1e-15);
  // Monotone in the count.
  double last_low = -1, last_high = -1;
  for (double x = 0; x <= 20; x += 0.25) {
    i = ClopperPearson(x, 20);
    EXPECT_GT(i.low, last_low - 1e-15);
    EXPECT_GT(i.high, last_high);
    EXPECT_LE(i.low, x / 20);
    EXPECT_GE(i.high, x / 20);
    last_low = i.low;
    last_high = i.high;
  }
}

TEST(KornGraubardTest, ClopperPearsonAtTheSampleSizeItsStandardErrorImplies) {
  // 0.3 with standard error sqrt(0.21 / 100): 30 of 100.
  const Interval kg = KornGraubard(0.3, std::sqrt(0.21 / 100), 5, 1e6);
  const Interval cp = ClopperPearson(30, 100);
  EXPECT_DOUBLE_EQ(kg.low, cp.low);
  EXPECT_DOUBLE_EQ(kg.high, cp.high);
  // Capped at max_n.
  const Interval capped = KornGraubard(0.3, 1e-9, 5, 1000);
  EXPECT_DOUBLE_EQ(capped.high, ClopperPearson(300, 1000).high);
  // No clicks: the fallback size, and never a point.
  const Interval none = KornGraubard(0, 0, 50, 1e6);
  EXPECT_DOUBLE_EQ(none.low, 0);
  EXPECT_NEAR(none.high, 1 - std::pow(0.025, 1.0 / 50), 1e-12);
  // Out-of-range estimates are clamped.
  EXPECT_DOUBLE_EQ(KornGraubard(-0.1, 0.01, 50, 1e6).low, 0);
  EXPECT_DOUBLE_EQ(KornGraubard(1.2, 0.01, 50, 1e6).high, 1);
}

}  // namespace
}  // namespace recbandit::bandits

// Tests of bandits/thompson_pmf.h: the quadrature win probabilities against
// closed forms (ties, Beta(2,1) vs Beta(1,1), the integer-parameter Beta sum,
// two Normals, one arm against many uniforms), against a 2e6-draw Monte
// Carlo oracle (peaked, nearly tied and mixed posteriors), and on extreme
// inputs.
#include "bandits/thompson_pmf.h"

#include <math.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/core/random.h"

namespace recbandit::bandits {
namespace {

std::vector<double> Beta(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> pmf(a.size(), -1.0);
  BetaWinPmf(a, b, absl::MakeSpan(pmf));
  return pmf;
}

std::vector<double> Normal(const std::vector<double>& m, const std::vector<double>& s) {
  std::vector<double> pmf(m.size(), -1.0);
  NormalWinPmf(m, s, absl::MakeSpan(pmf));
  return pmf;
}

// The contract on every output: finite, non-negative, sums to 1.
void ExpectValidPmf(const std::vector<double>& pmf, const std::string& what) {
  double total = 0;
  for (double p : pmf) {
    ASSERT_TRUE(std::isfinite(p)) << what;
    ASSERT_GE(p, 0.0) << what;
    total += p;
  }
  EXPECT_NEAR(total, 1.0, 1e-12) << what;
}

double LogBeta(double a, double b) {
  int sign = 0;
  return lgamma_r(a, &sign) + lgamma_r(b, &sign) - lgamma_r(a + b, &sign);
}

// P(Y > X), X ~ Beta(a1, b1), Y ~ Beta(a2, b2), a2 a positive integer (Evan
// Miller's closed form; the terms are positive, summed in logs).
double BetaBeatsClosedForm(double a1, double b1, int a2, double b2) {
  double total = 0;
  for (int i = 0; i < a2; ++i) {
    total += std::exp(LogBeta(a1 + i, b1 + b2) - std::log(b2 + i) - LogBeta(1 + i, b2) -
                      LogBeta(a1, b1));
  }
  return total;
}

double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// ---------------------------------------------------------------- closed forms

TEST(ThompsonPmfTest, IdenticalPosteriorsSplitEvenly) {
  for (const auto& [a, b] : std::vector<std::pair<double, double>>{
           {1, 1}, {3, 5}, {1e4, 1e4}, {2e7, 3e7}, {0.5, 0.5}}) {
    const std::vector<double> pmf = Beta({a, a}, {b, b});
    EXPECT_EQ(pmf[0], 0.5) << a << "," << b;
    EXPECT_EQ(pmf[1], 0.5) << a << "," << b;
    const std::vector<double> three = Beta({a, a, a}, {b, b, b});
    for (double p : three) EXPECT_NEAR(p, 1.0 / 3, 1e-15) << a << "," << b;
  }
  const std::vector<double> pmf = Normal({0.3, 0.3}, {0.01, 0.01});
  EXPECT_EQ(pmf[0], 0.5);
  EXPECT_EQ(pmf[1], 0.5);
}

TEST(ThompsonPmfTest, BetaTwoOneBeatsUniformWithProbabilityTwoThirds) {
  // P(X > Y) = integral of 2x * x dx = 2/3.
  const std::vector<double> pmf = Beta({2, 1}, {1, 1});
  EXPECT_NEAR(pmf[0], 2.0 / 3, 1e-10);
  EXPECT_NEAR(pmf[1], 1.0 / 3, 1e-10);
}

TEST(ThompsonPmfTest, MatchesTheIntegerBetaClosedForm) {
  struct Case {
    double a1, b1;
    int a2;
    double b2;
  };
  // Broad, skewed, peaked (1e4 pulls), nearly tied and far apart.
  for (const Case& c : std::vector<Case>{{6, 6, 3, 7},
                                         {1, 1, 1, 20},
                                         {2, 50, 1, 1},
                                         {30, 70, 40, 60},
                                         {3000, 7000, 3050, 6950},
                                         {10000, 10000, 10001, 9999},
                                         {10000, 10000, 10100, 9900},
                                         {200, 800, 12000, 48000},
                                         {1, 1, 9000, 1000}}) {
    const double expected = BetaBeatsClosedForm(c.a1, c.b1, c.a2, c.b2);
    const std::vector<double> pmf = Beta({c.a1, static_cast<double>(c.a2)}, {c.b1, c.b2});
    EXPECT_NEAR(pmf[1], expected, 1e-9)
        << "Beta(" << c.a1 << "," << c.b1 << ") vs Beta(" << c.a2 << "," << c.b2 << ")";
    EXPECT_NEAR(pmf[0] + pmf[1], 1.0, 1e-15);
  }
}

TEST(ThompsonPmfTest, TwoNormalsMatchPhiOfTheStandardisedGap) {
  struct Case {
    double m1, s1, m2, s2;
  };
  for (const Case& c : std::vector<Case>{{0, 1, 0.5, 1},
                                         {0.1, 0.01, 0.12, 0.02},
                                         {0, 1, 0.001, 1e-3},
                                         {5, 2, -1, 0.1},
                                         {1e6, 3, 1e6 + 1, 4},
                                         {0, 1e-6, 1e-6, 1e-6}}) {
    const double expected = Phi((c.m1 - c.m2) / std::hypot(c.s1, c.s2));
    const std::vector<double> pmf = Normal({c.m1, c.m2}, {c.s1, c.s2});
    EXPECT_NEAR(pmf[0], expected, 1e-9)
        << "N(" << c.m1 << "," << c.s1 << ") vs N(" << c.m2 << "," << c.s2 << ")";
  }
}

TEST(ThompsonPmfTest, OneArmAmongManyUniformsHasTheClosedFormAnswer) {
  // n Beta(1,1) arms and one Beta(2,2): P(special wins) = integral of
  // 6x(1 - x) x^n dx = 6 / ((n + 2)(n + 3)). The max of many arms (density
  // n x^(n-1)) is far sharper than any one arm, which only the panel halving
  // resolves (without it the answer is off by 2e-6 relative at n = 99 and by
  // a factor of 2 at n = 999).
  for (int n : {1, 9, 99, 999}) {
    std::vector<double> a(n + 1, 1.0), b(n + 1, 1.0);
    a[n] = b[n] = 2;
    const std::vector<double> pmf = Beta(a, b);
    ExpectValidPmf(pmf, "uniforms");
    const double expected = 6.0 / ((n + 2.0) * (n + 3.0));
    EXPECT_NEAR(pmf[n], expected, 1e-8 * expected) << n;
    EXPECT_NEAR(pmf[0], (1 - expected) / n, 1e-9 / n) << n;
  }
}

// ---------------------------------------------------------------- Monte Carlo oracle

constexpr int kOracleDraws = 2000000;

// Win frequencies of kOracleDraws joint posterior draws (fixed seed).
std::vector<double> MonteCarlo(const std::vector<double>& p1, const std::vector<double>& p2,
                               bool beta, uint64_t seed) {
  Rng rng(seed);
  const size_t n = p1.size();
  std::vector<double> wins(n, 0.0);
  for (int d = 0; d < kOracleDraws; ++d) {
    size_t best = 0;
    double best_value = -INFINITY;
    for (size_t i = 0; i < n; ++i) {
      const double v = beta ? rng.Beta(p1[i], p2[i]) : p1[i] + p2[i] * rng.Normal();
      if (v > best_value) {
        best_value = v;
        best = i;
      }
    }
    wins[best] += 1;
  }
  for (double& w : wins) w /= kOracleDraws;
  return wins;
}

// Every entry within 5 Monte Carlo standard errors, sqrt(p (1 - p) / N), of
// the oracle (at most 5 * 3.5e-4 = 1.8e-3 for N = 2e6), plus 1e-6 for entries
// near 0 or 1.
void ExpectMatchesOracle(const std::vector<double>& pmf, const std::vector<double>& oracle,
                         const std::string& what) {
  ASSERT_EQ(pmf.size(), oracle.size());
  for (size_t i = 0; i < pmf.size(); ++i) {
    const double p = pmf[i];
    const double se = std::sqrt(p * (1 - p) / kOracleDraws);
    EXPECT_NEAR(oracle[i], p, 5 * se + 1e-6) << what << " arm " << i;
    std::printf("%s arm %zu: quadrature %.6f, Monte Carlo %.6f\n", what.c_str(), i, p,
                oracle[i]);
  }
}

TEST(ThompsonPmfTest, BetaMatchesAMonteCarloOracle) {
  struct Case {
    std::string name;
    std::vector<double> a, b;
  };
  const std::vector<Case> cases = {
      {"broad", {6, 3, 10, 1, 20}, {6, 7, 12, 1, 25}},
      // ~2e4 pulls each, means 0.5 +- 0.0005 (within one sd: nearly tied).
      {"peaked_tied", {1e4, 10010, 9990, 10005}, {1e4, 9990, 10010, 9995}},
      // One sharp arm inside broad ones, one skewed arm at the edge.
      {"mixed", {1, 500, 5, 9000, 2}, {1, 500, 3, 9000, 400}},
  };
  uint64_t seed = 11;
  for (const Case& c : cases) {
    const std::vector<double> pmf = Beta(c.a, c.b);
    ExpectValidPmf(pmf, c.name);
    ExpectMatchesOracle(pmf, MonteCarlo(c.a, c.b, /*beta=*/true, seed++), c.name);
  }
}

TEST(ThompsonPmfTest, NormalMatchesAMonteCarloOracle) {
  struct Case {
    std::string name;
    std::vector<double> m, s;
  };
  const std::vector<Case> cases = {
      {"spread", {0, 0.5, 1, -0.3, 0.8}, {1, 0.5, 0.2, 2, 0.05}},
      {"tied", {0.2, 0.2001, 0.1999, 0.2}, {1e-3, 1e-3, 1e-3, 2e-3}},
  };
  uint64_t seed = 21;
  for (const Case& c : cases) {
    const std::vector<double> pmf = Normal(c.m, c.s);
    ExpectValidPmf(pmf, c.name);
    ExpectMatchesOracle(pmf, MonteCarlo(c.m, c.s, /*beta=*/false, seed++), c.name);
  }
}

// ---------------------------------------------------------------- extremes

TEST(ThompsonPmfTest, ExtremeInputsGiveAValidPmf) {
  {
    std::vector<double> a(1000, 1.0), b(1000, 1.0);
    const std::vector<double> pmf = Beta(a, b);
    ExpectValidPmf(pmf, "1000 uniform arms");
    for (double p : pmf) EXPECT_NEAR(p, 1e-3, 1e-15);
  }
  {
    const std::vector<double> pmf = Normal(std::vector<double>(1000, 0.0),
                                           std::vector<double>(1000, 1.0));
    ExpectValidPmf(pmf, "1000 standard normal arms");
    for (double p : pmf) EXPECT_NEAR(p, 1e-3, 1e-15);
  }
  {
    // alpha = 1e9: sd 1e-9 against a uniform arm, which wins with
    // P(U > X) = E[1 - X] = 1 / (1e9 + 1).
    const std::vector<double> pmf = Beta({1e9, 1}, {1, 1});
    ExpectValidPmf(pmf, "alpha=1e9 vs uniform");
    EXPECT_NEAR(pmf[1], 1 / (1e9 + 1), 1e-15);
  }
  {
    // alpha, beta ~ 1e9 (sd 1.1e-5), nearly Normal: a 3.16 sd gap.
    const double a = 1e9, d = 1e5;
    const std::vector<double> pmf = Beta({a, a + d}, {a, a - d});
    ExpectValidPmf(pmf, "alpha=beta=1e9");
    const double m0 = 0.5, m1 = (a + d) / (2 * a);
    const double s0 = std::sqrt(0.25 / (2 * a + 1));
    const double s1 = std::sqrt((a + d) * (a - d) / (4 * a * a * (2 * a + 1)));
    EXPECT_NEAR(pmf[1], Phi((m1 - m0) / std::hypot(s0, s1)), 1e-6);
  }
  {
    // Singular densities (alpha or beta < 1, only from a restored snapshot).
    const std::vector<double> a = {0.5, 0.01, 3, 0.2};
    const std::vector<double> b = {0.5, 5, 0.2, 0.2};
    const std::vector<double> pmf = Beta(a, b);
    ExpectValidPmf(pmf, "alpha, beta < 1");
    ExpectMatchesOracle(pmf, MonteCarlo(a, b, /*beta=*/true, 31), "singular");
  }
  {
    // Arms far below the best get exactly 0, and a single arm gets 1.
    const std::vector<double> pmf = Beta({1e4, 10}, {1e4, 1e4});
    ExpectValidPmf(pmf, "hopeless arm");
    EXPECT_EQ(pmf[0], 1.0);
    EXPECT_EQ(pmf[1], 0.0);
    EXPECT_EQ(Beta({7}, {3}), std::vector<double>({1.0}));
  }
  {
    // Means too large for the sd to be resolved: falls back to the best mean.
    const std::vector<double> pmf = Normal({1e300, 2e300}, {1, 1});
    EXPECT_EQ(pmf, std::vector<double>({0.0, 1.0}));
    const std::vector<double> bad = Beta({1, std::nan("")}, {1, 1});
    ExpectValidPmf(bad, "NaN alpha");
  }
}

}  // namespace
}  // namespace recbandit::bandits

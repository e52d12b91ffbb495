// Tests of bandits/explore.h: the sampler, greedy ties, epsilon-greedy,
// softmax values, the exploration floor and the slate draw.
#include "bandits/explore.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"

namespace recbandit::bandits {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::Pointwise;

TEST(SampleFromPmfTest, UsesOneUniformDrawAsInverseCdf) {
  const std::vector<double> pmf = {0.2, 0.0, 0.5, 0.3};
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Rng probe(seed);
    const double u = probe.Uniform();
    const int expected = u < 0.2 ? 0 : (u < 0.7 ? 2 : 3);
    Rng rng(seed);
    EXPECT_EQ(SampleFromPmf(pmf, rng), expected) << u;
    // Exactly one draw was consumed.
    EXPECT_EQ(rng(), probe());
  }
}

TEST(SampleFromPmfTest, FrequenciesMatchThePmfAndZeroNeverDrawn) {
  const std::vector<double> pmf = {0.1, 0.0, 0.6, 0.3};
  std::vector<int> counts(4, 0);
  Rng rng(42);
  constexpr int kDraws = 100000;
  for (int i = 0; i < kDraws; ++i) ++counts[SampleFromPmf(pmf, rng)];
  EXPECT_EQ(counts[1], 0);
  // Standard error <= sqrt(0.25 / 1e5) = 0.0016; tolerance 0.006.
  for (int a = 0; a < 4; ++a) EXPECT_NEAR(counts[a] / double{kDraws}, pmf[a], 0.006);
}

TEST(SampleFromPmfTest, RoundingShortfallReturnsLastPositive) {
  // Sums to slightly less than 1; a u above the total must not return the
  // zero-probability tail.
  const std::vector<double> pmf = {0.3333333, 0.3333333, 0.3333333, 0.0};
  Rng rng(1);
  for (int i = 0; i < 100000; ++i) EXPECT_NE(SampleFromPmf(pmf, rng), 3);
}

TEST(GreedyPmfTest, SplitsTiesEvenly) {
  std::vector<double> pmf(4);
  GreedyPmf(std::vector<double>{1.0, 3.0, 2.0, 3.0}, absl::MakeSpan(pmf));
  EXPECT_THAT(pmf, ElementsAre(0.0, 0.5, 0.0, 0.5));
  const double inf = INFINITY;
  GreedyPmf(std::vector<double>{inf, 1.0, inf}, absl::MakeSpan(pmf).subspan(0, 3));
  EXPECT_THAT(std::vector<double>(pmf.begin(), pmf.begin() + 3), ElementsAre(0.5, 0.0, 0.5));
  std::vector<double> same = {2.0, 2.0, 2.0};  // in place
  GreedyPmf(same, absl::MakeSpan(same));
  EXPECT_THAT(same, ElementsAre(1.0 / 3, 1.0 / 3, 1.0 / 3));
}

TEST(EpsilonGreedyPmfTest, SpreadsEpsilonUniformly) {
  std::vector<double> pmf(4);
  EpsilonGreedyPmf(std::vector<double>{0.0, 5.0, 1.0, 5.0}, 0.2, absl::MakeSpan(pmf));
  EXPECT_THAT(pmf, Pointwise(DoubleNear(1e-15), {0.05, 0.45, 0.05, 0.45}));
}

TEST(SoftmaxPmfTest, MatchesTheFormulaAndIsStableForLargeScores) {
  std::vector<double> pmf(3);
  SoftmaxPmf(std::vector<double>{0.0, 1.0, 2.0}, 0.5, absl::MakeSpan(pmf));
  const double z = 1 + std::exp(2.0) + std::exp(4.0);
  EXPECT_THAT(pmf, Pointwise(DoubleNear(1e-15), {1 / z, std::exp(2.0) / z, std::exp(4.0) / z}));
  SoftmaxPmf(std::vector<double>{1000.0, 1000.0, -1000.0}, 1.0, absl::MakeSpan(pmf));
  EXPECT_THAT(pmf, Pointwise(DoubleNear(1e-15), {0.5, 0.5, 0.0}));
}

TEST(ExplorationFloorTest, RaisesEveryEntryToTheFloorAndKeepsTheSum) {
  std::vector<double> pmf = {1.0, 0.0, 0.0, 0.0};
  ApplyExplorationFloor(0.05, absl::MakeSpan(pmf));
  EXPECT_THAT(pmf, Pointwise(DoubleNear(1e-15), {0.85, 0.05, 0.05, 0.05}));
  // Floor above 1/n: uniform.
  pmf = {0.7, 0.3};
  ApplyExplorationFloor(0.9, absl::MakeSpan(pmf));
  EXPECT_THAT(pmf, Pointwise(DoubleNear(1e-15), {0.5, 0.5}));
  // Zero floor: unchanged.
  pmf = {0.7, 0.3};
  ApplyExplorationFloor(0.0, absl::MakeSpan(pmf));
  EXPECT_THAT(pmf, ElementsAre(0.7, 0.3));
  EXPECT_DOUBLE_EQ(FloorMixWeight(0.05, 4), 0.2);
  EXPECT_DOUBLE_EQ(FloorMixWeight(0.9, 2), 1.0);
  EXPECT_DOUBLE_EQ(FloorMixWeight(0.0, 2), 0.0);
}

TEST(MixTowardActionTest, GivesTheActionTheRestOfTheWeight) {
  std::vector<double> pmf = {0.25, 0.25, 0.5};
  MixTowardAction(0.2, 1, absl::MakeSpan(pmf));
  EXPECT_THAT(pmf, ::testing::Pointwise(::testing::DoubleEq(),
                                        std::vector<double>{0.05, 0.85, 0.1}));
  std::vector<double> zero = {0.3, 0.3, 0.4};
  MixTowardAction(0.0, 2, absl::MakeSpan(zero));
  EXPECT_THAT(zero, ::testing::ElementsAre(0.0, 0.0, 1.0));
}

TEST(DrawSlateTest, WeightZeroIsTheModelOrder) {
  const std::vector<double> policy = {0.1, 0.2, 0.3, 0.4};
  std::vector<int32_t> slate;
  std::vector<double> propensities, first;
  DrawSlate(policy, 3, /*weight=*/0, /*seed=*/42, &slate, &propensities, &first);
  EXPECT_THAT(slate, ::testing::ElementsAre(0, 1, 2));
  EXPECT_THAT(propensities, ::testing::ElementsAre(1.0, 1.0, 1.0));
  EXPECT_THAT(first, ::testing::ElementsAre(1.0, 0.0, 0.0, 0.0));
}

// The README's own settings: a floor of 0.01 (or 0.02) over 60 candidates
// used to make every position about half (or fully) uniform even at weight
// 0. The floor lives inside the policy's pmf, so it is spent only within the
// weight's share.
TEST(DrawSlateTest, TheFloorNeverSpendsMoreThanTheWeight) {
  for (double floor : {0.01, 0.02, 0.5}) {
    std::vector<double> policy(60, 0.0);
    policy[17] = 1.0;  // a policy that disagrees with the model
    ApplyExplorationFloor(floor, absl::MakeSpan(policy));
    for (double weight : {0.0, 0.1, 0.3}) {
      for (uint64_t seed = 0; seed < 50; ++seed) {
        std::vector<int32_t> slate;
        std::vector<double> propensities, first;
        DrawSlate(policy, 10, weight, seed, &slate, &propensities, &first);
        EXPECT_GE(first[0], 1 - weight - 1e-12) << floor << " " << weight;
        if (weight == 0) {
          ASSERT_THAT(slate, ::testing::ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
          ASSERT_THAT(propensities, ::testing::Each(1.0));
        }
      }
    }
  }
}

TEST(DrawSlateTest, WeightOneFollowsThePolicyRenormalisedOverTheRest) {
  const std::vector<double> policy = {0.1, 0.2, 0.3, 0.4};
  std::vector<int32_t> slate;
  std::vector<double> propensities, first;
  DrawSlate(policy, 2, 1.0, 7, &slate, &propensities, &first);
  EXPECT_THAT(first, ::testing::Pointwise(::testing::DoubleEq(), policy));
  ASSERT_EQ(slate.size(), 2u);
  EXPECT_NE(slate[0], slate[1]);
  EXPECT_DOUBLE_EQ(propensities[0], policy[slate[0]]);
  EXPECT_DOUBLE_EQ(propensities[1], policy[slate[1]] / (1 - policy[slate[0]]));
}

// The logged propensities are the true probabilities of the drawn slates:
// over many seeds each ordered slate appears with frequency equal to the
// product of its positions' propensities (within 5 standard errors).
TEST(DrawSlateTest, EmpiricalSlateFrequenciesMatchLoggedPropensities) {
  std::vector<double> policy = {0.05, 0.5, 0.15, 0.3, 0.0};
  ApplyExplorationFloor(0.05, absl::MakeSpan(policy));  // as the policy applies its floor
  constexpr int kDraws = 200000;
  std::map<std::pair<int32_t, int32_t>, int> counts;
  std::map<std::pair<int32_t, int32_t>, double> probability;
  std::vector<int32_t> slate;
  std::vector<double> propensities, first;
  for (int i = 0; i < kDraws; ++i) {
    DrawSlate(policy, 2, /*weight=*/0.6, StableHash64(absl::StrCat(i)), &slate, &propensities,
              &first);
    const auto key = std::make_pair(slate[0], slate[1]);
    ++counts[key];
    const double p = propensities[0] * propensities[1];
    auto [it, inserted] = probability.emplace(key, p);
    if (!inserted) {
      ASSERT_DOUBLE_EQ(it->second, p) << "a slate's propensity depends on the seed";
    }
    ASSERT_NEAR(std::accumulate(first.begin(), first.end(), 0.0), 1.0, 1e-12);
    // The floor keeps every item possible, within the weight's share.
    for (double q : first) ASSERT_GE(q, 0.6 * 0.05 - 1e-12);
  }
  EXPECT_EQ(counts.size(), 20u);  // every ordered pair of 5 items, the floor makes all possible
  double total = 0;
  for (const auto& [key, p] : probability) {
    total += p;
    const double se = std::sqrt(p * (1 - p) / kDraws);
    EXPECT_NEAR(static_cast<double>(counts[key]) / kDraws, p, 5 * se + 1e-9)
        << key.first << "," << key.second;
  }
  EXPECT_NEAR(total, 1.0, 1e-9);
}

TEST(DrawExploringSlateTest, LoggedProbabilitiesMatchDrawFrequencies) {
  // 3 positions from a pool of 5 at epsilon 0.3: every slate's frequency
  // over 200000 seeded draws matches the product of its conditionals, and
  // every (position, index) frequency its marginal (3.5 binomial sd).
  constexpr int kDraws = 200000;
  std::map<std::vector<int32_t>, int> slates;
  std::map<std::vector<int32_t>, double> probability;
  std::vector<std::vector<int>> at(3, std::vector<int>(5, 0));
  std::vector<std::vector<double>> marginal(3, std::vector<double>(5, -1));
  std::vector<int32_t> slate;
  std::vector<double> conditionals, marginals;
  for (int i = 0; i < kDraws; ++i) {
    DrawExploringSlate(3, 5, 0.3, Mix64(i), &slate, &conditionals, &marginals);
    ++slates[slate];
    probability[slate] = conditionals[0] * conditionals[1] * conditionals[2];
    for (int j = 0; j < 3; ++j) {
      ++at[j][slate[j]];
      marginal[j][slate[j]] = marginals[j];
    }
  }
  EXPECT_EQ(slates.size(), 60u);  // 5 * 4 * 3 ordered slates
  double total = 0;
  for (const auto& [s, p] : probability) {
    total += p;
    const double sd = std::sqrt(kDraws * p * (1 - p));
    EXPECT_NEAR(slates[s], kDraws * p, 3.5 * sd + 1);
  }
  EXPECT_NEAR(total, 1.0, 1e-12);
  EXPECT_NEAR(probability[(std::vector<int32_t>{0, 1, 2})], 0.7 + 0.3 / 60, 1e-12);
  for (int j = 0; j < 3; ++j) {
    double column = 0;
    for (int a = 0; a < 5; ++a) {
      column += marginal[j][a];
      const double p = marginal[j][a];
      EXPECT_NEAR(at[j][a], kDraws * p, 3.5 * std::sqrt(kDraws * p * (1 - p)) + 1);
    }
    EXPECT_NEAR(column, 1.0, 1e-12);  // every index was seen at every position
  }
  // No exploration: the model's first k, every probability 1.
  DrawExploringSlate(3, 5, 0, 7, &slate, &conditionals, &marginals);
  EXPECT_EQ(slate, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(conditionals, (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(marginals, (std::vector<double>{1, 1, 1}));
}

// The exact distribution of MixNewItems over DrawExploringSlate's base
// slates (size `b` from `pool`, epsilon `e`), enumerated outcome by outcome:
// slate -> probability.
std::map<std::vector<int32_t>, double> MixedSlateOracle(int32_t b, int32_t pool, double e,
                                                        int32_t num_new, int32_t size,
                                                        double share) {
  std::map<std::vector<int32_t>, double> out;
  double ordered = 1;  // pool (pool-1) ... (pool-b+1)
  for (int32_t j = 0; j < b; ++j) ordered *= pool - j;
  // Every ordered base slate with its probability.
  std::vector<int32_t> base;
  std::function<void()> each_base = [&] {
    if (static_cast<int32_t>(base.size()) == b) {
      bool identity = true;
      for (int32_t j = 0; j < b; ++j) identity &= base[j] == j;
      const double p_base = (1 - e) * (identity ? 1 : 0) + e / ordered;
      // Every mixing outcome of this base slate.
      std::vector<int32_t> slate;
      std::vector<bool> shown(num_new, false);
      std::function<void(int32_t, int32_t, double)> mix = [&](int32_t j, int32_t m, double p) {
        if (j == std::min(size, b + num_new)) {
          out[slate] += p;
          return;
        }
        const bool base_left = j - m < b, new_left = m < num_new;
        const double p_new = base_left && new_left ? share : new_left ? 1.0 : 0.0;
        if (p_new < 1) {
          slate.push_back(base[j - m]);
          mix(j + 1, m, p * (1 - p_new));
          slate.pop_back();
        }
        if (p_new > 0) {
          for (int32_t t = 0; t < num_new; ++t) {
            if (shown[t]) continue;
            shown[t] = true;
            slate.push_back(pool + t);
            mix(j + 1, m + 1, p * p_new / (num_new - m));
            slate.pop_back();
            shown[t] = false;
          }
        }
      };
      mix(0, 0, p_base);
      return;
    }
    for (int32_t i = 0; i < pool; ++i) {
      if (std::find(base.begin(), base.end(), i) != base.end()) continue;
      base.push_back(i);
      each_base();
      base.pop_back();
    }
  };
  each_base();
  return out;
}

TEST(MixNewItemsTest, LoggedProbabilitiesEqualTheExactDistribution) {
  struct Case {
    int32_t b, pool;
    double e;
    int32_t num_new, size;
    double share;
  };
  // Both kinds plentiful; the base running out (size > b); the new items
  // running out; no new items; share 0 and 1.
  for (const Case& c : {Case{3, 5, 0.3, 2, 4, 0.4}, Case{2, 3, 0.5, 1, 5, 0.25},
                        Case{3, 4, 0.0, 1, 3, 0.6}, Case{3, 4, 0.2, 0, 3, 0.5},
                        Case{2, 4, 0.3, 3, 3, 0.0}, Case{2, 4, 0.3, 3, 3, 1.0}}) {
    SCOPED_TRACE(absl::StrCat("b=", c.b, " pool=", c.pool, " e=", c.e, " new=", c.num_new,
                              " size=", c.size, " share=", c.share));
    const std::map<std::vector<int32_t>, double> oracle =
        MixedSlateOracle(c.b, c.pool, c.e, c.num_new, c.size, c.share);
    double total = 0;
    std::map<std::vector<int32_t>, double> prefix;  // P(slate starts with the key)
    std::map<std::pair<int32_t, int32_t>, double> at;  // P(index at position)
    for (const auto& [s, p] : oracle) {
      total += p;
      for (size_t j = 0; j < s.size(); ++j) {
        prefix[std::vector<int32_t>(s.begin(), s.begin() + j + 1)] += p;
        at[{static_cast<int32_t>(j), s[j]}] += p;
      }
    }
    ASSERT_NEAR(total, 1.0, 1e-12);
    const double e = c.e;
    const int32_t pool = c.pool;
    auto base_marginal = [e, pool](int32_t index, int32_t position) {
      return (1 - e) * (index == position ? 1 : 0) + e / pool;  // the oracle's own formula
    };
    std::map<std::vector<int32_t>, int> reached;
    constexpr int kDraws = 40000;
    std::vector<int32_t> base, slate;
    std::vector<double> base_conditionals, base_marginals, conditionals, marginals;
    for (int i = 0; i < kDraws; ++i) {
      DrawExploringSlate(c.b, c.pool, c.e, Mix64(2 * i), &base, &base_conditionals,
                         &base_marginals);
      MixNewItems(base, base_conditionals, base_marginal, c.pool, c.num_new, c.size, c.share,
                  Mix64(2 * i + 1), &slate, &conditionals, &marginals);
      ASSERT_EQ(slate.size(), static_cast<size_t>(std::min(c.size, c.b + c.num_new)));
      ASSERT_EQ(oracle.count(slate), 1u);
      ++reached[slate];
      double previous = 1;
      for (size_t j = 0; j < slate.size(); ++j) {
        const double p = prefix[std::vector<int32_t>(slate.begin(), slate.begin() + j + 1)];
        EXPECT_NEAR(conditionals[j], p / previous, 1e-12) << "position " << j;
        EXPECT_NEAR(marginals[j], (at[{static_cast<int32_t>(j), slate[j]}]), 1e-12)
            << "position " << j;
        previous = p;
      }
    }
    // The draws follow the distribution (3.5 binomial sd per slate).
    for (const auto& [s, p] : oracle) {
      const double sd = std::sqrt(kDraws * p * (1 - p));
      EXPECT_NEAR(reached[s], kDraws * p, 3.5 * sd + 1);
    }
  }
}

TEST(MixNewItemsTest, ShareZeroKeepsTheBaseAndShareOneLeadsWithNewItems) {
  std::vector<int32_t> slate;
  std::vector<double> conditionals, marginals;
  auto first_k = [](int32_t index, int32_t position) { return index == position ? 1.0 : 0.0; };
  MixNewItems({0, 1, 2}, {1, 1, 1}, first_k, 10, 4, 3, 0.0, 99, &slate, &conditionals,
              &marginals);
  EXPECT_EQ(slate, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(conditionals, (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(marginals, (std::vector<double>{1, 1, 1}));
  MixNewItems({0, 1, 2}, {1, 1, 1}, first_k, 10, 2, 3, 1.0, 99, &slate, &conditionals,
              &marginals);
  ASSERT_EQ(slate.size(), 3u);
  EXPECT_GE(slate[0], 10);
  EXPECT_GE(slate[1], 10);
  EXPECT_EQ(slate[2], 0);  // the new items ran out: the base fills the rest
  EXPECT_THAT(conditionals, ElementsAre(DoubleNear(0.5, 1e-15), DoubleNear(1, 1e-15),
                                        DoubleNear(1, 1e-15)));
  EXPECT_THAT(marginals, ElementsAre(DoubleNear(0.5, 1e-15), DoubleNear(0.5, 1e-15),
                                     DoubleNear(1, 1e-15)));
}

}  // namespace
}  // namespace recbandit::bandits

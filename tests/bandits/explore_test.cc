// Tests of bandits/explore.h: the sampler, greedy ties, epsilon-greedy,
// softmax values and the exploration floor.
#include "bandits/explore.h"

#include <cmath>
#include <vector>

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

}  // namespace
}  // namespace recbandit::bandits

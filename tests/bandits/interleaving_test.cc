// Tests of bandits/interleaving.h: hand-worked team-draft merges for known
// coins, the merge's invariants over random rankings, click credit, the
// preference statistics, and two statistical properties (a planted
// position-based click model prefers the better ranker; clicks that ignore
// the items give each team half of the wins).
#include "bandits/interleaving.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bandits/explore.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::bandits {
namespace {

using ::recbandit::testing::IsOk;
using ::recbandit::testing::StatusIs;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr Team A = Team::kA;
constexpr Team B = Team::kB;

// Returns the first seed whose documented coin sequence (SampleFromPmf({0.5,
// 0.5}) draws of Rng(seed); 0 = A picks first) starts with `coins`.
uint64_t SeedWithCoins(const std::vector<int>& coins) {
  const std::vector<double> fair = {0.5, 0.5};
  for (uint64_t seed = 0;; ++seed) {
    Rng rng(seed);
    bool match = true;
    for (int c : coins) match = match && SampleFromPmf(fair, rng) == c;
    if (match) return seed;
  }
}

TEST(TeamDraftInterleaveTest, HandWorkedMergeForKnownCoins) {
  // Coins A, B, A. Round 1: A takes 1, B takes 3. Round 2: B takes 6 (its 3
  // and 1 are in), A takes 2. Round 3: A takes 4 (3 is in), B takes 7.
  const std::vector<int32_t> a = {1, 2, 3, 4, 5};
  const std::vector<int32_t> b = {3, 1, 6, 2, 7};
  ASSERT_OK_AND_ASSIGN(auto slate, TeamDraftInterleave(a, b, 6, SeedWithCoins({0, 1, 0})));
  EXPECT_THAT(slate.items, ElementsAre(1, 3, 6, 2, 4, 7));
  EXPECT_THAT(slate.teams, ElementsAre(A, B, B, A, A, B));
  EXPECT_THAT(slate.team_probabilities, ElementsAre(0.5, 1, 0.5, 1, 0.5, 1));

  // Coins B, B, B. Round 1: B takes 3, A takes 1. Round 2: B takes 6, A
  // takes 2. Round 3: B takes 7 (3, 1, 6, 2 are in), A takes 4.
  ASSERT_OK_AND_ASSIGN(slate, TeamDraftInterleave(a, b, 6, SeedWithCoins({1, 1, 1})));
  EXPECT_THAT(slate.items, ElementsAre(3, 1, 6, 2, 7, 4));
  EXPECT_THAT(slate.teams, ElementsAre(B, A, B, A, B, A));

  // An odd size ends after the first pick of the last round.
  ASSERT_OK_AND_ASSIGN(slate, TeamDraftInterleave(a, b, 3, SeedWithCoins({0, 1})));
  EXPECT_THAT(slate.items, ElementsAre(1, 3, 6));
  EXPECT_THAT(slate.teams, ElementsAre(A, B, B));
}

TEST(TeamDraftInterleaveTest, StringIdsMergeAsIntegerIds) {
  const std::vector<std::string> a = {"1", "2", "3", "4", "5"};
  const std::vector<std::string> b = {"3", "1", "6", "2", "7"};
  ASSERT_OK_AND_ASSIGN(auto slate, TeamDraftInterleave(a, b, 6, SeedWithCoins({0, 1, 0})));
  EXPECT_THAT(slate.items, ElementsAre("1", "3", "6", "2", "4", "7"));
  EXPECT_THAT(slate.teams, ElementsAre(A, B, B, A, A, B));
}

TEST(TeamDraftInterleaveTest, ExhaustedRankingLetsTheOtherContinue) {
  // Coin B: B takes 2, A takes 1; A has nothing left, so B fills the slate
  // alone and no further coin decides anything.
  const std::vector<int32_t> a = {1, 2};
  const std::vector<int32_t> b = {2, 3, 4, 5};
  ASSERT_OK_AND_ASSIGN(auto slate, TeamDraftInterleave(a, b, 5, SeedWithCoins({1})));
  EXPECT_THAT(slate.items, ElementsAre(2, 1, 3, 4, 5));
  EXPECT_THAT(slate.teams, ElementsAre(B, A, B, B, B));
  EXPECT_THAT(slate.team_probabilities, ElementsAre(0.5, 1, 1, 1, 1));

  // An empty ranking: the other one, in its order.
  ASSERT_OK_AND_ASSIGN(slate, TeamDraftInterleave({}, b, 3, 7));
  EXPECT_THAT(slate.items, ElementsAre(2, 3, 4));
  EXPECT_THAT(slate.teams, ElementsAre(B, B, B));
}

TEST(TeamDraftInterleaveTest, SlateLengthIsSizeOrTheUnion) {
  const std::vector<int32_t> a = {1, 2, 3};
  const std::vector<int32_t> b = {3, 2, 4};
  for (int32_t size = 1; size <= 6; ++size) {
    ASSERT_OK_AND_ASSIGN(auto slate, TeamDraftInterleave(a, b, size, 11));
    EXPECT_EQ(slate.items.size(), std::min(size, 4));
    EXPECT_EQ(slate.teams.size(), slate.items.size());
    EXPECT_EQ(slate.team_probabilities.size(), slate.items.size());
  }
  ASSERT_OK_AND_ASSIGN(auto empty, TeamDraftInterleave(std::vector<int32_t>{}, {}, 5, 1));
  EXPECT_TRUE(empty.items.empty());
}

TEST(TeamDraftInterleaveTest, SameSeedSameSlate) {
  const std::vector<int32_t> a = {5, 9, 1, 7, 3, 8};
  const std::vector<int32_t> b = {9, 3, 5, 2, 6, 1};
  for (uint64_t seed = 0; seed < 50; ++seed) {
    ASSERT_OK_AND_ASSIGN(auto first, TeamDraftInterleave(a, b, 6, seed));
    ASSERT_OK_AND_ASSIGN(auto again, TeamDraftInterleave(a, b, 6, seed));
    EXPECT_EQ(first.items, again.items);
    EXPECT_EQ(first.teams, again.teams);
  }
}

TEST(TeamDraftInterleaveTest, TeamProbabilitiesAreTheAssignmentFrequencies) {
  // Disjoint rankings, 4 positions: two coins, four equally likely team
  // patterns; each logged product of probabilities must be 1/4, and each
  // pattern must occur a quarter of the time.
  const std::vector<int32_t> a = {1, 2, 3, 4};
  const std::vector<int32_t> b = {5, 6, 7, 8};
  std::map<std::vector<Team>, int> seen;
  constexpr int kDraws = 20000;
  for (uint64_t seed = 0; seed < kDraws; ++seed) {
    ASSERT_OK_AND_ASSIGN(auto slate, TeamDraftInterleave(a, b, 4, seed));
    double product = 1;
    for (double p : slate.team_probabilities) product *= p;
    EXPECT_EQ(product, 0.25);
    ++seen[slate.teams];
  }
  ASSERT_EQ(seen.size(), 4u);
  // sd of a share of 1/4 over 20000 draws: 0.0031; tolerance 0.015 (4.9 sd).
  for (const auto& [teams, count] : seen) EXPECT_NEAR(count / double{kDraws}, 0.25, 0.015);
}

// Returns a random ranking of `length` distinct ids drawn from [0, universe).
std::vector<int32_t> RandomRanking(int32_t length, int32_t universe, Rng& rng) {
  std::vector<int32_t> ids(universe);
  std::iota(ids.begin(), ids.end(), 0);
  for (int32_t i = 0; i < length; ++i) {
    std::swap(ids[i], ids[i + rng.UniformInt(universe - i)]);
  }
  ids.resize(length);
  return ids;
}

TEST(TeamDraftInterleaveTest, InvariantsOverRandomRankings) {
  Rng rng(2024);
  for (int trial = 0; trial < 2000; ++trial) {
    // Up to 62 ids and 40 positions: short and long (hashed) rankings.
    const int32_t universe = 3 + static_cast<int32_t>(rng.UniformInt(60));
    const std::vector<int32_t> a =
        RandomRanking(1 + static_cast<int32_t>(rng.UniformInt(universe)), universe, rng);
    const std::vector<int32_t> b =
        RandomRanking(1 + static_cast<int32_t>(rng.UniformInt(universe)), universe, rng);
    const int32_t size = 1 + static_cast<int32_t>(rng.UniformInt(40));
    ASSERT_OK_AND_ASSIGN(auto slate, TeamDraftInterleave(a, b, size, rng()));
    std::vector<int32_t> both = a;
    both.insert(both.end(), b.begin(), b.end());
    std::sort(both.begin(), both.end());
    const int32_t union_size =
        static_cast<int32_t>(std::unique(both.begin(), both.end()) - both.begin());
    ASSERT_EQ(slate.items.size(), std::min(size, union_size));
    // Distinct items.
    std::vector<int32_t> sorted = slate.items;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
    // Both top items are in when there are at least two positions.
    if (size >= 2) {
      EXPECT_NE(std::find(slate.items.begin(), slate.items.end(), a[0]), slate.items.end());
      EXPECT_NE(std::find(slate.items.begin(), slate.items.end(), b[0]), slate.items.end());
    }
    // Each team's items come from its ranking in that ranking's order; the
    // team sizes differ by at most one while both rankings have items left.
    int32_t last_rank[2] = {-1, -1};
    for (size_t j = 0; j < slate.items.size(); ++j) {
      const int t = slate.teams[j] == Team::kA ? 0 : 1;
      const std::vector<int32_t>& own = t == 0 ? a : b;
      const auto it = std::find(own.begin(), own.end(), slate.items[j]);
      ASSERT_NE(it, own.end()) << "trial " << trial << " position " << j;
      const int32_t rank = static_cast<int32_t>(it - own.begin());
      EXPECT_GT(rank, last_rank[t]);
      last_rank[t] = rank;
      EXPECT_TRUE(slate.team_probabilities[j] == 0.5 || slate.team_probabilities[j] == 1.0);
    }
  }
}

TEST(TeamDraftInterleaveTest, IdenticalRankingsGiveTheRankingAndTiesInExpectation) {
  const std::vector<int32_t> ranking = {4, 8, 15, 16, 23, 42};
  InterleavingCounts counts;
  constexpr int kImpressions = 20000;
  for (uint64_t seed = 0; seed < kImpressions; ++seed) {
    ASSERT_OK_AND_ASSIGN(auto slate, TeamDraftInterleave(ranking, ranking, 6, seed));
    EXPECT_EQ(slate.items, ranking);
    // The user always clicks the top item: credited to the coin's team.
    ASSERT_OK_AND_ASSIGN(ImpressionOutcome o, CreditClicks(slate.teams, {0}));
    counts.Add(o);
  }
  ASSERT_OK_AND_ASSIGN(PreferenceEstimate p, InterleavingPreference(counts));
  // E[delta] = 0; its sd over 20000 impressions is 0.0071; tolerance 0.03
  // (4.2 sd). The sign test must not reject.
  EXPECT_NEAR(p.delta, 0.0, 0.03);
  EXPECT_LE(p.delta_low, 0.0);
  EXPECT_GE(p.delta_high, 0.0);
  EXPECT_GT(p.sign_test_p_value, 0.001);
}

TEST(TeamDraftInterleaveTest, RejectsBadInput) {
  const std::vector<int32_t> ok = {1, 2, 3};
  EXPECT_THAT(TeamDraftInterleave(ok, ok, 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("size must be >= 1")));
  EXPECT_THAT(TeamDraftInterleave(ok, ok, -3, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TeamDraftInterleave(std::vector<int32_t>{1, 2, 1}, ok, 2, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ranking_a lists item 1 twice (ranks 0 and 2")));
  std::vector<int32_t> long_ranking(40);
  std::iota(long_ranking.begin(), long_ranking.end(), 0);
  long_ranking[33] = 7;
  EXPECT_THAT(TeamDraftInterleave(ok, long_ranking, 2, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ranking_b lists item 7 twice (ranks 7 and 33")));
  const std::vector<std::string> s = {"x", "y"};
  EXPECT_THAT(TeamDraftInterleave(s, std::vector<std::string>{"y", "z", "y"}, 2, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ranking_b lists item 'y' twice")));
  // A long id is quoted within bounds.
  const std::string long_id(8192, 'q');
  auto status = TeamDraftInterleave(s, std::vector<std::string>{long_id, long_id}, 2, 1).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_LT(status.message().size(), 200u);
}

TEST(CreditClicksTest, MoreClicksOnATeamWins) {
  const std::vector<Team> teams = {A, B, B, A, A, B};
  ASSERT_OK_AND_ASSIGN(ImpressionOutcome o, CreditClicks(teams, {}));
  EXPECT_EQ(o, ImpressionOutcome::kTie);
  ASSERT_OK_AND_ASSIGN(o, CreditClicks(teams, {0}));
  EXPECT_EQ(o, ImpressionOutcome::kAWins);
  ASSERT_OK_AND_ASSIGN(o, CreditClicks(teams, {1, 3, 5}));
  EXPECT_EQ(o, ImpressionOutcome::kBWins);
  ASSERT_OK_AND_ASSIGN(o, CreditClicks(teams, {0, 1}));
  EXPECT_EQ(o, ImpressionOutcome::kTie);
  ASSERT_OK_AND_ASSIGN(o, CreditClicks(teams, {4, 0, 2}));
  EXPECT_EQ(o, ImpressionOutcome::kAWins);
  // A position listed twice counts once: one A click against one B click.
  ASSERT_OK_AND_ASSIGN(o, CreditClicks(teams, {0, 0, 0, 1}));
  EXPECT_EQ(o, ImpressionOutcome::kTie);
}

TEST(CreditClicksTest, RejectsPositionsOutsideTheSlate) {
  const std::vector<Team> teams = {A, B, A};
  EXPECT_THAT(CreditClicks(teams, {3}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("clicked position 3 is outside the slate of 3 positions")));
  EXPECT_THAT(CreditClicks(teams, {0, -1}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CreditClicks({}, {0}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(InterleavingPreferenceTest, KnownValues) {
  ASSERT_OK_AND_ASSIGN(PreferenceEstimate p,
                       InterleavingPreference({/*wins_a=*/8, /*wins_b=*/2, /*ties=*/10}));
  EXPECT_EQ(p.impressions, 20);
  EXPECT_DOUBLE_EQ(p.delta, 0.3);
  EXPECT_DOUBLE_EQ(p.win_share_a, 0.8);
  // Wilson 95% for 8 of 10: [0.4902, 0.9433].
  EXPECT_THAT(p.win_share_low, DoubleNear(0.4902, 1e-4));
  EXPECT_THAT(p.win_share_high, DoubleNear(0.9433, 1e-4));
  // Sign test: 2 * P(X <= 2), X ~ Bin(10, 1/2) = 2 * 56 / 1024.
  EXPECT_THAT(p.sign_test_p_value, DoubleNear(112.0 / 1024.0, 1e-12));
  EXPECT_LT(p.delta_low, p.delta);
  EXPECT_GT(p.delta_high, p.delta);
  EXPECT_GT(p.delta_low, -0.2);
  EXPECT_LT(p.delta_high, 0.6);

  ASSERT_OK_AND_ASSIGN(p, InterleavingPreference({5, 5, 0}));
  EXPECT_EQ(p.sign_test_p_value, 1.0);
  EXPECT_EQ(p.delta, 0.0);
  EXPECT_THAT(p.delta_low, DoubleNear(-p.delta_high, 1e-9));

  // A large count: 2 * P(X <= 4900), X ~ Bin(10000, 1/2) = 0.0466 (normal
  // approximation with continuity correction: z = 99.5 / 50).
  ASSERT_OK_AND_ASSIGN(p, InterleavingPreference({5100, 4900, 0}));
  EXPECT_THAT(p.sign_test_p_value, DoubleNear(0.0466, 0.001));
}

TEST(InterleavingPreferenceTest, DeltaIntervalAgreesWithTheNormalOneAtLargeCounts) {
  ASSERT_OK_AND_ASSIGN(PreferenceEstimate p, InterleavingPreference({3000, 2500, 4500}));
  const double n = 10000, d = 0.05;
  const double se = std::sqrt((0.55 - d * d) / n);
  EXPECT_THAT(p.delta_low, DoubleNear(d - 1.96 * se, 5e-4));
  EXPECT_THAT(p.delta_high, DoubleNear(d + 1.96 * se, 5e-4));
}

TEST(InterleavingPreferenceTest, IntervalsNeverCollapseAtSmallCounts) {
  for (const InterleavingCounts& c : std::vector<InterleavingCounts>{
           {0, 0, 1}, {0, 0, 5}, {1, 0, 0}, {3, 0, 0}, {0, 4, 0}, {2, 0, 3}}) {
    ASSERT_OK_AND_ASSIGN(PreferenceEstimate p, InterleavingPreference(c));
    SCOPED_TRACE(absl::StrCat(c.wins_a, "/", c.wins_b, "/", c.ties));
    EXPECT_LE(p.delta_low, p.delta);
    EXPECT_GE(p.delta_high, p.delta);
    EXPECT_GT(p.delta_high - p.delta_low, 0.1);
    EXPECT_GE(p.delta_low, -1.0);
    EXPECT_LE(p.delta_high, 1.0);
    if (c.wins_a + c.wins_b > 0) {
      EXPECT_GT(p.win_share_high - p.win_share_low, 0.1);
    }
  }
  // All ties: the upper bound solves delta = z^2 (1 - delta) / n.
  ASSERT_OK_AND_ASSIGN(PreferenceEstimate p, InterleavingPreference({0, 0, 5}));
  const double z2 = 1.959963984540054 * 1.959963984540054;
  EXPECT_THAT(p.delta_high, DoubleNear(z2 / (5 + z2), 1e-9));
  EXPECT_THAT(p.delta_low, DoubleNear(-z2 / (5 + z2), 1e-9));
  // All wins for A: the interval reaches 1.
  ASSERT_OK_AND_ASSIGN(p, InterleavingPreference({3, 0, 0}));
  EXPECT_EQ(p.delta_high, 1.0);
  EXPECT_EQ(p.win_share_high, 1.0);
  EXPECT_THAT(p.sign_test_p_value, DoubleNear(0.25, 1e-12));
}

TEST(InterleavingPreferenceTest, NoImpressionsMeansNoInformation) {
  ASSERT_OK_AND_ASSIGN(PreferenceEstimate p, InterleavingPreference({}));
  EXPECT_EQ(p.impressions, 0);
  EXPECT_EQ(p.delta, 0.0);
  EXPECT_EQ(p.delta_low, -1.0);
  EXPECT_EQ(p.delta_high, 1.0);
  EXPECT_EQ(p.win_share_a, 0.5);
  EXPECT_EQ(p.win_share_low, 0.0);
  EXPECT_EQ(p.win_share_high, 1.0);
  EXPECT_EQ(p.sign_test_p_value, 1.0);
}

TEST(InterleavingPreferenceTest, RejectsBadCounts) {
  EXPECT_THAT(InterleavingPreference({-1, 0, 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("counts must be >= 0")));
  EXPECT_THAT(InterleavingPreference({0, 0, -5}), StatusIs(absl::StatusCode::kInvalidArgument));
  const int64_t big = int64_t{1} << 61;
  EXPECT_THAT(InterleavingPreference({big, big, big}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2^62")));
}

TEST(InterleavingPreferenceTest, DeltaIntervalCoversAtTheNominalRate) {
  // Trinomial impressions with P(A) = 0.15, P(B) = 0.10, 40 per experiment:
  // the 95% interval must cover delta = 0.05 in 93-97% of 4000 experiments
  // (sd of the coverage share 0.0034).
  Rng rng(77);
  int covered = 0;
  constexpr int kExperiments = 4000;
  for (int e = 0; e < kExperiments; ++e) {
    InterleavingCounts c;
    for (int i = 0; i < 40; ++i) {
      const double u = rng.Uniform();
      c.Add(u < 0.15 ? ImpressionOutcome::kAWins
                     : u < 0.25 ? ImpressionOutcome::kBWins : ImpressionOutcome::kTie);
    }
    ASSERT_OK_AND_ASSIGN(PreferenceEstimate p, InterleavingPreference(c));
    covered += p.delta_low <= 0.05 && 0.05 <= p.delta_high;
  }
  EXPECT_NEAR(covered / double{kExperiments}, 0.95, 0.02);
}

// A planted position-based click model over 30 items: item i has
// attractiveness 0.5 * 0.85^i and position k is examined with probability
// 1 / (k + 1). Ranker A orders the items by attractiveness; B swaps
// neighbours 0-1, 2-3, ... of A, so B is worse but shares A's top items.
TEST(InterleavingStatisticsTest, PlantedClickModelPrefersTheBetterRanker) {
  std::vector<int32_t> a(30), b(30);
  std::iota(a.begin(), a.end(), 0);
  for (int32_t i = 0; i < 30; ++i) b[i] = i ^ 1;
  Rng rng(5);
  InterleavingCounts counts;
  std::vector<int32_t> clicked;
  for (int impression = 0; impression < 5000; ++impression) {
    ASSERT_OK_AND_ASSIGN(auto slate, TeamDraftInterleave(a, b, 10, rng()));
    clicked.clear();
    for (int32_t k = 0; k < 10; ++k) {
      const double p = 0.5 * std::pow(0.85, slate.items[k]) / (k + 1);
      if (rng.Uniform() < p) clicked.push_back(k);
    }
    ASSERT_OK_AND_ASSIGN(ImpressionOutcome o, CreditClicks(slate.teams, clicked));
    counts.Add(o);
  }
  ASSERT_OK_AND_ASSIGN(PreferenceEstimate p, InterleavingPreference(counts));
  EXPECT_GT(p.delta, 0);
  EXPECT_GT(p.delta_low, 0);
  EXPECT_GT(p.win_share_low, 0.5);
  EXPECT_LT(p.sign_test_p_value, 0.01);
}

TEST(InterleavingStatisticsTest, ClicksIndependentOfItemsSplitWinsEvenly) {
  // Two different rankings of 200 items; every position is clicked with
  // probability 0.2 whatever it shows. A's share of the decided impressions
  // must be 0.5: over 20000 impressions about 13600 are decided (a tie needs
  // as many clicks on each side: P = 0.32), sd of the share 0.0043;
  // tolerance 0.02 (4.7 sd).
  Rng rng(99);
  const std::vector<int32_t> a = RandomRanking(200, 200, rng);
  const std::vector<int32_t> b = RandomRanking(200, 200, rng);
  InterleavingCounts counts;
  std::vector<int32_t> clicked;
  for (int impression = 0; impression < 20000; ++impression) {
    ASSERT_OK_AND_ASSIGN(auto slate, TeamDraftInterleave(a, b, 10, rng()));
    clicked.clear();
    for (int32_t k = 0; k < 10; ++k) {
      if (rng.Uniform() < 0.2) clicked.push_back(k);
    }
    ASSERT_OK_AND_ASSIGN(ImpressionOutcome o, CreditClicks(slate.teams, clicked));
    counts.Add(o);
  }
  ASSERT_OK_AND_ASSIGN(PreferenceEstimate p, InterleavingPreference(counts));
  EXPECT_GT(counts.wins_a + counts.wins_b, 9000);
  EXPECT_NEAR(p.win_share_a, 0.5, 0.02);
  EXPECT_LE(p.win_share_low, 0.5);
  EXPECT_GE(p.win_share_high, 0.5);
}

}  // namespace
}  // namespace recbandit::bandits

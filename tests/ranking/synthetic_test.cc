// Tests for ranking/synthetic.h: determinism, sizes, planted structure and the
// truth file round trip.
#include "ranking/synthetic.h"

#include <cmath>
#include <numeric>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::ranking {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;

SyntheticOptions Small(uint64_t seed) {
  SyntheticOptions o;
  o.users = 500;
  o.items = 200;
  o.nnz = 20000;
  o.factors = 5;
  o.seed = seed;
  return o;
}

TEST(SyntheticTest, SameSeedSameDataDifferentSeedDifferentData) {
  ASSERT_OK_AND_ASSIGN(SyntheticData a, GenerateInteractions(Small(1)));
  ASSERT_OK_AND_ASSIGN(SyntheticData b, GenerateInteractions(Small(1)));
  ASSERT_OK_AND_ASSIGN(SyntheticData c, GenerateInteractions(Small(2)));
  EXPECT_EQ(a.log.size(), 20000);
  EXPECT_EQ(a.log.user, b.log.user);
  EXPECT_EQ(a.log.item, b.log.item);
  EXPECT_EQ(a.truth.taste, b.truth.taste);
  EXPECT_NE(a.log.item, c.log.item);
  EXPECT_LE(a.log.users.size(), 500);
  EXPECT_LE(a.log.items.size(), 200);
}

TEST(SyntheticTest, TruthIsAProbabilityDistributionPerUser) {
  ASSERT_OK_AND_ASSIGN(SyntheticData d, GenerateInteractions(Small(3)));
  for (int32_t u = 0; u < 20; ++u) {
    double total = 0;
    for (int32_t i = 0; i < d.truth.num_items(); ++i) total += d.truth.Probability(u, i);
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
}

TEST(SyntheticTest, EmpiricalFrequenciesFollowTheTruth) {
  // Pool all draws of the most active user; its empirical item distribution
  // must be close (total variation) to the planted one.
  SyntheticOptions o = Small(4);
  o.nnz = 200000;
  o.users = 50;
  ASSERT_OK_AND_ASSIGN(SyntheticData d, GenerateInteractions(o));
  std::vector<int64_t> per_user(d.log.users.size(), 0);
  for (int32_t u : d.log.user) ++per_user[u];
  const int32_t dense_user = static_cast<int32_t>(
      std::max_element(per_user.begin(), per_user.end()) - per_user.begin());
  const int32_t user_index = std::stoi(d.log.users.Name(dense_user).substr(1));
  std::vector<double> freq(o.items, 0);
  for (int64_t k = 0; k < d.log.size(); ++k) {
    if (d.log.user[k] != dense_user) continue;
    freq[std::stoi(d.log.items.Name(d.log.item[k]).substr(1))] += 1;
  }
  double tv = 0;
  for (int32_t i = 0; i < o.items; ++i) {
    tv += std::abs(freq[i] / per_user[dense_user] - d.truth.Probability(user_index, i));
  }
  tv /= 2;
  // With thousands of draws over 200 items the sampling TV is well below 0.15.
  EXPECT_GT(per_user[dense_user], 5000);
  EXPECT_LT(tv, 0.15);
}

TEST(SyntheticTest, TruthFileRoundTrips) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(SyntheticData d, GenerateInteractions(Small(5)));
  ASSERT_OK(WritePlantedTruth(dir.File("truth.csv"), d.truth));
  ASSERT_OK_AND_ASSIGN(PlantedTruth t, LoadPlantedTruth(dir.File("truth.csv")));
  EXPECT_EQ(t.taste, d.truth.taste);
  EXPECT_EQ(t.item_cluster, d.truth.item_cluster);
  EXPECT_EQ(t.in_cluster, d.truth.in_cluster);
  EXPECT_EQ(t.global, d.truth.global);
  EXPECT_EQ(t.TopItems(3, 10, {}), d.truth.TopItems(3, 10, {}));
}

TEST(SyntheticTest, TopItemsHonoursExclusions) {
  ASSERT_OK_AND_ASSIGN(SyntheticData d, GenerateInteractions(Small(6)));
  std::vector<int32_t> top = d.truth.TopItems(0, 5, {});
  std::vector<int32_t> exclude = {top[0], top[2]};
  std::sort(exclude.begin(), exclude.end());
  std::vector<int32_t> next = d.truth.TopItems(0, 3, exclude);
  EXPECT_EQ(next, (std::vector<int32_t>{top[1], top[3], top[4]}));
}

TEST(SyntheticTest, RejectsBadOptions) {
  SyntheticOptions o = Small(1);
  o.factors = 0;
  EXPECT_THAT(GenerateInteractions(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = Small(1);
  o.nnz = 0;
  EXPECT_THAT(GenerateInteractions(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = Small(1);
  o.factors = 201;
  EXPECT_THAT(GenerateInteractions(o), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace recbandit::ranking

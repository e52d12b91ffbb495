// Tests for ranking/split.h: partition invariants, determinism and each
// scheme's own property.
#include "ranking/split.h"

#include <algorithm>
#include <map>
#include <set>

#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "ranking/synthetic.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::ranking {
namespace {

using ::recbandit::testing::StatusIs;

InteractionLog MakeLog(uint64_t seed) {
  SyntheticOptions o;
  o.users = 300;
  o.items = 100;
  o.nnz = 6000;
  o.seed = seed;
  auto data = GenerateInteractions(o);
  EXPECT_TRUE(data.ok());
  // Shuffle timestamps so "latest" is not simply "last in the file".
  InteractionLog log = std::move(data->log);
  Rng rng(seed + 99);
  for (auto& t : log.timestamp) t = static_cast<int64_t>(rng.UniformInt(1000));
  return log;
}

void ExpectPartition(const SplitResult& s, int64_t n) {
  std::vector<int64_t> all = s.train;
  all.insert(all.end(), s.test.begin(), s.test.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(static_cast<int64_t>(all.size()), n);
  for (int64_t k = 0; k < n; ++k) ASSERT_EQ(all[k], k) << "row lost or duplicated";
  EXPECT_TRUE(std::is_sorted(s.train.begin(), s.train.end()));
  EXPECT_TRUE(std::is_sorted(s.test.begin(), s.test.end()));
}

class SplitSchemeTest : public ::testing::TestWithParam<SplitScheme> {};

TEST_P(SplitSchemeTest, PartitionsAndIsDeterministic) {
  InteractionLog log = MakeLog(3);
  SplitOptions o;
  o.scheme = GetParam();
  o.seed = 11;
  ASSERT_OK_AND_ASSIGN(SplitResult a, SplitInteractions(log, o));
  ASSERT_OK_AND_ASSIGN(SplitResult b, SplitInteractions(log, o));
  ExpectPartition(a, log.size());
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.test, b.test);
  EXPECT_GT(a.test.size(), 0u);
  EXPECT_GT(a.train.size(), a.test.size());
}

INSTANTIATE_TEST_SUITE_P(AllSchemes, SplitSchemeTest,
                         ::testing::Values(SplitScheme::kRandom, SplitScheme::kLeaveLastOut,
                                           SplitScheme::kUserHoldout));

TEST(SplitTest, RandomFractionIsNearRequestedAndSeedMatters) {
  InteractionLog log = MakeLog(4);
  SplitOptions o;
  o.test_fraction = 0.2;
  o.seed = 1;
  ASSERT_OK_AND_ASSIGN(SplitResult a, SplitInteractions(log, o));
  const double frac = static_cast<double>(a.test.size()) / log.size();
  // Binomial(6000, 0.2): sd = 0.0052, so 4 sd is 0.021.
  EXPECT_NEAR(frac, 0.2, 0.021);
  o.seed = 2;
  ASSERT_OK_AND_ASSIGN(SplitResult b, SplitInteractions(log, o));
  EXPECT_NE(a.test, b.test);
}

TEST(SplitTest, LeaveLastOutHoldsOutEachUsersLatest) {
  InteractionLog log = MakeLog(5);
  SplitOptions o;
  o.scheme = SplitScheme::kLeaveLastOut;
  ASSERT_OK_AND_ASSIGN(SplitResult s, SplitInteractions(log, o));
  std::map<int32_t, int> count;
  for (int64_t k = 0; k < log.size(); ++k) ++count[log.user[k]];
  std::map<int32_t, int64_t> test_row;
  for (int64_t r : s.test) {
    ASSERT_EQ(test_row.count(log.user[r]), 0u) << "two test rows for one user";
    test_row[log.user[r]] = r;
  }
  for (auto [u, c] : count) {
    EXPECT_EQ(test_row.count(u), c >= 2 ? 1u : 0u);
  }
  for (int64_t r : s.train) {
    auto it = test_row.find(log.user[r]);
    if (it == test_row.end()) continue;
    const int64_t t = it->second;
    // The held-out row is the latest; ties go to the later row in the file.
    EXPECT_TRUE(log.timestamp[r] < log.timestamp[t] ||
                (log.timestamp[r] == log.timestamp[t] && r < t));
  }
}

TEST(SplitTest, UserHoldoutKeepsOldestInTrainNewestInTest) {
  InteractionLog log = MakeLog(6);
  SplitOptions o;
  o.scheme = SplitScheme::kUserHoldout;
  o.test_fraction = 0.1;
  ASSERT_OK_AND_ASSIGN(SplitResult s, SplitInteractions(log, o));
  std::set<int32_t> held;
  for (int64_t r : s.test) held.insert(log.user[r]);
  // About 10% of users are held out (300 users; generous bound).
  EXPECT_GT(held.size(), 10u);
  EXPECT_LT(held.size(), 60u);
  for (int32_t u : held) {
    std::vector<int64_t> train_ts, test_ts;
    for (int64_t r : s.train) if (log.user[r] == u) train_ts.push_back(log.timestamp[r]);
    for (int64_t r : s.test) if (log.user[r] == u) test_ts.push_back(log.timestamp[r]);
    const size_t total = train_ts.size() + test_ts.size();
    EXPECT_EQ(test_ts.size(), std::max<size_t>(1, total / 10));
    if (!train_ts.empty()) {
      EXPECT_LE(*std::max_element(train_ts.begin(), train_ts.end()),
                *std::min_element(test_ts.begin(), test_ts.end()));
    }
  }
}

TEST(SplitTest, UserHoldoutChoiceDoesNotDependOnFileOrder) {
  InteractionLog log = MakeLog(7);
  SplitOptions o;
  o.scheme = SplitScheme::kUserHoldout;
  ASSERT_OK_AND_ASSIGN(SplitResult a, SplitInteractions(log, o));
  // Same rows, reversed order.
  InteractionLog rev;
  for (int64_t k = log.size() - 1; k >= 0; --k) {
    rev.Add(rev.users.GetOrAdd(log.users.Name(log.user[k])),
            rev.items.GetOrAdd(log.items.Name(log.item[k])), log.weight[k], log.timestamp[k]);
  }
  ASSERT_OK_AND_ASSIGN(SplitResult b, SplitInteractions(rev, o));
  std::set<std::string> ua, ub;
  for (int64_t r : a.test) ua.insert(log.users.Name(log.user[r]));
  for (int64_t r : b.test) ub.insert(rev.users.Name(rev.user[r]));
  EXPECT_EQ(ua, ub);
}

TEST(SplitTest, RejectsBadFractions) {
  InteractionLog log = MakeLog(8);
  SplitOptions o;
  o.test_fraction = 1.5;
  EXPECT_THAT(SplitInteractions(log, o), StatusIs(absl::StatusCode::kInvalidArgument));
  o.test_fraction = 0;
  EXPECT_THAT(SplitInteractions(log, o), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseSplitScheme("by_time"), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace recbandit::ranking

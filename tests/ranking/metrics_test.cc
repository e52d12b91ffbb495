// Tests for ranking/metrics.h and ranking/topk.h: every metric against a
// hand-computed value, averaging and filtering rules, top-K ordering, and the
// blocked scoring kernel against a naive loop.
#include "ranking/metrics.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ranking/popularity.h"
#include "ranking/topk.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::ranking {
namespace {

using ::recbandit::testing::StatusIs;

CsrMatrix Csr(int32_t cols, const std::vector<std::vector<int32_t>>& rows) {
  CsrMatrix m;
  m.rows = static_cast<int32_t>(rows.size());
  m.cols = cols;
  m.indptr.push_back(0);
  for (const auto& r : rows) {
    for (int32_t c : r) {
      m.indices.push_back(c);
      m.values.push_back(1.0f);
    }
    m.indptr.push_back(m.indices.size());
  }
  return m;
}

// Per-user scores from a table.
BatchScorer Table(std::vector<std::vector<float>> table) {
  return [table](absl::Span<const int32_t> users, absl::Span<float> out) {
    const size_t n = table[0].size();
    for (size_t b = 0; b < users.size(); ++b) {
      std::copy(table[users[b]].begin(), table[users[b]].end(), out.begin() + b * n);
    }
  };
}

TEST(MetricsTest, OneUserHandComputed) {
  // Scores rank items 0 > 1 > 2 > 3 > 4; item 0 is a training item, so the
  // ranking is 1, 2 | 3, 4 with K = 2. Test items {2, 4}: one hit at rank 2.
  const CsrMatrix train = Csr(5, {{0}});
  const CsrMatrix test = Csr(5, {{2, 4}});
  EvaluateOptions o;
  o.k = 2;
  ASSERT_OK_AND_ASSIGN(RankingMetrics m,
                       EvaluateRanking(train, test, Table({{0.9f, 0.8f, 0.7f, 0.6f, 0.5f}}), o));
  EXPECT_EQ(m.users_evaluated(), 1);
  EXPECT_DOUBLE_EQ(m.precision_at_k(), 0.5);
  EXPECT_DOUBLE_EQ(m.recall_at_k(), 0.5);
  const double dcg = 1 / std::log2(3.0), idcg = 1 + 1 / std::log2(3.0);
  EXPECT_NEAR(m.ndcg_at_k(), dcg / idcg, 1e-12);  // 0.38685
  EXPECT_DOUBLE_EQ(m.map_at_k(), 0.25);            // (1/2) / min(2, 2)
  EXPECT_DOUBLE_EQ(m.mrr(), 0.5);
  EXPECT_DOUBLE_EQ(m.hit_rate(), 1.0);
  EXPECT_DOUBLE_EQ(m.coverage(), 0.4);  // items 1, 2 of 5
  // Negatives {1, 3}; positives 2 (0.7) beats 3 only, 4 (0.5) beats none.
  EXPECT_DOUBLE_EQ(m.auc(), 0.25);
}

TEST(MetricsTest, AveragesOverUsersWithHeldOutItemsOnly) {
  // user 0: test {0}, ranked first -> all 1, AUC 1.
  // user 1: no test items -> skipped.
  // user 2: only test item is also a training item -> skipped.
  // user 3: test {3}, scores tie everywhere: top 2 = {0, 1} (lower index
  //         wins ties), no hit; AUC 0.5 (all ties).
  const CsrMatrix train = Csr(4, {{}, {1}, {2}, {}});
  const CsrMatrix test = Csr(4, {{0}, {}, {2}, {3}});
  EvaluateOptions o;
  o.k = 2;
  o.threads = 2;
  ASSERT_OK_AND_ASSIGN(RankingMetrics m,
                       EvaluateRanking(train, test,
                                       Table({{4, 3, 2, 1}, {0, 0, 0, 0}, {0, 0, 0, 0},
                                              {1, 1, 1, 1}}),
                                       o));
  EXPECT_EQ(m.users_evaluated(), 2);
  EXPECT_DOUBLE_EQ(m.precision_at_k(), (0.5 + 0) / 2);
  EXPECT_DOUBLE_EQ(m.recall_at_k(), (1 + 0) / 2.0);
  EXPECT_DOUBLE_EQ(m.ndcg_at_k(), 0.5);
  EXPECT_DOUBLE_EQ(m.map_at_k(), 0.5);
  EXPECT_DOUBLE_EQ(m.mrr(), 0.5);
  EXPECT_DOUBLE_EQ(m.hit_rate(), 0.5);
  EXPECT_DOUBLE_EQ(m.auc(), (1 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(m.coverage(), 0.5);  // {0, 1}
}

TEST(MetricsTest, MapAndNdcgWithSeveralHits) {
  // Ranking 0..4, test {0, 2, 3}, K = 4: hits at ranks 1, 3, 4.
  const CsrMatrix train = Csr(6, {{}});
  const CsrMatrix test = Csr(6, {{0, 2, 3}});
  EvaluateOptions o;
  o.k = 4;
  ASSERT_OK_AND_ASSIGN(
      RankingMetrics m,
      EvaluateRanking(train, test, Table({{6, 5, 4, 3, 2, 1}}), o));
  EXPECT_DOUBLE_EQ(m.precision_at_k(), 0.75);
  EXPECT_DOUBLE_EQ(m.recall_at_k(), 1.0);
  EXPECT_NEAR(m.map_at_k(), (1.0 + 2.0 / 3 + 3.0 / 4) / 3, 1e-12);
  const double dcg = 1 + 1 / std::log2(4.0) + 1 / std::log2(5.0);
  const double idcg = 1 + 1 / std::log2(3.0) + 1 / std::log2(4.0);
  EXPECT_NEAR(m.ndcg_at_k(), dcg / idcg, 1e-12);
  EXPECT_DOUBLE_EQ(m.mrr(), 1.0);
  // Negatives {1, 4, 5}: 0 beats all 3, 2 beats 4 and 5, 3 beats 4 and 5.
  EXPECT_NEAR(m.auc(), 7.0 / 9, 1e-12);
}

TEST(MetricsTest, RejectsBadArguments) {
  const CsrMatrix a = Csr(3, {{0}});
  const CsrMatrix b = Csr(4, {{0}});
  EXPECT_THAT(EvaluateRanking(a, b, Table({{0, 0, 0}}), EvaluateOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EvaluateOptions o;
  o.k = 0;
  EXPECT_THAT(EvaluateRanking(a, a, Table({{0, 0, 0}}), o),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(TopKTest, OrdersByScoreThenIndexAndSkipsExcluded) {
  const std::vector<float> s = {0.5f, 0.9f, 0.5f, 0.1f, 0.9f};
  std::vector<ScoredIndex> top = TopK(s, 3, {});
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].index, 1);
  EXPECT_EQ(top[1].index, 4);
  EXPECT_EQ(top[2].index, 0);
  const std::vector<int32_t> exclude = {1, 2};
  top = TopK(s, 10, exclude);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].index, 4);
  EXPECT_EQ(top[1].index, 0);
  EXPECT_EQ(top[2].index, 3);
  EXPECT_TRUE(TopK(s, 0, {}).empty());
}

TEST(TopKTest, ScoreBlockMatchesNaiveLoop) {
  const int32_t d = 5, b = 7, n = 300;
  std::vector<float> u(b * d), y(n * d), bias(n), out(b * n);
  for (size_t i = 0; i < u.size(); ++i) u[i] = std::sin(i * 0.7f);
  for (size_t i = 0; i < y.size(); ++i) y[i] = std::cos(i * 0.3f);
  for (int i = 0; i < n; ++i) bias[i] = 0.01f * i;
  ScoreBlock(u, y, d, bias, absl::MakeSpan(out));
  for (int r = 0; r < b; ++r) {
    for (int i = 0; i < n; ++i) {
      double e = bias[i];
      for (int f = 0; f < d; ++f) e += u[r * d + f] * y[i * d + f];
      EXPECT_NEAR(out[r * n + i], e, 1e-5) << r << "," << i;
    }
  }
}

TEST(PopularityTest, SharesOfInteractions) {
  const CsrMatrix m = Csr(3, {{0, 1}, {1}, {1, 2}});
  EXPECT_THAT(ItemPopularity(m), ::testing::ElementsAre(0.2f, 0.6f, 0.2f));
}

TEST(MetricsTest, SeveralCutoffsHandComputedFromOnePass) {
  // Ranking (item 0 trained): 1, 2, 3, 4. Test items {2, 4}.
  // k=1: no hit. k=2: hit at rank 2. k=4: hits at ranks 2 and 4.
  const CsrMatrix train = Csr(5, {{0}});
  const CsrMatrix test = Csr(5, {{2, 4}});
  ASSERT_OK_AND_ASSIGN(std::vector<RankingMetrics> at,
                       EvaluateRankingAtCutoffs(train, test,
                                                Table({{0.9f, 0.8f, 0.7f, 0.6f, 0.5f}}),
                                                std::vector<int32_t>{1, 2, 4}, 1));
  ASSERT_EQ(at.size(), 3u);
  EXPECT_EQ(at[0].k(), 1);
  EXPECT_DOUBLE_EQ(at[0].precision_at_k(), 0);
  EXPECT_DOUBLE_EQ(at[0].mrr(), 0);
  EXPECT_DOUBLE_EQ(at[0].coverage(), 0.2);  // item 1 of 5
  EXPECT_EQ(at[1].k(), 2);
  EXPECT_DOUBLE_EQ(at[1].precision_at_k(), 0.5);
  EXPECT_DOUBLE_EQ(at[1].map_at_k(), 0.25);
  EXPECT_DOUBLE_EQ(at[2].precision_at_k(), 0.5);
  EXPECT_DOUBLE_EQ(at[2].recall_at_k(), 1.0);
  EXPECT_DOUBLE_EQ(at[2].map_at_k(), (1.0 / 2 + 2.0 / 4) / 2);
  EXPECT_DOUBLE_EQ(at[2].mrr(), 0.5);
  EXPECT_DOUBLE_EQ(at[2].coverage(), 0.8);
  const double dcg = 1 / std::log2(3.0) + 1 / std::log2(5.0), idcg = 1 + 1 / std::log2(3.0);
  EXPECT_NEAR(at[2].ndcg_at_k(), dcg / idcg, 1e-12);
  // AUC does not depend on k.
  EXPECT_DOUBLE_EQ(at[0].auc(), at[2].auc());
}

TEST(MetricsTest, SeveralCutoffsEqualOneEvaluationPerCutoff) {
  // Oracle: each cut-off of the one-pass evaluation equals EvaluateRanking
  // at that k, on 40 users x 60 items with ties in the scores.
  std::vector<std::vector<int32_t>> train_rows, test_rows;
  std::vector<std::vector<float>> table;
  for (int32_t u = 0; u < 40; ++u) {
    std::vector<int32_t> tr, te;
    std::vector<float> scores;
    for (int32_t i = 0; i < 60; ++i) {
      const int32_t h = (u * 37 + i * 11) % 13;
      if (h == 0) tr.push_back(i);
      if (h == 5 || h == 7) te.push_back(i);
      scores.push_back(static_cast<float>((u * 7 + i * 3) % 17));
    }
    train_rows.push_back(tr);
    test_rows.push_back(te);
    table.push_back(scores);
  }
  const CsrMatrix train = Csr(60, train_rows), test = Csr(60, test_rows);
  const std::vector<int32_t> ks = {3, 5, 10, 25};
  ASSERT_OK_AND_ASSIGN(std::vector<RankingMetrics> at,
                       EvaluateRankingAtCutoffs(train, test, Table(table), ks, 3));
  for (size_t c = 0; c < ks.size(); ++c) {
    EvaluateOptions o;
    o.k = ks[c];
    ASSERT_OK_AND_ASSIGN(RankingMetrics one, EvaluateRanking(train, test, Table(table), o));
    EXPECT_EQ(at[c].SerializeAsString(), one.SerializeAsString()) << ks[c];
  }
}

TEST(MetricsTest, CutoffListsAreParsedAndBounded) {
  ASSERT_OK_AND_ASSIGN(std::vector<int32_t> ks, ParseCutoffs("25, 5,10,5", "--metrics_k"));
  EXPECT_EQ(ks, (std::vector<int32_t>{5, 10, 25}));
  EXPECT_THAT(ParseCutoffs("5,0", "--metrics_k"),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("--metrics_k")));
  EXPECT_THAT(ParseCutoffs("1001", "f"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseCutoffs("", "f"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseCutoffs("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "f"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(EvaluateRankingAtCutoffs(Csr(2, {{0}}), Csr(2, {{1}}), Table({{1, 2}}),
                                       std::vector<int32_t>{5, 3}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace recbandit::ranking

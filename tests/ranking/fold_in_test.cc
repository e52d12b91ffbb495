// Tests for ranking/fold_in.h: a trained user's folded-in vector is close to
// its trained vector; bad input is rejected; EventWeighting weighs events as
// training (Reweight + the CSR sum) weighs rows.
#include "ranking/fold_in.h"

#include <cmath>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ranking/als.h"
#include "ranking/train_params.h"
#include "ranking/bpr.h"
#include "ranking/synthetic.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::ranking {
namespace {

using ::recbandit::testing::StatusIs;

TEST(FoldInTest, TrainedUserFoldsInWithinCosine0999) {
  SyntheticOptions so;
  so.users = 300;
  so.items = 120;
  so.nnz = 10000;
  so.factors = 4;
  const Interactions x = Interactions::FromLog(GenerateInteractions(so)->log);
  AlsOptions o;
  o.factors = 8;
  o.iterations = 25;
  o.alpha = 2;
  o.regularization = 0.5f;
  o.solver = AlsOptions::Solver::kCholesky;
  ASSERT_OK_AND_ASSIGN(FactorState s, AlsTrainer(o).Fit(x));
  ModelManifest manifest;
  *manifest.mutable_params() = AlsOptionsToParams(o);
  ASSERT_OK_AND_ASSIGN(FactorModel m,
                       FactorModel::Create(x.users(), x.items(), o.factors, s.user_factors,
                                           s.item_factors, {}, manifest));
  const FoldInOptions fo = FoldInOptionsFor(m);
  EXPECT_EQ(fo.alpha, 2.0f);
  EXPECT_EQ(fo.regularization, 0.5f);
  FoldIn fold_in(m, fo);
  double worst = 1;
  for (int32_t u = 0; u < x.num_users(); ++u) {
    ASSERT_OK_AND_ASSIGN(std::vector<float> v,
                         fold_in.UserVector(x.user_items().RowIndices(u),
                                            x.user_items().RowValues(u)));
    const absl::Span<const float> t = m.UserVector(u);
    double dot = 0, a = 0, b = 0;
    for (int f = 0; f < o.factors; ++f) {
      dot += v[f] * t[f];
      a += v[f] * v[f];
      b += t[f] * t[f];
    }
    worst = std::min(worst, dot / std::sqrt(a * b));
  }
  // The trained vector was solved against the previous iteration's item
  // factors; after 25 iterations the two agree to cosine >= 0.999 (worst
  // user on this data: 0.99953; 0.99920 after 20, 0.99866 after 15).
  EXPECT_GE(worst, 0.999);
}

TEST(FoldInTest, WorksOnBprItemFactors) {
  // BPR models take the same solve with default alpha / lambda. The folded-in
  // vector must rank the user's own items above the rest: mean AUC of a
  // user's items against all others >= 0.9 over the first 50 users.
  SyntheticOptions so;
  so.users = 300;
  so.items = 120;
  so.nnz = 10000;
  so.factors = 4;
  const Interactions x = Interactions::FromLog(GenerateInteractions(so)->log);
  BprOptions o;
  o.factors = 8;
  o.epochs = 30;
  o.learning_rate = 0.05f;
  ASSERT_OK_AND_ASSIGN(FactorState s, BprTrainer(o).Fit(x));
  ModelManifest manifest;
  *manifest.mutable_params() = BprOptionsToParams(o);
  ASSERT_OK_AND_ASSIGN(FactorModel m,
                       FactorModel::Create(x.users(), x.items(), o.factors, s.user_factors,
                                           s.item_factors, {}, manifest));
  EXPECT_EQ(FoldInOptionsFor(m).alpha, FoldInOptions().alpha);
  FoldIn fold_in(m, FoldInOptionsFor(m));
  double auc_sum = 0;
  for (int32_t u = 0; u < 50; ++u) {
    const auto items = x.user_items().RowIndices(u);
    ASSERT_OK_AND_ASSIGN(std::vector<float> v, fold_in.UserVector(items, {}));
    std::vector<float> scores(m.num_items());
    for (int32_t i = 0; i < m.num_items(); ++i) {
      const auto y = m.ItemVector(i);
      for (int f = 0; f < o.factors; ++f) scores[i] += v[f] * y[f];
    }
    double wins = 0, pairs = 0;
    for (int32_t p : items) {
      for (int32_t j = 0; j < m.num_items(); ++j) {
        if (x.user_items().Contains(u, j)) continue;
        wins += scores[p] > scores[j] ? 1 : (scores[p] == scores[j] ? 0.5 : 0);
        ++pairs;
      }
    }
    auc_sum += pairs > 0 ? wins / pairs : 1.0;
  }
  EXPECT_GE(auc_sum / 50, 0.9);
}

TEST(FoldInTest, RejectsBadItemsAndWeights) {
  IdMap users, items;
  users.GetOrAdd("u");
  items.GetOrAdd("a");
  items.GetOrAdd("b");
  ASSERT_OK_AND_ASSIGN(FactorModel m, FactorModel::Create(users, items, 2, {1, 1},
                                                          {1, 0, 0, 1}, {}, ModelManifest()));
  FoldIn f(m, FoldInOptions());
  const std::vector<int32_t> bad = {5};
  EXPECT_THAT(f.UserVector(bad, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  const std::vector<int32_t> good = {0};
  const std::vector<float> two = {1, 2};
  EXPECT_THAT(f.UserVector(good, two), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(std::vector<float> v, f.UserVector(good, {}));
  EXPECT_GT(v[0], 0.1f);  // leans toward item a
  EXPECT_NEAR(v[1], 0.0f, 1e-6);
}

TEST(EventWeightingTest, KnownAnswers) {
  TrainParams params;
  params.set_algo(ALS);
  (*params.mutable_event_weights())["click"] = 1;
  (*params.mutable_event_weights())["purchase"] = 5;
  (*params.mutable_event_weights())["view"] = 0;
  ASSERT_OK_AND_ASSIGN(EventWeighting w, EventWeighting::FromParams(params));
  EXPECT_EQ(w.EventWeight(1, "purchase"), 5);
  EXPECT_EQ(w.EventWeight(2, "purchase"), 10);
  EXPECT_EQ(w.EventWeight(2, "click"), 2);
  EXPECT_EQ(w.EventWeight(4, "view"), 0);   // weighed 0: dropped
  EXPECT_EQ(w.EventWeight(3, "share"), 3);  // not listed: x1
  EXPECT_EQ(w.EventWeight(3, ""), 3);       // no type: x1
  EXPECT_FALSE(w.unit_weights());
  EXPECT_EQ(w.ItemWeight(7), 7);

  params.set_min_weight(2);  // after the type's multiplier
  ASSERT_OK_AND_ASSIGN(w, EventWeighting::FromParams(params));
  EXPECT_EQ(w.EventWeight(1, "click"), 0);
  EXPECT_EQ(w.EventWeight(2, "click"), 2);
  EXPECT_EQ(w.EventWeight(1, "purchase"), 5);

  params.set_binary(true);
  ASSERT_OK_AND_ASSIGN(w, EventWeighting::FromParams(params));
  EXPECT_TRUE(w.unit_weights());
  EXPECT_EQ(w.ItemWeight(7), 1);
  EXPECT_EQ(w.EventWeight(1, "click"), 0);  // binary keeps only what min_weight keeps

  TrainParams bpr;
  bpr.set_algo(BPR);
  ASSERT_OK_AND_ASSIGN(w, EventWeighting::FromParams(bpr));
  EXPECT_TRUE(w.unit_weights());

  // An old or imported model's manifest has no weighting: own weights.
  ASSERT_OK_AND_ASSIGN(w, EventWeighting::FromParams(TrainParams()));
  EXPECT_EQ(w.EventWeight(2.5f, "purchase"), 2.5f);
  EXPECT_FALSE(w.unit_weights());

  TrainParams bad;
  (*bad.mutable_event_weights())["click"] = -1;
  EXPECT_THAT(EventWeighting::FromParams(bad), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Oracle: the training path itself. One user's typed rows go through
// Reweight and Interactions::FromLog (duplicates summed); the per-item sums
// of EventWeight, through ItemWeight, must equal the trained row's values.
TEST(EventWeightingTest, MatchesTrainingsReweightAndDuplicateSum) {
  const std::string rows =
      "u,a,1,1,click\nu,a,1,2,purchase\nu,b,2,3,view\nu,c,3,4\nu,a,0.5,5,click\n"
      "u,c,1,6,purchase\nu,d,1,7,click\nu,d,4,8,view\n";
  struct Case {
    float min_weight;
    bool binary;
  };
  for (const Case& c : {Case{0, false}, Case{1, false}, Case{3, false}, Case{0, true},
                        Case{1, true}}) {
    TrainParams params;
    params.set_algo(ALS);
    (*params.mutable_event_weights())["click"] = 1;
    (*params.mutable_event_weights())["purchase"] = 5;
    (*params.mutable_event_weights())["view"] = 0;
    params.set_min_weight(c.min_weight);
    params.set_binary(c.binary);
    ASSERT_OK_AND_ASSIGN(InteractionLog log, ParseInteractions(rows, "e.csv"));
    std::map<std::string, float> sums;  // item -> summed event weights (kept only)
    ASSERT_OK_AND_ASSIGN(EventWeighting w, EventWeighting::FromParams(params));
    for (int64_t r = 0; r < log.size(); ++r) {
      const float x = w.EventWeight(log.weight[r], log.EventTypeName(r));
      if (x > 0) sums[log.items.Name(log.item[r])] += x;
    }
    std::map<std::string, float> folded;
    for (const auto& [item, sum] : sums) folded[item] = w.ItemWeight(sum);

    ASSERT_OK(Reweight(WeightingFromParams(params), "e.csv", &log).status());
    const Interactions trained = Interactions::FromLog(log);
    std::map<std::string, float> want;
    const absl::Span<const int32_t> items = trained.user_items().RowIndices(0);
    const absl::Span<const float> values = trained.user_items().RowValues(0);
    for (size_t j = 0; j < items.size(); ++j) want[trained.items().Name(items[j])] = values[j];
    EXPECT_EQ(folded, want) << "min_weight " << c.min_weight << " binary " << c.binary;
    if (c.min_weight == 0 && !c.binary) {
      // a = 1 + 5 + 0.5, b's view dropped, c = 3 + 5, d = 1 (its view dropped).
      EXPECT_EQ(folded, (std::map<std::string, float>{{"a", 6.5f}, {"c", 8}, {"d", 1}}));
    }
  }
}

}  // namespace
}  // namespace recbandit::ranking

// Tests for services/serving/serving_model.h: recommend = retrieve -> exact rescoring
// for known, folded-in and cold users; exclusions; similar items on planted
// clusters; load from a model directory; hot swap under concurrent readers;
// stored events folded in with the model's event weights (oracle: FoldIn with
// hand-computed weights; known answers on a two-item model).
#include "services/serving/serving_model.h"

#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "bandits/log/event_log.h"
#include "proto/core/random.h"
#include "ranking/fold_in.h"
#include "services/serving/store_events.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::FloatNear;

constexpr int32_t kDim = 16;
constexpr int32_t kClusters = 10;

// Items in 10 tight clusters (item i is in cluster i % 10); users near one
// cluster centre; each user has seen 5 items. Item names carry `prefix`.
ranking::FactorModel PlantedModel(const std::string& prefix, int32_t users, int32_t items,
                                  uint64_t seed, const TrainParams& params = TrainParams()) {
  Rng rng(seed);
  std::vector<float> centres(kClusters * kDim);
  for (float& c : centres) c = static_cast<float>(rng.Normal());
  ranking::IdMap user_ids, item_ids;
  std::vector<float> uf(static_cast<size_t>(users) * kDim), vf(static_cast<size_t>(items) * kDim);
  for (int32_t i = 0; i < items; ++i) {
    item_ids.GetOrAdd(prefix + std::to_string(i));
    for (int j = 0; j < kDim; ++j) {
      vf[i * kDim + j] = centres[(i % kClusters) * kDim + j] + 0.1f * static_cast<float>(rng.Normal());
    }
  }
  ranking::CsrMatrix seen;
  seen.rows = users;
  seen.cols = items;
  seen.indptr.push_back(0);
  for (int32_t u = 0; u < users; ++u) {
    user_ids.GetOrAdd("user" + std::to_string(u));
    const int32_t c = u % kClusters;
    for (int j = 0; j < kDim; ++j) uf[u * kDim + j] = centres[c * kDim + j];
    std::set<int32_t> s;
    while (s.size() < 5) s.insert(static_cast<int32_t>(rng.UniformInt(items)));
    for (int32_t i : s) {
      seen.indices.push_back(i);
      seen.values.push_back(1.f);
    }
    seen.indptr.push_back(static_cast<int64_t>(seen.indices.size()));
  }
  ModelManifest manifest;
  manifest.set_name("planted");
  *manifest.mutable_params() = params;
  auto model = ranking::FactorModel::Create(std::move(user_ids), std::move(item_ids), kDim,
                                            std::move(uf), std::move(vf), {}, manifest, &seen);
  EXPECT_TRUE(model.ok()) << model.status();
  return std::move(model).value();
}

std::shared_ptr<const ServingModel> Serve(ranking::FactorModel model, const std::string& kind,
                                          int64_t version = 1) {
  auto index = retrieval::BuildItemIndex(kind, model.item_factors(), model.factors(), {});
  EXPECT_TRUE(index.ok()) << index.status();
  auto serving = ServingModel::Create(std::move(model), std::move(index).value(), "m", version);
  EXPECT_TRUE(serving.ok()) << serving.status();
  return std::move(serving).value();
}

// Oracle: exact scores over every allowed item.
std::vector<std::string> BruteForce(const ServingModel& s, int32_t u, int32_t k,
                                    const std::set<int32_t>& exclude) {
  const auto& m = s.model();
  std::vector<std::pair<float, int32_t>> all;
  for (int32_t i = 0; i < m.num_items(); ++i) {
    if (exclude.count(i)) continue;
    all.emplace_back(-m.Score(u, i), i);
  }
  std::sort(all.begin(), all.end());
  std::vector<std::string> out;
  for (int32_t j = 0; j < k; ++j) out.push_back(m.items().Name(all[j].second));
  return out;
}

std::vector<std::string> Names(const Recommendation& r) {
  std::vector<std::string> out;
  for (const auto& it : r.items) out.push_back(it.item);
  return out;
}

TEST(ServingModelTest, KnownUserMatchesExactOracleAndExcludesSeen) {
  auto serving = Serve(PlantedModel("i", 50, 400, 1), "Exact");
  for (int32_t u = 0; u < 50; ++u) {
    RecommendQuery q;
    q.user = "user" + std::to_string(u);
    q.k = 10;
    q.exclude_items = {"i3", "i13", "nope"};
    ASSERT_OK_AND_ASSIGN(Recommendation r, serving->Recommend(q));
    EXPECT_FALSE(r.fallback);
    std::set<int32_t> exclude = {3, 13};
    for (int32_t i : serving->model().SeenItems(u)) exclude.insert(i);
    EXPECT_EQ(Names(r), BruteForce(*serving, u, 10, exclude)) << q.user;
  }
}

TEST(ServingModelTest, ApproximateIndexWithRescoringFindsTheSameTopItems) {
  auto serving = Serve(PlantedModel("i", 50, 2000, 2), "HNSW16");
  double hits = 0;
  for (int32_t u = 0; u < 50; ++u) {
    RecommendQuery q;
    q.user = "user" + std::to_string(u);
    ASSERT_OK_AND_ASSIGN(Recommendation r, serving->Recommend(q));
    ASSERT_EQ(r.items.size(), 10u);
    std::set<int32_t> exclude;
    for (int32_t i : serving->model().SeenItems(u)) exclude.insert(i);
    std::vector<std::string> truth = BruteForce(*serving, u, 10, exclude);
    std::set<std::string> want(truth.begin(), truth.end());
    for (const auto& name : Names(r)) hits += want.count(name);
    for (size_t j = 1; j < r.items.size(); ++j) EXPECT_GE(r.items[j - 1].score, r.items[j].score);
  }
  // Stated floor: 90% of the exact top 10 after rescoring 50 HNSW candidates.
  EXPECT_GE(hits / 500.0, 0.9);
}

TEST(ServingModelTest, BatchEqualsOneAtATime) {
  auto serving = Serve(PlantedModel("i", 60, 1500, 11), "HNSW16");
  ASSERT_OK_AND_ASSIGN(std::vector<Recommendation> batch,
                       serving->RecommendBatch({}, 10, true, {}, 2));
  ASSERT_EQ(batch.size(), 60u);
  for (int32_t u = 0; u < 60; ++u) {
    RecommendQuery q;
    q.user = serving->model().users().Name(u);
    ASSERT_OK_AND_ASSIGN(Recommendation one, serving->Recommend(q));
    EXPECT_EQ(Names(batch[u]), Names(one)) << q.user;
  }
}

// A filter with fixed rows, whatever the model.
class FixedRows : public RowFilter {
 public:
  explicit FixedRows(FilteredRows rows) : rows_(std::make_shared<FilteredRows>(std::move(rows))) {}
  std::shared_ptr<const FilteredRows> Rows(const ServingModel&) const override { return rows_; }
  bool AllowsRecord(const std::string&, const CatalogItem&) const override { return true; }

 private:
  std::shared_ptr<const FilteredRows> rows_;
};

TEST(ServingModelTest, FilteredBatchEqualsOneAtATimeOnBothPaths) {
  // Rows of clusters 0..2 allowed: 450 of 1500. Scanned (450 <= 1000) or
  // searched with the other 1050 excluded (scan_rows 10): the batch must
  // equal one-at-a-time filtered Recommend calls, and hold allowed rows only.
  auto serving = Serve(PlantedModel("i", 60, 1500, 11), "HNSW16");
  std::vector<int32_t> allowed;
  for (int32_t i = 0; i < 1500; ++i) {
    if (i % kClusters < 3) allowed.push_back(i);
  }
  for (size_t scan_rows : {size_t{1000}, size_t{10}}) {
    SCOPED_TRACE(scan_rows);
    auto filter = std::make_shared<FixedRows>(FilteredRows::FromAllowed(allowed, 1500, scan_rows));
    std::shared_ptr<const FilteredRows> rows = filter->Rows(*serving);
    EXPECT_EQ(rows->scan, scan_rows == 1000);
    ASSERT_OK_AND_ASSIGN(std::vector<Recommendation> batch,
                         serving->RecommendBatch({}, 10, true, {}, 2, rows.get()));
    ASSERT_EQ(batch.size(), 60u);
    for (int32_t u = 0; u < 60; ++u) {
      RecommendQuery q;
      q.user = serving->model().users().Name(u);
      q.filter = filter;
      ASSERT_OK_AND_ASSIGN(Recommendation one, serving->Recommend(q));
      EXPECT_EQ(Names(batch[u]), Names(one)) << q.user;
      ASSERT_EQ(batch[u].items.size(), 10u);
      for (const ScoredItemId& s : batch[u].items) {
        EXPECT_LT(std::stoi(s.item.substr(1)) % kClusters, 3) << s.item;
      }
    }
  }
}

TEST(ServingModelTest, ColdUserGetsPopularityFallback) {
  auto serving = Serve(PlantedModel("i", 30, 100, 3), "Exact");
  RecommendQuery q;
  q.user = "stranger";
  q.k = 5;
  ASSERT_OK_AND_ASSIGN(Recommendation r, serving->Recommend(q));
  EXPECT_TRUE(r.fallback);
  ASSERT_EQ(r.items.size(), 5u);
  const auto& pop = serving->model().item_popularity();
  const float max_pop = *std::max_element(pop.begin(), pop.end());
  EXPECT_EQ(pop[serving->model().items().Find(r.items[0].item)], max_pop);
  for (size_t j = 1; j < r.items.size(); ++j) EXPECT_GE(r.items[j - 1].score, r.items[j].score);
}

TEST(ServingModelTest, RecentItemsAreFoldedInAndExcluded) {
  auto serving = Serve(PlantedModel("i", 30, 300, 4), "Exact");
  RecommendQuery q;
  q.user = "new-visitor";
  q.recent_items = {"i7", "i17", "i27"};  // all from cluster 7
  ASSERT_OK_AND_ASSIGN(Recommendation r, serving->Recommend(q));
  EXPECT_FALSE(r.fallback);
  for (const auto& it : r.items) {
    EXPECT_NE(it.item, "i7");
    EXPECT_NE(it.item, "i17");
    // The folded-in taste is cluster 7: recommendations come from it.
    EXPECT_EQ(std::stoi(it.item.substr(1)) % kClusters, 7) << it.item;
  }
}

TEST(ServingModelTest, SimilarItemsAreFromTheSameClusterAndNeverTheItem) {
  auto serving = Serve(PlantedModel("i", 10, 500, 5), "HNSW16");
  for (int32_t i = 0; i < 50; ++i) {
    ASSERT_OK_AND_ASSIGN(Recommendation r, serving->Similar("i" + std::to_string(i), 10));
    ASSERT_EQ(r.items.size(), 10u);
    int same = 0;
    for (const auto& it : r.items) {
      EXPECT_NE(it.item, "i" + std::to_string(i));
      same += std::stoi(it.item.substr(1)) % kClusters == i % kClusters;
    }
    EXPECT_GE(same, 9);
  }
  EXPECT_THAT(serving->Similar("nope", 10), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(serving->Similar("i1", 0), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ServingModelTest, RankItemsOrdersByScoreUnknownLast) {
  auto serving = Serve(PlantedModel("i", 10, 100, 6), "Exact");
  ASSERT_OK_AND_ASSIGN(Recommendation r,
                       serving->RankItems("user3", {"i1", "zzz", "i3", "i13", "i5"}, {}));
  ASSERT_EQ(r.items.size(), 5u);
  EXPECT_EQ(r.items.back().item, "zzz");
  // user3 is at cluster 3's centre: i3 and i13 rank first.
  std::set<std::string> first = {r.items[0].item, r.items[1].item};
  EXPECT_EQ(first, (std::set<std::string>{"i3", "i13"}));
}

TEST(ServingModelTest, BadK) {
  auto serving = Serve(PlantedModel("i", 10, 100, 7), "Exact");
  RecommendQuery q;
  q.user = "user1";
  q.k = 0;
  EXPECT_THAT(serving->Recommend(q), StatusIs(absl::StatusCode::kInvalidArgument));
  q.k = 1001;
  EXPECT_THAT(serving->Recommend(q), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ServingModelTest, LoadsModelDirectoryWithItsIndex) {
  ScratchDir dir;
  ranking::FactorModel model = PlantedModel("i", 20, 300, 8);
  ASSERT_OK(model.Save(dir.File("m")));
  ASSERT_OK_AND_ASSIGN(auto index, retrieval::BuildItemIndex("HNSW16", model.item_factors(),
                                                              model.factors(), {}));
  ASSERT_OK(index->Save(dir.File("m") + "/" + kItemIndexFile));
  ASSERT_OK_AND_ASSIGN(auto loaded, ServingModel::Load(dir.File("m")));
  EXPECT_EQ(loaded->index().factory(), "HNSW16");
  auto direct = Serve(std::move(model), "Exact");
  RecommendQuery q;
  q.user = "user4";
  ASSERT_OK_AND_ASSIGN(Recommendation a, loaded->Recommend(q));
  ASSERT_OK_AND_ASSIGN(Recommendation b, direct->Recommend(q));
  EXPECT_EQ(Names(a), Names(b));
  // Without an index file the default kind is built.
  ScratchDir bare;
  ranking::FactorModel again = PlantedModel("i", 20, 300, 8);
  ASSERT_OK(again.Save(bare.File("m")));
  ASSERT_OK_AND_ASSIGN(auto exact, ServingModel::Load(bare.File("m")));
  EXPECT_EQ(exact->index().factory(), "Exact");
}

// ---- stored events folded in with the model's event weights

// ALS with `alpha`, `lambda` and event weights click 1, purchase 5.
TrainParams ClickPurchaseAls(double alpha, double lambda) {
  TrainParams params;
  params.set_algo(ALS);
  params.mutable_als()->set_alpha(alpha);
  params.mutable_als()->set_regularization(lambda);
  (*params.mutable_event_weights())["click"] = 1;
  (*params.mutable_event_weights())["purchase"] = 5;
  return params;
}

// ALS with alpha 2, lambda 0.1 and event weights click 1, purchase 5, view 0.
TrainParams TypedAls() {
  TrainParams params = ClickPurchaseAls(2, 0.1);
  (*params.mutable_event_weights())["view"] = 0;
  return params;
}

RecentEvent Ev(const std::string& item, const std::string& type, float weight,
               int64_t count = 1) {
  return RecentEvent{item, type, weight, count};
}

// Returns the oracle's vector: ranking::FoldIn over `weights` (item -> weight).
std::vector<float> FoldInOracle(const ServingModel& s, const std::map<std::string, float>& weights) {
  const ranking::FoldIn oracle(s.model(), ranking::FoldInOptionsFor(s.model()));
  std::map<int32_t, float> by_row;
  for (const auto& [item, w] : weights) by_row[s.model().items().Find(item)] = w;
  std::vector<int32_t> items;
  std::vector<float> w;
  for (const auto& [i, x] : by_row) {
    items.push_back(i);
    w.push_back(x);
  }
  absl::StatusOr<std::vector<float>> v = oracle.UserVector(items, w);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::vector<float>();
}

TEST(ServingModelFoldInTest, StoredEventsMatchFoldInWithHandComputedWeights) {
  auto serving = Serve(PlantedModel("i", 30, 300, 12, TypedAls()), "Exact");
  // A walk-in: i7 clicked twice and bought once (1 + 1 + 5), i17 viewed
  // (weighed 0: dropped), i27 untyped of weight 2.5, i37 of a type the model
  // does not list (x1), an item the model does not know (ignored).
  const std::vector<RecentEvent> events = {Ev("i7", "click", 1, 2), Ev("i17", "view", 3),
                                           Ev("i7", "purchase", 1), Ev("i27", "", 2.5f),
                                           Ev("i37", "share", 2), Ev("nope", "click", 1)};
  ASSERT_OK_AND_ASSIGN(std::vector<float> got, serving->UserVector("walk-in", {}, events));
  EXPECT_THAT(got, ::testing::Pointwise(::testing::FloatEq(),
                                        FoldInOracle(*serving, {{"i7", 7}, {"i27", 2.5f},
                                                                {"i37", 2}})));

  // A known user: each model item and each recent item counts 1 (once), and
  // an item's events add to it, as training sums a pair's rows.
  const int32_t u = 3;
  std::map<std::string, float> want;
  for (int32_t i : serving->model().SeenItems(u)) want[serving->model().items().Name(i)] = 1;
  const std::string seen = want.begin()->first;
  std::vector<std::string> unseen;
  for (int32_t i = 0; unseen.size() < 2; ++i) {
    if (!want.count("i" + std::to_string(i))) unseen.push_back("i" + std::to_string(i));
  }
  want[seen] = 1 + 5;          // a model item bought again
  want[unseen[0]] = 1 + 1;     // a recent item, clicked too
  want[unseen[1]] = 2 * 2;     // two clicks of weight 2
  ASSERT_OK_AND_ASSIGN(
      got, serving->UserVector("user3", {unseen[0], seen, unseen[0]},
                               {Ev(seen, "purchase", 1), Ev(unseen[0], "click", 1),
                                Ev(unseen[1], "click", 2, 2)}));
  EXPECT_THAT(got, ::testing::Pointwise(::testing::FloatEq(), FoldInOracle(*serving, want)));
}

TEST(ServingModelFoldInTest, AnEventTypeWeighedZeroChangesNothing) {
  auto serving = Serve(PlantedModel("i", 30, 300, 13, TypedAls()), "Exact");
  // Only dropped events: the model's own row, and a walk-in stays cold.
  ASSERT_OK_AND_ASSIGN(std::vector<float> got,
                       serving->UserVector("user3", {}, {Ev("i5", "view", 4, 3)}));
  absl::Span<const float> row = serving->model().UserVector(3);
  EXPECT_EQ(got, std::vector<float>(row.begin(), row.end()));
  ASSERT_OK_AND_ASSIGN(got, serving->UserVector("walk-in", {}, {Ev("i5", "view", 4)}));
  EXPECT_TRUE(got.empty());
  // Beside other events: the same vector as without the view.
  ASSERT_OK_AND_ASSIGN(std::vector<float> clicked,
                       serving->UserVector("user3", {}, {Ev("i8", "click", 1)}));
  ASSERT_OK_AND_ASSIGN(got, serving->UserVector("user3", {}, {Ev("i8", "click", 1),
                                                              Ev("i5", "view", 4, 3)}));
  EXPECT_EQ(got, clicked);
  // A dropped event is not excluded as seen; one that counts is.
  RecommendQuery q;
  q.user = "user3";
  q.k = 3;
  ASSERT_OK_AND_ASSIGN(Recommendation plain, serving->Recommend(q));
  const std::string top = plain.items[0].item;
  q.recent_events = {Ev(top, "view", 1)};
  ASSERT_OK_AND_ASSIGN(Recommendation viewed, serving->Recommend(q));
  EXPECT_EQ(Names(viewed), Names(plain));
  q.recent_events = {Ev(top, "click", 1)};
  ASSERT_OK_AND_ASSIGN(Recommendation clicked_top, serving->Recommend(q));
  for (const ScoredItemId& it : clicked_top.items) EXPECT_NE(it.item, top);
  // A walk-in whose events all drop gets the popularity fallback.
  q.user = "walk-in";
  q.recent_events = {Ev("i5", "view", 1)};
  ASSERT_OK_AND_ASSIGN(Recommendation cold, serving->Recommend(q));
  EXPECT_TRUE(cold.fallback);
}

// Two orthonormal items a = (1, 0) and b = (0, 1): a walk-in's fold-in with
// confidences c_a, c_b (1 + alpha * weight) is exactly
// (c_a / (c_a + lambda), c_b / (c_b + lambda)); an item without rows gets 0.
std::shared_ptr<const ServingModel> TwoItems(const TrainParams& params) {
  ranking::IdMap users, items;
  users.GetOrAdd("u");
  items.GetOrAdd("a");
  items.GetOrAdd("b");
  ModelManifest manifest;
  manifest.set_name("two");
  *manifest.mutable_params() = params;
  auto model = ranking::FactorModel::Create(users, items, 2, {0.5f, 0.5f}, {1, 0, 0, 1}, {},
                                            manifest);
  EXPECT_TRUE(model.ok()) << model.status();
  return Serve(std::move(model).value(), "Exact");
}

// ALS, alpha 1, lambda 1, click 1, purchase 5, and `min_weight`, `binary`.
TrainParams ClickPurchase(float min_weight = 0, bool binary = false) {
  TrainParams params = ClickPurchaseAls(1, 1);
  params.set_min_weight(min_weight);
  params.set_binary(binary);
  return params;
}

TEST(ServingModelFoldInTest, APurchaseWeighedFiveMovesTheUserMoreThanAClick) {
  auto serving = TwoItems(ClickPurchase());
  // purchase: c = 1 + 5 = 6 -> 6/7; click: c = 2 -> 2/3.
  ASSERT_OK_AND_ASSIGN(std::vector<float> v,
                       serving->UserVector("walk-in", {}, {Ev("a", "purchase", 1),
                                                           Ev("b", "click", 1)}));
  EXPECT_THAT(v, ElementsAre(FloatNear(6.0 / 7, 1e-6), FloatNear(2.0 / 3, 1e-6)));
  ASSERT_OK_AND_ASSIGN(Recommendation r,
                       serving->RankItems("walk-in", {"b", "a"}, {},
                                          {Ev("a", "purchase", 1), Ev("b", "click", 1)}));
  EXPECT_THAT(Names(r), ElementsAre("a", "b"));
  ASSERT_OK_AND_ASSIGN(r, serving->RankItems("walk-in", {"a", "b"}, {},
                                             {Ev("a", "click", 1), Ev("b", "purchase", 1)}));
  EXPECT_THAT(Names(r), ElementsAre("b", "a"));
  EXPECT_NEAR(r.items[0].score, 6.0 / 7, 1e-6);
  // A request's recent item counts 1 whatever the weights; an event of the
  // same item adds to it: 1 + 5 -> c = 7 -> 7/8.
  ASSERT_OK_AND_ASSIGN(v, serving->UserVector("walk-in", {"a"}, {Ev("b", "purchase", 1)}));
  EXPECT_THAT(v, ElementsAre(FloatNear(2.0 / 3, 1e-6), FloatNear(6.0 / 7, 1e-6)));
  ASSERT_OK_AND_ASSIGN(v, serving->UserVector("walk-in", {"a", "a"}, {Ev("a", "purchase", 1)}));
  EXPECT_THAT(v, ElementsAre(FloatNear(7.0 / 8, 1e-6), FloatNear(0, 1e-6)));
  // The event's own weight multiplies its type's: 2 purchases of weight 0.5.
  ASSERT_OK_AND_ASSIGN(v, serving->UserVector("walk-in", {}, {Ev("a", "purchase", 0.5f, 2)}));
  EXPECT_THAT(v, ElementsAre(FloatNear(6.0 / 7, 1e-6), FloatNear(0, 1e-6)));
}

TEST(ServingModelFoldInTest, MinWeightBinaryAndBprWeighAsTrainingDoes) {
  const std::vector<RecentEvent> events = {Ev("a", "purchase", 1), Ev("b", "click", 1)};
  // min_weight 2: the click (1) is dropped, the purchase (5) kept.
  ASSERT_OK_AND_ASSIGN(std::vector<float> v,
                       TwoItems(ClickPurchase(2))->UserVector("walk-in", {}, events));
  EXPECT_THAT(v, ElementsAre(FloatNear(6.0 / 7, 1e-6), FloatNear(0, 1e-6)));
  // binary: every kept item 1 -> c = 2 -> 2/3 each.
  ASSERT_OK_AND_ASSIGN(v, TwoItems(ClickPurchase(0, true))->UserVector("walk-in", {}, events));
  EXPECT_THAT(v, ElementsAre(FloatNear(2.0 / 3, 1e-6), FloatNear(2.0 / 3, 1e-6)));
  // BPR trains on which rows are kept only: 1 each, with fold-in's default
  // alpha 1 and lambda 0.01 -> 2 / 2.01.
  TrainParams bpr = ClickPurchase();
  bpr.set_algo(BPR);
  bpr.clear_als();
  ASSERT_OK_AND_ASSIGN(v, TwoItems(bpr)->UserVector("walk-in", {}, events));
  EXPECT_THAT(v, ElementsAre(FloatNear(2 / 2.01, 1e-6), FloatNear(2 / 2.01, 1e-6)));
  // A model without weighting (imported, or trained before types existed):
  // every event its own weight, x1 -> c = 1 + 3 -> 4 / 4.01.
  ASSERT_OK_AND_ASSIGN(
      v, TwoItems(TrainParams())->UserVector("walk-in", {}, {Ev("a", "purchase", 3)}));
  EXPECT_THAT(v, ElementsAre(FloatNear(4 / 4.01, 1e-6), FloatNear(0, 1e-6)));
}

TEST(ServingModelFoldInTest, TheWeightsComeWithTheSavedModel) {
  ScratchDir dir;
  ranking::IdMap users, items;
  users.GetOrAdd("u");
  items.GetOrAdd("a");
  items.GetOrAdd("b");
  ModelManifest manifest;
  manifest.set_name("two");
  *manifest.mutable_params() = ClickPurchase();
  ASSERT_OK_AND_ASSIGN(ranking::FactorModel model,
                       ranking::FactorModel::Create(users, items, 2, {0.5f, 0.5f}, {1, 0, 0, 1},
                                                    {}, manifest));
  ASSERT_OK(model.Save(dir.File("m")));
  ASSERT_OK_AND_ASSIGN(auto loaded, ServingModel::Load(dir.File("m")));
  ASSERT_OK_AND_ASSIGN(std::vector<float> v,
                       loaded->UserVector("walk-in", {}, {Ev("a", "purchase", 1)}));
  EXPECT_THAT(v, ElementsAre(FloatNear(6.0 / 7, 1e-6), FloatNear(0, 1e-6)));
  // A manifest whose weights are out of bounds is refused.
  TrainParams bad = ClickPurchase();
  (*bad.mutable_event_weights())["click"] = -1;
  *manifest.mutable_params() = bad;
  ASSERT_OK_AND_ASSIGN(ranking::FactorModel broken,
                       ranking::FactorModel::Create(users, items, 2, {0.5f, 0.5f}, {1, 0, 0, 1},
                                                    {}, manifest));
  ASSERT_OK_AND_ASSIGN(auto index, retrieval::BuildItemIndex("Exact", broken.item_factors(), 2, {}));
  EXPECT_THAT(ServingModel::Create(std::move(broken), std::move(index), "two", 1),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("event_weights")));
}

// PutEvents' path up to the model: StoreEvents -> RecentEvents::Events ->
// RecommendQuery.recent_events -> the fold-in.
TEST(ServingModelFoldInTest, EventsStoredByPutEventsFoldInWithTheirTypes) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, bandits::EventLog::Open(dir.path(), {}));
  RecentEvents recent;
  PutEventsRequest put;
  for (const auto& [item, type, weight] :
       std::vector<std::tuple<std::string, std::string, float>>{
           {"a", "purchase", 0}, {"b", "click", 2}, {"b", "view", 4}}) {
    Interaction* x = put.add_events();
    x->set_user("walk-in");
    x->set_item(item);
    x->set_event_type(type);
    x->set_weight(weight);
  }
  ASSERT_OK(StoreEvents(put, log.get(), &recent).status());
  auto serving = TwoItems(ClickPurchase());
  // a: weight 0 read as 1, x5 -> c = 6; b: 2 x 1 + the view (x1, not listed)
  // 4 -> c = 7.
  ASSERT_OK_AND_ASSIGN(std::vector<float> v,
                       serving->UserVector("walk-in", {}, recent.Events("walk-in")));
  EXPECT_THAT(v, ElementsAre(FloatNear(6.0 / 7, 1e-6), FloatNear(7.0 / 8, 1e-6)));
  RecommendQuery q;
  q.user = "walk-in";
  q.k = 2;
  q.exclude_seen = false;
  q.recent_events = recent.Events("walk-in");
  ASSERT_OK_AND_ASSIGN(Recommendation r, serving->Recommend(q));
  EXPECT_FALSE(r.fallback);
  EXPECT_THAT(Names(r), ElementsAre("b", "a"));
  q.exclude_seen = true;
  ASSERT_OK_AND_ASSIGN(r, serving->Recommend(q));
  EXPECT_TRUE(r.items.empty());  // both stored items excluded as seen
}

TEST(ModelSlotTest, HotSwapUnderConcurrentReadersNeverMixesVersions) {
  // Version 1 names items "a<n>", version 2 "b<n>": a result mixing both, or
  // not matching its snapshot's version, would be a torn read.
  auto v1 = Serve(PlantedModel("a", 20, 300, 9), "HNSW16", 1);
  auto v2 = Serve(PlantedModel("b", 20, 300, 10), "Exact", 2);
  ModelSlot slot;
  slot.Swap(v1);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> reads{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      while (!stop.load()) {
        std::shared_ptr<const ServingModel> snapshot = slot.Get();
        RecommendQuery q;
        q.user = "user" + std::to_string(t);
        auto r = snapshot->Recommend(q);
        if (!r.ok() || r->items.size() != 10) {
          ++bad;
          continue;
        }
        const char expect = snapshot->version() == 1 ? 'a' : 'b';
        for (const auto& it : r->items) bad += it.item[0] != expect;
        ++reads;
      }
    });
  }
  for (int s = 0; s < 200; ++s) {
    slot.Swap(s % 2 == 0 ? v2 : v1);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 100);
}

}  // namespace
}  // namespace recbandit::services

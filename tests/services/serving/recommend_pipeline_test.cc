// Tests of services/serving/recommend_pipeline.h: new-item exploration
// through a deployment (proto NewItemExploration), with the real catalog,
// model store and event log. Known answers: the metadata vector of a new
// item (its categories' mean vectors), the eligible new items (age cutoff,
// hidden, filter, exclusions), the share of first positions given to new
// items (binomial check, fixed event ids), and every served position's
// propensity and marginal against the exact formula, as logged.
#include "services/serving/recommend_pipeline.h"

#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bandits/experiment.h"
#include "bandits/log/event_log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ranking/factor_model.h"
#include "services/serving/catalog.h"
#include "services/serving/deployments.h"
#include "services/serving/model_store.h"
#include "services/serving/recent_events.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

// Model m@1: user "u" = (1, 0); items s0..s3 ("shoes") along x, h0..h3
// ("hats") along y: s<n> = (4 - n, 0), h<n> = (0, 4 - n).
void SaveModel(const std::string& root) {
  ranking::IdMap users, items;
  users.GetOrAdd("u");
  std::vector<float> item_factors;
  for (int n = 0; n < 4; ++n) {
    items.GetOrAdd(absl::StrCat("s", n));
    item_factors.insert(item_factors.end(), {static_cast<float>(4 - n), 0.0f});
  }
  for (int n = 0; n < 4; ++n) {
    items.GetOrAdd(absl::StrCat("h", n));
    item_factors.insert(item_factors.end(), {0.0f, static_cast<float>(4 - n)});
  }
  ModelManifest manifest;
  manifest.set_name("m");
  manifest.set_algo(ALS);
  manifest.mutable_params()->set_algo(ALS);
  auto model = ranking::FactorModel::Create(users, items, 2, {1, 0}, item_factors, {}, manifest);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_OK(model->Save(absl::StrCat(root, "/m/1")));
}

CatalogItem Item(const std::string& id, std::vector<std::string> categories,
                 int64_t created_unix_ms, bool hidden = false) {
  CatalogItem item;
  item.set_item(id);
  for (const std::string& c : categories) item.add_categories(c);
  item.set_created_unix_ms(created_unix_ms);
  item.set_hidden(hidden);
  return item;
}

class NewItemExplorationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SaveModel(dir_.File("models"));
    ASSERT_OK_AND_ASSIGN(log_, bandits::EventLog::Open(dir_.path(), {}));
    ASSERT_OK_AND_ASSIGN(models_, ModelStore::Open(dir_.File("models"), 5, /*prune=*/false));
    ASSERT_OK(models_->Activate("m", 1).status());
    ASSERT_OK_AND_ASSIGN(experiments_, bandits::ExperimentManager::Open(log_.get(), {}));
    ASSERT_OK_AND_ASSIGN(deployments_, DeploymentStore::Open(log_.get(), models_.get()));
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_.path()));
    const int64_t now = absl::ToUnixMillis(absl::Now());
    const int64_t day = 86400000;
    PutItemsRequest put;
    for (int n = 0; n < 4; ++n) {
      *put.add_items() = Item(absl::StrCat("s", n), {"shoes"}, now - 100 * day);
      *put.add_items() = Item(absl::StrCat("h", n), {"hats"}, now - 100 * day);
    }
    // New: the model has no vector for these.
    *put.add_items() = Item("new_shoe", {"shoes"}, now - 1 * day);
    *put.add_items() = Item("new_hat", {"hats"}, now - 2 * day);
    *put.add_items() = Item("new_both", {"shoes", "hats"}, now - 3 * day);
    *put.add_items() = Item("new_plain", {}, now - 4 * day);
    *put.add_items() = Item("new_old", {"shoes"}, now - 40 * day);     // past 30 days
    *put.add_items() = Item("new_hidden", {"shoes"}, now - day, true);  // never shown
    ASSERT_OK(catalog_->PutItems(put).status());
    pipeline_ = std::make_unique<RecommendPipeline>(models_.get(), &recent_, experiments_.get(),
                                                    deployments_.get(), log_.get(), nullptr,
                                                    RecommendPipeline::kMaxQueuedShadows,
                                                    nullptr, catalog_.get());
  }

  // Deployment "d": m@1 with new-item exploration at `share`.
  absl::Status CreateDeployment(double share, double max_age_days = 0, int32_t pool = 0) {
    Deployment d;
    d.set_name("d");
    DeploymentVariant* v = d.add_variants();
    v->set_name("blue");
    v->mutable_pipeline()->set_model("m@1");
    NewItemExploration* fresh = v->mutable_pipeline()->mutable_new_items();
    fresh->set_share(share);
    fresh->set_max_age_days(max_age_days);
    fresh->set_pool(pool);
    v->set_traffic_weight(1);
    return deployments_->Create(d).status();
  }

  RecommendRequest Request(int i, int k) {
    RecommendRequest r;
    r.set_deployment("d");
    r.set_user("u");
    r.set_unit_id(absl::StrCat("s", i));
    r.set_event_id(absl::StrCat("call-", i));  // seeds the draws: the same on every run
    r.set_k(k);
    return r;
  }

  ScratchDir dir_;
  RecentEvents recent_;
  std::unique_ptr<bandits::EventLog> log_;
  std::unique_ptr<ModelStore> models_;
  std::unique_ptr<bandits::ExperimentManager> experiments_;
  std::unique_ptr<DeploymentStore> deployments_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<RecommendPipeline> pipeline_;
};

TEST(RecommendEventWeightsTest, StoredEventsFoldInWithTheModelsEventWeights) {
  // Model m@1 trained with event_weights {view: 0, purchase: 5}: items a =
  // (1, 0), b = (0, 1), c = (0.7, 0.7); a cold user with stored events gets
  // the fold-in of their weighted items, so a purchase of b ranks b's
  // direction first while a view (weight 0) leaves the user cold.
  ScratchDir dir;
  {
    ranking::IdMap users, items;
    users.GetOrAdd("known");
    for (const char* id : {"a", "b", "c"}) items.GetOrAdd(id);
    ModelManifest manifest;
    manifest.set_name("m");
    manifest.set_algo(ALS);
    manifest.mutable_params()->set_algo(ALS);
    (*manifest.mutable_params()->mutable_event_weights())["view"] = 0;
    (*manifest.mutable_params()->mutable_event_weights())["purchase"] = 5;
    auto model = ranking::FactorModel::Create(users, items, 2, {1, 0},
                                              {1, 0, 0, 1, 0.7f, 0.7f}, {}, manifest);
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_OK(model->Save(dir.File("models/m/1")));
  }
  ASSERT_OK_AND_ASSIGN(auto log, bandits::EventLog::Open(dir.path(), {}));
  ASSERT_OK_AND_ASSIGN(auto models, ModelStore::Open(dir.File("models"), 5, /*prune=*/false));
  ASSERT_OK(models->Activate("m", 1).status());
  ASSERT_OK_AND_ASSIGN(auto experiments, bandits::ExperimentManager::Open(log.get(), {}));
  ASSERT_OK_AND_ASSIGN(auto deployments, DeploymentStore::Open(log.get(), models.get()));
  RecentEvents recent;
  RecommendPipeline pipeline(models.get(), &recent, experiments.get(), deployments.get(),
                             log.get());
  auto top = [&](const std::string& user) {
    RecommendRequest r;
    r.set_user(user);
    r.set_k(3);
    RecommendResponse response;
    EXPECT_OK(pipeline.Recommend(r, &response));
    std::vector<std::string> out;
    for (const ScoredItem& s : response.items()) out.push_back(s.item());
    return std::make_pair(out, response.fallback());
  };
  recent.Add("viewer", "b", "view", 1);
  auto [viewed, viewer_cold] = top("viewer");
  EXPECT_TRUE(viewer_cold);  // weighed out: nothing folded in, b not even seen
  EXPECT_EQ(viewed.size(), 3u);
  recent.Add("buyer", "a", "click", 1);
  recent.Add("buyer", "b", "purchase", 1);
  auto [bought, buyer_cold] = top("buyer");
  EXPECT_FALSE(buyer_cold);
  // a and b are seen; c is left. The buyer's vector weighs b 6x as much as
  // a (confidence 1 + 5 vs 1 + 1: alpha 1), so it leans to b's axis.
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const ServingModel> model, models->Get("m"));
  ASSERT_OK_AND_ASSIGN(std::vector<float> v,
                       model->UserVector("buyer", {}, recent.Events("buyer")));
  ASSERT_EQ(v.size(), 2u);
  EXPECT_GT(v[1], v[0]);
  EXPECT_EQ(bought, (std::vector<std::string>{"c"}));
}

TEST_F(NewItemExplorationTest, MetadataVectorsAreTheirCategoriesMeans) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const ServingModel> model, models_->Get("m"));
  std::shared_ptr<const NewItemPool> pool = catalog_->NewItems(*model);
  // Newest first; hidden items and the model's own items are not new.
  std::vector<std::string> ids;
  for (const NewItemPool::Item& item : pool->items) ids.push_back(item.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"new_shoe", "new_hat", "new_both", "new_plain",
                                           "new_old"}));
  ASSERT_EQ(pool->factors, 2);
  // shoes: mean of (4,0) (3,0) (2,0) (1,0) = (2.5, 0); hats (0, 2.5); both
  // the mean of the two means; no category: the mean of all 8 items.
  const std::vector<std::vector<float>> want = {
      {2.5f, 0}, {0, 2.5f}, {1.25f, 1.25f}, {1.25f, 1.25f}, {2.5f, 0}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_FLOAT_EQ(pool->vectors[2 * i], want[i][0]) << ids[i];
    EXPECT_FLOAT_EQ(pool->vectors[2 * i + 1], want[i][1]) << ids[i];
  }
  EXPECT_FLOAT_EQ(pool->Score(0, std::vector<float>{1, 0}), 2.5f);
  // The pool is cached until the catalog changes.
  EXPECT_EQ(catalog_->NewItems(*model), pool);
  PutItemsRequest put;
  *put.add_items() = Item("new_more", {"hats"}, 0);
  ASSERT_OK(catalog_->PutItems(put).status());
  EXPECT_EQ(catalog_->NewItems(*model)->items.size(), 6u);
}

TEST_F(NewItemExplorationTest, ServedSlatesMixNewItemsWithExactPropensities) {
  ASSERT_OK(CreateDeployment(/*share=*/0.3));
  constexpr int kCalls = 2000;
  constexpr int kSlate = 3;
  // Eligible new items (the pool's default max(2k, 20) takes them all), best
  // metadata score for u = (1, 0) first: new_shoe 2.5, then new_both and
  // new_plain (1.25, newest first), new_hat 0.
  const std::vector<std::string> eligible = {"new_shoe", "new_both", "new_plain", "new_hat"};
  const std::set<std::string> model_items = {"s0", "s1", "s2", "s3", "h0", "h1", "h2", "h3"};
  int new_first = 0;
  for (int i = 0; i < kCalls; ++i) {
    RecommendResponse response;
    ASSERT_OK(pipeline_->Recommend(Request(i, kSlate), &response));
    ASSERT_EQ(response.items_size(), kSlate);
    ASSERT_OK_AND_ASSIGN(DecisionEvent event, log_->GetDecision(response.event_id()));
    EXPECT_EQ(event.new_item_share(), 0.3);
    ASSERT_EQ(event.new_item_candidates(), 4);
    // The logged candidates: the model's (8 items), then the new ones.
    ASSERT_EQ(event.actions_size(), 12);
    for (int t = 0; t < 4; ++t) EXPECT_EQ(event.actions(8 + t).id(), eligible[t]);
    // Each position: a new item with probability 0.3 (all 4 equally), else
    // the model's next item (s0, s1, s2 in order: no base exploration).
    int m = 0;  // new items above
    for (int j = 0; j < kSlate; ++j) {
      const ScoredItem& item = response.items(j);
      const bool is_new = model_items.count(item.item()) == 0;
      EXPECT_EQ(item.new_item(), is_new);
      if (is_new) {
        EXPECT_NE(std::find(eligible.begin(), eligible.end(), item.item()), eligible.end())
            << item.item();
        EXPECT_NEAR(item.propensity(), 0.3 / (4 - m), 1e-12);
        ++m;
      } else {
        EXPECT_EQ(item.item(), absl::StrCat("s", j - m));
        EXPECT_NEAR(item.propensity(), 0.7, 1e-12);
      }
      EXPECT_NEAR(event.slate_propensities(j), item.propensity(), 1e-12);
      EXPECT_EQ(event.actions(event.slate_indices(j)).id(), item.item());
    }
    // Marginals: position 0 holds s0 with probability 0.7, a given new item
    // with 0.3 / 4.
    EXPECT_NEAR(event.slate_marginals(0), response.items(0).new_item() ? 0.075 : 0.7, 1e-12);
    new_first += response.items(0).new_item();
  }
  // P(position 0 is new) = 0.3 exactly: 4 binomial sd.
  const double sd = std::sqrt(kCalls * 0.3 * 0.7);
  EXPECT_NEAR(new_first, 0.3 * kCalls, 4 * sd);
}

TEST_F(NewItemExplorationTest, FiltersExclusionsAgeAndPoolBoundTheCandidates) {
  ASSERT_OK(CreateDeployment(/*share=*/1.0, /*max_age_days=*/2.5, /*pool=*/0));
  // Share 1: new items first while any remain. Within 2.5 days: new_shoe,
  // new_hat; a filter leaves hats out; an excluded or seen item is out.
  RecommendRequest r = Request(0, 4);
  RecommendResponse response;
  ASSERT_OK(pipeline_->Recommend(r, &response));
  std::set<std::string> first_two = {response.items(0).item(), response.items(1).item()};
  EXPECT_EQ(first_two, (std::set<std::string>{"new_shoe", "new_hat"}));
  EXPECT_EQ(response.items(2).item(), "s0");
  EXPECT_FALSE(response.items(2).new_item());

  r = Request(1, 4);
  r.mutable_filter()->set_expression(R"(EXCLUDE ItemID WHERE Items.category IN ("hats"))");
  response.Clear();
  ASSERT_OK(pipeline_->Recommend(r, &response));
  EXPECT_EQ(response.items(0).item(), "new_shoe");
  EXPECT_NEAR(response.items(0).propensity(), 1.0, 1e-12);
  EXPECT_EQ(response.items(1).item(), "s0");

  r = Request(2, 4);
  r.add_exclude_items("new_shoe");
  r.add_recent_items("new_hat");  // seen
  response.Clear();
  ASSERT_OK(pipeline_->Recommend(r, &response));
  for (const ScoredItem& item : response.items()) EXPECT_FALSE(item.new_item()) << item.item();

  // A pool of 1: only the best metadata score for u (new_shoe) is a candidate.
  ASSERT_OK(deployments_->Delete("d", 0).status());
  ASSERT_OK(CreateDeployment(/*share=*/1.0, /*max_age_days=*/0, /*pool=*/1));
  for (int i = 10; i < 30; ++i) {
    response.Clear();
    ASSERT_OK(pipeline_->Recommend(Request(i, 2), &response));
    EXPECT_EQ(response.items(0).item(), "new_shoe");
    EXPECT_EQ(response.items(1).item(), "s0");
  }
}

TEST_F(NewItemExplorationTest, BadConfigurationsNameTheFieldAndBound) {
  EXPECT_THAT(CreateDeployment(1.5), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("pipeline.new_items.share must be in "
                                                        "[0, 1], got 1.5")));
  EXPECT_THAT(CreateDeployment(0.5, 4000),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("new_items.max_age_days must be in [0, 3650]")));
  EXPECT_THAT(CreateDeployment(0.5, 0, 1001),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("new_items.pool must be in [0, 1000]")));
  EXPECT_THAT(CreateDeployment(std::nan("")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("new_items.share")));
  Deployment shadowed;
  shadowed.set_name("d");
  DeploymentVariant* v = shadowed.add_variants();
  v->set_name("blue");
  v->mutable_pipeline()->set_model("m@1");
  v->set_traffic_weight(1);
  ShadowPipeline* shadow = shadowed.add_shadows();
  shadow->set_name("s");
  shadow->mutable_pipeline()->set_model("m@1");
  shadow->mutable_pipeline()->mutable_new_items()->set_share(0.2);
  EXPECT_THAT(deployments_->Create(shadowed).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("shadows[0].pipeline.new_items")));
}

}  // namespace
}  // namespace recbandit::services

// Tests of deployments over a real event log and model store: the rules and
// their messages, the durable journal across a reopen, one name space with
// experiments, pinned versions kept from pruning, weighted sticky
// assignment (a chi-square check), Recommend through a deployment (the
// logged slate and its candidates), slate rewards per clicked item, a
// blue/green switch and rollback under concurrent calls that serve no mixed
// call, and canary rollouts that advance, promote or roll back by
// themselves with their evidence journaled.
#include "services/serving/deployments.h"

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bandits/experiment.h"
#include "bandits/interleaving.h"
#include "bandits/log/event_log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "ranking/factor_model.h"
#include "services/serving/model_store.h"
#include "services/serving/recent_events.h"
#include "services/serving/recommend_pipeline.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int kItems = 80;

// Saves <root>/<name>/<version>: one user "u" and kItems items whose scores
// for "u" rank i0 first (ascending=false) or i<kItems-1> first.
void SaveVersion(const std::string& root, const std::string& name, int64_t version,
                 bool ascending) {
  ranking::IdMap users, items;
  users.GetOrAdd("u");
  std::vector<float> item_factors;
  for (int j = 0; j < kItems; ++j) {
    items.GetOrAdd(absl::StrCat("i", j));
    item_factors.push_back(static_cast<float>(ascending ? j + 1 : kItems - j));
    item_factors.push_back(0);
  }
  ModelManifest manifest;
  manifest.set_name(name);
  manifest.set_algo(ALS);
  manifest.mutable_params()->set_algo(ALS);
  auto model =
      ranking::FactorModel::Create(users, items, 2, {1, 0}, item_factors, {}, manifest);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_OK(model->Save(absl::StrCat(root, "/", name, "/", version)));
}

Deployment TwoVariants(const std::string& name, double blue, double green) {
  Deployment d;
  d.set_name(name);
  DeploymentVariant* b = d.add_variants();
  b->set_name("blue");
  b->mutable_pipeline()->set_model("m@1");
  b->set_traffic_weight(blue);
  DeploymentVariant* g = d.add_variants();
  g->set_name("green");
  g->mutable_pipeline()->set_model("m@2");
  g->set_traffic_weight(green);
  return d;
}

class DeploymentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SaveVersion(dir_.File("models"), "m", 1, /*ascending=*/false);
    SaveVersion(dir_.File("models"), "m", 2, /*ascending=*/true);
    Open(/*prune=*/false);  // keep version 1 (keep_versions is 1) for the tests to pin
  }

  // (Re)opens everything from disk, as a server start does: the model store
  // is pruned once the deployments have pinned their versions.
  void Open(bool prune = true) {
    pipeline_.reset();
    deployments_.reset();
    experiments_.reset();
    models_.reset();
    log_.reset();
    ASSERT_OK_AND_ASSIGN(log_, bandits::EventLog::Open(dir_.path(), {}));
    ASSERT_OK_AND_ASSIGN(models_, ModelStore::Open(dir_.File("models"), /*keep_versions=*/1,
                                                   /*prune=*/false));
    ASSERT_OK_AND_ASSIGN(experiments_, bandits::ExperimentManager::Open(log_.get(), {}));
    ASSERT_OK_AND_ASSIGN(deployments_, DeploymentStore::Open(log_.get(), models_.get()));
    if (prune) models_->PruneAll();
    pipeline_ = std::make_unique<RecommendPipeline>(
        models_.get(), &recent_, experiments_.get(), deployments_.get(), log_.get(),
        [this](const char* outcome) {
          absl::MutexLock lock(&shadow_mu_);
          ++shadow_outcomes_[outcome];
        });
  }

  RecommendRequest Through(const std::string& deployment, const std::string& unit, int k = 5) {
    RecommendRequest r;
    r.set_deployment(deployment);
    r.set_user("u");
    r.set_unit_id(unit);
    r.set_k(k);
    return r;
  }

  // Waits (up to 30 s) until `n` shadow slates were logged.
  void AwaitShadowsLogged(int n) {
    absl::MutexLock lock(&shadow_mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shadow_mu_) {
      return shadow_outcomes_["logged"] >= n;
    };
    shadow_mu_.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(30));
  }

  ScratchDir dir_;
  RecentEvents recent_;
  absl::Mutex shadow_mu_;
  std::map<std::string, int> shadow_outcomes_ ABSL_GUARDED_BY(shadow_mu_);
  std::unique_ptr<bandits::EventLog> log_;
  std::unique_ptr<ModelStore> models_;
  std::unique_ptr<bandits::ExperimentManager> experiments_;
  std::unique_ptr<DeploymentStore> deployments_;
  std::unique_ptr<RecommendPipeline> pipeline_;
};

TEST_F(DeploymentsTest, RulesNameTheFieldAndBound) {
  auto rejects = [&](void (*edit)(Deployment&), absl::StatusCode code, const char* message) {
    Deployment d = TwoVariants("d", 1, 1);
    edit(d);
    EXPECT_THAT(deployments_->Create(d), StatusIs(code, HasSubstr(message)));
  };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  rejects([](Deployment& d) { d.set_name("bad name"); }, kInvalid, "deployment.name");
  rejects([](Deployment& d) { d.clear_variants(); }, kInvalid, "must have 1..16 entries, got 0");
  rejects([](Deployment& d) { d.mutable_variants(1)->set_name("blue"); }, kInvalid,
          "variants[1].name 'blue' is used twice");
  rejects([](Deployment& d) { d.mutable_variants(0)->set_traffic_weight(-1); }, kInvalid,
          "variants[0].traffic_weight must be in [0, 1e+06], got -1");
  rejects([](Deployment& d) { d.mutable_variants(0)->set_traffic_weight(NAN); }, kInvalid,
          "traffic_weight");
  rejects(
      [](Deployment& d) {
        d.mutable_variants(0)->set_traffic_weight(0);
        d.mutable_variants(1)->set_traffic_weight(0);
      },
      kInvalid, "at least one traffic_weight must be > 0");
  rejects([](Deployment& d) { d.mutable_variants(0)->clear_pipeline(); }, kInvalid,
          "variants[0].pipeline is required");
  rejects([](Deployment& d) { d.mutable_variants(0)->mutable_pipeline()->set_model("m@0"); },
          kInvalid, "variants[0].pipeline.model must be <name> or <name>@<version>");
  rejects([](Deployment& d) { d.set_reward_window_ms(-5); }, kInvalid, "reward_window_ms");
  rejects([](Deployment& d) { d.mutable_variants(1)->mutable_pipeline()->set_model("m@9"); },
          absl::StatusCode::kNotFound, "model 'm' has no version 9");
  rejects([](Deployment& d) { d.mutable_variants(1)->mutable_pipeline()->set_model("nope"); },
          absl::StatusCode::kNotFound, "unknown model 'nope'");
  EXPECT_TRUE(deployments_->List().empty());  // nothing rejected was stored
}

TEST_F(DeploymentsTest, ChangesAreJournaledAndSurviveAReopen) {
  ASSERT_OK_AND_ASSIGN(Deployment created, deployments_->Create(TwoVariants("d", 1, 0)));
  EXPECT_EQ(created.revision(), 1);
  EXPECT_GT(created.created_unix_ms(), 0);
  EXPECT_THAT(deployments_->Create(TwoVariants("d", 1, 1)),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(deployments_->Update(TwoVariants("d", 0, 1), /*expected_revision=*/7),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is at revision 1, not the expected 7")));
  ASSERT_OK_AND_ASSIGN(Deployment updated, deployments_->Update(TwoVariants("d", 0, 1), 1));
  EXPECT_EQ(updated.revision(), 2);
  EXPECT_EQ(updated.created_unix_ms(), created.created_unix_ms());
  ASSERT_OK(deployments_->Create(TwoVariants("gone", 1, 1)).status());
  ASSERT_OK(deployments_->Delete("gone", 0).status());
  EXPECT_THAT(deployments_->Delete("gone", 0), StatusIs(absl::StatusCode::kNotFound));

  Open();  // a restart
  ASSERT_OK_AND_ASSIGN(auto served, deployments_->Get("d"));
  EXPECT_EQ(served->config.revision(), 2);
  EXPECT_EQ(served->config.variants(1).traffic_weight(), 1);
  EXPECT_THAT(deployments_->Get("gone"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(std::vector<DeploymentChange> journal, deployments_->Changes("d"));
  ASSERT_EQ(journal.size(), 2u);
  EXPECT_EQ(journal[0].kind(), DeploymentChange::CREATED);
  EXPECT_EQ(journal[1].kind(), DeploymentChange::UPDATED);
  EXPECT_EQ(journal[1].deployment().revision(), 2);
  ASSERT_OK_AND_ASSIGN(journal, deployments_->Changes("gone"));
  ASSERT_EQ(journal.size(), 2u);
  EXPECT_EQ(journal[1].kind(), DeploymentChange::DELETED);
  EXPECT_THAT(deployments_->Changes("never"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(DeploymentsTest, ExperimentsAndDeploymentsShareOneNameSpace) {
  ExperimentConfig e;
  e.set_name("shared");
  Variant* v = e.add_variants();
  v->set_name("a");
  v->set_policy_spec("ucb1");
  v->set_traffic_weight(1);
  ASSERT_OK(experiments_->CreateExperiment(e).status());
  EXPECT_THAT(deployments_->Create(TwoVariants("shared", 1, 1)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("experiment 'shared'")));
  ASSERT_OK(deployments_->Create(TwoVariants("dep", 1, 1)).status());
  e.set_name("dep");
  EXPECT_THAT(experiments_->CreateExperiment(e),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("deployment 'dep'")));
}

TEST_F(DeploymentsTest, PinnedVersionsAreServedAndNeverPruned) {
  // keep_versions is 1 and version 2 is active: version 1 lives only because
  // the deployment pins it.
  ASSERT_OK(deployments_->Create(TwoVariants("d", 1, 0)).status());
  EXPECT_EQ(models_->Prune("m"), 0);
  Open();
  EXPECT_EQ(models_->Prune("m"), 0);
  ASSERT_OK_AND_ASSIGN(auto model, models_->GetVersion("m", 1));
  EXPECT_EQ(model->version(), 1);
  // Unpinned by the delete, it goes at the next prune.
  ASSERT_OK(deployments_->Delete("d", 0).status());
  EXPECT_THAT(models_->GetVersion("m", 1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(models_->Prune("m"), 1);
}

TEST_F(DeploymentsTest, UnitsFollowTheWeightsAndKeepTheirVariant) {
  ASSERT_OK(deployments_->Create(TwoVariants("d", 1, 3)).status());
  ASSERT_OK_AND_ASSIGN(auto served, deployments_->Get("d"));
  constexpr int kUnits = 40000;
  int green = 0;
  for (int i = 0; i < kUnits; ++i) {
    const std::string unit = absl::StrCat("unit", i);
    const int32_t v = served->AssignVariant(unit);
    ASSERT_EQ(v, served->AssignVariant(unit));
    green += v;
  }
  // Chi-square, 1 degree of freedom: 10.83 is its 0.999 quantile.
  const double e_green = kUnits * 0.75, e_blue = kUnits * 0.25;
  const double chi2 = (green - e_green) * (green - e_green) / e_green +
                      (kUnits - green - e_blue) * (kUnits - green - e_blue) / e_blue;
  EXPECT_LT(chi2, 10.83) << green;
  // After a restart the same units get the same variants.
  Open();
  ASSERT_OK_AND_ASSIGN(auto reopened, deployments_->Get("d"));
  for (int i = 0; i < 100; ++i) {
    const std::string unit = absl::StrCat("unit", i);
    EXPECT_EQ(reopened->AssignVariant(unit), served->AssignVariant(unit));
  }
  // A variant of weight 0 never serves.
  ASSERT_OK(deployments_->Update(TwoVariants("d", 0, 1), 0).status());
  ASSERT_OK_AND_ASSIGN(served, deployments_->Get("d"));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(served->AssignVariant(absl::StrCat("u", i)), 1);
}

TEST_F(DeploymentsTest, RecommendLogsTheServedSlateWithItsCandidates) {
  ASSERT_OK(deployments_->Create(TwoVariants("d", 1, 1)).status());
  std::map<std::string, int> seen_variants;
  for (int i = 0; i < 40; ++i) {
    RecommendResponse response;
    ASSERT_OK(pipeline_->Recommend(Through("d", absl::StrCat("unit", i)), &response));
    ASSERT_EQ(response.items_size(), 5);
    ++seen_variants[response.variant()];
    // blue serves version 1 (i0 first), green version 2 (i79 first).
    const bool blue = response.variant() == "blue";
    EXPECT_EQ(response.model_version(), blue ? 1 : 2);
    EXPECT_EQ(response.items(0).item(), blue ? "i0" : absl::StrCat("i", kItems - 1));
    EXPECT_EQ(response.items(0).propensity(), 1.0);
    EXPECT_EQ(response.deployment_revision(), 1);
    ASSERT_OK_AND_ASSIGN(DecisionEvent event, log_->GetDecision(response.event_id()));
    EXPECT_EQ(event.experiment(), "d");
    EXPECT_EQ(event.variant(), response.variant());
    EXPECT_EQ(event.unit_id(), absl::StrCat("unit", i));
    EXPECT_EQ(event.actions_size(), 50);  // max(4k, 50) candidates
    ASSERT_EQ(event.slate_indices_size(), 5);
    for (int j = 0; j < 5; ++j) {
      EXPECT_EQ(event.actions(event.slate_indices(j)).id(), response.items(j).item());
      EXPECT_EQ(event.slate_propensities(j), 1.0);
    }
    EXPECT_EQ(event.model_version(), response.model_version());
    EXPECT_EQ(event.policy_spec(), absl::StrCat("model:m@", response.model_version()));
  }
  EXPECT_EQ(seen_variants.size(), 2u);
  // A deployment serves what a plain Recommend of the same model serves.
  ASSERT_OK(deployments_->Create(TwoVariants("green_only", 0, 1)).status());
  RecommendRequest plain_request;
  plain_request.set_user("u");
  plain_request.set_model_name("m");  // active: version 2, as green pins
  plain_request.set_k(5);
  RecommendResponse plain, deployed;
  ASSERT_OK(pipeline_->Recommend(plain_request, &plain));
  ASSERT_OK(pipeline_->Recommend(Through("green_only", "any"), &deployed));
  ASSERT_EQ(plain.items_size(), deployed.items_size());
  for (int j = 0; j < plain.items_size(); ++j) {
    EXPECT_EQ(plain.items(j).item(), deployed.items(j).item());
    EXPECT_EQ(plain.items(j).score(), deployed.items(j).score());
  }
  // Nothing allowed: nothing served and nothing logged.
  RecommendRequest everything_excluded = Through("d", "unit0");
  for (int j = 0; j < kItems; ++j) everything_excluded.add_exclude_items(absl::StrCat("i", j));
  RecommendResponse empty;
  ASSERT_OK(pipeline_->Recommend(everything_excluded, &empty));
  EXPECT_EQ(empty.items_size(), 0);
  EXPECT_EQ(empty.event_id(), "");
  EXPECT_FALSE(empty.variant().empty());

  RecommendRequest bad = Through("d", "x");
  bad.set_model_name("m");
  RecommendResponse ignored;
  EXPECT_THAT(pipeline_->Recommend(bad, &ignored),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("deployment excludes")));
  EXPECT_THAT(pipeline_->Recommend(Through("nope", "x"), &ignored),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown deployment 'nope'")));
  RecommendRequest unit_without_deployment = Through("", "x");
  EXPECT_THAT(pipeline_->Recommend(unit_without_deployment, &ignored),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unit_id needs")));
}

TEST_F(DeploymentsTest, RecommendAsyncRepliesOnceTheSlateIsDurable) {
  ASSERT_OK(deployments_->Create(TwoVariants("d", 1, 1)).status());
  constexpr int kCalls = 64;
  std::vector<RecommendResponse> responses(kCalls);
  std::vector<absl::Status> outcomes(kCalls, absl::UnknownError("not done"));
  absl::Mutex mu;
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    pipeline_->RecommendAsync(Through("d", absl::StrCat("unit", i)), &responses[i],
                              [&, i](absl::Status s) {
                                absl::MutexLock lock(&mu);
                                outcomes[i] = std::move(s);
                                ++done;
                              });
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(+[](int* d) { return *d == kCalls; }, &done));
  }
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_OK(outcomes[i]);
    // Acknowledged means logged: the event is in the log with its slate.
    ASSERT_OK_AND_ASSIGN(DecisionEvent event, log_->GetDecision(responses[i].event_id()));
    EXPECT_EQ(event.slate_indices_size(), responses[i].items_size());
    EXPECT_EQ(event.variant(), responses[i].variant());
  }
  // Errors are reported at once, on the calling thread.
  absl::Status unknown;
  RecommendResponse ignored;
  pipeline_->RecommendAsync(Through("nope", "u"), &ignored,
                            [&](absl::Status s) { unknown = std::move(s); });
  EXPECT_THAT(unknown, StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(DeploymentsTest, RewardSlateCreditsTheClickedItemsPosition) {
  ASSERT_OK(deployments_->Create(TwoVariants("d", 1, 0)).status());
  RecommendResponse response;
  ASSERT_OK(pipeline_->Recommend(Through("d", "unit"), &response));
  RewardSlateRequest click;
  click.set_deployment("d");
  click.set_event_id(response.event_id());
  click.set_item(response.items(2).item());
  click.set_value(1);
  ASSERT_OK_AND_ASSIGN(RewardSlateResponse first, deployments_->RewardSlate(click));
  EXPECT_EQ(first.position(), 3);
  EXPECT_EQ(first.aggregated_reward(), 1);
  click.set_item(response.items(0).item());
  ASSERT_OK_AND_ASSIGN(RewardSlateResponse second, deployments_->RewardSlate(click));
  EXPECT_EQ(second.position(), 1);
  EXPECT_EQ(second.aggregated_reward(), 2);  // SUM: clicks on the slate
  ASSERT_OK_AND_ASSIGN(RewardRecord record, log_->GetRewards(response.event_id()));
  ASSERT_EQ(record.rewards_size(), 2);
  EXPECT_EQ(record.rewards(0).position(), 3);
  EXPECT_EQ(record.rewards(1).position(), 1);

  click.set_item("i60");  // a candidate, not served
  EXPECT_THAT(deployments_->RewardSlate(click),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not in the slate")));
  click.set_item("");
  click.set_event_id("no-such-event");
  EXPECT_THAT(deployments_->RewardSlate(click), StatusIs(absl::StatusCode::kNotFound));
  click.set_event_id(response.event_id());
  click.set_value(INFINITY);
  EXPECT_THAT(deployments_->RewardSlate(click),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("finite")));
  // An experiment's Reward does not reach a deployment's events.
  RewardRequest reward;
  reward.set_experiment("d");
  reward.set_event_id(response.event_id());
  reward.set_value(1);
  EXPECT_THAT(experiments_->Reward(reward), StatusIs(absl::StatusCode::kNotFound));
}

// One variant: blue serves m@1, green m@2.
Deployment OneVariant(const std::string& name, bool blue) {
  Deployment d;
  d.set_name(name);
  DeploymentVariant* v = d.add_variants();
  v->set_name(blue ? "blue" : "green");
  v->mutable_pipeline()->set_model(blue ? "m@1" : "m@2");
  v->set_traffic_weight(1);
  return d;
}

TEST_F(DeploymentsTest, BlueGreenSwitchUnderLoadServesNoMixedCall) {
  // Each switch unpins the version it leaves: calls that read the old
  // revision are still served by it.
  ASSERT_OK(deployments_->Create(OneVariant("d", true)).status());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, mixed{0}, calls{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        RecommendResponse response;
        const absl::Status s =
            pipeline_->Recommend(Through("d", absl::StrCat("t", t, "-", i), 3), &response);
        calls.fetch_add(1);
        if (!s.ok()) {
          failures.fetch_add(1);
          continue;
        }
        // Odd revisions are all blue (version 1), even ones all green.
        const bool blue_revision = response.deployment_revision() % 2 == 1;
        if ((response.variant() == "blue") != blue_revision ||
            response.model_version() != (blue_revision ? 1 : 2)) {
          mixed.fetch_add(1);
        }
      }
    });
  }
  for (int r = 2; r <= 21; ++r) {
    const bool blue = r % 2 == 1;
    ASSERT_OK(deployments_->Update(OneVariant("d", blue), r - 1).status());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (std::thread& t : callers) t.join();
  EXPECT_GT(calls.load(), 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mixed.load(), 0);
}

TEST_F(DeploymentsTest, ShadowSlatesAreLoggedBesideTheServedOnes) {
  Deployment d = OneVariant("d", /*blue=*/true);
  ShadowPipeline* always = d.add_shadows();
  always->set_name("green");
  always->mutable_pipeline()->set_model("m@2");
  always->set_sample_rate(1);
  ShadowPipeline* never = d.add_shadows();
  never->set_name("idle");
  never->mutable_pipeline()->set_model("m");
  never->set_sample_rate(0);
  ShadowPipeline* some = d.add_shadows();
  some->set_name("some");
  some->mutable_pipeline()->set_model("m");
  some->set_sample_rate(0.3);
  ASSERT_OK(deployments_->Create(d).status());
  constexpr int kCalls = 400;
  std::set<std::string> served;
  for (int i = 0; i < kCalls; ++i) {
    RecommendResponse response;
    ASSERT_OK(pipeline_->Recommend(Through("d", absl::StrCat("unit", i), 4), &response));
    EXPECT_EQ(response.variant(), "blue");  // a shadow never serves
    served.insert(response.event_id());
  }
  std::map<std::string, int> per_shadow;
  bool all_logged = false;
  for (int attempt = 0; attempt < 300 && !all_logged; ++attempt) {
    AwaitShadowsLogged(kCalls);
    per_shadow.clear();
    ASSERT_OK(log_->ScanDecisions("d", 0, 0, [&](const DecisionEvent& e) {
      if (e.shadow_of().empty()) return absl::OkStatus();
      ++per_shadow[e.variant()];
      EXPECT_TRUE(served.count(e.shadow_of())) << e.shadow_of();
      EXPECT_EQ(e.slate_indices_size(), 4);
      if (e.variant() == "shadow:green") {
        EXPECT_EQ(e.model_version(), 2);
        EXPECT_EQ(e.actions(e.slate_indices(0)).id(), absl::StrCat("i", kItems - 1));
      }
      return absl::OkStatus();
    }));
    absl::MutexLock lock(&shadow_mu_);
    all_logged = shadow_outcomes_["logged"] ==
                 per_shadow["shadow:green"] + per_shadow["shadow:some"] &&
                 per_shadow["shadow:green"] == kCalls;
  }
  EXPECT_EQ(per_shadow["shadow:green"], kCalls);
  EXPECT_EQ(per_shadow.count("shadow:idle"), 0u);
  // Binomial(400, 0.3): mean 120, sd 9.2; four sd either side.
  EXPECT_NEAR(per_shadow["shadow:some"], 120, 37);
  absl::MutexLock lock(&shadow_mu_);
  EXPECT_EQ(shadow_outcomes_["dropped"], 0);
  EXPECT_EQ(shadow_outcomes_["failed"], 0);
}

TEST_F(DeploymentsTest, ShadowsAreDroppedAndCountedWhenTheQueueIsFull) {
  Deployment d = OneVariant("d", true);
  ShadowPipeline* shadow = d.add_shadows();
  shadow->set_name("green");
  shadow->mutable_pipeline()->set_model("m@2");
  shadow->set_sample_rate(1);
  ASSERT_OK(deployments_->Create(d).status());
  // No room at all: every shadow slate is dropped, and the served calls
  // are served as ever.
  std::atomic<int> dropped{0}, other{0};
  RecommendPipeline full(models_.get(), &recent_, experiments_.get(), deployments_.get(),
                         log_.get(),
                         [&](const char* outcome) {
                           (std::string(outcome) == "dropped" ? dropped : other).fetch_add(1);
                         },
                         /*max_queued_shadows=*/0);
  for (int i = 0; i < 50; ++i) {
    RecommendResponse response;
    ASSERT_OK(full.Recommend(Through("d", absl::StrCat("unit", i)), &response));
    EXPECT_EQ(response.items_size(), 5);
  }
  EXPECT_EQ(dropped.load(), 50);
  EXPECT_EQ(other.load(), 0);
  int shadow_events = 0;
  ASSERT_OK(log_->ScanDecisions("d", 0, 0, [&](const DecisionEvent& e) {
    shadow_events += e.shadow_of().empty() ? 0 : 1;
    return absl::OkStatus();
  }));
  EXPECT_EQ(shadow_events, 0);
}

TEST_F(DeploymentsTest, ShadowRulesNameTheField) {
  Deployment d = OneVariant("d", true);
  for (int i = 0; i < 5; ++i) {
    ShadowPipeline* s = d.add_shadows();
    s->set_name(absl::StrCat("s", i));
    s->mutable_pipeline()->set_model("m");
  }
  EXPECT_THAT(deployments_->Create(d), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("shadows must have 0..4 entries, got 5")));
  d.mutable_shadows()->RemoveLast();
  d.mutable_shadows(1)->set_name("s0");
  EXPECT_THAT(deployments_->Create(d), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("shadows[1].name 's0' is used twice")));
  d.mutable_shadows(1)->set_name("s1");
  d.mutable_shadows(2)->set_sample_rate(1.5);
  EXPECT_THAT(deployments_->Create(d),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("shadows[2].sample_rate must be in [0, 1], got 1.5")));
  d.mutable_shadows(2)->set_sample_rate(0.5);
  d.mutable_shadows(3)->mutable_pipeline()->set_model("m@77");
  EXPECT_THAT(deployments_->Create(d), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(DeploymentsTest, CountsAreBounded) {
  // Pinned versions stay loaded, so at most 32 distinct ones.
  for (int v = 3; v <= 40; ++v) SaveVersion(dir_.File("models"), "m", v, v % 2 == 0);
  Deployment many;
  many.set_name("many");
  for (int v = 1; v <= 16; ++v) {
    DeploymentVariant* variant = many.add_variants();
    variant->set_name(absl::StrCat("v", v));
    variant->mutable_pipeline()->set_model(absl::StrCat("m@", v));
    variant->set_traffic_weight(1);
  }
  ASSERT_OK(deployments_->Create(many).status());
  for (int v = 0; v < 16; ++v) many.mutable_variants(v)->mutable_pipeline()->set_model(
      absl::StrCat("m@", 17 + v));
  many.set_name("more");
  ASSERT_OK(deployments_->Create(many).status());  // 32 pinned
  many.set_name("too_many");
  many.mutable_variants(0)->mutable_pipeline()->set_model("m@33");
  EXPECT_THAT(deployments_->Create(many),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("at most 32")));
  // At most 1000 deployments.
  for (int i = 0; i < 998; ++i) {
    ASSERT_OK(deployments_->Create(TwoVariants(absl::StrCat("d", i), 1, 1)).status());
  }
  EXPECT_THAT(deployments_->Create(TwoVariants("one_more", 1, 1)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("1000 deployments")));
}

}  // namespace
}  // namespace recbandit::services

namespace recbandit::services {
namespace {

// blue (m@1) is the baseline, green (m@2) the canary, in `steps` steps of
// `min_events` canary slates each, shares 0.3, 0.6, ...
Deployment WithRollout(int steps, int64_t min_events) {
  Deployment d = TwoVariants("d", 1, 0);
  RolloutPlan* plan = d.mutable_rollout();
  plan->set_baseline("blue");
  plan->set_canary("green");
  for (int i = 0; i < steps; ++i) {
    RolloutStep* step = plan->add_steps();
    step->set_canary_share(std::min(1.0, 0.3 * (i + 1)));
    step->set_min_events(min_events);
  }
  return d;
}

TEST_F(DeploymentsTest, ACanaryThatEarnsLessIsRolledBackByItself) {
  ASSERT_OK_AND_ASSIGN(Deployment created,
                       deployments_->Create(WithRollout(1, /*min_events=*/1000000)));
  EXPECT_EQ(created.rollout_status().phase(), RolloutStatus::IN_PROGRESS);
  EXPECT_DOUBLE_EQ(created.variants(1).traffic_weight(), 0.3);
  // Users click half of blue's slates and a tenth of green's.
  int served[2] = {0, 0};
  for (int i = 0; i < 600; ++i) {
    RecommendResponse response;
    ASSERT_OK(pipeline_->Recommend(Through("d", absl::StrCat("unit", i)), &response));
    const bool green = response.variant() == "green";
    const int n = served[green]++;
    if (n % (green ? 10 : 2) != 0) continue;
    RewardSlateRequest click;
    click.set_deployment("d");
    click.set_event_id(response.event_id());
    click.set_item(response.items(0).item());
    click.set_value(1);
    ASSERT_OK(deployments_->RewardSlate(click).status());
  }
  ASSERT_GT(served[1], 100);
  // The live evidence, before the checker ran.
  ASSERT_OK_AND_ASSIGN(Deployment live, deployments_->Describe("d"));
  EXPECT_EQ(live.rollout_status().evidence().canary().served(), served[1]);
  EXPECT_EQ(live.rollout_status().evidence().baseline().served(), served[0]);
  EXPECT_LT(live.rollout_status().evidence().reward().ci_high(), 0);

  deployments_->CheckRollouts();
  ASSERT_OK_AND_ASSIGN(Deployment after, deployments_->Describe("d"));
  EXPECT_EQ(after.revision(), 2);
  EXPECT_EQ(after.rollout_status().phase(), RolloutStatus::ROLLED_BACK);
  EXPECT_THAT(after.rollout_status().reason(), HasSubstr("reward: canary - baseline in ["));
  EXPECT_TRUE(after.rollout_status().evidence().reward().breached());
  EXPECT_DOUBLE_EQ(after.variants(0).traffic_weight(), 1);
  EXPECT_DOUBLE_EQ(after.variants(1).traffic_weight(), 0);
  // The journal holds the step and its evidence; every call is blue now.
  ASSERT_OK_AND_ASSIGN(std::vector<DeploymentChange> changes, deployments_->Changes("d"));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[1].kind(), DeploymentChange::ROLLED_BACK);
  EXPECT_EQ(changes[1].deployment().rollout_status().evidence().canary().served(), served[1]);
  for (int i = 0; i < 50; ++i) {
    RecommendResponse response;
    ASSERT_OK(pipeline_->Recommend(Through("d", absl::StrCat("unit", i)), &response));
    EXPECT_EQ(response.variant(), "blue");
  }
  // Nothing runs any more, and the state survives a restart.
  deployments_->CheckRollouts();
  Open();
  ASSERT_OK_AND_ASSIGN(Deployment reopened, deployments_->Describe("d"));
  EXPECT_EQ(reopened.revision(), 2);
  EXPECT_EQ(reopened.rollout_status().phase(), RolloutStatus::ROLLED_BACK);
}

TEST_F(DeploymentsTest, AHealthyCanaryAdvancesStepByStepAndIsPromoted) {
  ASSERT_OK(deployments_->Create(WithRollout(2, /*min_events=*/20)).status());
  auto serve = [&](int from, int n) {
    for (int i = from; i < from + n; ++i) {
      RecommendResponse response;
      ASSERT_OK(pipeline_->Recommend(Through("d", absl::StrCat("unit", i)), &response));
    }
  };
  serve(0, 20);
  deployments_->CheckRollouts();  // too few canary slates yet (about 6)
  ASSERT_OK_AND_ASSIGN(Deployment held, deployments_->Describe("d"));
  EXPECT_EQ(held.revision(), 1);
  serve(20, 200);
  deployments_->CheckRollouts();
  ASSERT_OK_AND_ASSIGN(Deployment step1, deployments_->Describe("d"));
  EXPECT_EQ(step1.revision(), 2);
  EXPECT_EQ(step1.rollout_status().phase(), RolloutStatus::IN_PROGRESS);
  EXPECT_EQ(step1.rollout_status().step(), 1);
  EXPECT_THAT(step1.rollout_status().reason(), HasSubstr("step 0 passed"));
  EXPECT_DOUBLE_EQ(step1.variants(1).traffic_weight(), 0.6);
  EXPECT_EQ(step1.rollout_status().evidence().canary().served_in_step(), 0);  // counts anew
  serve(220, 200);
  deployments_->CheckRollouts();
  ASSERT_OK_AND_ASSIGN(Deployment promoted, deployments_->Describe("d"));
  EXPECT_EQ(promoted.revision(), 3);
  EXPECT_EQ(promoted.rollout_status().phase(), RolloutStatus::PROMOTED);
  EXPECT_DOUBLE_EQ(promoted.variants(0).traffic_weight(), 0);
  EXPECT_DOUBLE_EQ(promoted.variants(1).traffic_weight(), 1);
  ASSERT_OK_AND_ASSIGN(std::vector<DeploymentChange> changes, deployments_->Changes("d"));
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[1].kind(), DeploymentChange::ROLLOUT_ADVANCED);
  EXPECT_EQ(changes[2].kind(), DeploymentChange::PROMOTED);
  EXPECT_GE(changes[2].deployment().rollout_status().evidence().canary().served_in_step(), 20);
  RecommendResponse response;
  ASSERT_OK(pipeline_->Recommend(Through("d", "anyone"), &response));
  EXPECT_EQ(response.variant(), "green");
  EXPECT_EQ(response.model_version(), 2);
}

TEST_F(DeploymentsTest, TheCheckerThreadMovesRolloutsByItself) {
  ASSERT_OK(deployments_->Create(WithRollout(1, /*min_events=*/5)).status());
  deployments_->StartRolloutChecks(absl::Milliseconds(10));
  for (int i = 0; i < 100; ++i) {
    RecommendResponse response;
    ASSERT_OK(pipeline_->Recommend(Through("d", absl::StrCat("unit", i)), &response));
  }
  for (int tries = 0; tries < 3000; ++tries) {  // up to 30 s
    ASSERT_OK_AND_ASSIGN(Deployment d, deployments_->Describe("d"));
    if (d.rollout_status().phase() == RolloutStatus::PROMOTED) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << "not promoted in 30 s";
}

TEST_F(DeploymentsTest, SwitchAndRollbackAreOneRevisionEach) {
  ASSERT_OK(deployments_->Create(TwoVariants("d", 3, 1)).status());
  EXPECT_THAT(deployments_->Rollback("d", 0),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no switch to undo")));
  EXPECT_THAT(deployments_->Switch("d", "purple", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'purple' is not a variant")));
  EXPECT_THAT(deployments_->Switch("nope", "green", 0), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(deployments_->Switch("d", "green", 7),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(Deployment switched, deployments_->Switch("d", "green", 1));
  EXPECT_EQ(switched.revision(), 2);
  EXPECT_DOUBLE_EQ(switched.variants(0).traffic_weight(), 0);
  EXPECT_DOUBLE_EQ(switched.variants(1).traffic_weight(), 4);
  EXPECT_DOUBLE_EQ(switched.rollback_weights().at("blue"), 3);
  ASSERT_OK_AND_ASSIGN(Deployment back, deployments_->Rollback("d", 2));
  EXPECT_EQ(back.revision(), 3);
  EXPECT_DOUBLE_EQ(back.variants(0).traffic_weight(), 3);
  EXPECT_DOUBLE_EQ(back.variants(1).traffic_weight(), 1);
  EXPECT_TRUE(back.rollback_weights().empty());
  EXPECT_THAT(deployments_->Rollback("d", 0), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(std::vector<DeploymentChange> changes, deployments_->Changes("d"));
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[1].kind(), DeploymentChange::SWITCHED);
  EXPECT_EQ(changes[2].kind(), DeploymentChange::ROLLED_BACK);
  // A rollout in progress is rolled back on request, and a switch stops one.
  ASSERT_OK(deployments_->Update(WithRollout(1, 1000), 0).status());
  ASSERT_OK_AND_ASSIGN(Deployment stopped, deployments_->Rollback("d", 0));
  EXPECT_EQ(stopped.rollout_status().phase(), RolloutStatus::ROLLED_BACK);
  EXPECT_THAT(stopped.rollout_status().reason(), HasSubstr("RollbackDeployment called at step 0"));
  // A read-modify-write of other fields keeps a finished rollout finished.
  ASSERT_OK_AND_ASSIGN(Deployment described, deployments_->Describe("d"));
  described.set_description("edited");
  ASSERT_OK_AND_ASSIGN(Deployment edited, deployments_->Update(described, 0));
  EXPECT_EQ(edited.rollout_status().phase(), RolloutStatus::ROLLED_BACK);
  EXPECT_DOUBLE_EQ(edited.variants(1).traffic_weight(), 0);
  // A rollout in progress refuses a switch; an update without a plan ends it.
  ASSERT_OK(deployments_->Update(WithRollout(1, 1000), 0).status());
  EXPECT_THAT(deployments_->Switch("d", "green", 0),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("rollout in progress")));
  ASSERT_OK_AND_ASSIGN(Deployment plain, deployments_->Update(TwoVariants("d", 1, 1), 0));
  EXPECT_FALSE(plain.has_rollout());
  EXPECT_EQ(plain.rollout_status().phase(), RolloutStatus::PHASE_UNSPECIFIED);
}

TEST_F(DeploymentsTest, SwitchAndRollbackUnderLoadServeNoMixedCall) {
  ASSERT_OK(deployments_->Create(TwoVariants("d", 1, 0)).status());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, mixed{0}, calls{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        RecommendResponse response;
        const absl::Status s =
            pipeline_->Recommend(Through("d", absl::StrCat("t", t, "-", i), 3), &response);
        calls.fetch_add(1);
        if (!s.ok()) {
          failures.fetch_add(1);
          continue;
        }
        // Odd revisions are all blue (version 1), even ones (switches) all green.
        const bool blue_revision = response.deployment_revision() % 2 == 1;
        if ((response.variant() == "blue") != blue_revision ||
            response.model_version() != (blue_revision ? 1 : 2)) {
          mixed.fetch_add(1);
        }
      }
    });
  }
  for (int r = 2; r <= 21; ++r) {
    if (r % 2 == 0) {
      ASSERT_OK(deployments_->Switch("d", "green", r - 1).status());
    } else {
      ASSERT_OK(deployments_->Rollback("d", r - 1).status());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (std::thread& t : callers) t.join();
  EXPECT_GT(calls.load(), 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mixed.load(), 0);
}

TEST_F(DeploymentsTest, InterleavedSlatesMergeBothVariantsAndCreditClicksToTeams) {
  Deployment d = TwoVariants("d", 1, 1);
  d.set_mode(INTERLEAVED);
  Deployment three = d;
  DeploymentVariant* extra = three.add_variants();
  *extra = d.variants(0);
  extra->set_name("third");
  EXPECT_THAT(deployments_->Create(three),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("INTERLEAVED needs exactly 2 variants, got 3")));
  Deployment with_rollout = WithRollout(1, 10);
  with_rollout.set_mode(INTERLEAVED);
  EXPECT_THAT(deployments_->Create(with_rollout),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no rollout")));
  ASSERT_OK(deployments_->Create(d).status());

  // blue (m@1) ranks i0, i1, ... first; green (m@2) i79, i78, ...
  const std::vector<std::string> blue = {"i0", "i1", "i2", "i3"};
  const std::vector<std::string> green = {"i79", "i78", "i77", "i76"};
  int green_first = 0;
  constexpr int kSlates = 200;
  for (int i = 0; i < kSlates; ++i) {
    RecommendResponse response;
    ASSERT_OK(pipeline_->Recommend(Through("d", absl::StrCat("unit", i), 4), &response));
    EXPECT_EQ(response.variant(), "interleaved");
    ASSERT_EQ(response.items_size(), 4);
    ASSERT_OK_AND_ASSIGN(DecisionEvent logged, log_->GetDecision(response.event_id()));
    ASSERT_EQ(logged.interleaving_teams_size(), 4);
    // Two of each team, each in its own ranking's order; the first pick of
    // each round was the coin's (1/2), the second forced (1).
    std::vector<std::string> drafted[2];
    for (int j = 0; j < 4; ++j) {
      const int team = logged.interleaving_teams(j);
      drafted[team].push_back(response.items(j).item());
      EXPECT_EQ(logged.actions(logged.slate_indices(j)).id(), response.items(j).item());
      EXPECT_DOUBLE_EQ(response.items(j).propensity(), j % 2 == 0 ? 0.5 : 1.0) << j;
      EXPECT_DOUBLE_EQ(logged.slate_propensities(j), response.items(j).propensity());
    }
    EXPECT_EQ(drafted[0], std::vector<std::string>(blue.begin(), blue.begin() + 2));
    EXPECT_EQ(drafted[1], std::vector<std::string>(green.begin(), green.begin() + 2));
    green_first += logged.interleaving_teams(0) == 1;
    // The logged slate replays from the rankings and the event id.
    ASSERT_OK_AND_ASSIGN(bandits::TeamDraftSlate<std::string> replay,
                         bandits::TeamDraftInterleave(blue, green, 4,
                                                      StableHash64(response.event_id())));
    for (int j = 0; j < 4; ++j) EXPECT_EQ(replay.items[j], response.items(j).item());
    // Users click green's first item; every fourth slate also blue's first.
    RewardSlateRequest click;
    click.set_deployment("d");
    click.set_event_id(response.event_id());
    click.set_value(1);
    click.set_item(drafted[1][0]);
    ASSERT_OK(deployments_->RewardSlate(click).status());
    if (i % 4 == 0) {
      click.set_item(drafted[0][0]);
      ASSERT_OK(deployments_->RewardSlate(click).status());
    }
  }
  // The coin is fair: green first in about half of the slates (binomial sd 7).
  EXPECT_NEAR(green_first, kSlates / 2, 30);
  ASSERT_OK_AND_ASSIGN(Deployment described, deployments_->Describe("d"));
  const InterleavingStatus& status = described.interleaving();
  EXPECT_EQ(status.variant_a(), "blue");
  EXPECT_EQ(status.variant_b(), "green");
  EXPECT_EQ(status.impressions(), kSlates);
  EXPECT_EQ(status.wins_b(), kSlates * 3 / 4);  // the doubly clicked ones are ties
  EXPECT_EQ(status.wins_a(), 0);
  EXPECT_EQ(status.ties(), kSlates / 4);
  EXPECT_NEAR(status.delta(), -0.75, 1e-12);
  EXPECT_LT(status.delta_high(), 0);
  EXPECT_EQ(status.preferred(), "green");
  // A change of description keeps the counts; a switch needs SPLIT mode.
  d.set_description("same variants");
  ASSERT_OK(deployments_->Update(d, 0).status());
  ASSERT_OK_AND_ASSIGN(described, deployments_->Describe("d"));
  EXPECT_EQ(described.interleaving().impressions(), kSlates);
  EXPECT_THAT(deployments_->Switch("d", "green", 0),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("INTERLEAVED")));
  d.set_mode(SPLIT);
  ASSERT_OK(deployments_->Update(d, 0).status());
  EXPECT_FALSE(deployments_->Describe("d")->has_interleaving());
  ASSERT_OK_AND_ASSIGN(Deployment switched, deployments_->Switch("d", "green", 0));
  EXPECT_EQ(switched.mode(), SPLIT);
  // Switching again changes nothing and keeps what a rollback restores.
  ASSERT_OK_AND_ASSIGN(Deployment again, deployments_->Switch("d", "green", 0));
  EXPECT_EQ(again.revision(), switched.revision());
  EXPECT_DOUBLE_EQ(again.rollback_weights().at("blue"), 1);
  RecommendResponse response;
  ASSERT_OK(pipeline_->Recommend(Through("d", "after"), &response));
  EXPECT_EQ(response.variant(), "green");
}

TEST_F(DeploymentsTest, QueuedSlatesReplyBeforeTheDiskAndAreLoggedAfter) {
  Deployment d = TwoVariants("d", 1, 0);
  d.set_slate_durability(QUEUED_BEFORE_REPLY);
  ASSERT_OK(deployments_->Create(d).status());
  RecommendResponse response;
  bool replied = false;
  absl::Status outcome = absl::UnknownError("not called");
  pipeline_->RecommendAsync(Through("d", "unit"), &response, [&](absl::Status s) {
    replied = true;
    outcome = s;
  });
  // Replied on the calling thread, before the committer synced the slate.
  EXPECT_TRUE(replied);
  EXPECT_OK(outcome);
  ASSERT_FALSE(response.event_id().empty());
  for (int tries = 0; tries < 1000; ++tries) {  // logged within 10 s
    if (log_->GetDecision(response.event_id()).ok()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << "the queued slate never reached the log";
}

TEST_F(DeploymentsTest, ARescoringModelOrdersTheRetrievedCandidates) {
  Deployment d = OneVariant("d", /*blue=*/true);  // m@1 retrieves i0, i1, ...
  d.mutable_variants(0)->mutable_pipeline()->set_rescore_model("m@2");  // ranks i79 first
  Deployment bad = d;
  bad.mutable_variants(0)->mutable_pipeline()->set_rescore_model("../x");
  EXPECT_THAT(deployments_->Create(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("deployment.variants[0].pipeline.rescore_model")));
  bad.mutable_variants(0)->mutable_pipeline()->set_rescore_model("m@9");
  EXPECT_THAT(deployments_->Create(bad), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(deployments_->Create(d).status());
  RecommendResponse response;
  ASSERT_OK(pipeline_->Recommend(Through("d", "unit", 3), &response));
  // m@1's first 50 candidates (i0..i49), in m@2's order: i49 first.
  ASSERT_EQ(response.items_size(), 3);
  EXPECT_EQ(response.items(0).item(), "i49");
  EXPECT_EQ(response.items(1).item(), "i48");
  EXPECT_EQ(response.items(2).item(), "i47");
  EXPECT_EQ(response.model_version(), 1);  // the retrieval model
  ASSERT_OK_AND_ASSIGN(DecisionEvent logged, log_->GetDecision(response.event_id()));
  EXPECT_EQ(logged.rescore_model(), "m@2");
  EXPECT_EQ(logged.actions(0).id(), "i49");
  EXPECT_EQ(logged.actions_size(), 50);
}

}  // namespace
}  // namespace recbandit::services

// Tests of slate OPE over a deployment's own log: slates served through the
// real pipeline (uniform exploration, or none) under a planted position-based
// click model, clicked through RewardSlate, then evaluated for another model
// version and for a shadow. Known answers: the target's true click rate (from
// the planted model) lies inside the iips and pi intervals; the logged
// version evaluated on its own unexplored traffic gives the on-policy mean
// exactly; a target the logger could never show is reported; bad requests
// name the problem.
#include "services/serving/slate_evaluation.h"

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bandits/experiment.h"
#include "bandits/log/event_log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "ranking/factor_model.h"
#include "services/serving/deployments.h"
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
constexpr int kSlate = 3;

// Saves <root>/m/<version>: one user "u"; version 1 ranks i0 first,
// version 2 i79 first.
void SaveVersion(const std::string& root, int64_t version) {
  ranking::IdMap users, items;
  users.GetOrAdd("u");
  std::vector<float> item_factors;
  for (int j = 0; j < kItems; ++j) {
    items.GetOrAdd(absl::StrCat("i", j));
    item_factors.push_back(static_cast<float>(version == 1 ? kItems - j : j + 1));
    item_factors.push_back(0);
  }
  ModelManifest manifest;
  manifest.set_name("m");
  manifest.set_algo(ALS);
  manifest.mutable_params()->set_algo(ALS);
  auto model = ranking::FactorModel::Create(users, items, 2, {1, 0}, item_factors, {}, manifest);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_OK(model->Save(absl::StrCat(root, "/m/", version)));
}

// The planted position-based click model: item i's attractiveness times
// position j's examination.
double Attractiveness(const std::string& item) { return 0.05 + 0.6 * std::stoi(item.substr(1)) / 79.0; }
double Examination(int j) { return 1.0 / (j + 1); }

class SlateEvaluationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SaveVersion(dir_.File("models"), 1);
    SaveVersion(dir_.File("models"), 2);
    ASSERT_OK_AND_ASSIGN(log_, bandits::EventLog::Open(dir_.path(), {}));
    ASSERT_OK_AND_ASSIGN(models_, ModelStore::Open(dir_.File("models"), 5, /*prune=*/false));
    ASSERT_OK(models_->Activate("m", 1).status());
    ASSERT_OK_AND_ASSIGN(experiments_, bandits::ExperimentManager::Open(log_.get(), {}));
    ASSERT_OK_AND_ASSIGN(deployments_, DeploymentStore::Open(log_.get(), models_.get()));
    pipeline_ = std::make_unique<RecommendPipeline>(models_.get(), &recent_, experiments_.get(),
                                                    deployments_.get(), log_.get());
  }

  // Creates deployment "d" serving m@1 with exploration `epsilon` over its
  // first 50 candidates (and a shadow of m@1 on every call), serves `n`
  // slates and clicks them by the planted model.
  void ServeAndClick(double epsilon, int n) {
    Deployment d;
    d.set_name("d");
    DeploymentVariant* v = d.add_variants();
    v->set_name("blue");
    v->mutable_pipeline()->set_model("m@1");
    v->mutable_pipeline()->mutable_exploration()->set_epsilon(epsilon);
    v->mutable_pipeline()->mutable_exploration()->set_pool(50);
    v->set_traffic_weight(1);
    ShadowPipeline* shadow = d.add_shadows();
    shadow->set_name("same");
    shadow->mutable_pipeline()->set_model("m@1");
    shadow->set_sample_rate(1);
    ASSERT_OK(deployments_->Create(d).status());
    Rng rng(99);
    for (int i = 0; i < n; ++i) {
      RecommendRequest r;
      r.set_deployment("d");
      r.set_user("u");
      r.set_unit_id(absl::StrCat("s", i));
      // A fixed event id seeds the exploring draw, so the logged slates (and
      // with Rng(99) the clicks) are the same on every run.
      r.set_event_id(absl::StrCat("slate-", i));
      r.set_k(kSlate);
      RecommendResponse response;
      ASSERT_OK(pipeline_->Recommend(r, &response));
      for (int j = 0; j < response.items_size(); ++j) {
        if (rng.Uniform() >= Attractiveness(response.items(j).item()) * Examination(j)) continue;
        RewardSlateRequest click;
        click.set_deployment("d");
        click.set_event_id(response.event_id());
        click.set_item(response.items(j).item());
        click.set_value(1);
        ASSERT_OK(deployments_->RewardSlate(click).status());
      }
    }
    pipeline_.reset();  // waits for the shadow slates
  }

  // The planted click rate of a fixed slate.
  static double Truth(const std::vector<std::string>& slate) {
    double v = 0;
    for (size_t j = 0; j < slate.size(); ++j) v += Attractiveness(slate[j]) * Examination(j);
    return v;
  }

  absl::StatusOr<OpeReport> Evaluate(const std::string& target,
                                     std::vector<std::string> estimators) {
    EvaluatePolicyRequest request;
    request.set_deployment("d");
    request.set_target(target);
    for (const std::string& e : estimators) request.add_estimators(e);
    request.set_bootstrap(0);
    return EvaluateDeploymentSlates(*log_, request, LookupIn(*models_));
  }

  ScratchDir dir_;
  RecentEvents recent_;
  std::unique_ptr<bandits::EventLog> log_;
  std::unique_ptr<ModelStore> models_;
  std::unique_ptr<bandits::ExperimentManager> experiments_;
  std::unique_ptr<DeploymentStore> deployments_;
  std::unique_ptr<RecommendPipeline> pipeline_;
};

TEST_F(SlateEvaluationTest, AnotherVersionIsJudgedFromUniformlyExploredTraffic) {
  ServeAndClick(/*epsilon=*/1.0, 3000);
  // m@2 ranks the logged candidates (m@1's first 50: i0..i49) i49 first.
  const double truth = Truth({"i49", "i48", "i47"});
  ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate("model:m@2", {"iips", "rips", "pi", "sniips"}));
  EXPECT_EQ(report.n(), 3000);
  EXPECT_EQ(report.zero_support_rounds(), 0);
  for (const OpeEstimate& e : report.estimates()) {
    SCOPED_TRACE(e.estimator());
    std::printf("%-7s %.4f [%.4f, %.4f] (truth %.4f)\n", e.estimator().c_str(), e.value(),
                e.ci_low(), e.ci_high(), truth);
    if (e.estimator() == "rips") continue;  // prefix matches are rare at 1/50^3
    EXPECT_LE(e.ci_low(), truth);
    EXPECT_GE(e.ci_high(), truth);
    EXPECT_LT(e.ci_high() - e.ci_low(), 1.0);  // informative, not [0, K]
  }
  // The logged traffic earned far less than the target would (random slates).
  EXPECT_LT(report.on_policy_mean(), truth);
  // The shadow (m@1's own first 3 on every call) is judged the same way.
  ASSERT_OK_AND_ASSIGN(OpeReport shadow, Evaluate("shadow:same", {"iips"}));
  EXPECT_EQ(shadow.n(), 3000);
  const double shadow_truth = Truth({"i0", "i1", "i2"});
  EXPECT_LE(shadow.estimates(0).ci_low(), shadow_truth);
  EXPECT_GE(shadow.estimates(0).ci_high(), shadow_truth);
}

TEST_F(SlateEvaluationTest, UnexploredTrafficJudgesItsOwnVersionExactlyAndWarnsForOthers) {
  ServeAndClick(/*epsilon=*/0, 300);
  ASSERT_OK_AND_ASSIGN(OpeReport own, Evaluate("model:m@1", {"iips", "rips", "sips", "pi"}));
  for (const OpeEstimate& e : own.estimates()) {
    EXPECT_NEAR(e.value(), own.on_policy_mean(), 1e-12) << e.estimator();
  }
  EXPECT_EQ(own.zero_support_rounds(), 0);
  ASSERT_OK_AND_ASSIGN(OpeReport other, Evaluate("model:m", {"iips"}));  // active: version 1
  EXPECT_NEAR(other.estimates(0).value(), own.on_policy_mean(), 1e-12);
  ASSERT_OK_AND_ASSIGN(OpeReport v2, Evaluate("model:m@2", {"iips"}));
  EXPECT_EQ(v2.zero_support_rounds(), 300);
  EXPECT_THAT(v2.warnings(), ::testing::Contains(HasSubstr("could never have shown")));
}

TEST_F(SlateEvaluationTest, BadRequestsNameTheProblem) {
  ServeAndClick(/*epsilon=*/0.5, 50);
  EXPECT_THAT(Evaluate("model:m@7", {}), StatusIs(absl::StatusCode::kNotFound,
                                                  HasSubstr("has no version 7")));
  EXPECT_THAT(Evaluate("uniform", {}), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("model:<name>[@<version>] or shadow")));
  EXPECT_THAT(Evaluate("model:m@2", {"pi"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("epsilon mixture")));
  EXPECT_THAT(Evaluate("model:m@2", {"ips"}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Evaluate("shadow:none", {}), StatusIs(absl::StatusCode::kFailedPrecondition));
  EvaluatePolicyRequest unknown;
  unknown.set_deployment("nope");
  unknown.set_target("model:m");
  EXPECT_THAT(EvaluateDeploymentSlates(*log_, unknown, LookupIn(*models_)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown deployment 'nope'")));
}

}  // namespace
}  // namespace recbandit::services

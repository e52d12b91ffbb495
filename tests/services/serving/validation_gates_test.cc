// Tests of services::ValidateGates, SplitHoldout and EvaluateGates: each bound
// of ValidationGates, the time split's known answer, and each gate's verdict
// on hand-made one-factor models whose rankings are known: x > y > z for the
// "good" model, z > y > x for the "bad" one.
#include "services/serving/validation_gates.h"

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "ranking/synthetic.h"
#include "retrieval/item_index.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::services {
namespace {

std::string RpcName(const std::string& field) { return "gates." + field; }

using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

// Returns the model with users a, b (vector 1) and items x, y, z with the
// given one-dimensional vectors, trained on the (user, item) pairs `seen`.
ranking::FactorModel OneFactorModel(float x, float y, float z,
                                    const std::vector<std::pair<std::string, std::string>>&
                                        seen = {}) {
  ranking::IdMap users, items;
  users.GetOrAdd("a");
  users.GetOrAdd("b");
  items.GetOrAdd("x");
  items.GetOrAdd("y");
  items.GetOrAdd("z");
  ranking::InteractionLog log;
  for (const auto& [u, i] : seen) log.Add(log.users.GetOrAdd(u), log.items.GetOrAdd(i), 1, 0);
  const ranking::Interactions train =
      ranking::Interactions::FromLogWithIds(log, users, items, nullptr);
  absl::StatusOr<ranking::FactorModel> m = ranking::FactorModel::Create(
      users, items, 1, {1, 1}, {x, y, z}, {}, ModelManifest(), &train.user_items());
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

// Returns a split with no training rows and the held-out rows `held`
// (user, item) pairs.
HoldoutSplit Held(const std::vector<std::pair<std::string, std::string>>& held) {
  HoldoutSplit split;
  for (const auto& [u, i] : held) {
    split.holdout.Add(split.holdout.users.GetOrAdd(u), split.holdout.items.GetOrAdd(i), 1, 0);
  }
  return split;
}

const GateResult* FindGate(const ValidationReport& report, const std::string& name) {
  for (const GateResult& g : report.gates()) {
    if (g.gate() == name) return &g;
  }
  return nullptr;
}

ValidationGates KOne() {
  ValidationGates gates;
  gates.set_k(1);
  return WithGateDefaults(gates);
}

TEST(ValidateGatesTest, AcceptsDefaultsAndEveryBoundaryValue) {
  EXPECT_OK(ValidateGates(ValidationGates(), false, RpcName));
  ValidationGates g;
  g.mutable_holdout()->set_scheme("user_holdout");
  g.mutable_holdout()->set_fraction(0.5);
  g.set_k(1000);
  g.mutable_ndcg_tolerance()->set_value(0);
  g.mutable_recall_tolerance()->set_value(2);
  g.mutable_min_coverage()->set_value(1);
  g.mutable_min_index_recall()->set_value(0);
  g.set_index_recall_users(100000);
  EXPECT_OK(ValidateGates(g, true, RpcName));
}

TEST(ValidateGatesTest, RejectsEachFieldOutOfBoundNamingIt) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    std::function<void(ValidationGates*)> set;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](ValidationGates* g) { g->mutable_holdout()->set_scheme("random"); },
       "gates.holdout.scheme"},
      {[](ValidationGates* g) { g->mutable_holdout()->set_fraction(0.51); },
       "gates.holdout.fraction"},
      {[](ValidationGates* g) { g->mutable_holdout()->set_fraction(-0.1); },
       "gates.holdout.fraction"},
      {[](ValidationGates* g) { g->set_k(1001); }, "gates.k"},
      {[](ValidationGates* g) { g->set_k(-1); }, "gates.k"},
      {[](ValidationGates* g) { g->mutable_ndcg_tolerance()->set_value(-0.01); },
       "gates.ndcg_tolerance"},
      {[nan](ValidationGates* g) { g->mutable_recall_tolerance()->set_value(nan); },
       "gates.recall_tolerance"},
      {[](ValidationGates* g) { g->mutable_min_coverage()->set_value(1.5); },
       "gates.min_coverage"},
      {[](ValidationGates* g) { g->mutable_min_index_recall()->set_value(-1); },
       "gates.min_index_recall"},
      {[](ValidationGates* g) { g->set_index_recall_users(100001); },
       "gates.index_recall_users"},
  };
  for (const Case& c : cases) {
    ValidationGates g;
    c.set(&g);
    EXPECT_THAT(ValidateGates(g, true, RpcName),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.field)))
        << c.field;
  }
}

TEST(ValidateGatesTest, IndexRecallNeedsAnIndexAndLongSchemesAreNotEchoed) {
  ValidationGates g;
  g.mutable_min_index_recall()->set_value(0.9);
  EXPECT_THAT(ValidateGates(g, false, RpcName),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs an item index")));
  ValidationGates s;
  s.mutable_holdout()->set_scheme(std::string(10000, 'q'));
  absl::Status status = ValidateGates(s, false, RpcName);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_LT(status.message().size(), 200u);
}

TEST(SplitHoldoutTest, TimeHoldsOutTheNewestFractionInFileOrder) {
  ranking::InteractionLog log;
  log.has_timestamps = true;
  // Ten rows of one user; timestamps out of order.
  const std::vector<int64_t> ts = {50, 10, 90, 20, 100, 30, 80, 40, 70, 60};
  const int32_t u = log.users.GetOrAdd("u");
  for (size_t r = 0; r < ts.size(); ++r) {
    log.Add(u, log.items.GetOrAdd("i" + std::to_string(r)), 1, ts[r]);
  }
  HoldoutSpec spec;
  spec.set_scheme("time");
  spec.set_fraction(0.3);
  const HoldoutSplit split = SplitHoldout(log, spec);
  EXPECT_TRUE(split.problem.empty());
  ASSERT_EQ(split.holdout.size(), 3);
  ASSERT_EQ(split.train.size(), 7);
  // The three newest (100, 90, 80) in file order: rows 2, 4, 6.
  EXPECT_EQ(split.holdout.timestamp, (std::vector<int64_t>{90, 100, 80}));
  EXPECT_EQ(split.holdout.items.Name(split.holdout.item[0]), "i2");
  EXPECT_EQ(split.train.timestamp, (std::vector<int64_t>{50, 10, 20, 30, 40, 70, 60}));
}

TEST(SplitHoldoutTest, TimeWithoutTimestampsIsAProblemAndTrainsOnEverything) {
  ranking::InteractionLog log;
  for (int r = 0; r < 5; ++r) log.Add(log.users.GetOrAdd("u"), log.items.GetOrAdd(std::to_string(r)), 1, 0);
  HoldoutSpec spec;
  spec.set_scheme("time");
  spec.set_fraction(0.2);
  const HoldoutSplit split = SplitHoldout(log, spec);
  EXPECT_THAT(split.problem, HasSubstr("no timestamp"));
  EXPECT_EQ(split.train.size(), 5);
  EXPECT_EQ(split.holdout.size(), 0);
}

TEST(SplitHoldoutTest, UserHoldoutIsSeededAndKeepsEveryRow) {
  ranking::SyntheticOptions gen;
  gen.users = 200;
  gen.items = 100;
  gen.nnz = 3000;
  gen.factors = 4;
  gen.seed = 3;
  ASSERT_OK_AND_ASSIGN(ranking::SyntheticData data, ranking::GenerateInteractions(gen));
  HoldoutSpec spec;
  spec.set_scheme("user_holdout");
  spec.set_fraction(0.2);
  spec.set_seed(11);
  const HoldoutSplit a = SplitHoldout(data.log, spec);
  const HoldoutSplit b = SplitHoldout(data.log, spec);
  spec.set_seed(12);
  const HoldoutSplit c = SplitHoldout(data.log, spec);
  ASSERT_TRUE(a.problem.empty()) << a.problem;
  EXPECT_GT(a.holdout.size(), 0);
  EXPECT_EQ(a.train.size() + a.holdout.size(), data.log.size());
  EXPECT_EQ(a.holdout.item, b.holdout.item);
  EXPECT_EQ(a.holdout.user, b.holdout.user);
  EXPECT_FALSE(a.holdout.size() == c.holdout.size() && a.holdout.item == c.holdout.item &&
               a.holdout.user == c.holdout.user);
}

TEST(EvaluateGatesTest, ABetterCandidatePassesAndAWorseOneFailsWithItsFigures) {
  const ranking::FactorModel good = OneFactorModel(3, 2, 1);
  const ranking::FactorModel bad = OneFactorModel(1, 2, 3);
  const HoldoutSplit split = Held({{"a", "x"}, {"b", "x"}});
  ValidationGates gates = KOne();
  gates.mutable_ndcg_tolerance()->set_value(0.1);
  gates.mutable_recall_tolerance()->set_value(0.1);

  GateInputs in;
  in.candidate = &good;
  in.split = &split;
  in.active = &bad;
  in.active_version = 4;
  ASSERT_OK_AND_ASSIGN(ValidationReport pass, EvaluateGates(gates, in, 1));
  EXPECT_TRUE(pass.promoted());
  EXPECT_FALSE(pass.forced());
  EXPECT_EQ(pass.baseline_version(), 4);
  EXPECT_DOUBLE_EQ(pass.candidate_metrics().ndcg_at_k(), 1.0);
  EXPECT_DOUBLE_EQ(pass.baseline_metrics().ndcg_at_k(), 0.0);
  ASSERT_NE(FindGate(pass, "holdout"), nullptr);
  EXPECT_TRUE(FindGate(pass, "holdout")->passed());
  EXPECT_EQ(FindGate(pass, "holdout")->candidate(), 2);  // users evaluated

  in.candidate = &bad;
  in.active = &good;
  ASSERT_OK_AND_ASSIGN(ValidationReport fail, EvaluateGates(gates, in, 1));
  EXPECT_FALSE(fail.promoted());
  const GateResult* ndcg = FindGate(fail, "ndcg_at_k");
  ASSERT_NE(ndcg, nullptr);
  EXPECT_FALSE(ndcg->passed());
  EXPECT_DOUBLE_EQ(ndcg->candidate(), 0.0);
  EXPECT_DOUBLE_EQ(ndcg->baseline(), 1.0);
  EXPECT_DOUBLE_EQ(ndcg->threshold(), 0.9);
  EXPECT_FALSE(FindGate(fail, "recall_at_k")->passed());
  EXPECT_THAT(FailedGatesSummary(fail), HasSubstr("ndcg_at_k"));
  EXPECT_THAT(FailedGatesSummary(pass), "");

  gates.set_force(true);
  ASSERT_OK_AND_ASSIGN(ValidationReport forced, EvaluateGates(gates, in, 1));
  EXPECT_TRUE(forced.promoted());
  EXPECT_TRUE(forced.forced());
  EXPECT_FALSE(FindGate(forced, "ndcg_at_k")->passed());
}

TEST(EvaluateGatesTest, ATieWithinTheToleranceEdgePasses) {
  const ranking::FactorModel good = OneFactorModel(3, 2, 1);
  const HoldoutSplit split = Held({{"a", "x"}});
  ValidationGates gates = KOne();
  gates.mutable_ndcg_tolerance()->set_value(0);
  GateInputs in;
  in.candidate = &good;
  in.split = &split;
  in.active = &good;
  ASSERT_OK_AND_ASSIGN(ValidationReport report, EvaluateGates(gates, in, 1));
  EXPECT_TRUE(FindGate(report, "ndcg_at_k")->passed());
  EXPECT_TRUE(report.promoted());
}

TEST(EvaluateGatesTest, WithoutAnActiveVersionRelativeGatesPass) {
  const ranking::FactorModel bad = OneFactorModel(1, 2, 3);
  const HoldoutSplit split = Held({{"a", "x"}});
  ValidationGates gates = KOne();
  gates.mutable_ndcg_tolerance()->set_value(0);
  GateInputs in;
  in.candidate = &bad;
  in.split = &split;
  ASSERT_OK_AND_ASSIGN(ValidationReport report, EvaluateGates(gates, in, 1));
  EXPECT_TRUE(FindGate(report, "ndcg_at_k")->passed());
  EXPECT_THAT(FindGate(report, "ndcg_at_k")->detail(), HasSubstr("no active version"));
  EXPECT_EQ(report.baseline_version(), 0);
  EXPECT_TRUE(report.promoted());
}

TEST(EvaluateGatesTest, RowsTheActiveVersionTrainedOnAreLeftOut) {
  const ranking::FactorModel candidate = OneFactorModel(1, 2, 3);
  // The active version ranks x first and trained on (a, x): on that row it
  // would win by memory, so only (b, x) is compared, where it wins fairly.
  const ranking::FactorModel active = OneFactorModel(3, 2, 1, {{"a", "x"}});
  const HoldoutSplit split = Held({{"a", "x"}, {"b", "x"}});
  ValidationGates gates = KOne();
  gates.mutable_ndcg_tolerance()->set_value(0);
  GateInputs in;
  in.candidate = &candidate;
  in.split = &split;
  in.active = &active;
  in.active_version = 3;
  ASSERT_OK_AND_ASSIGN(ValidationReport report, EvaluateGates(gates, in, 1));
  EXPECT_EQ(report.candidate_metrics().users_evaluated(), 1);
  EXPECT_EQ(report.baseline_metrics().users_evaluated(), 1);
  EXPECT_THAT(FindGate(report, "holdout")->detail(),
              HasSubstr("1 the active version trained on left out"));
  EXPECT_DOUBLE_EQ(report.baseline_metrics().ndcg_at_k(), 1.0);
  EXPECT_FALSE(FindGate(report, "ndcg_at_k")->passed());

  // Trained on every held-out row: no fair comparison, fail closed.
  const ranking::FactorModel memorised = OneFactorModel(3, 2, 1, {{"a", "x"}, {"b", "x"}});
  in.active = &memorised;
  ASSERT_OK_AND_ASSIGN(report, EvaluateGates(gates, in, 1));
  EXPECT_FALSE(FindGate(report, "holdout")->passed());
  EXPECT_THAT(FindGate(report, "holdout")->detail(), HasSubstr("v3 trained on all 2"));
  EXPECT_FALSE(report.promoted());
}

TEST(EvaluateGatesTest, CoverageIsTheShareOfItemsInSomeTopK) {
  const ranking::FactorModel good = OneFactorModel(3, 2, 1);
  const HoldoutSplit split = Held({{"a", "x"}, {"b", "y"}});
  ValidationGates gates = KOne();
  gates.mutable_min_coverage()->set_value(0.34);
  GateInputs in;
  in.candidate = &good;
  in.split = &split;
  ASSERT_OK_AND_ASSIGN(ValidationReport report, EvaluateGates(gates, in, 1));
  // Both users' top 1 is x: one of three items.
  const GateResult* coverage = FindGate(report, "coverage_at_k");
  ASSERT_NE(coverage, nullptr);
  EXPECT_NEAR(coverage->candidate(), 1.0 / 3, 1e-12);
  EXPECT_FALSE(coverage->passed());
  EXPECT_FALSE(report.promoted());
  gates.mutable_min_coverage()->set_value(0.33);
  ASSERT_OK_AND_ASSIGN(report, EvaluateGates(gates, in, 1));
  EXPECT_TRUE(FindGate(report, "coverage_at_k")->passed());
  EXPECT_TRUE(report.promoted());
}

TEST(EvaluateGatesTest, NoUsableHoldoutFailsClosed) {
  const ranking::FactorModel good = OneFactorModel(3, 2, 1);
  const HoldoutSplit unknown = Held({{"stranger", "x"}, {"a", "unseen_item"}});
  GateInputs in;
  in.candidate = &good;
  in.split = &unknown;
  ASSERT_OK_AND_ASSIGN(ValidationReport report, EvaluateGates(KOne(), in, 1));
  EXPECT_FALSE(FindGate(report, "holdout")->passed());
  EXPECT_FALSE(report.promoted());

  HoldoutSplit problem;
  problem.problem = "the interactions have no timestamp column";
  in.split = &problem;
  ValidationGates forced = KOne();
  forced.set_force(true);
  ASSERT_OK_AND_ASSIGN(report, EvaluateGates(forced, in, 1));
  EXPECT_THAT(FindGate(report, "holdout")->detail(), HasSubstr("no timestamp"));
  EXPECT_TRUE(report.promoted());
  EXPECT_TRUE(report.forced());
}

TEST(EvaluateGatesTest, TrainingLossMustBeFiniteAndNotRise) {
  const ranking::FactorModel good = OneFactorModel(3, 2, 1);
  const HoldoutSplit split = Held({{"a", "x"}});
  GateInputs in;
  in.candidate = &good;
  in.split = &split;
  struct Case {
    std::vector<double> losses;
    bool passed;
  };
  for (const Case& c : std::vector<Case>{{{3, 2, 1}, true},
                                         {{}, true},
                                         {{5}, true},
                                         {{1, 2}, false},
                                         {{3, std::nan(""), 1}, false},
                                         {{3, std::numeric_limits<double>::infinity()}, false}}) {
    in.losses = c.losses;
    ASSERT_OK_AND_ASSIGN(ValidationReport report, EvaluateGates(KOne(), in, 1));
    EXPECT_EQ(FindGate(report, "training_loss")->passed(), c.passed) << c.losses.size();
    EXPECT_EQ(report.promoted(), c.passed);
  }
  const ranking::FactorModel broken =
      OneFactorModel(std::numeric_limits<float>::quiet_NaN(), 2, 1);
  in.candidate = &broken;
  in.losses = {};
  ASSERT_OK_AND_ASSIGN(ValidationReport report, EvaluateGates(KOne(), in, 1));
  EXPECT_FALSE(FindGate(report, "training_loss")->passed());
}

TEST(EvaluateGatesTest, IndexRecallIsOneForExactSearchAndLowerForACoarseIndex) {
  // Random factors: the index recall does not depend on training.
  std::vector<float> uf(300 * 16), itf(2000 * 16);
  Rng rng(4);
  for (float& v : uf) v = static_cast<float>(rng.Uniform() - 0.5);
  for (float& v : itf) v = static_cast<float>(rng.Uniform() - 0.5);
  ranking::IdMap users, items;
  for (int u = 0; u < 300; ++u) users.GetOrAdd("u" + std::to_string(u));
  for (int i = 0; i < 2000; ++i) items.GetOrAdd("i" + std::to_string(i));
  ASSERT_OK_AND_ASSIGN(ranking::FactorModel model,
                       ranking::FactorModel::Create(users, items, 16, uf, itf, {},
                                                    ModelManifest()));
  const HoldoutSplit split = Held({{"u1", "i1"}});
  ValidationGates gates = WithGateDefaults(ValidationGates());
  gates.mutable_min_index_recall()->set_value(0.999);
  gates.set_index_recall_users(100);
  GateInputs in;
  in.candidate = &model;
  in.split = &split;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<retrieval::ItemIndex> exact,
                       retrieval::BuildItemIndex("Exact", model.item_factors(), 16, {}));
  in.index = exact.get();
  ASSERT_OK_AND_ASSIGN(ValidationReport report, EvaluateGates(gates, in, 1));
  EXPECT_DOUBLE_EQ(FindGate(report, "index_recall_at_k")->candidate(), 1.0);
  EXPECT_TRUE(FindGate(report, "index_recall_at_k")->passed());

  // PQ with 2 sub-quantisers of 4 bits loses most of the ranking.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<retrieval::ItemIndex> coarse,
                       retrieval::BuildItemIndex("PQ2x4", model.item_factors(), 16, {}));
  in.index = coarse.get();
  ASSERT_OK_AND_ASSIGN(report, EvaluateGates(gates, in, 1));
  const GateResult* recall = FindGate(report, "index_recall_at_k");
  EXPECT_LT(recall->candidate(), 0.9);
  EXPECT_GT(recall->candidate(), 0.0);
  EXPECT_FALSE(recall->passed());
  EXPECT_FALSE(report.promoted());
}

}  // namespace
}  // namespace recbandit::services

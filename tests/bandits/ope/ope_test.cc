// Tests of the OPE estimators (bandits/ope/ope.h), the OBD reader (bandits/ope/obd.h)
// and the exported-log reader (bandits/ope/ope_input.h). Oracles: simulated logs
// from a known environment (discrete contexts, known logging and target pmfs,
// Bernoulli rewards with known means), so the target's true value is exact;
// and the Open Bandit Pipeline's published numbers on the OBD sample.
//
// Data: Open Bandit Dataset, ZOZO, Inc., CC BY 4.0
// (https://creativecommons.org/licenses/by/4.0/); small sample from
// st-tech/zr-obp obp/dataset/obd/. Saito, Aihara, Matsutani, Narita, "Open
// Bandit Dataset and Pipeline", arXiv:2008.07146.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bandits/experiment.h"
#include "bandits/features.h"
#include "bandits/log/export.h"
#include "bandits/ope/intervals.h"
#include "bandits/ope/logged_data.h"
#include "bandits/ope/obd.h"
#include "bandits/ope/ope.h"
#include "bandits/ope/ope_input.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::bandits {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::recbandit::testing::WriteTextFile;
using ::testing::AllOf;
using ::testing::HasSubstr;

// A known environment: kContexts discrete contexts (drawn with known
// probabilities), kActions actions, Bernoulli rewards with mean kMean[c][a].
constexpr int kContexts = 4;
constexpr int kActions = 3;
constexpr double kContextProb[kContexts] = {0.4, 0.3, 0.2, 0.1};
constexpr double kMean[kContexts][kActions] = {
    {0.2, 0.5, 0.3}, {0.6, 0.1, 0.4}, {0.3, 0.3, 0.8}, {0.9, 0.2, 0.1}};
// Logging policy: a softened preference, every action >= 0.1.
constexpr double kLogging[kContexts][kActions] = {
    {0.6, 0.2, 0.2}, {0.1, 0.7, 0.2}, {0.5, 0.4, 0.1}, {0.2, 0.2, 0.6}};
// Target policy: mostly the best action.
constexpr double kTarget[kContexts][kActions] = {
    {0.1, 0.8, 0.1}, {0.8, 0.1, 0.1}, {0.1, 0.1, 0.8}, {0.8, 0.1, 0.1}};

double TrueTargetValue(const double (&pi)[kContexts][kActions]) {
  double v = 0;
  for (int c = 0; c < kContexts; ++c) {
    for (int a = 0; a < kActions; ++a) v += kContextProb[c] * pi[c][a] * kMean[c][a];
  }
  return v;
}

int Draw(Rng& rng, const double* pmf, int k) {
  const double u = rng.Uniform();
  double acc = 0;
  for (int a = 0; a < k; ++a) {
    acc += pmf[a];
    if (u < acc) return a;
  }
  return k - 1;
}

// Returns n logged rounds from the environment, with full target and logging
// pmf rows and one-hot context features.
LoggedRounds Simulate(int64_t n, uint64_t seed, const double (&logging)[kContexts][kActions],
                      const double (&target)[kContexts][kActions]) {
  Rng rng(seed);
  LoggedRounds r;
  r.num_actions = kActions;
  r.feature_dim = kContexts;
  const std::vector<int32_t> all = {0, 1, 2};
  for (int c = 0; c < kContexts; ++c) {
    r.target_pmfs.AddRow(all, std::vector<double>(target[c], target[c] + kActions));
    r.logging_pmfs.AddRow(all, std::vector<double>(logging[c], logging[c] + kActions));
  }
  for (int64_t i = 0; i < n; ++i) {
    const int c = Draw(rng, kContextProb, kContexts);
    const int a = Draw(rng, logging[c], kActions);
    r.action.push_back(a);
    r.reward.push_back(rng.Uniform() < kMean[c][a] ? 1.0 : 0.0);
    r.propensity.push_back(logging[c][a]);
    r.target_prob.push_back(target[c][a]);
    r.target_row.push_back(c);
    r.logging_row.push_back(c);
    for (int j = 0; j < kContexts; ++j) r.features.push_back(j == c ? 1.0f : 0.0f);
  }
  return r;
}

const OpeEstimate& Find(const OpeReport& report, const std::string& name) {
  for (const OpeEstimate& e : report.estimates()) {
    if (e.estimator() == name) return e;
  }
  static const OpeEstimate kNone;
  ADD_FAILURE() << "no estimate " << name;
  return kNone;
}

TEST(OpeTest, UnbiasedEstimatorIntervalsCoverTrueValue) {
  const double truth = TrueTargetValue(kTarget);
  const std::vector<std::string> names = {"ips", "snips", "dr", "sndr", "switch_dr"};
  std::vector<int> normal_hits(names.size(), 0), boot_hits(names.size(), 0);
  // Over 1000 repetitions (n = 5000) the normal intervals covered 95.0% (ips),
  // 94.9% (snips), 95.0% (dr), 94.6% (sndr), 95.0% (switch_dr) and the
  // bootstrap ones 95.0%, 94.1%, 93.9%, 94.0%, 93.9%; 90 of 100 leaves room.
  constexpr int kReps = 100;
  for (int rep = 0; rep < kReps; ++rep) {
    const LoggedRounds rounds = Simulate(5000, 1000 + rep, kLogging, kTarget);
    OpeOptions options;
    options.estimators = names;
    options.bootstrap = 200;
    options.seed = rep + 1;
    ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
    for (size_t e = 0; e < names.size(); ++e) {
      const OpeEstimate& est = report.estimates(e);
      ASSERT_EQ(est.estimator(), names[e]);
      normal_hits[e] += est.normal_ci_low() <= truth && truth <= est.normal_ci_high();
      boot_hits[e] += est.bootstrap_ci_low() <= truth && truth <= est.bootstrap_ci_high();
    }
  }
  for (size_t e = 0; e < names.size(); ++e) {
    EXPECT_GE(normal_hits[e], 90) << names[e] << " normal interval";
    EXPECT_GE(boot_hits[e], 90) << names[e] << " bootstrap interval";
  }
}

TEST(OpeTest, ReplayIntervalCoversTrueValueOnUniformLogs) {
  const double uniform[kContexts][kActions] = {
      {1 / 3.0, 1 / 3.0, 1 / 3.0}, {1 / 3.0, 1 / 3.0, 1 / 3.0},
      {1 / 3.0, 1 / 3.0, 1 / 3.0}, {1 / 3.0, 1 / 3.0, 1 / 3.0}};
  // A deterministic target (the best action) and the stochastic kTarget.
  const double best[kContexts][kActions] = {{0, 1, 0}, {1, 0, 0}, {0, 0, 1}, {1, 0, 0}};
  for (const auto* target : {&best, &kTarget}) {
    const double truth = TrueTargetValue(*target);
    int hits = 0;
    for (int rep = 0; rep < 100; ++rep) {
      const LoggedRounds rounds = Simulate(3000, 5000 + rep, uniform, *target);
      OpeOptions options;
      options.estimators = {"replay"};
      options.bootstrap = 100;
      options.seed = rep + 7;
      ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
      const OpeEstimate& est = report.estimates(0);
      EXPECT_GT(est.rounds_used(), 500);
      hits += est.ci_low() <= truth && truth <= est.ci_high();
    }
    EXPECT_GE(hits, 90);
  }
}

TEST(OpeTest, AllZeroRewardsStillGiveAnUpperBoundAboveZero) {
  // A log without a single click: every bootstrap and normal interval is
  // [0, 0], but the reported one must not claim the target earns nothing.
  LoggedRounds rounds = Simulate(2000, 31, kLogging, kTarget);
  std::fill(rounds.reward.begin(), rounds.reward.end(), 0.0);
  for (int32_t bootstrap : {0, 100}) {
    OpeOptions options;
    options.estimators = KnownEstimators();
    options.clip = 5;
    options.bootstrap = bootstrap;
    ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
    ASSERT_EQ(report.estimates_size(), static_cast<int>(KnownEstimators().size()));
    for (const OpeEstimate& est : report.estimates()) {
      SCOPED_TRACE(est.estimator());
      EXPECT_EQ(est.value(), 0);
      EXPECT_EQ(est.normal_ci_high(), 0);
      EXPECT_EQ(est.ci_low(), 0);
      EXPECT_GT(est.ci_high(), 0);
      EXPECT_LT(est.ci_high(), 0.05);  // 1 - 0.025^(1/ess), ess in the hundreds or more
      EXPECT_EQ(est.binary_ci_high(), est.ci_high());
      const double trials = est.estimator() == "replay" ? est.rounds_used() : est.ess();
      EXPECT_NEAR(est.ci_high(), 1 - std::pow(0.025, 1 / trials), 1e-12);
      EXPECT_EQ(est.ci_method(), est.estimator() == "replay"
                                     ? "clopper_pearson"
                                     : (bootstrap > 0 ? "bootstrap+clopper_pearson"
                                                      : "normal+clopper_pearson"));
    }
    EXPECT_EQ(Find(report, "dm").ess(), 2000);
  }
}

TEST(OpeTest, ReplayIntervalIsExactClopperPearsonOnItsMatchedRounds) {
  const double uniform[kContexts][kActions] = {
      {1 / 3.0, 1 / 3.0, 1 / 3.0}, {1 / 3.0, 1 / 3.0, 1 / 3.0},
      {1 / 3.0, 1 / 3.0, 1 / 3.0}, {1 / 3.0, 1 / 3.0, 1 / 3.0}};
  const double best[kContexts][kActions] = {{0, 1, 0}, {1, 0, 0}, {0, 0, 1}, {1, 0, 0}};
  const LoggedRounds rounds = Simulate(600, 41, uniform, best);
  // The matched rounds and their clicks, counted here.
  int64_t matched = 0, clicks = 0;
  for (int64_t i = 0; i < rounds.size(); ++i) {
    if (best[rounds.target_row[i]][rounds.action[i]] == 1) {
      ++matched;
      clicks += rounds.reward[i] == 1;
    }
  }
  OpeOptions options;
  options.estimators = {"replay", "ips"};
  options.bootstrap = 50;
  ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
  const OpeEstimate& replay = report.estimates(0);
  ASSERT_EQ(replay.rounds_used(), matched);
  EXPECT_DOUBLE_EQ(replay.value(), static_cast<double>(clicks) / matched);
  const Interval exact = ClopperPearson(clicks, matched);
  EXPECT_EQ(replay.ci_low(), exact.low);
  EXPECT_EQ(replay.ci_high(), exact.high);
  EXPECT_EQ(replay.binary_ci_low(), exact.low);
  EXPECT_EQ(replay.binary_ci_high(), exact.high);
  EXPECT_EQ(replay.ci_method(), "clopper_pearson");
  EXPECT_FALSE(std::isnan(replay.bootstrap_ci_low()));  // still reported beside it
  // ips: the hull of its bootstrap interval and the Korn-Graubard one (at
  // the sample size its standard error implies).
  const OpeEstimate& ips = report.estimates(1);
  const Interval kg = KornGraubard(ips.value(), ips.std_error(), ips.ess(), report.n());
  EXPECT_EQ(ips.binary_ci_low(), kg.low);
  EXPECT_EQ(ips.binary_ci_high(), kg.high);
  EXPECT_EQ(ips.ci_low(), std::min(kg.low, ips.bootstrap_ci_low()));
  EXPECT_EQ(ips.ci_high(), std::max(kg.high, ips.bootstrap_ci_high()));
}

TEST(OpeTest, NonBinaryRewardsKeepTheirIntervals) {
  LoggedRounds rounds = Simulate(2000, 53, kLogging, kTarget);
  for (double& r : rounds.reward) r *= 0.5;  // 0 or 0.5: not clicks
  for (int32_t bootstrap : {0, 100}) {
    OpeOptions options;
    options.estimators = KnownEstimators();
    options.clip = 5;
    options.bootstrap = bootstrap;
    ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
    for (const OpeEstimate& est : report.estimates()) {
      SCOPED_TRACE(est.estimator());
      EXPECT_TRUE(std::isnan(est.binary_ci_low()));
      EXPECT_TRUE(std::isnan(est.binary_ci_high()));
      if (bootstrap > 0) {
        EXPECT_EQ(est.ci_method(), "bootstrap");
        EXPECT_EQ(est.ci_low(), est.bootstrap_ci_low());
        EXPECT_EQ(est.ci_high(), est.bootstrap_ci_high());
      } else {
        EXPECT_EQ(est.ci_method(), "normal");
        EXPECT_EQ(est.ci_low(), est.normal_ci_low());
        EXPECT_EQ(est.ci_high(), est.normal_ci_high());
      }
    }
  }
}

TEST(OpeTest, IpsAndDrErrorsShrinkAsTheLogGrows) {
  const double truth = TrueTargetValue(kTarget);
  std::vector<double> ips_error, dr_error;
  for (int64_t n : {400, 4000, 40000}) {
    double ips = 0, dr = 0;
    constexpr int kReps = 20;
    for (int rep = 0; rep < kReps; ++rep) {
      const LoggedRounds rounds = Simulate(n, 77 + rep * 13 + n, kLogging, kTarget);
      OpeOptions options;
      options.estimators = {"ips", "dr"};
      options.bootstrap = 0;
      ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
      ips += std::abs(report.estimates(0).value() - truth) / kReps;
      dr += std::abs(report.estimates(1).value() - truth) / kReps;
    }
    ips_error.push_back(ips);
    dr_error.push_back(dr);
  }
  // Root-n rates: a 10x larger log should cut the mean error ~3.2x; ask for 2x.
  for (size_t k = 1; k < ips_error.size(); ++k) {
    EXPECT_LT(ips_error[k], ips_error[k - 1] / 2) << "ips at step " << k;
    EXPECT_LT(dr_error[k], dr_error[k - 1] / 2) << "dr at step " << k;
  }
}

TEST(OpeTest, IpsWithTargetEqualToLoggingIsTheOnPolicyMean) {
  const LoggedRounds rounds = Simulate(5000, 3, kLogging, kLogging);
  OpeOptions options;
  options.estimators = {"ips", "snips"};
  options.bootstrap = 0;
  ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
  EXPECT_EQ(report.estimates(0).value(), report.on_policy_mean());
  EXPECT_DOUBLE_EQ(report.estimates(1).value(), report.on_policy_mean());
  EXPECT_DOUBLE_EQ(report.estimates(0).ess(), 5000);
  EXPECT_EQ(report.estimates(0).max_weight(), 1.0);
}

TEST(OpeTest, SnipsStaysInsideTheRewardRange) {
  // Wild weights (propensities down to 1e-4) and rewards in [2, 5].
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    Rng rng(seed);
    LoggedRounds r;
    r.num_actions = 1;
    for (int i = 0; i < 200; ++i) {
      r.action.push_back(0);
      r.reward.push_back(2 + 3 * rng.Uniform());
      r.propensity.push_back(std::max(1e-4, rng.Uniform() * rng.Uniform()));
      r.target_prob.push_back(rng.Uniform());
    }
    OpeOptions options;
    options.estimators = {"snips", "ips"};
    options.bootstrap = 50;
    ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(r, options));
    const double lo = *std::min_element(r.reward.begin(), r.reward.end());
    const double hi = *std::max_element(r.reward.begin(), r.reward.end());
    const OpeEstimate& snips = report.estimates(0);
    EXPECT_GE(snips.value(), lo);
    EXPECT_LE(snips.value(), hi);
    EXPECT_GE(snips.bootstrap_ci_low(), lo);
    EXPECT_LE(snips.bootstrap_ci_high(), hi);
  }
}

TEST(OpeTest, SwitchDrIsDmAtZeroThresholdAndDrAtHugeThreshold) {
  const LoggedRounds rounds = Simulate(3000, 11, kLogging, kTarget);
  OpeOptions options;
  options.estimators = {"dm", "dr", "switch_dr"};
  options.bootstrap = 0;
  options.switch_tau = 0;
  ASSERT_OK_AND_ASSIGN(OpeReport at_zero, Evaluate(rounds, options));
  EXPECT_NEAR(Find(at_zero, "switch_dr").value(), Find(at_zero, "dm").value(), 1e-12);
  options.switch_tau = 1e300;
  ASSERT_OK_AND_ASSIGN(OpeReport at_huge, Evaluate(rounds, options));
  EXPECT_NEAR(Find(at_huge, "switch_dr").value(), Find(at_huge, "dr").value(), 1e-12);
  // In between it differs from both.
  options.switch_tau = 3.0;
  ASSERT_OK_AND_ASSIGN(OpeReport between, Evaluate(rounds, options));
  EXPECT_NE(Find(between, "switch_dr").value(), Find(between, "dr").value());
}

TEST(OpeTest, DirectMethodIsAccurateWithAWellSpecifiedModel) {
  // One-hot contexts make the per-action ridge model well specified.
  const double truth = TrueTargetValue(kTarget);
  const LoggedRounds rounds = Simulate(50000, 21, kLogging, kTarget);
  for (const std::string kind : {"ridge", "logistic"}) {
    OpeOptions options;
    options.estimators = {"dm", "dr", "sndr"};
    options.bootstrap = 0;
    options.reward_model.kind = kind;
    ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
    EXPECT_EQ(report.reward_model(), kind);
    for (const OpeEstimate& e : report.estimates()) {
      EXPECT_NEAR(e.value(), truth, 0.01) << kind << " " << e.estimator();
    }
  }
}

TEST(OpeTest, ClippingCapsWeights) {
  const LoggedRounds rounds = Simulate(2000, 5, kLogging, kTarget);
  OpeOptions options;
  options.estimators = {"ips"};
  options.clip = 2.0;
  options.bootstrap = 0;
  ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
  EXPECT_EQ(report.estimates(0).estimator(), "clipped_ips");
  EXPECT_LE(report.estimates(0).max_weight(), 2.0);
}

TEST(OpeTest, IpsAndClippedIpsTogether) {
  const LoggedRounds rounds = Simulate(2000, 6, kLogging, kTarget);
  OpeOptions options;
  options.estimators = {"ips", "clipped_ips"};
  options.clip = 2.0;
  options.bootstrap = 0;
  ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
  EXPECT_EQ(report.estimates(0).estimator(), "ips");
  EXPECT_EQ(report.estimates(0).max_weight(), 8.0);  // 0.8 / 0.1, unclipped
  EXPECT_EQ(report.estimates(1).estimator(), "clipped_ips");
  EXPECT_EQ(report.estimates(1).max_weight(), 2.0);
  EXPECT_LT(report.estimates(1).value(), report.estimates(0).value());
}

TEST(RewardModelTest, ActionWithoutTrainingRowsPredictsTheMeanReward) {
  // Action 2 is never logged; the target plays it always.
  const double logging[kContexts][kActions] = {
      {0.5, 0.5, 0}, {0.5, 0.5, 0}, {0.5, 0.5, 0}, {0.5, 0.5, 0}};
  const double target[kContexts][kActions] = {{0, 0, 1}, {0, 0, 1}, {0, 0, 1}, {0, 0, 1}};
  const LoggedRounds rounds = Simulate(4000, 8, logging, target);
  double mean = 0;
  for (double r : rounds.reward) mean += r / rounds.size();
  for (const std::string kind : {"ridge", "logistic"}) {
    RewardModelOptions options;
    options.kind = kind;
    ASSERT_OK_AND_ASSIGN(RewardPredictions p, FitRewardModel(rounds, options));
    for (int64_t i = 0; i < rounds.size(); i += 97) {
      EXPECT_NEAR(p.dm[i], mean, 1e-9) << kind;
    }
  }
}

TEST(OpeTest, WarnsWhenTargetPutsMassWhereLoggingHasNone) {
  // The logger never chooses action 2 in context 0; the target does.
  double logging[kContexts][kActions];
  std::copy(&kLogging[0][0], &kLogging[0][0] + kContexts * kActions, &logging[0][0]);
  logging[0][0] = 0.7;
  logging[0][1] = 0.3;
  logging[0][2] = 0.0;
  const LoggedRounds rounds = Simulate(1000, 9, logging, kTarget);
  OpeOptions options;
  options.estimators = {"ips"};
  options.bootstrap = 0;
  ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
  EXPECT_GT(report.zero_support_rounds(), 300);
  EXPECT_GE(report.low_support_rounds(), report.zero_support_rounds());
  EXPECT_NEAR(report.low_support_share(), report.low_support_rounds() / 1000.0, 1e-12);
  ASSERT_GE(report.warnings_size(), 1);
  EXPECT_THAT(report.warnings(0), HasSubstr("could never choose"));
}

TEST(OpeTest, RejectsZeroPropensityAndBadOptions) {
  LoggedRounds rounds = Simulate(100, 1, kLogging, kTarget);
  rounds.propensity[17] = 0;
  OpeOptions options;
  options.estimators = {"ips"};
  EXPECT_THAT(Evaluate(rounds, options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("round 17")));
  rounds.propensity[17] = 0.5;
  options.estimators = {"magic"};
  EXPECT_THAT(Evaluate(rounds, options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown estimator")));
  options.estimators = {"clipped_ips"};
  EXPECT_THAT(Evaluate(rounds, options), StatusIs(absl::StatusCode::kInvalidArgument));
  LoggedRounds no_rows = rounds;
  no_rows.target_row.clear();
  options.estimators = {"dr"};
  EXPECT_THAT(Evaluate(no_rows, options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pmf over all actions")));
  EXPECT_THAT(Evaluate(LoggedRounds{}, options), StatusIs(absl::StatusCode::kInvalidArgument));
}

// ------------------------------------------------------------------- OBD

std::string ObdPath(const std::string& policy) {
  return testing::SourceDir() + "/../shared/data/obd/" + policy + "/men/men.csv";
}

TEST(ObdTest, BtsLogsEvaluatingUniformMatchOpenBanditPipeline) {
  ASSERT_OK_AND_ASSIGN(ObdLog log, ReadObdCsv(ObdPath("bts")));
  EXPECT_EQ(log.size(), 10000);
  EXPECT_EQ(log.num_items, 34);
  EXPECT_EQ(log.num_positions, 3);
  ASSERT_OK_AND_ASSIGN(LoggedRounds rounds,
                       ObdRounds(log, UniformPositionPmfs(log.num_items, log.num_positions)));
  OpeOptions options;
  options.estimators = {"ips", "snips"};
  ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
  EXPECT_NEAR(report.on_policy_mean(), 0.0069, 1e-12);
  EXPECT_NEAR(report.estimates(0).value(), 0.003009, 1e-6);
  EXPECT_NEAR(report.estimates(1).value(), 0.003189, 1e-6);
  EXPECT_EQ(std::lround(report.estimates(0).ess()), 656);
  EXPECT_NEAR(report.estimates(0).max_weight(), 178.25, 0.005);
}

TEST(ObdTest, RandomLogsEvaluatingEmpiricalBtsMatchOpenBanditPipeline) {
  ASSERT_OK_AND_ASSIGN(ObdLog random, ReadObdCsv(ObdPath("random")));
  ASSERT_OK_AND_ASSIGN(ObdLog bts, ReadObdCsv(ObdPath("bts")));
  ASSERT_OK_AND_ASSIGN(PositionPmfs target, EmpiricalPositionPmfs(bts, 34, 3));
  ASSERT_OK_AND_ASSIGN(LoggedRounds rounds, ObdRounds(random, target));
  OpeOptions options;
  options.estimators = {"ips", "snips", "dm", "dr"};
  ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
  EXPECT_NEAR(report.on_policy_mean(), 0.0046, 1e-12);
  EXPECT_NEAR(report.estimates(0).value(), 0.005656, 1e-6);
  EXPECT_NEAR(report.estimates(1).value(), 0.005740, 1e-6);
  // DM/DR depend on the reward model; the BTS log's own click rate (0.0069)
  // must lie inside their intervals' reach: DR's interval covers it.
  EXPECT_LE(report.estimates(3).ci_low(), 0.0069);
  EXPECT_GE(report.estimates(3).ci_high(), 0.0069);
}

TEST(ObdTest, TargetPmfCsvByPositionEqualsUniform) {
  ScratchDir dir;
  std::string csv = "context_key,action,probability\n";
  for (int p = 1; p <= 3; ++p) {
    for (int item = 0; item < 34; ++item) absl::StrAppend(&csv, p, ",", item, ",", absl::StrFormat("%.17g", 1.0 / 34), "\n");
  }
  WriteTextFile(dir.File("pmf.csv"), csv);
  ASSERT_OK_AND_ASSIGN(TargetPmfTable table, ReadTargetPmfCsv(dir.File("pmf.csv")));
  ASSERT_OK_AND_ASSIGN(PositionPmfs pmfs, PositionPmfsFromTable(table, 34, 3));
  ASSERT_OK_AND_ASSIGN(ObdLog log, ReadObdCsv(ObdPath("bts")));
  ASSERT_OK_AND_ASSIGN(LoggedRounds rounds, ObdRounds(log, pmfs));
  OpeOptions options;
  options.estimators = {"ips"};
  options.bootstrap = 0;
  ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
  EXPECT_NEAR(report.estimates(0).value(), 0.003009, 1e-6);
}

// The reader's former private layout, rebuilt here as the oracle: position
// one-hot (1..max position), then per user_feature_* column the one-hot of
// its values in order of first appearance. Also returns each column's
// feature as the shared path names it (namespace, name).
struct OneHotLayout {
  int32_t dim = 0;
  std::vector<float> features;  // n x dim
  std::vector<std::pair<std::string, std::string>> names;
};

OneHotLayout OldObdOneHot(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = absl::StrSplit(line, ',');
  int col_position = -1;
  std::vector<int> user_cols;
  for (size_t c = 0; c < header.size(); ++c) {
    if (header[c] == "position") col_position = c;
    if (absl::StartsWith(header[c], "user_feature_")) user_cols.push_back(c);
  }
  std::vector<int32_t> positions;
  std::vector<std::vector<int32_t>> codes(user_cols.size());
  std::vector<std::vector<std::string>> values(user_cols.size());
  int32_t max_position = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> f = absl::StrSplit(line, ',');
    positions.push_back(std::stoi(f[col_position]));
    max_position = std::max(max_position, positions.back());
    for (size_t u = 0; u < user_cols.size(); ++u) {
      auto& seen = values[u];
      auto it = std::find(seen.begin(), seen.end(), f[user_cols[u]]);
      if (it == seen.end()) it = seen.insert(seen.end(), f[user_cols[u]]);
      codes[u].push_back(static_cast<int32_t>(it - seen.begin()));
    }
  }
  OneHotLayout out;
  for (int32_t p = 1; p <= max_position; ++p) {
    out.names.emplace_back(kObdSlotNamespace, absl::StrCat("position=", p));
  }
  std::vector<int32_t> offset;
  for (size_t u = 0; u < user_cols.size(); ++u) {
    offset.push_back(static_cast<int32_t>(out.names.size()));
    for (const std::string& v : values[u]) {
      out.names.emplace_back(kObdUserNamespace, absl::StrCat(header[user_cols[u]], "=", v));
    }
  }
  out.dim = static_cast<int32_t>(out.names.size());
  out.features.assign(positions.size() * out.dim, 0.0f);
  for (size_t i = 0; i < positions.size(); ++i) {
    float* row = out.features.data() + i * out.dim;
    row[positions[i] - 1] = 1.0f;
    for (size_t u = 0; u < user_cols.size(); ++u) row[offset[u] + codes[u][i]] = 1.0f;
  }
  return out;
}

TEST(ObdTest, SharedFeaturePathEqualsOneHotLayoutUpToColumnOrder) {
  for (const std::string policy : {"random", "bts"}) {
    SCOPED_TRACE(policy);
    ASSERT_OK_AND_ASSIGN(ObdLog log, ReadObdCsv(ObdPath(policy)));
    const OneHotLayout old = OldObdOneHot(ObdPath(policy));
    // 16 hash bits: the sample's 28 (random) / 29 (bts) features do not collide.
    EXPECT_EQ(log.hash_bits, 16);
    EXPECT_EQ(log.hash_collisions, 0);
    EXPECT_EQ(old.dim, policy == "random" ? 28 : 29);
    ASSERT_EQ(log.feature_dim, old.dim);
    ASSERT_EQ(log.feature_slots.size(), static_cast<size_t>(old.dim));
    ASSERT_EQ(log.features.size(), old.features.size());
    // Old column c is the new column holding the hashed slot of its feature:
    // a bijection (distinct slots), and every value equal.
    std::vector<bool> used(old.dim, false);
    for (int32_t c = 0; c < old.dim; ++c) {
      const uint32_t slot = FeatureSlot(old.names[c].first, old.names[c].second, 16);
      const auto at = std::find(log.feature_slots.begin(), log.feature_slots.end(), slot);
      ASSERT_NE(at, log.feature_slots.end()) << old.names[c].second;
      const int32_t k = static_cast<int32_t>(at - log.feature_slots.begin());
      EXPECT_FALSE(used[k]);
      used[k] = true;
      for (int64_t i = 0; i < log.size(); ++i) {
        ASSERT_EQ(log.features[i * old.dim + k], old.features[i * old.dim + c])
            << "row " << i << " feature " << old.names[c].second;
      }
    }
  }
}

// The reward model is invariant to the order of its columns, so DM and DR
// on the hashed features equal those on the former layout (to rounding).
TEST(ObdTest, ModelEstimatesEqualThoseOnTheOneHotLayout) {
  ASSERT_OK_AND_ASSIGN(ObdLog bts, ReadObdCsv(ObdPath("bts")));
  ASSERT_OK_AND_ASSIGN(LoggedRounds rounds,
                       ObdRounds(bts, UniformPositionPmfs(bts.num_items, bts.num_positions)));
  LoggedRounds one_hot = rounds;
  const OneHotLayout old = OldObdOneHot(ObdPath("bts"));
  one_hot.feature_dim = old.dim;
  one_hot.features = old.features;
  for (const std::string kind : {"ridge", "logistic"}) {
    OpeOptions options;
    options.estimators = {"dm", "dr", "switch_dr"};
    options.bootstrap = 0;
    options.reward_model.kind = kind;
    ASSERT_OK_AND_ASSIGN(OpeReport hashed, Evaluate(rounds, options));
    ASSERT_OK_AND_ASSIGN(OpeReport before, Evaluate(one_hot, options));
    for (int e = 0; e < 3; ++e) {
      EXPECT_NEAR(hashed.estimates(e).value(), before.estimates(e).value(), 1e-12)
          << kind << " " << hashed.estimates(e).estimator();
    }
  }
  // The figures README.md shows for this run (ridge, 5 folds, seed 1).
  OpeOptions options;
  options.estimators = {"dm", "dr"};
  options.bootstrap = 0;
  ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(rounds, options));
  EXPECT_NEAR(report.estimates(0).value(), 0.003767, 5e-7);
  EXPECT_NEAR(report.estimates(1).value(), 0.001747, 5e-7);
}

TEST(ObdTest, MalformedFilesNameFileAndLine) {
  ScratchDir dir;
  const std::string header =
      ",timestamp,item_id,position,click,propensity_score,user_feature_0\n";
  WriteTextFile(dir.File("zero.csv"), header + "0,t,1,1,0,0.5,a\n1,t,2,1,0,0,b\n");
  EXPECT_THAT(ReadObdCsv(dir.File("zero.csv")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(dir.File("zero.csv") + ":3: propensity_score 0 is zero")));
  WriteTextFile(dir.File("short.csv"), header + "0,t,1,1,0,0.5\n");
  EXPECT_THAT(ReadObdCsv(dir.File("short.csv")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(":2: expected 7 fields")));
  WriteTextFile(dir.File("bad.csv"), header + "0,t,x,1,0,0.5,a\n");
  EXPECT_THAT(ReadObdCsv(dir.File("bad.csv")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(":2: item_id 'x'")));
  WriteTextFile(dir.File("nohead.csv"), "a,b,c\n");
  EXPECT_THAT(ReadObdCsv(dir.File("nohead.csv")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an Open Bandit")));
  WriteTextFile(dir.File("pmf.csv"), "1,0,0.5\n1,1,0.6\n");
  EXPECT_THAT(ReadTargetPmfCsv(dir.File("pmf.csv")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sum to 1.1")));
}

// ------------------------------------------------------- exported CSV logs

constexpr char kHeader[] =
    "event_id,experiment,variant,timestamp_us,unit_id,context_dense,context_sparse,actions,"
    "chosen_index,chosen_action,propensity,pmf,reward,policy_spec,policy_version,shadow_pmfs\n";

// Writes rounds of Simulate() as an export CSV (actions a0;a1;a2, dense
// context = one-hot, shadow "greedy:x=1" = the target pmf).
std::string ToExportCsv(const LoggedRounds& r) {
  std::string out = kHeader;
  for (int64_t i = 0; i < r.size(); ++i) {
    const int64_t c = r.target_row[i];
    std::string dense, pmf, shadow;
    for (int j = 0; j < kContexts; ++j) absl::StrAppend(&dense, j ? ";" : "", j == c ? 1 : 0);
    for (int a = 0; a < kActions; ++a) {
      absl::StrAppend(&pmf, a ? ";" : "", r.logging_pmfs.Prob(c, a));
      absl::StrAppend(&shadow, a ? ";" : "", r.target_pmfs.Prob(c, a));
    }
    absl::StrAppend(&out, "e", i, ",exp,A,", 1000 + i, ",u", i % 7, ",", dense, ",", "\"ns|f=1\"",
                    ",a0;a1;a2,", r.action[i], ",a", r.action[i], ",", r.propensity[i], ",", pmf,
                    ",", r.reward[i], ",epsilon_greedy:epsilon=0.1,3,",
                    "\"greedy:x=1=", shadow, "|ucb1=0.2;0.3;0.5\"\n");
  }
  return out;
}

TEST(ExportCsvTest, AnEmptyFileIsAClearError) {
  ScratchDir dir;
  ::recbandit::testing::WriteTextFile(dir.File("empty.csv"), "");
  for (bool full : {false, true}) {
    ExportReadOptions read;
    read.full = full;
    EXPECT_THAT(ReadExportCsv(dir.File("empty.csv"), read),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(":1: not a recbandit export")));
  }
}

TEST(ExportCsvTest, ShadowTargetMatchesInMemoryEvaluation) {
  const LoggedRounds rounds = Simulate(3000, 42, kLogging, kTarget);
  ScratchDir dir;
  WriteTextFile(dir.File("log.csv"), ToExportCsv(rounds));
  OpeOptions options;
  options.estimators = {"ips", "snips", "dm", "dr", "switch_dr"};
  options.bootstrap = 20;
  // The reward model reads each row's whole context: the dense one-hot, then
  // the sparse feature every row carries ("ns|f=1", one hashed column of 1s).
  LoggedRounds with_sparse = rounds;
  with_sparse.feature_dim = kContexts + 1;
  with_sparse.features.clear();
  for (int64_t i = 0; i < rounds.size(); ++i) {
    for (int j = 0; j < kContexts; ++j) {
      with_sparse.features.push_back(rounds.features[i * kContexts + j]);
    }
    with_sparse.features.push_back(1.0f);
  }
  ASSERT_OK_AND_ASSIGN(OpeReport expected, Evaluate(with_sparse, options));
  for (bool full : {true, false}) {
    ExportReadOptions read;
    read.full = full;
    read.target.kind = ExportTarget::Kind::kShadow;
    read.target.shadow_spec = "greedy:x=1";
    ASSERT_OK_AND_ASSIGN(ExportRounds er, ReadExportCsv(dir.File("log.csv"), read));
    EXPECT_EQ(er.rounds.size(), 3000);
    EXPECT_EQ(er.missing_rewards, 0);
    OpeOptions o = options;
    if (!full) o.estimators = {"ips", "snips"};
    ASSERT_OK_AND_ASSIGN(OpeReport got, Evaluate(er.rounds, o));
    for (int e = 0; e < got.estimates_size(); ++e) {
      EXPECT_NEAR(got.estimates(e).value(), expected.estimates(e).value(), 1e-12)
          << got.estimates(e).estimator() << " full=" << full;
    }
  }
}

TEST(ExportCsvTest, UniformTableAndMissingRewards) {
  ScratchDir dir;
  const std::string rows = std::string(kHeader) +
                           "e1,x,A,1,u1,0.5,,a;b,0,a,0.8,0.8;0.2,1,p,1,\n"
                           "e2,x,A,2,u2,0.1,,a;b,1,b,0.2,0.8;0.2,,p,1,\n"
                           "e3,x,A,3,u1,0.3,,a;b;c,2,c,0.5,0.25;0.25;0.5,1,p,1,\n";
  WriteTextFile(dir.File("log.csv"), rows);
  ExportReadOptions read;
  read.default_reward = 0.25;
  ASSERT_OK_AND_ASSIGN(ExportRounds er, ReadExportCsv(dir.File("log.csv"), read));
  EXPECT_EQ(er.missing_rewards, 1);
  OpeOptions options;
  options.estimators = {"ips"};
  options.bootstrap = 0;
  ASSERT_OK_AND_ASSIGN(OpeReport report, Evaluate(er.rounds, options));
  // Uniform: w = (1/2)/0.8, (1/2)/0.2, (1/3)/0.5.
  const double ips = (0.5 / 0.8 * 1 + 0.5 / 0.2 * 0.25 + (1 / 3.0) / 0.5 * 1) / 3;
  EXPECT_NEAR(report.estimates(0).value(), ips, 1e-12);
  // A table keyed by unit id, "*" for the rest.
  WriteTextFile(dir.File("pmf.csv"), "u1,a,1\n*,b,0.5\n*,c,0.5\n");
  ASSERT_OK_AND_ASSIGN(TargetPmfTable table, ReadTargetPmfCsv(dir.File("pmf.csv")));
  read.target.kind = ExportTarget::Kind::kTable;
  read.target.table = &table;
  ASSERT_OK_AND_ASSIGN(ExportRounds tr, ReadExportCsv(dir.File("log.csv"), read));
  // u1 at e1 picks a (pi 1); e2 (key *: b 0.5, c absent -> renormalized b=1);
  // e3 u1 picks only a, logged c -> 0.
  EXPECT_EQ(tr.target_renormalized, 1);
  EXPECT_DOUBLE_EQ(tr.rounds.target_prob[0], 1.0);
  EXPECT_DOUBLE_EQ(tr.rounds.target_prob[1], 1.0);
  EXPECT_DOUBLE_EQ(tr.rounds.target_prob[2], 0.0);
}

TEST(ExportCsvTest, QuotedFieldsNewlinesAndCrlf) {
  ScratchDir dir;
  // A quoted sparse field spanning two lines, quoted ids, CRLF line ends.
  const std::string rows = std::string(kHeader) +
                           "e1,x,A,1,u1,0.5,\"ns|a=1,\nns|b=2\",\"a;b\",0,\"a\",0.8,0.8;0.2,1,p,1,"
                           "\"ucb1=0.5;0.5\"\r\n"
                           "e2,x,A,2,u2,0.1,,a;b,1,b,0.2,0.8;0.2,0,p,1,ucb1=0.5;0.5\r\n"
                           "e3,x,A,3,u2,0.1,,a;b,1,b,0.7,0.8;0.2,0,p,1,ucb1=0.5;0.5\r\n";
  WriteTextFile(dir.File("log.csv"), rows);
  ExportReadOptions read;
  read.target.kind = ExportTarget::Kind::kShadow;
  read.target.shadow_spec = "ucb1";
  // Row e3 is on line 5 (the quoted newline makes e1 two lines).
  EXPECT_THAT(ReadExportCsv(dir.File("log.csv"), read),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(dir.File("log.csv") + ":5: field propensity")));
  WriteTextFile(dir.File("log.csv"), rows.substr(0, rows.rfind("e3,")));
  for (bool full : {true, false}) {
    read.full = full;
    ASSERT_OK_AND_ASSIGN(ExportRounds er, ReadExportCsv(dir.File("log.csv"), read));
    ASSERT_EQ(er.rounds.size(), 2);
    EXPECT_DOUBLE_EQ(er.rounds.target_prob[0], 0.5);
    EXPECT_DOUBLE_EQ(er.rounds.propensity[1], 0.2);
    EXPECT_EQ(er.rounds.action_names[er.rounds.action[1]], "b");
  }
}

TEST(ExportCsvTest, MalformedLogsGiveFileLineAndField) {
  ScratchDir dir;
  struct Case {
    std::string row;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"e1,x,A,1,u1,,,a;b,0,a,0.5,0.5;0.5,1,p,1\n", ":3: expected 16 fields, got 15"},
      {"e1,x,A,1,u1,,,a;b,0,a,0,0;1,1,p,1,\n", ":3: field propensity: propensity is zero"},
      {"e1,x,A,1,u1,,,a;b,5,a,0.5,0.5;0.5,1,p,1,\n", ":3: field chosen_index: 5 is not below"},
      {"e1,x,A,1,u1,,,a;b,0,a,abc,0.5;0.5,1,p,1,\n", ":3: field propensity: 'abc'"},
      {"e1,x,A,1,u1,,,a;b,0,a,0.5,0.6;0.5,1,p,1,\n", ":3: field pmf: pmf sums to 1.1"},
      {"e1,x,A,1,u1,,,a;b,0,a,0.5,0.5;0.5,zz,p,1,\n", ":3: field reward: 'zz'"},
      {"e1,x,A,1,u1,,,a;b,0,b,0.5,0.5;0.5,1,p,1,\n", ":3: field chosen_action"},
      {"e1,x,A,1,u1,1;2,,a;b,0,a,0.5,0.5;0.5,1,p,1,\n", ":3: field context_dense: 2 values"},
      {"e1,x,A,1,u1,1x,,a;b,0,a,0.5,0.5;0.5,1,p,1,\n", ":3: field context_dense: malformed"},
  };
  const std::string good = "e0,x,A,1,u1,1,,a;b,0,a,0.5,0.5;0.5,1,p,1,\n";
  // With or without a reward model to feed, damage is reported.
  for (const bool reward_features : {true, false}) {
    ExportReadOptions options;
    options.reward_features = reward_features;
    for (const Case& c : cases) {
      const std::string path = dir.File("bad.csv");
      WriteTextFile(path, std::string(kHeader) + good + c.row);
      EXPECT_THAT(ReadExportCsv(path, options),
                  StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(path + c.message)))
          << c.row << " reward_features " << reward_features;
    }
  }
  WriteTextFile(dir.File("nohead.csv"), "a,b\n");
  EXPECT_THAT(ReadExportCsv(dir.File("nohead.csv"), ExportReadOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(":1: not a recbandit")));
  WriteTextFile(dir.File("noshadow.csv"), std::string(kHeader) + good);
  ExportReadOptions read;
  read.target.kind = ExportTarget::Kind::kShadow;
  read.target.shadow_spec = "ucb1";
  EXPECT_THAT(ReadExportCsv(dir.File("noshadow.csv"), read),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no shadow policy 'ucb1'")));
}

// ------------------------------------ reward model features of logged decisions

// Two catalog users for Decide's stored_features: "young" (age 25), "old" (60).
class TwoUsers : public AttributeSource {
 public:
  std::optional<CatalogUser> GetUser(const std::string& user) const override {
    if (user != "young" && user != "old") return std::nullopt;
    CatalogUser u;
    u.set_user(user);
    (*u.mutable_numbers())["age"] = user == "young" ? 25 : 60;
    return u;
  }
  std::optional<CatalogItem> GetItem(const std::string&) const override { return std::nullopt; }
  bool HasNumericField(const std::string& name) const override { return name == "age"; }
};

// Returns the DM and DR estimates of `rounds` with an (almost) unpenalised
// ridge model.
std::pair<double, double> DmDr(const LoggedRounds& rounds) {
  OpeOptions options;
  options.estimators = {"dm", "dr"};
  options.bootstrap = 0;
  options.reward_model.l2 = 1e-9;
  absl::StatusOr<OpeReport> report = Evaluate(rounds, options);
  EXPECT_TRUE(report.ok()) << report.status();
  if (!report.ok()) return {NAN, NAN};
  return {report->estimates(0).value(), report->estimates(1).value()};
}

// A uniform logger decides between a and b for two users, with a dense
// context of pure noise and the stored feature "user.age"; the reward depends
// only on the age: a pays 1 (age 25) or 0.2 (age 60), b pays 0 or 0.6. The
// target (a table keyed by user) plays a with 0.9 for the young user and 0.25
// for the old one. Oracle by hand: the per-action model over [1, noise, age]
// fits these rewards exactly, so DM is the target's true value, half the
// rounds 0.9 * 1 + 0.1 * 0 = 0.9 and half 0.25 * 0.2 + 0.75 * 0.6 = 0.5: 0.7;
// DR adds residuals that are 0. Without the age the model can only learn each
// action's mean reward (a 0.6, b 0.3), and DM is near 0.47.
TEST(LoggedRewardModelTest, DmUsesTheStoredFeatureThePolicySaw) {
  ScratchDir dir;
  TwoUsers users;
  LoggedData data;
  {
    ExperimentManagerOptions options;
    options.attributes = &users;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ExperimentManager> manager,
                         ExperimentManager::Open(dir.File("data"), options));
    ExperimentConfig config;
    config.set_name("exp");
    config.set_context_dim(1);
    config.set_hash_bits(4);
    Variant* v = config.add_variants();
    v->set_name("uniform");
    v->set_policy_spec("epsilon_greedy:epsilon=1");
    v->set_traffic_weight(1);
    ASSERT_OK(manager->CreateExperiment(config).status());
    Rng rng(17);
    for (int i = 0; i < 400; ++i) {
      const bool young = i % 2 == 0;
      DecideRequest d;
      d.set_experiment("exp");
      d.set_event_id(absl::StrCat("e", i));
      d.set_unit_id(young ? "young" : "old");
      d.mutable_context()->add_dense(static_cast<float>(rng.Normal()));
      d.add_stored_features("user.age");
      for (const char* id : {"a", "b"}) d.add_actions()->set_id(id);
      ASSERT_OK_AND_ASSIGN(DecideResponse decided, manager->Decide(d));
      const bool a = decided.chosen_action() == "a";
      RewardRequest r;
      r.set_experiment("exp");
      r.set_event_id(decided.event_id());
      r.set_value(young ? (a ? 1.0 : 0.0) : (a ? 0.2 : 0.6));
      ASSERT_OK(manager->Reward(r).status());
    }
    ASSERT_OK_AND_ASSIGN(data, ReadLoggedData(manager->log(), "exp"));
    ASSERT_OK(ExportExperiment(manager->log(), "exp", ExportFormat::kCsv, dir.File("e.csv"))
                  .status());
    ASSERT_OK(ExportExperiment(manager->log(), "exp", ExportFormat::kJsonl, dir.File("e.jsonl"))
                  .status());
  }
  // The log holds the context the policy saw: the dense noise, then the
  // stored age in the namespace "user".
  ASSERT_EQ(data.decisions.size(), 400u);
  ASSERT_EQ(data.decisions[0].context.namespaces_size(), 1);
  EXPECT_EQ(data.decisions[0].context.namespaces(0).name(), "user");
  EXPECT_EQ(data.decisions[0].context.namespaces(0).features(0).name(), "age");
  EXPECT_EQ(data.decisions[0].context.namespaces(0).features(0).value(), 25.0f);

  TargetPmfTable table;
  table.pmfs["young"] = {{"a", 0.9}, {"b", 0.1}};
  table.pmfs["old"] = {{"a", 0.25}, {"b", 0.75}};
  ExportReadOptions read;
  read.target.kind = ExportTarget::Kind::kTable;
  read.target.table = &table;
  ASSERT_OK_AND_ASSIGN(ExportRounds from_log, RoundsFromLoggedData(data, read, "log"));
  // Features: the dense noise, then the age's slot among the experiment's 2^4.
  ASSERT_EQ(from_log.rounds.feature_dim, 2);
  EXPECT_EQ(from_log.rounds.features[1], 25.0f);
  EXPECT_EQ(from_log.rounds.features[3], 60.0f);
  auto [dm, dr] = DmDr(from_log.rounds);
  EXPECT_NEAR(dm, 0.7, 1e-6);
  EXPECT_NEAR(dr, 0.7, 1e-6);

  // Exports carry the same context (CSV's context_sparse, JSONL's
  // namespaces), hashed in 2^16 slots: the same estimates.
  ASSERT_OK_AND_ASSIGN(ExportRounds from_csv, ReadExportCsv(dir.File("e.csv"), read));
  ASSERT_OK_AND_ASSIGN(LoggedData jsonl, ReadLoggedDataFromFile(dir.File("e.jsonl")));
  ASSERT_OK_AND_ASSIGN(ExportRounds from_jsonl, RoundsFromLoggedData(jsonl, read, "e.jsonl"));
  for (const ExportRounds* r : {&from_csv, &from_jsonl}) {
    ASSERT_EQ(r->rounds.feature_dim, 2);
    EXPECT_EQ(r->rounds.features, from_log.rounds.features);
    EXPECT_NEAR(DmDr(r->rounds).first, 0.7, 1e-6);
  }

  // The dense context alone (what the reward model used before): DM is wrong.
  LoggedRounds dense_only = from_log.rounds;
  dense_only.feature_dim = 1;
  dense_only.features.clear();
  for (size_t i = 0; i < from_log.rounds.features.size(); i += 2) {
    dense_only.features.push_back(from_log.rounds.features[i]);
  }
  const double dm_dense = DmDr(dense_only).first;
  EXPECT_GT(std::abs(dm_dense - 0.7), 0.15) << dm_dense;
  EXPECT_NEAR(dm_dense, 0.47, 0.05);

  // ips/snips only: no features are built.
  read.reward_features = false;
  ASSERT_OK_AND_ASSIGN(ExportRounds bare, RoundsFromLoggedData(data, read, "log"));
  EXPECT_EQ(bare.rounds.feature_dim, 0);
  EXPECT_TRUE(bare.rounds.features.empty());
}

// Sparse features an experiment does not accept (hash_bits 0) or a malformed
// context_sparse item are errors naming the decision or file:line and field.
TEST(LoggedRewardModelTest, BadSparseFeaturesAreClearErrors) {
  LoggedData data;
  data.config.set_name("exp");
  data.config.set_hash_bits(0);
  LoggedDecision d;
  d.event_id = "e1";
  Namespace* ns = d.context.add_namespaces();
  ns->set_name("user");
  ns->add_features()->set_name("x");
  d.actions.resize(2);
  d.actions[0].set_id("a");
  d.actions[1].set_id("b");
  d.pmf = {0.5, 0.5};
  d.chosen = 0;
  d.propensity = 0.5;
  data.decisions.push_back(d);
  EXPECT_THAT(RoundsFromLoggedData(data, ExportReadOptions{}, "log"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("decision 1 (event e1)"), HasSubstr("hash_bits is 0"))));
  // From a file (no config): 2^16 slots, accepted.
  data.config.Clear();
  ASSERT_OK_AND_ASSIGN(ExportRounds r, RoundsFromLoggedData(data, ExportReadOptions{}, "f"));
  EXPECT_EQ(r.rounds.feature_dim, 1);
  ScratchDir dir;
  WriteTextFile(dir.File("log.csv"),
                std::string(kHeader) + "e1,x,A,1,u1,0.5,user|nameonly,a;b,0,a,0.5,0.5;0.5,1,p,1,\n");
  EXPECT_THAT(ReadExportCsv(dir.File("log.csv"), ExportReadOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(":2: field context_sparse: expected namespace|name=value")));
}

}  // namespace
}  // namespace recbandit::bandits

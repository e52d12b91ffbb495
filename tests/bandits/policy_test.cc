// Tests of bandits/policy.h: one contract test over every policy spec, per-
// policy convergence on stationary problems, LinUCB against a closed-form
// ridge solution, Thompson's exact pmf against the analytic win probability
// and chosen-action frequencies against the logged pmf, and spec parsing.
#include "bandits/policy.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "Eigen/Dense"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::bandits {
namespace {

using ::recbandit::testing::IsOk;
using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int32_t kContextDim = 4;
constexpr int32_t kActionDim = 2;

const std::vector<std::string>& AllSpecs() {
  static const auto* specs = new std::vector<std::string>{
      "epsilon_greedy:epsilon=0.1",
      "epsilon_greedy:decay=5",
      "ucb1",
      "thompson",
      "thompson:reward=gaussian,sigma=0.5",
      "softmax:tau=0.1",
      "linucb:alpha=1",
      "linucb:alpha=0.5,model=shared",
      "linucb:model=shared,joint=concat",
      "lin_ts:v=0.5",
      "lin_ts:model=shared",
      "lin_epsilon_greedy",
      "lin_epsilon_greedy:model=shared"};
  return *specs;
}

// A random decision: 2..5 of the actions a0..a6 (arms appear and disappear),
// a context with a bias feature, action features per id.
DecisionInput RandomInput(Rng& rng) {
  DecisionInput input;
  input.context.resize(kContextDim);
  input.context[0] = 1.0;
  for (int i = 1; i < kContextDim; ++i) input.context[i] = 2 * rng.Uniform() - 1;
  const int n = 2 + static_cast<int>(rng.UniformInt(4));
  const int start = static_cast<int>(rng.UniformInt(7));
  for (int i = 0; i < n; ++i) {
    const int id = (start + i) % 7;
    input.actions.push_back(
        {absl::StrCat("a", id), {std::cos(id * 1.0), std::sin(id * 1.0)}});
  }
  return input;
}

struct ContractCase {
  std::string spec;
  double floor;
};

class PolicyContractTest : public ::testing::TestWithParam<ContractCase> {};

TEST_P(PolicyContractTest, HonoursTheContract) {
  const ContractCase& c = GetParam();
  PolicyOptions options;
  options.context_dim = kContextDim;
  options.exploration_floor = c.floor;
  options.thompson_pmf_draws = 300;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy, CreatePolicy(c.spec, options));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> twin, CreatePolicy(policy->spec(), options));
  EXPECT_EQ(twin->spec(), policy->spec());  // canonical spec is a fixed point

  Rng rng(17);
  Decision d, again, restored_d;
  std::unique_ptr<Policy> restored;
  for (int step = 0; step < 400; ++step) {
    const DecisionInput input = RandomInput(rng);
    const int n = static_cast<int>(input.actions.size());
    const uint64_t seed = StableHash64(absl::StrCat("event-", step));
    ASSERT_OK(policy->Choose(input, seed, &d));
    ASSERT_EQ(d.pmf.size(), static_cast<size_t>(n)) << c.spec;
    double total = 0;
    for (double p : d.pmf) {
      EXPECT_GE(p, 0.0);
      total += p;
    }
    EXPECT_NEAR(total, 1.0, 1e-9) << c.spec << " step " << step;
    ASSERT_GE(d.chosen, 0);
    ASSERT_LT(d.chosen, n);
    EXPECT_GT(d.pmf[d.chosen], 0.0) << c.spec << " step " << step;
    if (c.floor > 0) {
      const double min_p = std::min(c.floor, 1.0 / n);
      for (double p : d.pmf) EXPECT_GE(p, min_p - 1e-12) << c.spec;
    }
    // Same seed and state: same decision.
    ASSERT_OK(policy->Choose(input, seed, &again));
    EXPECT_EQ(again.chosen, d.chosen);
    EXPECT_EQ(again.pmf, d.pmf);
    if (restored) {
      ASSERT_OK(restored->Choose(input, seed, &restored_d));
      EXPECT_EQ(restored_d.chosen, d.chosen) << c.spec << " step " << step;
      EXPECT_EQ(restored_d.pmf, d.pmf) << c.spec << " step " << step;
    }
    // Reward 1 with a probability depending on the action and the context.
    const int id = input.actions[d.chosen].id[1] - '0';
    const double p_reward = 0.1 + 0.1 * id * (0.5 + 0.5 * input.context[1]);
    const double reward = rng.Uniform() < p_reward ? 1.0 : 0.0;
    ASSERT_OK(policy->Update(input, d.chosen, reward));
    if (restored) {
      ASSERT_OK(restored->Update(input, d.chosen, reward));
    }
    if (step == 200) {
      const PolicyState state = policy->Snapshot();
      ASSERT_OK_AND_ASSIGN(restored, CreatePolicy(c.spec, options));
      // Through bytes, as the event log stores it.
      PolicyState parsed;
      ASSERT_TRUE(parsed.ParseFromString(state.SerializeAsString()));
      ASSERT_OK(restored->Restore(parsed));
      EXPECT_EQ(restored->version(), policy->version());
    }
  }
  EXPECT_EQ(policy->version(), 400);
}

TEST_P(PolicyContractTest, RejectsBadCalls) {
  const ContractCase& c = GetParam();
  PolicyOptions options;
  options.context_dim = kContextDim;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy, CreatePolicy(c.spec, options));
  Rng rng(3);
  DecisionInput input = RandomInput(rng);
  Decision d;
  EXPECT_THAT(policy->Update(input, -1, 1.0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(policy->Update(input, 99, 1.0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(policy->Update(input, 0, std::nan("")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  DecisionInput empty = input;
  empty.actions.clear();
  EXPECT_THAT(policy->Choose(empty, 1, &d), StatusIs(absl::StatusCode::kInvalidArgument));
  // A state of the other kind is rejected.
  PolicyState other;
  if (policy->Snapshot().has_linear()) {
    other.mutable_arm_stats()->add_arms()->set_action("x");
  } else {
    other.mutable_linear()->set_dim(kContextDim);
  }
  EXPECT_THAT(policy->Restore(other), StatusIs(absl::StatusCode::kInvalidArgument));
  if (policy->Snapshot().has_linear()) {
    input.context.pop_back();
    EXPECT_THAT(policy->Choose(input, 1, &d),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("context")));
  }
}

TEST_P(PolicyContractTest, WithoutPmfStillDecidesReproducibly) {
  const ContractCase& c = GetParam();
  PolicyOptions options;
  options.context_dim = kContextDim;
  options.exploration_floor = c.floor;
  options.compute_pmf = false;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy, CreatePolicy(c.spec, options));
  Rng rng(23);
  Decision d, again;
  for (int step = 0; step < 100; ++step) {
    const DecisionInput input = RandomInput(rng);
    ASSERT_OK(policy->Choose(input, step, &d));
    ASSERT_GE(d.chosen, 0);
    ASSERT_LT(d.chosen, static_cast<int32_t>(input.actions.size()));
    // Either no pmf (Thompson families) or a full one that gives chosen mass.
    if (!d.pmf.empty()) {
      EXPECT_GT(d.pmf[d.chosen], 0.0);
    }
    ASSERT_OK(policy->Choose(input, step, &again));
    EXPECT_EQ(again.chosen, d.chosen);
    ASSERT_OK(policy->Update(input, d.chosen, rng.Uniform() < 0.5 ? 1.0 : 0.0));
  }
}

std::vector<ContractCase> ContractCases() {
  std::vector<ContractCase> cases;
  for (const std::string& spec : AllSpecs()) {
    cases.push_back({spec, 0.0});
    cases.push_back({spec, 0.05});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(
    AllPolicies, PolicyContractTest, ::testing::ValuesIn(ContractCases()),
    [](const ::testing::TestParamInfo<ContractCase>& info) {
      std::string name = absl::StrCat(info.param.spec, info.param.floor > 0 ? "_floor" : "");
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

// ---------------------------------------------------------------- convergence

// Fraction of the last `tail` of `steps` decisions that chose the best arm of a
// 5-armed Bernoulli problem with means 0.1, 0.2, 0.3, 0.4, 0.9 (seed fixed).
double BernoulliBestArmRate(const std::string& spec, int steps, int tail) {
  PolicyOptions options;
  options.context_dim = 1;
  options.thompson_pmf_draws = 100;
  auto policy = CreatePolicy(spec, options);
  EXPECT_THAT(policy.status(), IsOk());
  const double means[5] = {0.1, 0.2, 0.3, 0.4, 0.9};
  DecisionInput input;
  input.context = {1.0};
  for (int a = 0; a < 5; ++a) input.actions.push_back({absl::StrCat("arm", a), {}});
  Rng rng(2024);
  Decision d;
  int best = 0;
  for (int step = 0; step < steps; ++step) {
    EXPECT_THAT((*policy)->Choose(input, rng(), &d), IsOk());
    const double reward = rng.Uniform() < means[d.chosen] ? 1.0 : 0.0;
    EXPECT_THAT((*policy)->Update(input, d.chosen, reward), IsOk());
    if (step >= steps - tail && d.chosen == 4) ++best;
  }
  return static_cast<double>(best) / tail;
}

TEST(ConvergenceTest, ContextFreePoliciesFindTheBestArmWithin2000Steps) {
  // Expected asymptotic rates: epsilon-greedy 0.1 -> 0.92; softmax tau=0.1 ->
  // ~0.99; decaying epsilon, UCB1 and Thompson -> 1.
  for (const std::string spec :
       {"epsilon_greedy:epsilon=0.1", "epsilon_greedy:decay=5", "ucb1", "thompson",
        "thompson:reward=gaussian,sigma=0.5", "softmax:tau=0.1", "linucb",
        "lin_ts", "lin_epsilon_greedy"}) {
    const double rate = BernoulliBestArmRate(spec, 2000, 500);
    std::printf("%-40s best-arm rate over steps 1500..2000: %.3f\n", spec.c_str(), rate);
    EXPECT_GE(rate, 0.85) << spec;
  }
}

// Fraction of the last `tail` decisions that chose the best arm of a linear
// problem: reward = theta_a . x + N(0, 0.1^2), x = [1, u1, u2, u3], 4 arms
// whose best one depends on the context. Shared models see one-hot action
// features.
double LinearBestArmRate(const std::string& spec, int steps, int tail) {
  PolicyOptions options;
  options.context_dim = 4;
  options.thompson_pmf_draws = 100;
  auto policy = CreatePolicy(spec, options);
  EXPECT_THAT(policy.status(), IsOk());
  const double theta[4][4] = {{0.5, 0.4, 0.0, 0.0},
                              {0.5, -0.4, 0.0, 0.0},
                              {0.5, 0.0, 0.4, 0.0},
                              {0.2, 0.0, 0.0, 0.1}};
  DecisionInput input;
  for (int a = 0; a < 4; ++a) {
    std::vector<double> one_hot(4, 0.0);
    one_hot[a] = 1.0;
    input.actions.push_back({absl::StrCat("arm", a), one_hot});
  }
  input.context.resize(4);
  Rng rng(99);
  Decision d;
  int best_count = 0;
  for (int step = 0; step < steps; ++step) {
    input.context[0] = 1.0;
    for (int i = 1; i < 4; ++i) input.context[i] = 2 * rng.Uniform() - 1;
    double value[4];
    int best = 0;
    for (int a = 0; a < 4; ++a) {
      value[a] = 0;
      for (int i = 0; i < 4; ++i) value[a] += theta[a][i] * input.context[i];
      if (value[a] > value[best]) best = a;
    }
    EXPECT_THAT((*policy)->Choose(input, rng(), &d), IsOk());
    EXPECT_THAT((*policy)->Update(input, d.chosen, value[d.chosen] + 0.1 * rng.Normal()),
                IsOk());
    if (step >= steps - tail && d.chosen == best) ++best_count;
  }
  return static_cast<double>(best_count) / tail;
}

TEST(ConvergenceTest, LinearPoliciesFindTheContextualBestArmWithin2000Steps) {
  // Near the decision boundaries the arms are almost tied, so even a perfect
  // estimate chosen greedily with a little exploration is wrong sometimes.
  for (const std::string spec :
       {"linucb:alpha=0.5", "linucb:alpha=0.5,model=shared", "lin_ts:v=0.1",
        "lin_ts:v=0.1,model=shared", "lin_epsilon_greedy:epsilon=0.05",
        "lin_epsilon_greedy:epsilon=0.05,model=shared"}) {
    const double rate = LinearBestArmRate(spec, 2000, 500);
    std::printf("%-40s best-arm rate over steps 1500..2000: %.3f\n", spec.c_str(), rate);
    EXPECT_GE(rate, 0.85) << spec;
  }
}

// ---------------------------------------------------------------- LinUCB oracle

TEST(LinUcbTest, EstimateEqualsClosedFormRidgeSolution) {
  constexpr int kDim = 5;
  constexpr double kLambda = 2.0;
  constexpr double kAlpha = 0.7;
  PolicyOptions options;
  options.context_dim = kDim;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy,
                       CreatePolicy("linucb:alpha=0.7,lambda=2", options));
  Rng rng(5);
  // 1500 updates of arm "a" (past the periodic A^-1 refresh at 1024) and 300
  // of arm "b".
  std::vector<Eigen::VectorXd> xs[2];
  std::vector<double> ys[2];
  DecisionInput input;
  input.actions = {{"a", {}}, {"b", {}}};
  input.context.resize(kDim);
  for (int step = 0; step < 1800; ++step) {
    const int arm = step < 1500 ? 0 : 1;
    Eigen::VectorXd x(kDim);
    for (int i = 0; i < kDim; ++i) x[i] = input.context[i] = rng.Normal();
    const double y = x.sum() * (arm == 0 ? 0.3 : -0.2) + rng.Normal();
    ASSERT_OK(policy->Update(input, arm, y));
    xs[arm].push_back(x);
    ys[arm].push_back(y);
  }
  const PolicyState state = policy->Snapshot();
  ASSERT_TRUE(state.has_linear());
  ASSERT_EQ(state.linear().arms_size(), 2);
  Eigen::MatrixXd a_inv[2];
  Eigen::VectorXd theta[2];
  for (int arm = 0; arm < 2; ++arm) {
    // Closed form: theta = (lambda I + X^T X)^-1 X^T y, computed directly.
    const int m = static_cast<int>(xs[arm].size());
    Eigen::MatrixXd x(m, kDim);
    Eigen::VectorXd y(m);
    for (int r = 0; r < m; ++r) {
      x.row(r) = xs[arm][r].transpose();
      y[r] = ys[arm][r];
    }
    const Eigen::MatrixXd a =
        kLambda * Eigen::MatrixXd::Identity(kDim, kDim) + x.transpose() * x;
    theta[arm] = a.ldlt().solve(x.transpose() * y);
    a_inv[arm] = a.inverse();
    const LinearArm& got = state.linear().arms(arm);
    EXPECT_EQ(got.action(), arm == 0 ? "a" : "b");
    EXPECT_EQ(got.updates(), m);
    Eigen::MatrixXd got_inv(kDim, kDim);
    Eigen::VectorXd got_b(kDim);
    for (int i = 0; i < kDim; ++i) {
      got_b[i] = got.b_vector(i);
      for (int j = 0; j < kDim; ++j) {
        EXPECT_NEAR(got.a_matrix(i * kDim + j), a(i, j), 1e-9 * (1 + std::abs(a(i, j))));
        got_inv(i, j) = got.a_inverse(i * kDim + j);
      }
    }
    const Eigen::VectorXd got_theta = got_inv * got_b;
    for (int i = 0; i < kDim; ++i) EXPECT_NEAR(got_theta[i], theta[arm][i], 1e-9);
  }
  // Decisions follow the closed-form UCB scores on fresh contexts.
  Decision d;
  int checked = 0;
  for (int t = 0; t < 200; ++t) {
    Eigen::VectorXd x(kDim);
    for (int i = 0; i < kDim; ++i) x[i] = input.context[i] = rng.Normal();
    double score[2];
    for (int arm = 0; arm < 2; ++arm) {
      score[arm] = theta[arm].dot(x) + kAlpha * std::sqrt(x.dot(a_inv[arm] * x));
    }
    if (std::abs(score[0] - score[1]) < 1e-6) continue;
    ASSERT_OK(policy->Choose(input, t, &d));
    EXPECT_EQ(d.chosen, score[0] > score[1] ? 0 : 1);
    EXPECT_EQ(d.pmf[d.chosen], 1.0);
    ++checked;
  }
  EXPECT_GT(checked, 190);
}

// ---------------------------------------------------------------- Thompson

double BetaPdf(double x, double a, double b) {
  return std::exp((a - 1) * std::log(x) + (b - 1) * std::log1p(-x) + std::lgamma(a + b) -
                  std::lgamma(a) - std::lgamma(b));
}

// P(X > Y) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2): integral of f_X(x) F_Y(x),
// midpoint rule on 200000 cells with F_Y accumulated on the same grid.
double BetaWinProbability(double a1, double b1, double a2, double b2) {
  constexpr int kCells = 200000;
  const double h = 1.0 / kCells;
  double cdf_y = 0, total = 0;
  for (int i = 0; i < kCells; ++i) {
    const double x = (i + 0.5) * h;
    const double fy = BetaPdf(x, a2, b2) * h;
    cdf_y += 0.5 * fy;  // F_Y at the cell midpoint
    total += BetaPdf(x, a1, b1) * h * cdf_y;
    cdf_y += 0.5 * fy;
  }
  return total;
}

TEST(ThompsonTest, PmfIsTheAnalyticWinProbability) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy, CreatePolicy("thompson", {}));
  PolicyState state;
  ArmStat* x = state.mutable_arm_stats()->add_arms();
  x->set_action("x");
  x->set_pulls(10);
  x->set_alpha(6);  // 5 successes + prior 1
  x->set_beta(6);   // 5 failures + prior 1
  ArmStat* y = state.mutable_arm_stats()->add_arms();
  y->set_action("y");
  y->set_pulls(8);
  y->set_alpha(3);
  y->set_beta(7);
  ASSERT_OK(policy->Restore(state));
  const double expected = BetaWinProbability(6, 6, 3, 7);
  EXPECT_GT(expected, 0.8);
  EXPECT_LT(expected, 0.95);
  DecisionInput input;
  input.actions = {{"x", {}}, {"y", {}}};
  Decision d;
  std::vector<double> first;
  for (uint64_t seed : {1, 2, 3}) {
    ASSERT_OK(policy->Choose(input, seed, &d));
    // The pmf is computed, not sampled (bandits/thompson_pmf.h, error ~1e-10):
    // the oracle's midpoint rule is good to ~1e-9.
    EXPECT_NEAR(d.pmf[0], expected, 1e-7) << "seed " << seed;
    EXPECT_NEAR(d.pmf[0] + d.pmf[1], 1.0, 1e-12);
    // ... so it does not depend on the seed; only the draw does.
    if (first.empty()) first = d.pmf;
    EXPECT_EQ(d.pmf, first) << "seed " << seed;
  }
  // An unseen arm has the Beta(1, 1) prior: P(U > Beta(3, 7)).
  input.actions = {{"new", {}}, {"y", {}}};
  ASSERT_OK(policy->Choose(input, 4, &d));
  EXPECT_NEAR(d.pmf[0], BetaWinProbability(1, 1, 3, 7), 1e-7);
}

TEST(ThompsonTest, GaussianPmfIsTheAnalyticWinProbability) {
  // Posterior of each mean: N(sum / s2 / prec, 1 / prec), prec = 1 / prior_sd^2
  // + pulls / s2; two arms: P(x wins) = Phi((m_x - m_y) / sqrt(v_x + v_y)).
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy,
                       CreatePolicy("thompson:reward=gaussian,sigma=0.5,prior_sd=2", {}));
  DecisionInput input;
  input.actions = {{"x", {}}, {"y", {}}};
  const double rewards_x[] = {0.6, 0.7, 0.8}, rewards_y[] = {0.2, 0.3};
  for (double r : rewards_x) ASSERT_OK(policy->Update(input, 0, r));
  for (double r : rewards_y) ASSERT_OK(policy->Update(input, 1, r));
  auto posterior = [](double sum, int pulls, double* mean, double* var) {
    const double precision = 1 / 4.0 + pulls / 0.25;
    *mean = sum / 0.25 / precision;
    *var = 1 / precision;
  };
  double mx, vx, my, vy;
  posterior(2.1, 3, &mx, &vx);
  posterior(0.5, 2, &my, &vy);
  const double expected = 0.5 * std::erfc(-((mx - my) / std::sqrt(vx + vy)) / std::sqrt(2.0));
  Decision d;
  ASSERT_OK(policy->Choose(input, 9, &d));
  EXPECT_NEAR(d.pmf[0], expected, 1e-9);
  EXPECT_GT(expected, 0.6);
  EXPECT_LT(expected, 0.9);
}

// The logged pmf is the distribution the chosen action is drawn from: over
// many event seeds (same state, so the same pmf), chosen frequencies match it
// within 4.5 binomial standard errors. With an exploration floor.
TEST(ThompsonTest, ChosenFrequenciesMatchTheLoggedPmf) {
  for (const std::string spec : {"thompson", "thompson:reward=gaussian,sigma=0.5"}) {
    PolicyOptions options;
    options.exploration_floor = 0.05;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy, CreatePolicy(spec, options));
    DecisionInput input;
    input.actions = {{"w", {}}, {"x", {}}, {"y", {}}, {"z", {}}};
    for (int i = 0; i < 40; ++i) {
      const int arm = i % 4;
      ASSERT_OK(policy->Update(input, arm, (i * 7 + arm * 3) % 10 < 3 + arm ? 1.0 : 0.0));
    }
    Decision d;
    ASSERT_OK(policy->Choose(input, 0, &d));
    const std::vector<double> pmf = d.pmf;
    constexpr int kTrials = 40000;
    std::vector<int> counts(4, 0);
    for (int t = 0; t < kTrials; ++t) {
      ASSERT_OK(policy->Choose(input, StableHash64(absl::StrCat("event-", t)), &d));
      ASSERT_EQ(d.pmf, pmf);
      ++counts[d.chosen];
    }
    for (int a = 0; a < 4; ++a) {
      const double se = std::sqrt(pmf[a] * (1 - pmf[a]) / kTrials);
      EXPECT_GT(pmf[a], 0.05) << spec << " arm " << a;  // the floor, and overlap
      EXPECT_NEAR(static_cast<double>(counts[a]) / kTrials, pmf[a], 4.5 * se)
          << spec << " arm " << a;
    }
  }
}

TEST(ThompsonTest, WithoutPmfDrawsFromTheSameDistribution) {
  PolicyOptions options;
  options.exploration_floor = 0.1;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> with_pmf, CreatePolicy("thompson", options));
  options.compute_pmf = false;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> without, CreatePolicy("thompson", options));
  DecisionInput input;
  input.actions = {{"x", {}}, {"y", {}}, {"z", {}}};
  for (int i = 0; i < 30; ++i) {
    const int arm = i % 3;
    ASSERT_OK(with_pmf->Update(input, arm, arm == 0 ? (i % 2) : (i % 5 == 0)));
    ASSERT_OK(without->Update(input, arm, arm == 0 ? (i % 2) : (i % 5 == 0)));
  }
  Decision d;
  ASSERT_OK(with_pmf->Choose(input, 7, &d));
  const std::vector<double> pmf = d.pmf;
  constexpr int kTrials = 20000;
  std::vector<int> counts(3, 0);
  for (int t = 0; t < kTrials; ++t) {
    ASSERT_OK(without->Choose(input, 1000 + t, &d));
    EXPECT_TRUE(d.pmf.empty());
    ++counts[d.chosen];
  }
  for (int a = 0; a < 3; ++a) {
    // The pmf is exact, so the only noise is the draws': 4.5 binomial SE.
    const double se = std::sqrt(pmf[a] * (1 - pmf[a]) / kTrials);
    EXPECT_NEAR(static_cast<double>(counts[a]) / kTrials, pmf[a], 4.5 * se) << a;
  }
}

TEST(LinearThompsonTest, SharedModelPmfMatchesGaussianWinProbability) {
  // Two actions under one shared model: s_i = x_i . theta~ with theta~ ~
  // N(theta_hat, v^2 A^-1), so P(s_0 > s_1) = Phi((m_0 - m_1) / sd) with
  // sd^2 = v^2 (x_0 - x_1)^T A^-1 (x_0 - x_1). A^-1 and b come from Snapshot.
  constexpr double kV = 0.8;
  PolicyOptions options;
  options.context_dim = kContextDim;
  options.thompson_pmf_draws = 40000;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy,
                       CreatePolicy("lin_ts:v=0.8,model=shared,joint=concat", options));
  Rng rng(12);
  for (int i = 0; i < 30; ++i) {
    const DecisionInput input = RandomInput(rng);
    ASSERT_OK(policy->Update(input, 0, 0.3 * input.actions[0].features[0] + 0.1 * rng.Normal()));
  }
  const PolicyState state = policy->Snapshot();
  ASSERT_EQ(state.linear().arms_size(), 1);
  const LinearArm& arm = state.linear().arms(0);
  const int dim = state.linear().dim();
  ASSERT_EQ(dim, kContextDim + kActionDim);
  Eigen::MatrixXd a_inv(dim, dim);
  Eigen::VectorXd b(dim);
  for (int i = 0; i < dim; ++i) {
    b[i] = arm.b_vector(i);
    for (int j = 0; j < dim; ++j) a_inv(i, j) = arm.a_inverse(i * dim + j);
  }
  const Eigen::VectorXd theta = a_inv * b;
  DecisionInput input = RandomInput(rng);
  input.actions.resize(2);
  Eigen::VectorXd x[2];
  for (int a = 0; a < 2; ++a) {
    x[a].resize(dim);
    for (int i = 0; i < kContextDim; ++i) x[a][i] = input.context[i];
    for (int i = 0; i < kActionDim; ++i) x[a][kContextDim + i] = input.actions[a].features[i];
  }
  const Eigen::VectorXd diff = x[0] - x[1];
  const double sd = kV * std::sqrt(diff.dot(a_inv * diff));
  const double expected = 0.5 * std::erfc(-(theta.dot(diff) / sd) / std::sqrt(2.0));
  Decision d;
  ASSERT_OK(policy->Choose(input, 5, &d));
  // 40000 draws: standard error <= 0.0025; tolerance 0.01.
  EXPECT_NEAR(d.pmf[0], expected, 0.01);
  EXPECT_GT(expected, 0.02);
  EXPECT_LT(expected, 0.98);
}

TEST(ThompsonTest, BernoulliRejectsRewardsOutsideUnitInterval) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy, CreatePolicy("thompson", {}));
  DecisionInput input;
  input.actions = {{"x", {}}};
  EXPECT_THAT(policy->Update(input, 0, 2.0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gaussian")));
  EXPECT_OK(policy->Update(input, 0, 0.25));
}

TEST(Ucb1Test, TriesEveryArmOnceThenAddsTheBonus) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy, CreatePolicy("ucb1", {}));
  DecisionInput input;
  input.actions = {{"a", {}}, {"b", {}}, {"c", {}}};
  Decision d;
  ASSERT_OK(policy->Choose(input, 1, &d));
  EXPECT_EQ(d.pmf, std::vector<double>({1.0 / 3, 1.0 / 3, 1.0 / 3}));
  ASSERT_OK(policy->Update(input, 0, 1.0));
  ASSERT_OK(policy->Choose(input, 1, &d));
  EXPECT_EQ(d.pmf, std::vector<double>({0.0, 0.5, 0.5}));
  ASSERT_OK(policy->Update(input, 1, 0.5));
  ASSERT_OK(policy->Update(input, 2, 0.0));
  // t = 3: scores 1 + sqrt(2 ln 3), 0.5 + sqrt(2 ln 3), 0 + sqrt(2 ln 3).
  ASSERT_OK(policy->Choose(input, 1, &d));
  EXPECT_EQ(d.pmf, std::vector<double>({1.0, 0.0, 0.0}));
}

TEST(EpsilonGreedyTest, DecayingEpsilonFollowsCOverT) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy,
                       CreatePolicy("epsilon_greedy:decay=2", {}));
  DecisionInput input;
  input.actions = {{"a", {}}, {"b", {}}};
  Decision d;
  ASSERT_OK(policy->Update(input, 0, 1.0));  // t = 2 now: epsilon = 1
  ASSERT_OK(policy->Choose(input, 1, &d));
  EXPECT_NEAR(d.pmf[0], 0.5, 1e-12);
  for (int i = 0; i < 7; ++i) ASSERT_OK(policy->Update(input, 0, 1.0));
  // 8 updates: t = 9, epsilon = 2/9; the greedy arm gets 1 - eps + eps/2.
  ASSERT_OK(policy->Choose(input, 1, &d));
  EXPECT_NEAR(d.pmf[0], 1 - 1.0 / 9, 1e-12);
  EXPECT_NEAR(d.pmf[1], 1.0 / 9, 1e-12);
}

// ---------------------------------------------------------------- restore, threads

TEST(LinearPolicyTest, RestoreRejectsMismatchedOrCorruptState) {
  PolicyOptions options;
  options.context_dim = kContextDim;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy, CreatePolicy("linucb", options));
  Rng rng(8);
  for (int i = 0; i < 50; ++i) {
    const DecisionInput input = RandomInput(rng);
    ASSERT_OK(policy->Update(input, 0, rng.Uniform()));
  }
  const PolicyState good = policy->Snapshot();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> fresh, CreatePolicy("linucb", options));
  PolicyState bad = good;
  bad.mutable_linear()->set_dim(kContextDim + 1);
  EXPECT_THAT(fresh->Restore(bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dim")));
  bad = good;
  bad.mutable_linear()->mutable_arms(0)->mutable_b_vector()->RemoveLast();
  EXPECT_THAT(fresh->Restore(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("linear.arms[0]")));
  bad = good;
  bad.mutable_linear()->mutable_arms(0)->set_a_matrix(3, std::nan(""));
  EXPECT_THAT(fresh->Restore(bad), StatusIs(absl::StatusCode::kInvalidArgument));
  bad = good;
  bad.mutable_linear()->set_shared(true);
  EXPECT_THAT(fresh->Restore(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shared")));
  bad = good;
  *bad.mutable_linear()->add_arms() = good.linear().arms(0);
  EXPECT_THAT(fresh->Restore(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("repeats")));
  // Rejected restores left the fresh policy untouched.
  EXPECT_EQ(fresh->version(), 0);
  EXPECT_EQ(fresh->Snapshot().linear().arms_size(), 0);
  // Without a_inverse (an older snapshot), Restore inverts A.
  PolicyState no_inverse = good;
  for (LinearArm& arm : *no_inverse.mutable_linear()->mutable_arms()) arm.clear_a_inverse();
  ASSERT_OK(fresh->Restore(no_inverse));
  EXPECT_EQ(fresh->version(), 50);
  const PolicyState again = fresh->Snapshot();
  for (int i = 0; i < kContextDim * kContextDim; ++i) {
    EXPECT_NEAR(again.linear().arms(0).a_inverse(i), good.linear().arms(0).a_inverse(i), 1e-12);
  }
}

TEST(ArmPolicyTest, RestoreRejectsCorruptArms) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy, CreatePolicy("ucb1", {}));
  PolicyState state;
  ArmStat* arm = state.mutable_arm_stats()->add_arms();
  arm->set_action("a");
  arm->set_pulls(-1);
  EXPECT_THAT(policy->Restore(state),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("arms[0]")));
  arm->set_pulls(2);
  arm->set_alpha(1);
  arm->set_beta(1);
  *state.mutable_arm_stats()->add_arms() = *arm;
  EXPECT_THAT(policy->Restore(state),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("repeats")));
}

TEST(LinearPolicyTest, SharedModelRejectsADifferentActionFeatureLength) {
  PolicyOptions options;
  options.context_dim = kContextDim;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy,
                       CreatePolicy("linucb:model=shared", options));
  Rng rng(1);
  DecisionInput input = RandomInput(rng);
  ASSERT_OK(policy->Update(input, 0, 1.0));  // fixes the action dim at 2
  for (ActionInput& a : input.actions) a.features.push_back(0.5);
  Decision d;
  EXPECT_THAT(policy->Choose(input, 1, &d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("features")));
  EXPECT_THAT(policy->Update(input, 0, 1.0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("features")));
  input.actions[1].features.pop_back();  // ragged
  EXPECT_THAT(policy->Choose(input, 1, &d), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PolicyConcurrencyTest, ChooseRunsWhileUpdatesApply) {
  for (const std::string spec : {"thompson", "linucb", "lin_ts:model=shared"}) {
    PolicyOptions options;
    options.context_dim = kContextDim;
    options.thompson_pmf_draws = 50;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> policy, CreatePolicy(spec, options));
    std::atomic<bool> done{false};
    std::atomic<int> bad{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t) {
      readers.emplace_back([&, t] {
        Rng rng(100 + t);
        Decision d;
        while (!done.load()) {
          const DecisionInput input = RandomInput(rng);
          if (!policy->Choose(input, rng(), &d).ok()) ++bad;
          double total = 0;
          for (double p : d.pmf) total += p;
          if (std::abs(total - 1) > 1e-9 || d.pmf[d.chosen] <= 0) ++bad;
        }
      });
    }
    Rng rng(7);
    for (int i = 0; i < 2000; ++i) {
      const DecisionInput input = RandomInput(rng);
      ASSERT_OK(policy->Update(input, static_cast<int>(rng.UniformInt(input.actions.size())),
                               rng.Uniform() < 0.5));
    }
    done = true;
    for (std::thread& r : readers) r.join();
    EXPECT_EQ(bad.load(), 0) << spec;
    EXPECT_EQ(policy->version(), 2000);
  }
}

// ---------------------------------------------------------------- specs

TEST(PolicySpecTest, ParsesAndCanonicalizes) {
  ASSERT_OK_AND_ASSIGN(PolicySpec spec, ParsePolicySpec("linucb: alpha=0.5 ,lambda=2"));
  EXPECT_EQ(spec.family, "linucb");
  ASSERT_EQ(spec.params.size(), 2u);
  EXPECT_EQ(spec.params[0], std::make_pair(std::string("alpha"), std::string("0.5")));
  EXPECT_EQ(*CanonicalPolicySpec("linucb"), "linucb:alpha=1,lambda=1");
  EXPECT_EQ(*CanonicalPolicySpec("linucb:lambda=2,alpha=0.50"), "linucb:alpha=0.5,lambda=2");
  EXPECT_EQ(*CanonicalPolicySpec("epsilon_greedy"), "epsilon_greedy:epsilon=0.1");
  EXPECT_EQ(*CanonicalPolicySpec("thompson"), "thompson");
  EXPECT_EQ(*CanonicalPolicySpec("lin_ts:model=shared"),
            "lin_ts:v=1,lambda=1,model=shared,joint=outer");
  for (const std::string& family : PolicyFamilies()) {
    EXPECT_OK(CreatePolicy(family, {}).status()) << family;
  }
}

TEST(PolicySpecTest, RejectsBadSpecsNamingTheProblem) {
  EXPECT_THAT(CreatePolicy("bogus", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bogus")));
  EXPECT_THAT(CreatePolicy("linucb:beta=1", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("beta")));
  EXPECT_THAT(CreatePolicy("linucb:alpha=-1", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("alpha")));
  EXPECT_THAT(CreatePolicy("epsilon_greedy:epsilon=1.5", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("epsilon")));
  EXPECT_THAT(CreatePolicy("epsilon_greedy:epsilon=0.1,decay=3", {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CreatePolicy("softmax:tau=0", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tau")));
  EXPECT_THAT(CreatePolicy("softmax:tau=abc", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tau")));
  EXPECT_THAT(CreatePolicy("thompson:sigma=1", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sigma")));
  EXPECT_THAT(CreatePolicy("linucb:alpha", {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CreatePolicy("linucb:alpha=1,alpha=2", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("repeated")));
  EXPECT_THAT(CreatePolicy(":alpha=1", {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CreatePolicy("linucb:joint=outer", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("joint")));
  PolicyOptions big;
  big.context_dim = 5000;
  EXPECT_THAT(CreatePolicy("linucb", big),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("4096")));
  EXPECT_OK(CreatePolicy("ucb1", big).status());
  PolicyOptions bad_floor;
  bad_floor.exploration_floor = 2;
  EXPECT_THAT(CreatePolicy("ucb1", bad_floor),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exploration_floor")));
}

TEST(PolicySpecTest, SplitsSpecLists) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> specs,
                       ParsePolicySpecList("linucb:alpha=1,lambda=2,ucb1"));
  EXPECT_EQ(specs, std::vector<std::string>({"linucb:alpha=1,lambda=2", "ucb1"}));
  ASSERT_OK_AND_ASSIGN(specs, ParsePolicySpecList(
                                  "thompson, epsilon_greedy:epsilon=0.2,softmax:tau=1"));
  EXPECT_EQ(specs, std::vector<std::string>(
                       {"thompson", "epsilon_greedy:epsilon=0.2", "softmax:tau=1"}));
  ASSERT_OK_AND_ASSIGN(specs, ParsePolicySpecList(""));
  EXPECT_TRUE(specs.empty());
  EXPECT_THAT(ParsePolicySpecList("alpha=1,ucb1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("alpha=1")));
  EXPECT_THAT(ParsePolicySpecList("ucb1,,thompson"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

// ------------------------------------------------------- Bind (fast path)

// Policy::Bind's binding must decide and learn exactly as the policy's own
// Choose and Update: two twins, one driven through each, get the same seeds
// and rewards and must agree on every chosen action and pmf, and end in the
// same state. The bound actions stay fixed (as in the simulator) except for
// a few calls with two of them, which take the policy's own path and there
// learn a bound action the binding has not seen yet.
TEST_P(PolicyContractTest, BindDecidesAndLearnsExactlyAsChooseAndUpdate) {
  const ContractCase& c = GetParam();
  for (bool compute_pmf : {true, false}) {
    PolicyOptions options;
    options.context_dim = kContextDim;
    options.exploration_floor = c.floor;
    options.compute_pmf = compute_pmf;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> own, CreatePolicy(c.spec, options));
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Policy> twin, CreatePolicy(c.spec, options));
    Rng rng(29);
    DecisionInput fixed = RandomInput(rng);
    while (fixed.actions.size() < 4) fixed = RandomInput(rng);
    // Some of the bound actions are already known when binding.
    ASSERT_OK(own->Update(fixed, 1, 1.0));
    ASSERT_OK(twin->Update(fixed, 1, 1.0));
    const std::unique_ptr<BoundPolicy> bound = twin->Bind(fixed);
    Decision d, b;
    for (int step = 0; step < 300; ++step) {
      const bool other = step % 97 == 0;  // steps 0, 97, 194, 291
      DecisionInput input = fixed;
      if (other) {
        const int k = 2 + step % 2;
        input.actions = {fixed.actions[0], fixed.actions[k]};
      }
      for (int i = 1; i < kContextDim; ++i) input.context[i] = 2 * rng.Uniform() - 1;
      const uint64_t seed = StableHash64(absl::StrCat("bind-", step));
      ASSERT_OK(own->Choose(input, seed, &d));
      ASSERT_OK(bound->Choose(input, seed, &b));
      ASSERT_EQ(b.chosen, d.chosen) << c.spec << " step " << step << " pmf " << compute_pmf;
      ASSERT_EQ(b.pmf, d.pmf) << c.spec << " step " << step;
      // On the other calls, learn fixed.actions[k] (unseen at step 0).
      const int32_t chosen = other ? 1 : d.chosen;
      const double reward = other || rng.Uniform() < 0.1 * (1 + chosen) ? 1.0 : 0.0;
      ASSERT_OK(own->Update(input, chosen, reward));
      ASSERT_OK(bound->Update(input, chosen, reward));
    }
    EXPECT_THAT(bound->Update(fixed, 99, 1.0), StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_EQ(twin->version(), own->version());
    EXPECT_EQ(twin->Snapshot().SerializeAsString(), own->Snapshot().SerializeAsString())
        << c.spec;
  }
}

}  // namespace
}  // namespace recbandit::bandits

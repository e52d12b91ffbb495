// Context-free policies keyed by action id: epsilon-greedy (fixed or decaying
// epsilon), UCB1, Thompson sampling (Beta-Bernoulli or Gaussian) and softmax.
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bandits/explore.h"
#include "bandits/policy_internal.h"
#include "proto/core/names.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"

namespace recbandit::bandits::internal {
namespace {

enum class Kind { kEpsilonGreedy, kUcb1, kThompsonBernoulli, kThompsonGaussian, kSoftmax };

struct ArmParams {
  Kind kind = Kind::kEpsilonGreedy;
  double epsilon = 0.1;   // epsilon_greedy, fixed
  double decay = 0;       // epsilon_greedy: > 0 means epsilon_t = min(1, decay / t)
  double c = 1;           // ucb1 bonus scale
  double sigma = 1;       // thompson gaussian: reward noise sd
  double prior_sd = 1;    // thompson gaussian: prior sd of the mean (prior mean 0)
  double tau = 0.1;       // softmax temperature
};

struct Arm {
  std::string id;
  int64_t pulls = 0;
  double reward_sum = 0;
  double reward_sq_sum = 0;
  double alpha = 1;  // Beta posterior (prior Beta(1, 1))
  double beta = 1;
};

// Per-thread scratch for Choose (Choose is const and concurrent).
struct Scratch {
  std::vector<int32_t> index;     // arm index per offered action, -1 = unseen
  std::vector<double> a, b;       // posterior parameters per offered action
  std::vector<int64_t> wins;
};
Scratch& GetScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// One class for the context-free families. Thread-safe.
class ArmPolicy final : public Policy {
 public:
  ArmPolicy(std::string family, std::string spec, const ArmParams& params,
            const PolicyOptions& options)
      : family_(std::move(family)), spec_(std::move(spec)), params_(params),
        options_(options) {}

  const std::string& spec() const override { return spec_; }
  const std::string& family() const override { return family_; }

  absl::Status Choose(const DecisionInput& input, uint64_t seed,
                      Decision* decision) const override {
    const int32_t n = static_cast<int32_t>(input.actions.size());
    if (n == 0) return absl::InvalidArgumentError("Choose: no actions offered");
    Rng rng(seed);
    Scratch& s = GetScratch();
    s.index.resize(n);
    absl::ReaderMutexLock lock(&mu_);
    for (int32_t i = 0; i < n; ++i) {
      auto it = by_id_.find(input.actions[i].id);
      s.index[i] = it == by_id_.end() ? -1 : it->second;
    }
    if (params_.kind == Kind::kThompsonBernoulli ||
        params_.kind == Kind::kThompsonGaussian) {
      return ChooseThompson(n, rng, s, decision);
    }
    std::vector<double>& pmf = decision->pmf;
    pmf.resize(n);
    switch (params_.kind) {
      case Kind::kEpsilonGreedy:
      case Kind::kSoftmax:
        for (int32_t i = 0; i < n; ++i) pmf[i] = Mean(s.index[i]);
        break;
      case Kind::kUcb1: {
        const double log_t = std::log(std::max<double>(1.0, static_cast<double>(total_pulls_)));
        for (int32_t i = 0; i < n; ++i) {
          const int32_t a = s.index[i];
          if (a < 0 || arms_[a].pulls == 0) {
            pmf[i] = std::numeric_limits<double>::infinity();  // try every arm once
          } else {
            const double pulls = static_cast<double>(arms_[a].pulls);
            pmf[i] = arms_[a].reward_sum / pulls +
                     params_.c * std::sqrt(2.0 * log_t / pulls);
          }
        }
        break;
      }
      default:
        break;
    }
    if (params_.kind == Kind::kEpsilonGreedy) {
      EpsilonGreedyPmf(pmf, CurrentEpsilon(), absl::MakeSpan(pmf));
    } else if (params_.kind == Kind::kSoftmax) {
      SoftmaxPmf(pmf, params_.tau, absl::MakeSpan(pmf));
    } else {
      GreedyPmf(pmf, absl::MakeSpan(pmf));
    }
    ApplyExplorationFloor(options_.exploration_floor, absl::MakeSpan(pmf));
    decision->chosen = SampleFromPmf(pmf, rng);
    return absl::OkStatus();
  }

  absl::Status Update(const DecisionInput& input, int32_t chosen,
                      double reward) override {
    RETURN_IF_ERROR(internal::CheckUpdateArgs(input, chosen, reward));
    if (params_.kind == Kind::kThompsonBernoulli && (reward < 0 || reward > 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Update: thompson (Beta-Bernoulli) needs rewards in [0, 1]; got ", reward,
          "; use thompson:reward=gaussian for real-valued rewards"));
    }
    const std::string& id = input.actions[chosen].id;
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = by_id_.try_emplace(id, static_cast<int32_t>(arms_.size()));
    if (inserted) {
      arms_.emplace_back();
      arms_.back().id = id;
    }
    Arm& arm = arms_[it->second];
    ++arm.pulls;
    arm.reward_sum += reward;
    arm.reward_sq_sum += reward * reward;
    if (params_.kind == Kind::kThompsonBernoulli) {  // other families' rewards
      arm.alpha += reward;                            // may lie outside [0, 1]
      arm.beta += 1.0 - reward;
    }
    ++total_pulls_;
    return absl::OkStatus();
  }

  PolicyState Snapshot() const override {
    PolicyState state;
    absl::ReaderMutexLock lock(&mu_);
    state.set_step(total_pulls_);
    ArmStats* stats = state.mutable_arm_stats();
    for (const Arm& arm : arms_) {
      ArmStat* out = stats->add_arms();
      out->set_action(arm.id);
      out->set_pulls(arm.pulls);
      out->set_reward_sum(arm.reward_sum);
      out->set_reward_sq_sum(arm.reward_sq_sum);
      out->set_alpha(arm.alpha);
      out->set_beta(arm.beta);
    }
    return state;
  }

  absl::Status Restore(const PolicyState& state) override {
    if (state.state_case() != PolicyState::kArmStats &&
        state.state_case() != PolicyState::STATE_NOT_SET) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Restore: ", family_, " needs arm_stats state; got a linear state"));
    }
    std::vector<Arm> arms;
    absl::flat_hash_map<std::string, int32_t> by_id;
    int64_t total = 0;
    for (int i = 0; i < state.arm_stats().arms_size(); ++i) {
      const ArmStat& in = state.arm_stats().arms(i);
      if (in.action().empty() || in.pulls() < 0 || !std::isfinite(in.reward_sum()) ||
          !std::isfinite(in.reward_sq_sum()) || !(in.alpha() > 0) || !(in.beta() > 0) ||
          !std::isfinite(in.alpha()) || !std::isfinite(in.beta())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Restore: arm_stats.arms[", i, "] is invalid (empty action, negative "
            "pulls, non-finite sums or non-positive alpha/beta)"));
      }
      if (!by_id.try_emplace(in.action(), static_cast<int32_t>(arms.size())).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Restore: arm_stats.arms[", i, "] repeats action ", Quote(in.action())));
      }
      Arm arm;
      arm.id = in.action();
      arm.pulls = in.pulls();
      arm.reward_sum = in.reward_sum();
      arm.reward_sq_sum = in.reward_sq_sum();
      arm.alpha = in.alpha();
      arm.beta = in.beta();
      total += arm.pulls;
      arms.push_back(std::move(arm));
    }
    absl::MutexLock lock(&mu_);
    arms_ = std::move(arms);
    by_id_ = std::move(by_id);
    total_pulls_ = std::max<int64_t>(state.step(), total);
    return absl::OkStatus();
  }

  int64_t version() const override {
    absl::ReaderMutexLock lock(&mu_);
    return total_pulls_;
  }

 private:
  // Mean reward of arm `a`; 0 for an unseen arm.
  double Mean(int32_t a) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (a < 0 || arms_[a].pulls == 0) return 0.0;
    return arms_[a].reward_sum / static_cast<double>(arms_[a].pulls);
  }

  double CurrentEpsilon() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (params_.decay <= 0) return params_.epsilon;
    return std::min(1.0, params_.decay / static_cast<double>(total_pulls_ + 1));
  }

  // Thompson sampling: P(action wins under the posterior) by Monte Carlo.
  absl::Status ChooseThompson(int32_t n, Rng& rng, Scratch& s, Decision* decision) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const bool bernoulli = params_.kind == Kind::kThompsonBernoulli;
    s.a.resize(n);
    s.b.resize(n);
    for (int32_t i = 0; i < n; ++i) {
      const int32_t a = s.index[i];
      if (bernoulli) {
        s.a[i] = a < 0 ? 1.0 : arms_[a].alpha;
        s.b[i] = a < 0 ? 1.0 : arms_[a].beta;
      } else {
        // Normal prior N(0, prior_sd^2) on the mean, known noise sd sigma.
        const double pulls = a < 0 ? 0.0 : static_cast<double>(arms_[a].pulls);
        const double sum = a < 0 ? 0.0 : arms_[a].reward_sum;
        const double s2 = params_.sigma * params_.sigma;
        const double precision = 1.0 / (params_.prior_sd * params_.prior_sd) + pulls / s2;
        s.a[i] = (sum / s2) / precision;           // posterior mean
        s.b[i] = 1.0 / std::sqrt(precision);       // posterior sd
      }
    }
    auto draw_winner = [&]() {
      int32_t best = 0;
      double best_value = -std::numeric_limits<double>::infinity();
      for (int32_t i = 0; i < n; ++i) {
        const double v = bernoulli ? rng.Beta(s.a[i], s.b[i]) : s.a[i] + s.b[i] * rng.Normal();
        if (v > best_value) {
          best_value = v;
          best = i;
        }
      }
      return best;
    };
    if (!options_.compute_pmf) {
      // Same distribution as the floored pmf: uniform with the floor's mixture
      // weight, else one posterior draw's argmax.
      decision->pmf.clear();
      const double w = FloorMixWeight(options_.exploration_floor, n);
      if (w > 0 && rng.Uniform() < w) {
        decision->chosen = static_cast<int32_t>(rng.UniformInt(n));
      } else {
        decision->chosen = draw_winner();
      }
      return absl::OkStatus();
    }
    s.wins.assign(n, 0);
    const int32_t draws = options_.thompson_pmf_draws;
    for (int32_t d = 0; d < draws; ++d) ++s.wins[draw_winner()];
    std::vector<double>& pmf = decision->pmf;
    pmf.resize(n);
    for (int32_t i = 0; i < n; ++i) {
      pmf[i] = static_cast<double>(s.wins[i]) / static_cast<double>(draws);
    }
    ApplyExplorationFloor(options_.exploration_floor, absl::MakeSpan(pmf));
    decision->chosen = SampleFromPmf(pmf, rng);
    return absl::OkStatus();
  }

  const std::string family_;
  const std::string spec_;
  const ArmParams params_;
  const PolicyOptions options_;
  mutable absl::Mutex mu_;
  std::vector<Arm> arms_ ABSL_GUARDED_BY(mu_);  // first-seen order
  absl::flat_hash_map<std::string, int32_t> by_id_ ABSL_GUARDED_BY(mu_);
  int64_t total_pulls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Policy>> CreateArmPolicy(const PolicySpec& spec,
                                                        const PolicyOptions& options) {
  SpecParams p(spec);
  ArmParams params;
  std::string canonical;
  const std::string& f = spec.family;
  if (f == "epsilon_greedy") {
    params.kind = Kind::kEpsilonGreedy;
    if (p.Has("epsilon") && p.Has("decay")) {
      return absl::InvalidArgumentError(
          "policy epsilon_greedy: give either epsilon (fixed) or decay (epsilon_t = "
          "min(1, decay/t)), not both");
    }
    ASSIGN_OR_RETURN(params.epsilon, p.Double("epsilon", 0.1, 0, 1));
    ASSIGN_OR_RETURN(params.decay, p.Double("decay", 0, 0, 1e12));
    canonical = params.decay > 0
                    ? absl::StrCat("epsilon_greedy:decay=", FormatNumber(params.decay))
                    : absl::StrCat("epsilon_greedy:epsilon=", FormatNumber(params.epsilon));
  } else if (f == "ucb1") {
    params.kind = Kind::kUcb1;
    ASSIGN_OR_RETURN(params.c, p.Double("c", 1, 0, 1e6));
    canonical = absl::StrCat("ucb1:c=", FormatNumber(params.c));
  } else if (f == "thompson") {
    ASSIGN_OR_RETURN(std::string reward, p.Choice("reward", "bernoulli",
                                                  {"bernoulli", "gaussian"}));
    if (reward == "bernoulli") {
      params.kind = Kind::kThompsonBernoulli;
      canonical = "thompson";
    } else {
      params.kind = Kind::kThompsonGaussian;
      ASSIGN_OR_RETURN(params.sigma, p.Double("sigma", 1, 0, 1e12, /*lo_open=*/true));
      ASSIGN_OR_RETURN(params.prior_sd, p.Double("prior_sd", 1, 0, 1e12, true));
      canonical = absl::StrCat("thompson:reward=gaussian,sigma=", FormatNumber(params.sigma),
                               ",prior_sd=", FormatNumber(params.prior_sd));
    }
  } else if (f == "softmax") {
    params.kind = Kind::kSoftmax;
    ASSIGN_OR_RETURN(params.tau, p.Double("tau", 0.1, 0, 1e12, true));
    canonical = absl::StrCat("softmax:tau=", FormatNumber(params.tau));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown policy family ", Quote(f)));
  }
  RETURN_IF_ERROR(p.CheckAllUsed());
  return std::unique_ptr<Policy>(new ArmPolicy(f, canonical, params, options));
}

}  // namespace recbandit::bandits::internal

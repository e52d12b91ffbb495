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
#include "bandits/thompson_pmf.h"
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
  double mean = 0;    // reward_sum / pulls (0 before the first pull)
  double alpha = 1;  // Beta posterior (prior Beta(1, 1))
  double beta = 1;
  GammaShape alpha_shape, beta_shape;  // of alpha and beta, for Rng::Beta

  // Recomputes mean and the shapes from the fields above (Learn updates them
  // as it goes).
  void Derive() {
    mean = pulls == 0 ? 0.0 : reward_sum / static_cast<double>(pulls);
    alpha_shape = GammaShape(alpha);
    beta_shape = GammaShape(beta);
  }
};

// Per-thread scratch for Choose (Choose is const and concurrent).
struct Scratch {
  std::vector<int32_t> index;      // arm index per offered action, -1 = unseen
  std::vector<double> a, b;        // posterior parameters per offered action
  std::vector<GammaShape> ga, gb;  // Beta-Bernoulli: a and b as Rng::Beta's shapes
  double epsilon = 0;              // epsilon-greedy's epsilon for this decision
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
    Scratch& s = GetScratch();
    s.index.resize(n);
    {
      absl::ReaderMutexLock lock(&mu_);
      FindArms(input, s);
      ReadArms(n, s, decision);
    }
    return Decide(n, seed, s, decision);  // without the lock
  }

  absl::Status Update(const DecisionInput& input, int32_t chosen,
                      double reward) override {
    RETURN_IF_ERROR(CheckReward(input, chosen, reward));
    absl::MutexLock lock(&mu_);
    Learn(FindOrAddArm(input.actions[chosen].id), reward);
    return absl::OkStatus();
  }

  std::unique_ptr<BoundPolicy> Bind(const DecisionInput& input) override {
    return std::make_unique<Binding>(*this, input);
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
      arm.Derive();
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
  // Bind's fast path: the bound actions' arms are looked up once (and kept
  // current as Update adds arms) and, its caller being the policy's only
  // user, mu_ is not taken; the decisions and updates are Choose's and
  // Update's own ReadArms, Decide and Learn. Not thread-safe.
  class Binding final : public BoundPolicy {
   public:
    Binding(ArmPolicy& policy, const DecisionInput& input) : policy_(policy) {
      bound_.actions = input.actions;
      Resolve();
    }

    absl::Status Choose(const DecisionInput& input, uint64_t seed,
                        Decision* decision) override ABSL_NO_THREAD_SAFETY_ANALYSIS {
      const int32_t n = static_cast<int32_t>(s_.index.size());
      if (n == 0 || input.actions.size() != s_.index.size()) {
        return policy_.Choose(input, seed, decision);
      }
      policy_.ReadArms(n, s_, decision);
      return policy_.Decide(n, seed, s_, decision);
    }

    absl::Status Update(const DecisionInput& input, int32_t chosen,
                        double reward) override ABSL_NO_THREAD_SAFETY_ANALYSIS {
      if (input.actions.size() != s_.index.size()) {
        RETURN_IF_ERROR(policy_.Update(input, chosen, reward));
        Resolve();  // it may have added one of the bound actions' arms
        return absl::OkStatus();
      }
      RETURN_IF_ERROR(policy_.CheckReward(input, chosen, reward));
      int32_t& arm = s_.index[chosen];
      if (arm < 0) arm = policy_.FindOrAddArm(input.actions[chosen].id);
      policy_.Learn(arm, reward);
      return absl::OkStatus();
    }

   private:
    // Looks up the bound actions' arms into s_.index.
    void Resolve() {
      s_.index.resize(bound_.actions.size());
      absl::ReaderMutexLock lock(&policy_.mu_);
      policy_.FindArms(bound_, s_);
    }

    ArmPolicy& policy_;
    DecisionInput bound_;  // the bound actions (no context)
    Scratch s_;            // s_.index: their arms
  };

  // Reads what a decision needs from the arms in s.index: Thompson's
  // posteriors into s.a and s.b, the other families' scores into
  // decision->pmf (and epsilon into s.epsilon).
  void ReadArms(int32_t n, Scratch& s, Decision* decision) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (params_.kind == Kind::kThompsonBernoulli ||
        params_.kind == Kind::kThompsonGaussian) {
      ReadPosteriors(n, s);
      return;
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
            pmf[i] = arms_[a].mean + params_.c * std::sqrt(2.0 * log_t / pulls);
          }
        }
        break;
      }
      default:
        break;
    }
    s.epsilon = CurrentEpsilon();
  }

  // Turns what ReadArms read into decision->chosen (and its pmf) with
  // Rng(seed); needs no lock.
  absl::Status Decide(int32_t n, uint64_t seed, const Scratch& s,
                      Decision* decision) const {
    Rng rng(seed);
    if (params_.kind == Kind::kThompsonBernoulli ||
        params_.kind == Kind::kThompsonGaussian) {
      return ChooseThompson(n, rng, s, decision);
    }
    std::vector<double>& pmf = decision->pmf;
    if (params_.kind == Kind::kEpsilonGreedy) {
      EpsilonGreedyPmf(pmf, s.epsilon, absl::MakeSpan(pmf));
    } else if (params_.kind == Kind::kSoftmax) {
      SoftmaxPmf(pmf, params_.tau, absl::MakeSpan(pmf));
    } else {
      GreedyPmf(pmf, absl::MakeSpan(pmf));
    }
    ApplyExplorationFloor(options_.exploration_floor, absl::MakeSpan(pmf));
    decision->chosen = SampleFromPmf(pmf, rng);
    return absl::OkStatus();
  }

  // Returns Update's argument checks.
  absl::Status CheckReward(const DecisionInput& input, int32_t chosen, double reward) const {
    RETURN_IF_ERROR(internal::CheckUpdateArgs(input, chosen, reward));
    if (params_.kind == Kind::kThompsonBernoulli && (reward < 0 || reward > 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Update: thompson (Beta-Bernoulli) needs rewards in [0, 1]; got ", reward,
          "; use thompson:reward=gaussian for real-valued rewards"));
    }
    return absl::OkStatus();
  }

  // Returns the arm of `id`, added (first-seen order) when new.
  int32_t FindOrAddArm(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto [it, inserted] = by_id_.try_emplace(id, static_cast<int32_t>(arms_.size()));
    if (inserted) {
      arms_.emplace_back();
      arms_.back().id = id;
    }
    return it->second;
  }

  // Learns `reward` (checked by CheckReward) for arm `a`.
  void Learn(int32_t a, double reward) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Arm& arm = arms_[a];
    ++arm.pulls;
    arm.reward_sum += reward;
    arm.reward_sq_sum += reward * reward;
    arm.mean = arm.reward_sum / static_cast<double>(arm.pulls);
    if (params_.kind == Kind::kThompsonBernoulli) {  // other families' rewards
      arm.alpha += reward;                            // may lie outside [0, 1]
      arm.beta += 1.0 - reward;
      arm.alpha_shape = GammaShape(arm.alpha);
      arm.beta_shape = GammaShape(arm.beta);
    }
    ++total_pulls_;
  }

  // Mean reward of arm `a`; 0 for an unseen arm.
  double Mean(int32_t a) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return a < 0 ? 0.0 : arms_[a].mean;
  }

  double CurrentEpsilon() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (params_.decay <= 0) return params_.epsilon;
    return std::min(1.0, params_.decay / static_cast<double>(total_pulls_ + 1));
  }

  // Fills s.index with each offered action's arm (-1 = unseen).
  void FindArms(const DecisionInput& input, Scratch& s) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const int32_t n = static_cast<int32_t>(input.actions.size());
    for (int32_t i = 0; i < n; ++i) {
      auto it = by_id_.find(input.actions[i].id);
      s.index[i] = it == by_id_.end() ? -1 : it->second;
    }
  }

  // Fills s.a, s.b with each offered action's posterior: Beta(a, b) for
  // Bernoulli rewards, N(mean a, sd b) for Gaussian ones.
  void ReadPosteriors(int32_t n, Scratch& s) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const bool bernoulli = params_.kind == Kind::kThompsonBernoulli;
    s.a.resize(n);
    s.b.resize(n);
    if (bernoulli) {
      s.ga.resize(n);
      s.gb.resize(n);
    }
    for (int32_t i = 0; i < n; ++i) {
      const int32_t a = s.index[i];
      if (bernoulli) {
        s.a[i] = a < 0 ? 1.0 : arms_[a].alpha;
        s.b[i] = a < 0 ? 1.0 : arms_[a].beta;
        s.ga[i] = a < 0 ? GammaShape(1.0) : arms_[a].alpha_shape;
        s.gb[i] = a < 0 ? GammaShape(1.0) : arms_[a].beta_shape;
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
  }

  // Thompson sampling on the posteriors in s.a, s.b: pmf[i] = P(action i's
  // posterior draw is the largest), computed exactly by quadrature
  // (bandits/thompson_pmf.h), floored, and the chosen action drawn from it
  // with the one sampler, so the logged pmf is the distribution the draw came
  // from. With compute_pmf = false, one posterior draw per action instead.
  absl::Status ChooseThompson(int32_t n, Rng& rng, const Scratch& s,
                              Decision* decision) const {
    const bool bernoulli = params_.kind == Kind::kThompsonBernoulli;
    if (!options_.compute_pmf) {
      // Same distribution as the floored pmf: uniform with the floor's mixture
      // weight, else one posterior draw's argmax.
      decision->pmf.clear();
      const double w = FloorMixWeight(options_.exploration_floor, n);
      if (w > 0 && rng.Uniform() < w) {
        decision->chosen = static_cast<int32_t>(rng.UniformInt(n));
        return absl::OkStatus();
      }
      int32_t best = 0;
      double best_value = -std::numeric_limits<double>::infinity();
      for (int32_t i = 0; i < n; ++i) {
        const double v =
            bernoulli ? rng.Beta(s.ga[i], s.gb[i]) : s.a[i] + s.b[i] * rng.Normal();
        if (v > best_value) {
          best_value = v;
          best = i;
        }
      }
      decision->chosen = best;
      return absl::OkStatus();
    }
    std::vector<double>& pmf = decision->pmf;
    pmf.resize(n);
    if (bernoulli) {
      BetaWinPmf(s.a, s.b, absl::MakeSpan(pmf));
    } else {
      NormalWinPmf(s.a, s.b, absl::MakeSpan(pmf));
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

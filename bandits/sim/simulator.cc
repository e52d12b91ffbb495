// Bandit simulator: the synthetic environments, the parallel runner and the
// OBD replay runner (see simulator.h).
#include "bandits/sim/simulator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "proto/core/status_macros.h"

namespace recbandit::bandits {
namespace {

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

void FillActions(int32_t n, DecisionInput* input) {
  input->actions.resize(n);
  for (int32_t a = 0; a < n; ++a) input->actions[a].id = absl::StrCat(a);
}

// Reward model of the arm environments.
enum class RewardKind { kBernoulli, kGaussian };

// Bernoulli, Gaussian and non-stationary Bernoulli arms. Thread-safe.
class ArmEnvironment final : public Environment {
 public:
  ArmEnvironment(const EnvironmentOptions& o, RewardKind kind, bool nonstationary)
      : o_(o), kind_(kind), nonstationary_(nonstationary) {
    arms_ = o.means.empty() ? o.arms : static_cast<int32_t>(o.means.size());
  }

  std::string Describe() const override {
    std::string s = absl::StrCat(o_.kind, " K=", arms_);
    if (o_.means.empty()) {
      absl::StrAppend(&s, " best=0.5 gap=", o_.gap);
    } else {
      absl::StrAppend(&s, " means=", absl::StrJoin(o_.means, ","));
    }
    if (kind_ == RewardKind::kGaussian) absl::StrAppend(&s, " sd=", o_.noise_sd);
    if (nonstationary_) {
      absl::StrAppend(&s, " change@", o_.change_step == 0 ? std::string("T/2")
                                                          : absl::StrCat(o_.change_step));
    }
    return s;
  }
  int32_t context_dim() const override { return 0; }
  int32_t num_actions() const override { return arms_; }

  double LaiRobbinsConstant() const override {
    if (kind_ != RewardKind::kBernoulli || nonstationary_) return 0;
    std::vector<double> means = o_.means;
    if (means.empty()) {
      means.assign(arms_, 0.5 - o_.gap);
      means[0] = 0.5;
    }
    const double best = *std::max_element(means.begin(), means.end());
    if (best <= 0 || best >= 1) return 0;
    double c = 0;
    for (double m : means) {
      if (m < best) c += (best - m) / BernoulliKl(m, best);
    }
    return c;
  }

  class Run final : public EnvironmentRun {
   public:
    Run(const ArmEnvironment& env, uint64_t seed, int64_t change_step)
        : env_(env), change_step_(change_step) {
      Rng rng(seed);
      means_ = env.o_.means;
      if (means_.empty()) {
        means_.assign(env.arms_, 0.5 - env.o_.gap);
        means_[rng.UniformInt(env.arms_)] = 0.5;
      }
      after_ = means_;
      if (env.nonstationary_) {
        // The best arm swaps its mean with a random other arm.
        const int32_t best = static_cast<int32_t>(
            std::max_element(means_.begin(), means_.end()) - means_.begin());
        int32_t other = static_cast<int32_t>(rng.UniformInt(env.arms_ - 1));
        if (other >= best) ++other;
        std::swap(after_[best], after_[other]);
      }
    }
    void Step(int64_t t, DecisionInput*, std::vector<double>* expected) override {
      current_ = (env_.nonstationary_ && t >= change_step_) ? &after_ : &means_;
      *expected = *current_;
    }
    double Reward(int32_t a, Rng& rng) override {
      const double m = (*current_)[a];
      if (env_.kind_ == RewardKind::kBernoulli) return rng.Uniform() < m ? 1.0 : 0.0;
      return m + env_.o_.noise_sd * rng.Normal();
    }

   private:
    const ArmEnvironment& env_;
    int64_t change_step_;
    std::vector<double> means_, after_;
    const std::vector<double>* current_ = &means_;
  };

  std::unique_ptr<EnvironmentRun> NewRun(uint64_t seed, DecisionInput* input) const override {
    FillActions(arms_, input);
    input->context.clear();
    return std::make_unique<Run>(*this, seed, change_step_);
  }

  void set_change_step(int64_t s) { change_step_ = s; }

 private:
  EnvironmentOptions o_;
  RewardKind kind_;
  bool nonstationary_;
  int32_t arms_ = 0;
  int64_t change_step_ = 1;
};

// Linear (Gaussian noise) and logistic (Bernoulli clicks) contextual arms:
// theta_a ~ N(0, I / dim) per run, contexts x ~ N(0, I) per step. Thread-safe.
class ContextualEnvironment final : public Environment {
 public:
  ContextualEnvironment(const EnvironmentOptions& o, bool logistic)
      : o_(o), logistic_(logistic) {}
  std::string Describe() const override {
    std::string s = absl::StrCat(o_.kind, " K=", o_.arms, " d=", o_.dim);
    if (!logistic_) absl::StrAppend(&s, " sd=", o_.noise_sd);
    return s;
  }
  int32_t context_dim() const override { return o_.dim; }
  int32_t num_actions() const override { return o_.arms; }

  class Run final : public EnvironmentRun {
   public:
    Run(const ContextualEnvironment& env, uint64_t seed) : env_(env), rng_(seed) {
      const int32_t k = env.o_.arms, d = env.o_.dim;
      theta_.resize(static_cast<size_t>(k) * d);
      const double scale = 1.0 / std::sqrt(static_cast<double>(d));
      for (double& v : theta_) v = scale * rng_.Normal();
    }
    void Step(int64_t, DecisionInput* input, std::vector<double>* expected) override {
      const int32_t k = env_.o_.arms, d = env_.o_.dim;
      input->context.resize(d);
      for (double& v : input->context) v = rng_.Normal();
      expected->resize(k);
      for (int32_t a = 0; a < k; ++a) {
        const double* th = theta_.data() + static_cast<size_t>(a) * d;
        double z = 0;
        for (int32_t j = 0; j < d; ++j) z += th[j] * input->context[j];
        (*expected)[a] = env_.logistic_ ? 1.0 / (1.0 + std::exp(-z)) : z;
      }
      expected_ = expected;
    }
    double Reward(int32_t a, Rng& rng) override {
      const double m = (*expected_)[a];
      if (env_.logistic_) return rng.Uniform() < m ? 1.0 : 0.0;
      return m + env_.o_.noise_sd * rng.Normal();
    }

   private:
    const ContextualEnvironment& env_;
    Rng rng_;
    std::vector<double> theta_;
    const std::vector<double>* expected_ = nullptr;
  };

  std::unique_ptr<EnvironmentRun> NewRun(uint64_t seed, DecisionInput* input) const override {
    FillActions(o_.arms, input);
    return std::make_unique<Run>(*this, seed);
  }

 private:
  EnvironmentOptions o_;
  bool logistic_;
};

// Runs fn(task) for task in [0, n) on `threads` std::threads; returns the
// first error. `progress` (may be empty) hears of each finished task, under
// the runner's lock.
absl::Status ParallelFor(int64_t n, int32_t threads,
                         const std::function<absl::Status(int64_t)>& fn,
                         const ProgressCallback& progress) {
  std::atomic<int64_t> next{0};
  absl::Mutex mu;
  absl::Status first ABSL_GUARDED_BY(mu) = absl::OkStatus();
  int64_t finished ABSL_GUARDED_BY(mu) = 0;
  auto worker = [&] {
    for (;;) {
      const int64_t i = next.fetch_add(1);
      if (i >= n) return;
      absl::Status s = fn(i);
      absl::MutexLock lock(&mu);
      if (!s.ok()) {
        if (first.ok()) first = s;
        next.store(n);
        return;
      }
      ++finished;
      if (progress) progress(finished, n);
    }
  };
  const int32_t t = static_cast<int32_t>(std::max<int64_t>(1, std::min<int64_t>(threads, n)));
  std::vector<std::thread> pool;
  for (int32_t i = 1; i < t; ++i) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  absl::MutexLock lock(&mu);
  return first;
}

// Mean and 95% normal band of `values` (sd with R - 1 denominator).
CurvePoint Summarise(int64_t t, const std::vector<double>& values) {
  CurvePoint p;
  p.t = t;
  const double n = static_cast<double>(values.size());
  double sum = 0;
  for (double v : values) sum += v;
  p.mean = sum / n;
  double ss = 0;
  for (double v : values) ss += (v - p.mean) * (v - p.mean);
  const double sd = values.size() > 1 ? std::sqrt(ss / (n - 1)) : 0;
  const double half = 1.96 * sd / std::sqrt(n);
  p.low = p.mean - half;
  p.high = p.mean + half;
  return p;
}

absl::Status CheckOptions(const std::vector<std::string>& names,
                          const std::vector<PolicyFactory>& factories,
                          const SimulationOptions& o) {
  if (names.size() != factories.size() || factories.empty()) {
    return absl::InvalidArgumentError("need one name per policy and >= 1 policy");
  }
  if (o.horizon < 1) {
    return absl::InvalidArgumentError(absl::StrCat("horizon must be >= 1; got ",
                                                   o.horizon));
  }
  if (o.runs < 1) {
    return absl::InvalidArgumentError(absl::StrCat("runs must be >= 1; got ", o.runs));
  }
  if (o.threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("threads must be >= 1; got ",
                                                   o.threads));
  }
  return absl::OkStatus();
}

// Returns `status` with the policy, run and step prefixed.
absl::Status PolicyError(const absl::Status& status, const std::string& policy, int32_t run,
                         int64_t step) {
  return absl::Status(status.code(), absl::StrCat("policy ", policy, " (run ", run, ", step ",
                                                  step, "): ", status.message()));
}

uint64_t RunSeed(uint64_t seed, int32_t run) { return Mix64(seed + static_cast<uint64_t>(run)); }

}  // namespace

double BernoulliKl(double p, double q) {
  double kl = 0;
  if (p > 0) kl += p * std::log(p / q);
  if (p < 1) kl += (1 - p) * std::log((1 - p) / (1 - q));
  return kl;
}

absl::StatusOr<std::unique_ptr<Environment>> CreateEnvironment(const EnvironmentOptions& o) {
  const bool arm_kind =
      o.kind == "bernoulli" || o.kind == "gaussian" || o.kind == "nonstationary";
  const bool contextual = o.kind == "linear" || o.kind == "logistic";
  if (!arm_kind && !contextual) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown --env '", o.kind,
        "' (bernoulli, gaussian, linear, logistic, nonstationary, obd_replay)"));
  }
  if (!o.means.empty() && !contextual) {
    if (o.means.size() < 2 || o.means.size() > 10000) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--means needs 2..10000 values; got ", o.means.size()));
    }
    for (size_t i = 0; i < o.means.size(); ++i) {
      const double m = o.means[i];
      const bool ok = o.kind == "gaussian" ? std::isfinite(m) : (m >= 0 && m <= 1);
      if (!ok) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--means[", i, "] = ", m,
            o.kind == "gaussian" ? " is not finite" : " is outside [0, 1]"));
      }
    }
  } else if (o.arms < 2 || o.arms > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--arms must be in [2, 10000]; got ", o.arms));
  }
  if (o.means.empty() && !(o.gap > 0 && o.gap <= 0.5)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--gap must be in (0, 0.5]; got ", o.gap));
  }
  if (!(o.noise_sd > 0) || !std::isfinite(o.noise_sd)) {
    return absl::InvalidArgumentError(
        absl::StrCat("noise sd must be > 0; got ", o.noise_sd));
  }
  if (contextual && (o.dim < 1 || o.dim > 1024)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dim must be in [1, 1024]; got ", o.dim));
  }
  if (o.kind == "nonstationary" && o.change_step < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("change step must be >= 1; got ", o.change_step));
  }
  if (contextual) {
    return std::unique_ptr<Environment>(
        std::make_unique<ContextualEnvironment>(o, o.kind == "logistic"));
  }
  auto env = std::make_unique<ArmEnvironment>(
      o, o.kind == "gaussian" ? RewardKind::kGaussian : RewardKind::kBernoulli,
      o.kind == "nonstationary");
  env->set_change_step(o.change_step);
  return std::unique_ptr<Environment>(std::move(env));
}

std::vector<int64_t> Checkpoints(int64_t horizon, int32_t log_points, int32_t linear_points) {
  std::vector<int64_t> t;
  const double lh = std::log(static_cast<double>(horizon));
  for (int32_t i = 0; i < log_points; ++i) {
    const double x = log_points == 1 ? lh : lh * i / (log_points - 1);
    t.push_back(std::clamp<int64_t>(std::llround(std::exp(x)), 1, horizon));
  }
  for (int32_t i = 1; i <= linear_points; ++i) {
    t.push_back(std::clamp<int64_t>(horizon * i / linear_points, 1, horizon));
  }
  t.push_back(horizon);
  std::sort(t.begin(), t.end());
  t.erase(std::unique(t.begin(), t.end()), t.end());
  return t;
}

absl::StatusOr<SimulationResult> Simulate(const Environment& env,
                                          const std::vector<std::string>& names,
                                          const std::vector<PolicyFactory>& factories,
                                          const SimulationOptions& options) {
  RETURN_IF_ERROR(CheckOptions(names, factories, options));
  const int64_t horizon = options.horizon;
  const std::vector<int64_t> checkpoints =
      Checkpoints(horizon, options.log_points, options.linear_points);
  const size_t np = factories.size();
  const int32_t runs = options.runs;
  // regret[p][r][c]
  std::vector<std::vector<std::vector<double>>> regret(
      np, std::vector<std::vector<double>>(runs));
  std::vector<double> busy(np * runs, 0);
  const auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(ParallelFor(
      static_cast<int64_t>(np) * runs, options.threads, [&](int64_t task) -> absl::Status {
        const size_t p = static_cast<size_t>(task / runs);
        const int32_t r = static_cast<int32_t>(task % runs);
        const auto t0 = std::chrono::steady_clock::now();
        ASSIGN_OR_RETURN(std::unique_ptr<Policy> policy, factories[p]());
        const uint64_t run_seed = RunSeed(options.seed, r);
        DecisionInput input;
        std::unique_ptr<EnvironmentRun> run = env.NewRun(run_seed, &input);
        // The run is the policy's only user, on this thread, and the
        // environment's actions are fixed: the policy's fast path.
        const std::unique_ptr<BoundPolicy> bound = policy->Bind(input);
        Rng reward_rng(Mix64(run_seed ^ 0x7265776172640000ULL));
        std::vector<double> expected;
        Decision decision;
        std::vector<double>& out = regret[p][r];
        out.reserve(checkpoints.size());
        size_t next_cp = 0;
        double cum = 0;
        const uint64_t choose_base = Mix64(run_seed ^ 0x63686f6f73650000ULL);
        for (int64_t t = 1; t <= horizon; ++t) {
          run->Step(t, &input, &expected);
          absl::Status status = bound->Choose(
              input, choose_base + static_cast<uint64_t>(t) * kGolden, &decision);
          const int32_t a = decision.chosen;
          if (status.ok()) {
            const double best = *std::max_element(expected.begin(), expected.end());
            cum += best - expected[a];
            status = bound->Update(input, a, run->Reward(a, reward_rng));
          }
          if (!status.ok()) return PolicyError(status, names[p], r, t);
          if (t == checkpoints[next_cp]) {
            out.push_back(cum);
            ++next_cp;
          }
        }
        busy[task] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return absl::OkStatus();
      }, options.progress));
  SimulationResult result;
  result.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.environment = env.Describe();
  result.horizon = horizon;
  result.runs = runs;
  result.lai_robbins_constant = env.LaiRobbinsConstant();
  std::vector<double> values(runs);
  for (size_t p = 0; p < np; ++p) {
    PolicyCurve curve;
    curve.policy = names[p];
    for (size_t c = 0; c < checkpoints.size(); ++c) {
      for (int32_t r = 0; r < runs; ++r) values[r] = regret[p][r][c];
      curve.points.push_back(Summarise(checkpoints[c], values));
    }
    curve.steps = horizon * runs;
    for (int32_t r = 0; r < runs; ++r) curve.busy_seconds += busy[p * runs + r];
    result.curves.push_back(std::move(curve));
  }
  return result;
}

absl::StatusOr<SimulationResult> SimulateReplay(const ObdLog& log,
                                                const std::vector<std::string>& names,
                                                const std::vector<PolicyFactory>& factories,
                                                const SimulationOptions& options) {
  RETURN_IF_ERROR(CheckOptions(names, factories, options));
  if (log.size() == 0 || log.num_items < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "replay log ", log.path, " needs rows and >= 2 items"));
  }
  const size_t np = factories.size();
  const int32_t runs = options.runs;
  const int64_t n = log.size();
  const int32_t dim = log.feature_dim;
  // clicks[p][r][m] = cumulative clicks after m + 1 matched steps.
  std::vector<std::vector<std::vector<double>>> clicks(
      np, std::vector<std::vector<double>>(runs));
  std::vector<double> busy(np * runs, 0);
  std::vector<int64_t> visited(np * runs, 0);  // rows decided on per task
  const auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(ParallelFor(
      static_cast<int64_t>(np) * runs, options.threads, [&](int64_t task) -> absl::Status {
        const size_t p = static_cast<size_t>(task / runs);
        const int32_t r = static_cast<int32_t>(task % runs);
        const auto t0 = std::chrono::steady_clock::now();
        ASSIGN_OR_RETURN(std::unique_ptr<Policy> policy, factories[p]());
        const uint64_t run_seed = RunSeed(options.seed, r);
        std::vector<int64_t> order(n);
        std::iota(order.begin(), order.end(), 0);
        Rng shuffle(run_seed);
        for (int64_t i = n - 1; i > 0; --i) {
          std::swap(order[i], order[shuffle.UniformInt(static_cast<uint64_t>(i) + 1)]);
        }
        DecisionInput input;
        FillActions(log.num_items, &input);
        input.context.resize(dim);
        const std::unique_ptr<BoundPolicy> bound = policy->Bind(input);  // as in Simulate
        Decision decision;
        const uint64_t choose_base = Mix64(run_seed ^ 0x63686f6f73650000ULL);
        std::vector<double>& out = clicks[p][r];
        double cum = 0;
        int64_t i = 0;
        for (; i < n && static_cast<int64_t>(out.size()) < options.horizon; ++i) {
          const int64_t row = order[i];
          const float* f = log.features.data() + row * dim;
          for (int32_t j = 0; j < dim; ++j) input.context[j] = f[j];
          absl::Status status = bound->Choose(
              input, choose_base + static_cast<uint64_t>(i + 1) * kGolden, &decision);
          if (!status.ok()) return PolicyError(status, names[p], r, i + 1);
          if (decision.chosen != log.item[row]) continue;  // not counted
          status = bound->Update(input, decision.chosen, log.click[row]);
          if (!status.ok()) return PolicyError(status, names[p], r, i + 1);
          cum += log.click[row];
          out.push_back(cum);
        }
        visited[task] = i;
        busy[task] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return absl::OkStatus();
      }, options.progress));
  SimulationResult result;
  result.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The last three path components (e.g. random/men/men.csv) name the log.
  std::string short_path = log.path;
  for (int slashes = 0, i = static_cast<int>(short_path.size()) - 1; i >= 0; --i) {
    if (short_path[i] == '/' && ++slashes == 3) {
      short_path = short_path.substr(i + 1);
      break;
    }
  }
  result.environment = absl::StrCat("obd_replay ", short_path, " (", n, " rows, ",
                                    log.num_items, " items)");
  result.replay = true;
  result.runs = runs;
  int64_t t_eff = options.horizon;
  for (const auto& per_policy : clicks) {
    for (const auto& c : per_policy) t_eff = std::min<int64_t>(t_eff, c.size());
  }
  if (t_eff < 1) {
    return absl::FailedPreconditionError(
        "a replay run matched no logged step; use a longer log");
  }
  result.horizon = t_eff;
  const std::vector<int64_t> checkpoints =
      Checkpoints(t_eff, options.log_points, options.linear_points);
  std::vector<double> values(runs);
  for (size_t p = 0; p < np; ++p) {
    PolicyCurve curve;
    curve.policy = names[p];
    for (int64_t t : checkpoints) {
      for (int32_t r = 0; r < runs; ++r) values[r] = clicks[p][r][t - 1] / static_cast<double>(t);
      curve.points.push_back(Summarise(t, values));
    }
    double matched = 0;
    for (int32_t r = 0; r < runs; ++r) {
      matched += static_cast<double>(clicks[p][r].size());
      curve.busy_seconds += busy[p * runs + r];
      curve.steps += visited[p * runs + r];
    }
    curve.matched_steps = matched / runs;
    result.curves.push_back(std::move(curve));
  }
  return result;
}

}  // namespace recbandit::bandits

// Bandit simulator: environments (Bernoulli, Gaussian, linear and logistic
// contextual, non-stationary, and replay of a uniformly random Open Bandit
// Dataset log after Li et al. 2011) and a runner that drives any Policy
// (through Policy::Bind: the same decision code the service uses, without the
// lock and id lookups a run that owns its policy does not need) for R seeded
// runs in parallel and summarises cumulative pseudo-regret curves with 95%
// bands.
#ifndef RECBANDIT_BANDITS_SIM_SIMULATOR_H_
#define RECBANDIT_BANDITS_SIM_SIMULATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bandits/ope/obd.h"
#include "bandits/policy.h"
#include "proto/core/progress.h"
#include "proto/core/random.h"

namespace recbandit::bandits {

// Describes the environment of a simulation. Defaults give the issue-7
// problem: 10 Bernoulli arms, best 0.5 at a seeded random index, others 0.4.
struct EnvironmentOptions {
  // "bernoulli", "gaussian", "linear", "logistic", "nonstationary",
  // "obd_replay".
  std::string kind = "bernoulli";
  // Number of arms (bernoulli, gaussian, linear, logistic, nonstationary).
  // 2..10000. Ignored when `means` is given (its length is used).
  int32_t arms = 10;
  // Arm means (bernoulli, gaussian, nonstationary before the change). Empty:
  // best arm 0.5 at a random index per run (seeded), the others 0.5 - gap.
  std::vector<double> means;
  // Gap between the best arm and the others when `means` is empty. (0, 0.5].
  double gap = 0.1;
  // Reward noise sd of gaussian, linear (and its logistic logit: none). > 0.
  double noise_sd = 1.0;
  // Context dimension of linear and logistic. 1..1024.
  int32_t dim = 8;
  // nonstationary: step (1-based) from which the means change: the best arm
  // swaps its mean with a random other arm. >= 1 (the CLI defaults it to
  // horizon / 2).
  int64_t change_step = 0;
  // obd_replay: path of a uniformly random OBD log (random/<campaign>.csv).
  std::string replay_path;
};

// One run's view of an environment. Not thread-safe (one per run).
class EnvironmentRun {
 public:
  virtual ~EnvironmentRun() = default;
  // Prepares step t (1-based): fills input->context (actions are fixed, set by
  // the environment at construction) and the expected reward of every action.
  virtual void Step(int64_t t, DecisionInput* input, std::vector<double>* expected) = 0;
  // Returns a reward draw for action `a` of the current step.
  virtual double Reward(int32_t a, Rng& rng) = 0;
};

// A simulated environment. Thread-safe (const; runs own their state).
class Environment {
 public:
  virtual ~Environment() = default;
  // Returns the kind plus parameters, e.g. "bernoulli K=10 gap=0.1".
  virtual std::string Describe() const = 0;
  // Returns the context length policies must be created with.
  virtual int32_t context_dim() const = 0;
  // Returns the number of actions offered at every step.
  virtual int32_t num_actions() const = 0;
  // Returns a fresh run whose randomness (means, theta, contexts) is a pure
  // function of `seed`; input->actions is filled here once.
  virtual std::unique_ptr<EnvironmentRun> NewRun(uint64_t seed, DecisionInput* input) const = 0;
  // Bernoulli problems with fixed means: the Lai-Robbins constant
  // sum_{a suboptimal} (mu* - mu_a) / KL(mu_a, mu*) (regret >= c ln t
  // asymptotically). Returns 0 when not applicable or the means vary per run
  // in position only (the constant does not depend on the position).
  virtual double LaiRobbinsConstant() const { return 0; }
};

// Returns the environment described by `options` (not obd_replay: see
// ReplayLog). INVALID_ARGUMENT naming the field and bound on bad options.
absl::StatusOr<std::unique_ptr<Environment>> CreateEnvironment(const EnvironmentOptions& options);

// Returns KL(Bernoulli(p) || Bernoulli(q)). REQUIRES: 0 < q < 1.
double BernoulliKl(double p, double q);

// Options of the runner.
struct SimulationOptions {
  // Steps per run (decisions). >= 1. For obd_replay: matched steps wanted; the
  // run stops earlier when the log is exhausted (one pass).
  int64_t horizon = 10000;
  // Independent runs per policy. >= 1.
  int32_t runs = 10;
  // Worker threads (explicit; >= 1).
  int32_t threads = 1;
  // Master seed: run r uses Mix64(seed + r); every policy sees the same
  // environment draws in run r (common random numbers).
  uint64_t seed = 1;
  // Log-spaced checkpoints (plus linearly spaced ones and the horizon).
  int32_t log_points = 60;
  int32_t linear_points = 60;
  // Called after each finished run of a policy with (runs finished, policies
  // x runs), from the worker thread that finished it, never two at once.
  ProgressCallback progress;
};

// One curve point: mean over runs and a 95% band mean +- 1.96 sd / sqrt(R)
// (normal interval of the mean across runs; sd with R - 1 denominator).
struct CurvePoint {
  int64_t t = 0;
  double mean = 0;
  double low = 0;
  double high = 0;
};

// The result for one policy.
struct PolicyCurve {
  std::string policy;  // canonical spec
  // Cumulative pseudo-regret (synthetic envs) or cumulative mean reward per
  // matched step (replay) at each checkpoint.
  std::vector<CurvePoint> points;
  // Total steps (replay: log rows decided on) over all runs and the seconds
  // spent in them (summed over threads), for steps/s per policy.
  int64_t steps = 0;
  double busy_seconds = 0;
  // Replay: matched steps per run (mean over runs).
  double matched_steps = 0;
};

struct SimulationResult {
  std::string environment;  // Describe()
  bool replay = false;      // curves are reward per step, not regret
  int64_t horizon = 0;      // last checkpoint (replay: min matched steps)
  int32_t runs = 0;
  double wall_seconds = 0;
  double lai_robbins_constant = 0;  // 0 when not a Bernoulli problem
  std::vector<PolicyCurve> curves;  // in policy order
};

// Returns the checkpoints 1 <= t <= horizon: log-spaced, linearly spaced and
// the horizon, sorted and unique.
std::vector<int64_t> Checkpoints(int64_t horizon, int32_t log_points, int32_t linear_points);

// Builds a fresh policy for one run. Must be callable from several threads.
using PolicyFactory = std::function<absl::StatusOr<std::unique_ptr<Policy>>()>;

// Runs every policy on `env` for options.runs runs of options.horizon steps.
// names[i] labels factories[i]. The first failing step's status is returned.
absl::StatusOr<SimulationResult> Simulate(const Environment& env,
                                          const std::vector<std::string>& names,
                                          const std::vector<PolicyFactory>& factories,
                                          const SimulationOptions& options);

// Replay (Li et al. 2011) on a uniformly random OBD log: per run the rows are
// visited once in a seeded random order (a shuffle per run); the
// policy is offered all items (ids "0".."n-1", context = the row's features)
// and a step counts only when its choice equals the logged item, then the
// policy learns the logged click. Curves: cumulative clicks / matched steps at
// matched-step checkpoints up to min(horizon, fewest matched steps of a run).
absl::StatusOr<SimulationResult> SimulateReplay(const ObdLog& log,
                                                const std::vector<std::string>& names,
                                                const std::vector<PolicyFactory>& factories,
                                                const SimulationOptions& options);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_SIM_SIMULATOR_H_

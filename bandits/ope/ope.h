// Offline policy evaluation (OPE): estimators of a target policy's mean reward
// from logged bandit rounds (IPS, clipped IPS, SNIPS, DM, DR, self-normalized
// DR, Switch-DR, Replay), each with normal and bootstrap 95% intervals (and,
// for 0/1 rewards, exact Clopper-Pearson ones: bandits/ope/intervals.h).
//
// The input is a columnar LoggedRounds: for every round the chosen action, its
// reward, its logging propensity and the target's probability of it; plus,
// for the model-based estimators, the target pmf over all actions and the
// context features of a cross-fitted reward model (FitRewardModel below,
// in bandits/ope/ope_reward_model.cc).
// Readers of OBD CSVs, exported logs and the event log fill it.
#ifndef RECBANDIT_BANDITS_OPE_OPE_H_
#define RECBANDIT_BANDITS_OPE_OPE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/core/progress.h"
#include "proto/reports.pb.h"

namespace recbandit::bandits {

// Rows of sparse probability mass functions over global action indices, in
// CSR form. Rows are shared by rounds (a round stores a row number), so a log
// whose rounds have few distinct pmfs (uniform, per-position targets) stays
// small. Thread-compatible.
struct PmfTable {
  std::vector<int64_t> offsets = {0};  // rows() + 1 entries
  std::vector<int32_t> actions;        // action index of each entry
  std::vector<double> probs;           // probability of each entry

  int64_t rows() const { return static_cast<int64_t>(offsets.size()) - 1; }
  // Appends a row and returns its number. REQUIRES: equal sizes.
  int64_t AddRow(absl::Span<const int32_t> row_actions,
                 absl::Span<const double> row_probs);
  // Returns the probability of `action` in `row` (0 when absent).
  double Prob(int64_t row, int32_t action) const;
};

// Logged rounds in columns; n = reward.size(). Thread-compatible.
struct LoggedRounds {
  // Number of distinct actions; action indices are in [0, num_actions).
  int32_t num_actions = 0;
  // Optional names of the actions (item ids), by index.
  std::vector<std::string> action_names;

  std::vector<int32_t> action;      // chosen action of each round
  std::vector<double> reward;       // observed reward of each round
  std::vector<double> propensity;   // logging probability of the chosen action, > 0
  std::vector<double> target_prob;  // target probability of the chosen action

  // Target pmf of each round as a row of `target_pmfs` (optional for IPS and
  // SNIPS; required by dm, dr, sndr, switch_dr and replay).
  PmfTable target_pmfs;
  std::vector<int64_t> target_row;

  // Full logging pmf of each round (optional): lets the support check see
  // target mass on actions the logger could (almost) never choose.
  PmfTable logging_pmfs;
  std::vector<int64_t> logging_row;

  // Reward-model context features, n x feature_dim row-major (no intercept;
  // the model adds one). feature_dim may be 0 (then the model is per action
  // means). The readers build them from each round's Context through the
  // serving feature path (RewardFeatureBuilder, bandits/ope/reward_features.h).
  int32_t feature_dim = 0;
  std::vector<float> features;

  int64_t size() const { return static_cast<int64_t>(reward.size()); }
};

// The reward model of the model-based estimators: one regression per action
// over [1, context features] (equivalently, one-hot action crossed with the
// context), cross-fitted so that a round's prediction never used that round.
struct RewardModelOptions {
  // "ridge" (closed form, any reward) or "logistic" (Newton's method with an
  // L2 penalty, rewards in [0, 1]).
  std::string kind = "ridge";
  // Cross-fitting folds, >= 2; a round's fold is a hash of (seed, round).
  int32_t folds = 5;
  // L2 penalty on the weights (the intercept included), > 0. The models fit
  // deviations from the overall mean reward (logit of it for logistic), so
  // the penalty shrinks predictions toward that mean.
  double l2 = 1.0;
  // Newton iterations of the logistic model.
  int32_t iterations = 12;
  uint64_t seed = 1;
};

// Per-round predictions of a fitted reward model.
struct RewardPredictions {
  // sum_a pi(a|x_i) q(x_i, a): the direct-method term of round i.
  std::vector<double> dm;
  // q(x_i, a_i): the prediction for the logged action.
  std::vector<double> chosen;
};

// Returns cross-fitted predictions for every round. REQUIRES a target pmf per
// round (target_row) and features of the declared size.
absl::StatusOr<RewardPredictions> FitRewardModel(const LoggedRounds& rounds,
                                                 const RewardModelOptions& options);

struct OpeOptions {
  // Estimators, reported in this order: ips, clipped_ips, snips, dm, dr, sndr,
  // switch_dr, replay. "ips" with clip > 0 is clipped and reported as
  // "clipped_ips", unless "clipped_ips" is requested too (then "ips" is not).
  std::vector<std::string> estimators = {"ips", "snips", "dm", "dr"};
  // Clip importance weights of (clipped_)ips at this value; 0 = off. "clipped_ips"
  // requires clip > 0.
  double clip = 0.0;
  // Switch-DR threshold: rounds with weight <= switch_tau get the DR
  // correction, the others only the model term. >= 0.
  double switch_tau = 10.0;
  // Poisson-bootstrap resamples for the percentile interval; 0 = normal only.
  int32_t bootstrap = 200;
  // Seeds the bootstrap, the cross-fitting folds and sampled replay choices.
  uint64_t seed = 1;
  // A round is "low support" when the target puts mass on an action whose
  // logging probability is below this.
  double support_threshold = 1e-3;
  RewardModelOptions reward_model;
  // Hears of the bootstrap's progress: (rounds resampled, n), on the calling
  // thread. May be empty.
  ProgressCallback bootstrap_progress;
};

// Returns the report (n, on-policy mean, one OpeEstimate per estimator,
// support counts and warnings); target/input fields are left to the caller.
// When every reward is 0 or 1, replay's interval is Clopper-Pearson on its
// matched rounds and every other interval also covers the Korn-Graubard
// Clopper-Pearson interval at the estimator's ess (see OpeEstimate).
// INVALID_ARGUMENT on inconsistent columns, propensities outside (0, 1],
// target probabilities outside [0, 1], non-finite rewards, unknown
// estimators, or a model-based estimator without target pmfs.
absl::StatusOr<OpeReport> Evaluate(const LoggedRounds& rounds,
                                   const OpeOptions& options);

// Returns true when one of `estimators` uses the reward model (dm, dr, sndr,
// switch_dr), i.e. needs LoggedRounds::features.
bool NeedsRewardModel(const std::vector<std::string>& estimators);

// Returns the names Evaluate accepts, for help texts.
const std::vector<std::string>& KnownEstimators();

// Returns OK when every column is consistent and every value in range (the
// first bad round is named, 0-based).
absl::Status ValidateRounds(const LoggedRounds& rounds);

// Fills rounds->target_prob from the target pmf rows.
void FillTargetProbFromRows(LoggedRounds* rounds);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_OPE_OPE_H_

// Off-policy evaluation of slate (ranked list) policies from logged slates:
// standard slate IPS ("sips"), independent IPS ("iips"), reward-interaction
// IPS ("rips"), the pseudo-inverse estimator ("pi") and their self-normalised
// forms ("snsips", "sniips", "snrips", "snpi"). Each estimates the target's
// expected slate reward (the sum of its position rewards) with a standard
// error, normal and Poisson-bootstrap 95% intervals, the effective sample size
// and the largest weight, reported as the OpeReport of bandits/ope/ope.h.
//
//   SlateRounds rounds;  // filled by a log reader: one CSR row per slate
//   SlateOpeOptions options;
//   options.estimators = {"iips", "pi"};
//   ASSIGN_OR_RETURN(OpeReport report, EvaluateSlates(rounds, options));
//
// Which estimator is unbiased depends on how rewards arise (Li et al. 2018,
// "Offline evaluation of ranking policies with click models"; Swaminathan et
// al. 2017, "Off-policy evaluation for slate recommendation"; McInerney et
// al. 2020, "Counterfactual evaluation of slate recommendations with
// sequential reward interactions"):
//   sips: any reward; the product of the whole slate's conditional ratios
//         (unbiased always, but its weights explode with the slate size).
//   iips: position k's reward depends only on the item at k (e.g. the
//         position-based click model); marginal ratios per position.
//   rips: position k's reward depends only on the items at positions <= k
//         (e.g. cascades read top-down); prefix ratios per position.
//   pi:   slate reward additive over (position, item); needs to know how the
//         logger drew slates (SlateLogger).
#ifndef RECBANDIT_BANDITS_OPE_SLATE_OPE_H_
#define RECBANDIT_BANDITS_OPE_SLATE_OPE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/core/progress.h"
#include "proto/reports.pb.h"

namespace recbandit::bandits {

// How the logging policy drew its slates. The pseudo-inverse estimator needs
// it; it also fills in logging marginals that were not recorded.
enum class SlateLogger {
  // Not known: "pi" and "snpi" are unavailable.
  kUnknown,
  // Positions drawn independently of each other (a slate's probability is the
  // product of its positions' marginals, so mu(s_k | s_<k) = mu_k(s_k)).
  // Includes deterministic loggers, whose every propensity is 1.
  // PI weight: w = sum_k pi_k(s_k) / mu_k(s_k) - K + 1.
  kProduct,
  // A uniformly random ordered slate of K distinct items out of the round's m
  // candidates (m > K): mu(s_k | s_<k) = 1 / (m - k), mu_k(s_k) = 1 / m.
  // PI weight: w = sum_k [(m - 1) pi_k(s_k) + (m - 1) / (m - K) Q(s_k)]
  //                - (K - 1) m / (m - K),
  // with Q(a) = sum_j pi_j(a) (target_item_total). It satisfies
  // E_mu[w 1{s_j = a}] = pi_j(a) for every position j and item a.
  kUniformWithoutReplacement,
};

// Logged slates in columns; thread-compatible. Round i shows K_i >= 1 items
// at positions 0..K_i-1, stored at entries offsets[i] .. offsets[i+1]-1 of
// every per-position column, in slate order. A per-position column is either
// empty (not recorded) or has one entry per position (offsets.back()).
struct SlateRounds {
  SlateLogger logger = SlateLogger::kUnknown;
  // size() + 1 entries: offsets[0] = 0, non-decreasing by at least 1.
  std::vector<int64_t> offsets = {0};
  // Per round, for kUniformWithoutReplacement: the number m_i > K_i of
  // candidates the slate was drawn from. May be empty for other loggers.
  std::vector<int32_t> candidates;

  // Per position. The observed reward, finite, usually a click (0 or 1).
  // Required.
  std::vector<double> reward;
  // Logging probability of this position's item given the items above it,
  // mu(s_k | s_<k), in (0, 1] (what our slate logger records). For sips and
  // rips; with kProduct it also stands in for a missing logging_marginal.
  std::vector<double> logging_conditional;
  // Logging probability that this item is at this position, mu_k(s_k), in
  // (0, 1]. For iips and pi. Optional: kProduct uses logging_conditional,
  // kUniformWithoutReplacement 1 / m_i.
  std::vector<double> logging_marginal;
  // Target probability of this position's item given the logged items above
  // it, pi(s_k | s_<k), in [0, 1]. For sips and rips.
  std::vector<double> target_conditional;
  // Target probability that this item is at this position, pi_k(s_k), in
  // [0, 1]. For iips and pi.
  std::vector<double> target_marginal;
  // Target probability summed over all positions of the slate for this
  // position's item, Q(s_k) = sum_j pi_j(s_k), in [target_marginal, K_i].
  // For pi with kUniformWithoutReplacement.
  std::vector<double> target_item_total;

  // Returns the number of rounds (slates).
  int64_t size() const { return static_cast<int64_t>(offsets.size()) - 1; }
  // Returns the number of positions over all rounds.
  int64_t positions() const { return offsets.back(); }
  // Returns K_i, the slate size of round i. REQUIRES: 0 <= i < size().
  int64_t slate_size(int64_t i) const { return offsets[i + 1] - offsets[i]; }
};

struct SlateOpeOptions {
  // Estimators, reported in this order; any of KnownSlateEstimators(). "pi"
  // and "snpi" need rounds.logger != kUnknown.
  std::vector<std::string> estimators = {"sips", "iips", "rips"};
  // Poisson-bootstrap resamples for the percentile interval, >= 0; 0 = the
  // normal interval only.
  int32_t bootstrap = 200;
  // Seeds the bootstrap.
  uint64_t seed = 1;
  // Hears of the bootstrap's progress: (rounds resampled, n), on the calling
  // thread. May be empty.
  ProgressCallback bootstrap_progress;
};

// Returns the report: n (rounds), on_policy_mean (the mean logged slate
// reward), one OpeEstimate per requested estimator and warnings (effective
// sample size under 1% of n). Every value estimates the target's expected
// slate reward; self-normalised forms divide by the mean of their weights,
// per position for sniips and snrips (a position a slate does not have counts
// with weight 1). std_error comes from the influence function (delta method
// for the ratios); ess is (sum w)^2 / sum w^2 of the slate weights (sips, pi)
// or the smallest such over positions (iips, rips). When every reward is 0
// or 1, binary_ci_low/high are Kbar times the Korn-Graubard Clopper-Pearson
// interval of the per-position click rate value / Kbar at ess trials (Kbar =
// mean slate size), and ci_low/ci_high are the hull of it and the bootstrap
// (or normal) interval, as in Evaluate. INVALID_ARGUMENT, naming the round
// and position: see ValidateSlateRounds; also unknown estimators, a column an
// estimator needs that is missing, pi without a logger kind, bootstrap < 0.
absl::StatusOr<OpeReport> EvaluateSlates(const SlateRounds& rounds,
                                         const SlateOpeOptions& options);

// Returns OK when the columns are consistent and every value in range:
// offsets, column lengths, propensities in (0, 1], target probabilities in
// [0, 1], finite rewards, m_i > K_i for kUniformWithoutReplacement (whose
// recorded propensities must then be 1/(m_i - k) and 1/m_i), and conditional
// = marginal for kProduct when both are recorded. The first bad round (and
// position) is named, 0-based.
absl::Status ValidateSlateRounds(const SlateRounds& rounds);

// Returns the pseudo-inverse weight w_i of every round (see SlateLogger).
// INVALID_ARGUMENT when the rounds are invalid, the logger is kUnknown or a
// needed column is missing.
absl::StatusOr<std::vector<double>> PseudoInverseWeights(const SlateRounds& rounds);

// Returns the names EvaluateSlates accepts, for help texts.
const std::vector<std::string>& KnownSlateEstimators();

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_OPE_SLATE_OPE_H_

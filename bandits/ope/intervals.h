// Exact binomial confidence intervals: the regularized incomplete beta function,
// its inverse (the beta quantile) and the Clopper-Pearson interval built on them.
//
// ClopperPearson accepts non-integer counts so that it serves the Korn-Graubard
// form for weighted estimates: successes = p_hat * n_eff, trials = n_eff, where
// n_eff is the effective sample size of the weights. All functions here are
// pure and thread-safe.
#ifndef RECBANDIT_BANDITS_OPE_INTERVALS_H_
#define RECBANDIT_BANDITS_OPE_INTERVALS_H_

namespace recbandit::bandits {

// Returns I_x(a, b) = B(x; a, b) / B(a, b), the regularized incomplete beta
// function (the Beta(a, b) distribution function at x), to about 1e-14
// absolute. REQUIRES: a > 0, b > 0, 0 <= x <= 1; NaN otherwise.
double RegularizedIncompleteBeta(double a, double b, double x);

// Returns the x in [0, 1] with I_x(a, b) = p: the p-quantile of Beta(a, b),
// to the nearest double where I is steep and to about 1e-14 in I where it is
// flat. REQUIRES: a > 0, b > 0, 0 <= p <= 1; NaN otherwise.
double BetaQuantile(double a, double b, double p);

// A closed interval [low, high].
struct Interval {
  double low = 0;
  double high = 0;
};

// Returns the Clopper-Pearson ("exact") two-sided interval at `confidence`
// (e.g. 0.95) for a binomial proportion seen as `successes` of `trials`:
// [BetaQuantile(x, n - x + 1, alpha/2), BetaQuantile(x + 1, n - x, 1 - alpha/2)]
// with alpha = 1 - confidence. Non-integer counts are allowed (Korn-Graubard).
// Edge cases are exact: x = 0 gives low = 0 and high = 1 - (alpha/2)^(1/n);
// x = n gives low = (alpha/2)^(1/n) and high = 1. successes is clamped into
// [0, trials]; trials <= 0 or NaN (no information) gives [0, 1].
// REQUIRES: 0 < confidence < 1.
Interval ClopperPearson(double successes, double trials, double confidence = 0.95);

// Returns the Korn-Graubard interval of a weighted proportion estimated as
// `estimate` (clamped into [0, 1]) with standard error `std_error`: Clopper-
// Pearson at the effective sample size estimate (1 - estimate) / std_error^2,
// at most `max_n`; when that is undefined (an estimate of 0 or 1, or no
// spread) at `fallback_n` (e.g. the weights' effective sample size). Never
// a single point while the sample size is finite.
Interval KornGraubard(double estimate, double std_error, double fallback_n, double max_n,
                      double confidence = 0.95);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_OPE_INTERVALS_H_

// Always-valid inference for A/B comparisons watched continuously: the
// mixture sequential probability ratio test (mSPRT) of a difference of two
// means and the confidence sequence it implies (Johari, Pekelis & Walsh,
// "Always valid inference", 2017; normal approximation with plug-in
// variances). Unlike a fixed-sample z interval, the probability that the
// sequence ever excludes the true difference, however often it is looked
// at, stays at most alpha (asymptotically). Pure functions; thread-safe.
#ifndef RECBANDIT_BANDITS_CONFIDENCE_SEQUENCE_H_
#define RECBANDIT_BANDITS_CONFIDENCE_SEQUENCE_H_

#include <cstdint>

namespace recbandit::bandits {

// Count, mean and variance (population form) of one arm's observations.
struct ArmSummary {
  int64_t n = 0;
  double mean = 0;
  double variance = 0;
};

// Accumulates observations into an ArmSummary. Thread-compatible.
class RunningMoments {
 public:
  void Add(double x) {
    ++n_;
    sum_ += x;
    sum_sq_ += x * x;
  }
  // Adds a change of one observation from `before` to `after` (a reward
  // that grew), without counting a new observation.
  void Replace(double before, double after) {
    sum_ += after - before;
    sum_sq_ += after * after - before * before;
  }
  // Counts `k` observations of 0.
  void AddZeros(int64_t k) { n_ += k; }
  // Adds every observation of `other`.
  void Merge(const RunningMoments& other) {
    n_ += other.n_;
    sum_ += other.sum_;
    sum_sq_ += other.sum_sq_;
  }
  // Summary over `n` observations, where those never added are 0
  // (REQUIRES n >= the count added).
  ArmSummary SummaryOver(int64_t n) const;
  int64_t n() const { return n_; }

 private:
  int64_t n_ = 0;
  double sum_ = 0, sum_sq_ = 0;
};

// A 1 - alpha confidence sequence of mean(treatment) - mean(baseline).
struct DifferenceInterval {
  double difference = 0;
  double low = 0, high = 0;
  bool defined = false;  // false until each arm has 2 observations
};

// Returns the mSPRT confidence sequence at the current counts: with
// V = var_t / n_t + var_b / n_b and a normal mixture of variance tau^2 over
// the difference, the set of d whose mixture likelihood ratio stays below
// 1/alpha, i.e. |difference - d| <= sqrt(2 V (V + tau^2) / tau^2 *
// log(sqrt((V + tau^2) / V) / alpha)). tau = effect_size * the pooled
// standard deviation. Variances are floored at `variance_floor` (> 0) so
// that arms without spread (all zeros) still get an interval that shrinks
// only with their counts. REQUIRES alpha in (0, 1), effect_size > 0.
DifferenceInterval MixtureSprtInterval(const ArmSummary& baseline, const ArmSummary& treatment,
                                       double alpha, double effect_size,
                                       double variance_floor);

// The summary of `failures` 0/1 outcomes among `n`, with the variance of the
// smoothed rate (failures + 0.5) / (n + 1), never 0.
ArmSummary BernoulliSummary(int64_t failures, int64_t n);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_CONFIDENCE_SEQUENCE_H_

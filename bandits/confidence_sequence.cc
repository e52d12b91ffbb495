// The mixture SPRT confidence sequence of bandits/confidence_sequence.h.
#include "bandits/confidence_sequence.h"

#include <algorithm>
#include <cmath>

namespace recbandit::bandits {

ArmSummary RunningMoments::SummaryOver(int64_t n) const {
  ArmSummary s;
  s.n = n;
  if (n <= 0) return s;
  s.mean = sum_ / n;
  s.variance = std::max(0.0, sum_sq_ / n - s.mean * s.mean);
  return s;
}

ArmSummary BernoulliSummary(int64_t failures, int64_t n) {
  ArmSummary s;
  s.n = n;
  if (n <= 0) return s;
  s.mean = static_cast<double>(failures) / n;
  const double smoothed = (failures + 0.5) / (n + 1.0);
  s.variance = smoothed * (1 - smoothed);
  return s;
}

DifferenceInterval MixtureSprtInterval(const ArmSummary& baseline, const ArmSummary& treatment,
                                       double alpha, double effect_size,
                                       double variance_floor) {
  DifferenceInterval out;
  out.difference = treatment.mean - baseline.mean;
  if (baseline.n < 2 || treatment.n < 2) return out;
  const double var_b = std::max(baseline.variance, variance_floor);
  const double var_t = std::max(treatment.variance, variance_floor);
  const double v = var_t / treatment.n + var_b / baseline.n;
  const double pooled =
      (var_b * baseline.n + var_t * treatment.n) / static_cast<double>(baseline.n + treatment.n);
  const double tau2 = effect_size * effect_size * pooled;
  const double half =
      std::sqrt(2 * v * (v + tau2) / tau2 * std::log(std::sqrt((v + tau2) / v) / alpha));
  out.low = out.difference - half;
  out.high = out.difference + half;
  out.defined = true;
  return out;
}

}  // namespace recbandit::bandits

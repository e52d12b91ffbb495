// Scores-to-pmf helpers and the seeded sampler (see explore.h).
#include "bandits/explore.h"

#include <algorithm>
#include <cmath>

namespace recbandit::bandits {

int32_t SampleFromPmf(absl::Span<const double> pmf, Rng& rng) {
  const double u = rng.Uniform();
  double cumulative = 0;
  int32_t last_positive = 0;
  const int32_t n = static_cast<int32_t>(pmf.size());
  for (int32_t i = 0; i < n; ++i) {
    if (pmf[i] > 0) {
      cumulative += pmf[i];
      last_positive = i;
      if (u < cumulative) return i;
    }
  }
  return last_positive;
}

void GreedyPmf(absl::Span<const double> scores, absl::Span<double> pmf) {
  const size_t n = scores.size();
  double best = scores[0];
  int64_t ties = 1;
  for (size_t i = 1; i < n; ++i) {
    if (scores[i] > best) {
      best = scores[i];
      ties = 1;
    } else if (scores[i] == best) {
      ++ties;
    }
  }
  const double p = 1.0 / static_cast<double>(ties);
  for (size_t i = 0; i < n; ++i) pmf[i] = scores[i] == best ? p : 0.0;
}

void EpsilonGreedyPmf(absl::Span<const double> scores, double epsilon,
                      absl::Span<double> pmf) {
  GreedyPmf(scores, pmf);
  const double base = epsilon / static_cast<double>(pmf.size());
  for (double& p : pmf) p = base + (1.0 - epsilon) * p;
}

void SoftmaxPmf(absl::Span<const double> scores, double tau, absl::Span<double> pmf) {
  const double best = *std::max_element(scores.begin(), scores.end());
  double total = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    pmf[i] = std::exp((scores[i] - best) / tau);
    total += pmf[i];
  }
  const double inv = 1.0 / total;
  for (double& p : pmf) p *= inv;
}

double FloorMixWeight(double floor, int64_t n) {
  if (!(floor > 0) || n <= 0) return 0.0;
  const double f = std::min(floor, 1.0 / static_cast<double>(n));
  return std::min(1.0, static_cast<double>(n) * f);
}

void ApplyExplorationFloor(double floor, absl::Span<double> pmf) {
  const int64_t n = static_cast<int64_t>(pmf.size());
  const double w = FloorMixWeight(floor, n);
  if (w <= 0) return;
  const double add = w / static_cast<double>(n);
  for (double& p : pmf) p = (1.0 - w) * p + add;
}

void MixTowardAction(double weight, int32_t action, absl::Span<double> pmf) {
  for (double& p : pmf) p *= weight;
  pmf[action] += 1.0 - weight;
}

}  // namespace recbandit::bandits

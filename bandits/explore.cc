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

void DrawSlate(absl::Span<const double> policy_pmf, int32_t size, double weight, uint64_t seed,
               std::vector<int32_t>* slate, std::vector<double>* propensities,
               std::vector<double>* first_pmf) {
  const int32_t n = static_cast<int32_t>(policy_pmf.size());
  slate->clear();
  propensities->clear();
  std::vector<char> taken(n, 0);
  std::vector<double> q(n);
  Rng rng(seed);
  for (int32_t position = 0; position < size; ++position) {
    const int32_t remaining = n - position;
    double mass = 0;
    int32_t best = -1;
    for (int32_t i = 0; i < n; ++i) {
      if (taken[i]) continue;
      mass += policy_pmf[i];
      if (best < 0) best = i;
    }
    // The policy's pmf over the remaining candidates (its exploration floor
    // included), renormalised; then the model's best keeps 1 - weight of it.
    for (int32_t i = 0; i < n; ++i) {
      q[i] = taken[i] ? 0.0 : mass > 0 ? policy_pmf[i] / mass : 1.0 / remaining;
    }
    MixTowardAction(weight, best, absl::MakeSpan(q));
    if (position == 0) first_pmf->assign(q.begin(), q.end());
    const int32_t chosen = SampleFromPmf(q, rng);
    slate->push_back(chosen);
    propensities->push_back(q[chosen]);
    taken[chosen] = 1;
  }
}

void DrawExploringSlate(int32_t size, int32_t pool, double epsilon, uint64_t seed,
                        std::vector<int32_t>* slate, std::vector<double>* conditionals,
                        std::vector<double>* marginals) {
  Rng rng(seed);
  slate->clear();
  conditionals->clear();
  marginals->clear();
  const double coin[2] = {1 - epsilon, epsilon};
  const bool random = epsilon > 0 && SampleFromPmf(coin, rng) == 1;
  if (random) {
    std::vector<bool> taken(pool, false);
    std::vector<double> uniform(pool);
    for (int32_t j = 0; j < size; ++j) {
      for (int32_t i = 0; i < pool; ++i) uniform[i] = taken[i] ? 0.0 : 1.0 / (pool - j);
      const int32_t pick = SampleFromPmf(uniform, rng);
      taken[pick] = true;
      slate->push_back(pick);
    }
  } else {
    for (int32_t j = 0; j < size; ++j) slate->push_back(j);
  }
  // P(prefix of length j) = (1 - eps) [prefix is the model's] + eps U_j,
  // U_j = 1 / (pool (pool - 1) ... (pool - j + 1)).
  double uniform_prefix = 1;
  bool model_prefix = true;
  double previous = 1;
  for (int32_t j = 0; j < size; ++j) {
    const int32_t index = (*slate)[j];
    uniform_prefix /= (pool - j);
    model_prefix = model_prefix && index == j;
    const double prefix = (1 - epsilon) * (model_prefix ? 1 : 0) + epsilon * uniform_prefix;
    conditionals->push_back(prefix / previous);
    previous = prefix;
    marginals->push_back(ExploringSlateMarginal(index, j, pool, epsilon));
  }
}

double ExploringSlateMarginal(int32_t index, int32_t position, int32_t pool, double epsilon) {
  return (1 - epsilon) * (index == position ? 1 : 0) + (index < pool ? epsilon / pool : 0);
}

void MixNewItems(absl::Span<const int32_t> base, absl::Span<const double> base_conditionals,
                 const std::function<double(int32_t index, int32_t position)>& base_marginal,
                 int32_t first_new, int32_t num_new, int32_t size, double share, uint64_t seed,
                 std::vector<int32_t>* slate, std::vector<double>* conditionals,
                 std::vector<double>* marginals) {
  slate->clear();
  conditionals->clear();
  marginals->clear();
  const int32_t num_base = static_cast<int32_t>(base.size());
  const int32_t n = std::min(size, num_base + num_new);
  // P(position j is a new item | m new items above it): share while both
  // kinds remain, else 0 or 1.
  auto new_probability = [&](int32_t j, int32_t m) {
    const bool base_left = j - m < num_base, new_left = m < num_new;
    return base_left && new_left ? share : new_left ? 1.0 : 0.0;
  };
  // above[m]: P(m new items above the current position), m = 0..j.
  std::vector<double> above(1, 1.0), next;
  Rng rng(seed);
  std::vector<bool> shown(num_new, false);
  std::vector<double> uniform(num_new);
  int32_t m = 0;  // new items shown so far
  for (int32_t j = 0; j < n; ++j) {
    const double p_new = new_probability(j, m);
    const double coin[2] = {1 - p_new, p_new};
    // Exactly one draw for the kind, one more for a new item: the same
    // seed replays the slate.
    const bool is_new = SampleFromPmf(coin, rng) == 1;
    if (is_new) {
      for (int32_t t = 0; t < num_new; ++t) uniform[t] = shown[t] ? 0.0 : 1.0 / (num_new - m);
      const int32_t t = SampleFromPmf(uniform, rng);
      shown[t] = true;
      slate->push_back(first_new + t);
      conditionals->push_back(p_new / (num_new - m));
      // A new item is equally likely to be any of the draws: the marginal
      // of this one at j is P(position j is new) / num_new.
      double p = 0;
      for (int32_t a = 0; a <= j; ++a) p += above[a] * new_probability(j, a);
      marginals->push_back(p / num_new);
      ++m;
    } else {
      const int32_t b = j - m;
      slate->push_back(base[b]);
      conditionals->push_back((1 - p_new) * base_conditionals[b]);
      // The item sits at base position j - a when a new items are above it.
      double p = 0;
      for (int32_t a = std::max(0, j - num_base + 1); a <= j; ++a) {
        p += above[a] * (1 - new_probability(j, a)) * base_marginal(base[b], j - a);
      }
      marginals->push_back(p);
    }
    next.assign(j + 2, 0.0);
    for (int32_t a = 0; a <= j; ++a) {
      next[a] += above[a] * (1 - new_probability(j, a));
      next[a + 1] += above[a] * new_probability(j, a);
    }
    above.swap(next);
  }
}

}  // namespace recbandit::bandits

// The planted position-based click world and the interleaving vs A/B error
// rates (see interleaving_simulation.h).
#include "bandits/sim/interleaving_simulation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "bandits/interleaving.h"

namespace recbandit::bandits {
namespace {

absl::Status OutOfRange(const char* field, double value, const char* bound) {
  return absl::InvalidArgumentError(absl::StrFormat("%s must be %s, got %g", field, bound, value));
}

// Writes into `top` the indices of the `k` largest `scores`, best first.
void TopK(const std::vector<double>& scores, int32_t k, std::vector<int32_t>* order,
          int32_t* top) {
  std::iota(order->begin(), order->end(), 0);
  std::partial_sort(order->begin(), order->begin() + k, order->end(),
                    [&](int32_t x, int32_t y) { return scores[x] > scores[y]; });
  std::copy(order->begin(), order->begin() + k, top);
}

}  // namespace

absl::StatusOr<PbmWorld> PbmWorld::Create(const PbmWorldOptions& o) {
  if (o.queries < 1 || o.queries > 100000) return OutOfRange("queries", o.queries, "in 1..100000");
  if (o.slate_size < 1 || o.slate_size > 100) {
    return OutOfRange("slate_size", o.slate_size, "in 1..100");
  }
  if (o.items < o.slate_size || o.items > 100000) {
    return OutOfRange("items", o.items, "in slate_size..100000");
  }
  if (!std::isfinite(o.logit_mean)) return OutOfRange("logit_mean", o.logit_mean, "finite");
  if (!(o.logit_sd >= 0) || !std::isfinite(o.logit_sd)) {
    return OutOfRange("logit_sd", o.logit_sd, "finite and >= 0");
  }
  if (!(o.examination_decay >= 0) || !std::isfinite(o.examination_decay)) {
    return OutOfRange("examination_decay", o.examination_decay, "finite and >= 0");
  }
  if (!(o.a_noise_sd >= 0) || !std::isfinite(o.a_noise_sd)) {
    return OutOfRange("a_noise_sd", o.a_noise_sd, "finite and >= 0");
  }
  if (!(o.b_extra_noise_sd >= 0) || !std::isfinite(o.b_extra_noise_sd)) {
    return OutOfRange("b_extra_noise_sd", o.b_extra_noise_sd, "finite and >= 0");
  }
  if (!(o.activity_shape >= 0) || !std::isfinite(o.activity_shape)) {
    return OutOfRange("activity_shape", o.activity_shape, "finite and >= 0");
  }
  PbmWorld w(o);
  const int32_t k = o.slate_size;
  w.examination_.resize(k);
  for (int32_t j = 0; j < k; ++j) w.examination_[j] = std::pow(j + 1.0, -o.examination_decay);
  w.attractiveness_.resize(static_cast<size_t>(o.queries) * o.items);
  w.top_a_.resize(static_cast<size_t>(o.queries) * k);
  w.top_b_.resize(static_cast<size_t>(o.queries) * k);
  std::vector<double> logit(o.items), score_a(o.items), score_b(o.items);
  std::vector<int32_t> order(o.items);
  Rng rng(o.seed);
  double clicks_a = 0, clicks_b = 0, overlap = 0;
  for (int32_t q = 0; q < o.queries; ++q) {
    double* attr = &w.attractiveness_[static_cast<size_t>(q) * o.items];
    for (int32_t i = 0; i < o.items; ++i) {
      logit[i] = o.logit_mean + o.logit_sd * rng.Normal();
      attr[i] = 1.0 / (1.0 + std::exp(-logit[i]));
    }
    for (int32_t i = 0; i < o.items; ++i) score_a[i] = logit[i] + o.a_noise_sd * rng.Normal();
    for (int32_t i = 0; i < o.items; ++i) {
      score_b[i] = score_a[i] + o.b_extra_noise_sd * rng.Normal();
    }
    int32_t* top_a = &w.top_a_[static_cast<size_t>(q) * k];
    int32_t* top_b = &w.top_b_[static_cast<size_t>(q) * k];
    TopK(score_a, k, &order, top_a);
    TopK(score_b, k, &order, top_b);
    for (int32_t j = 0; j < k; ++j) {
      clicks_a += w.ExpectedClick(w.examination_[j] * attr[top_a[j]]);
      clicks_b += w.ExpectedClick(w.examination_[j] * attr[top_b[j]]);
      overlap += std::count(top_b, top_b + k, top_a[j]);
    }
  }
  w.expected_clicks_a_ = clicks_a / o.queries;
  w.expected_clicks_b_ = clicks_b / o.queries;
  w.top_overlap_ = overlap / (static_cast<double>(o.queries) * k);
  return w;
}

absl::Span<const int32_t> PbmWorld::TopA(int32_t q) const {
  return absl::MakeConstSpan(top_a_).subspan(static_cast<size_t>(q) * options_.slate_size,
                                             options_.slate_size);
}

absl::Span<const int32_t> PbmWorld::TopB(int32_t q) const {
  return absl::MakeConstSpan(top_b_).subspan(static_cast<size_t>(q) * options_.slate_size,
                                             options_.slate_size);
}

double PbmWorld::ExpectedClick(double p) const {
  const double shape = options_.activity_shape;
  if (shape == 0) return p;
  return 1.0 - std::pow(1.0 - std::log1p(-p) / shape, -shape);
}

std::string PbmWorld::Describe() const {
  const PbmWorldOptions& o = options_;
  return absl::StrFormat(
      "PBM world: %d queries x %d items, slate %d, attractiveness sigmoid(%g + %g N(0,1)), "
      "examination 1/(k+1)^%g; A = true logit + N(0,%g^2), B = A's score + N(0,%g^2); "
      "user activity %s; "
      "expected clicks/impression A %.4f, B %.4f (A +%.2f%%); top-%d overlap %.2f; seed %d",
      o.queries, o.items, o.slate_size, o.logit_mean, o.logit_sd, o.examination_decay,
      o.a_noise_sd, o.b_extra_noise_sd,
      o.activity_shape == 0 ? std::string("none (all users alike)")
                            : absl::StrFormat("Gamma(%g)/%g (sd %.2f)", o.activity_shape,
                                              o.activity_shape, 1 / std::sqrt(o.activity_shape)),
      expected_clicks_a_, expected_clicks_b_,
      100.0 * (expected_clicks_a_ / expected_clicks_b_ - 1.0), o.slate_size, top_overlap_,
      o.seed);
}

void PbmWorld::Click(int32_t q, absl::Span<const int32_t> slate, Rng& rng,
                     std::vector<int32_t>* clicked) const {
  clicked->clear();
  const double* attr = &attractiveness_[static_cast<size_t>(q) * options_.items];
  const double shape = options_.activity_shape;
  if (shape == 0) {
    for (int32_t j = 0; j < static_cast<int32_t>(slate.size()); ++j) {
      if (rng.Uniform() < attr[slate[j]] * examination_[j]) clicked->push_back(j);
    }
    return;
  }
  const double m = rng.Gamma(shape) / shape;
  for (int32_t j = 0; j < static_cast<int32_t>(slate.size()); ++j) {
    const double p = 1.0 - std::pow(1.0 - attr[slate[j]] * examination_[j], m);
    if (rng.Uniform() < p) clicked->push_back(j);
  }
}

absl::StatusOr<std::vector<double>> ComparisonErrorRates(const PbmWorld& world,
                                                         ComparisonMethod method,
                                                         absl::Span<const int64_t> budgets,
                                                         int32_t repetitions, uint64_t seed,
                                                         double stop_at_error) {
  if (budgets.empty()) return absl::InvalidArgumentError("budgets must not be empty");
  for (size_t i = 0; i < budgets.size(); ++i) {
    if (budgets[i] < 2 || budgets[i] % 2 != 0 || (i > 0 && budgets[i] <= budgets[i - 1])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "budgets must be even, >= 2 and increasing; budgets[%d] = %d", i, budgets[i]));
    }
  }
  if (repetitions < 1) return OutOfRange("repetitions", repetitions, ">= 1");
  if (world.ExpectedClicksA() == world.ExpectedClicksB()) {
    return absl::InvalidArgumentError("the rankers have equal expected clicks: no better one");
  }
  const bool a_better = world.ExpectedClicksA() > world.ExpectedClicksB();
  struct Run {
    Rng rng;
    int64_t score_a = 0;  // team wins, or clicks
    int64_t score_b = 0;
  };
  std::vector<Run> runs;
  runs.reserve(repetitions);
  for (int32_t r = 0; r < repetitions; ++r) {
    runs.push_back(Run{Rng(Mix64(seed + static_cast<uint64_t>(r)))});
  }
  std::vector<double> errors;
  std::vector<int32_t> clicked;
  clicked.reserve(world.slate_size());
  int64_t done = 0;  // impressions every run has streamed
  for (const int64_t budget : budgets) {
    double error = 0;
    for (Run& run : runs) {
      for (int64_t t = done + 1; t <= budget; ++t) {
        const int32_t q = static_cast<int32_t>(run.rng.UniformInt(world.queries()));
        if (method == ComparisonMethod::kAbSplit) {
          const bool show_a = (t % 2) == 1;
          world.Click(q, show_a ? world.TopA(q) : world.TopB(q), run.rng, &clicked);
          (show_a ? run.score_a : run.score_b) += static_cast<int64_t>(clicked.size());
        } else {
          auto slate =
              TeamDraftInterleave(world.TopA(q), world.TopB(q), world.slate_size(), run.rng());
          if (!slate.ok()) return slate.status();
          world.Click(q, slate->items, run.rng, &clicked);
          auto outcome = CreditClicks(slate->teams, clicked);
          if (!outcome.ok()) return outcome.status();
          run.score_a += *outcome == ImpressionOutcome::kAWins;
          run.score_b += *outcome == ImpressionOutcome::kBWins;
        }
      }
      const int64_t better = a_better ? run.score_a : run.score_b;
      const int64_t worse = a_better ? run.score_b : run.score_a;
      error += worse > better ? 1.0 : worse == better ? 0.5 : 0.0;
    }
    done = budget;
    errors.push_back(error / repetitions);
    if (errors.back() <= stop_at_error) break;
  }
  return errors;
}

absl::StatusOr<double> BudgetForErrorRate(absl::Span<const int64_t> budgets,
                                          absl::Span<const double> error_rates, double target) {
  if (budgets.empty() || budgets.size() != error_rates.size()) {
    return absl::InvalidArgumentError("budgets and error_rates must have the same non-zero size");
  }
  for (size_t i = 0; i < budgets.size(); ++i) {
    if (error_rates[i] > target) continue;
    if (i == 0) return static_cast<double>(budgets[0]);
    const double e0 = error_rates[i - 1], e1 = error_rates[i];
    const double l0 = std::log(static_cast<double>(budgets[i - 1]));
    const double l1 = std::log(static_cast<double>(budgets[i]));
    const double f = e0 == e1 ? 1.0 : (e0 - target) / (e0 - e1);
    return std::exp(l0 + f * (l1 - l0));
  }
  return absl::NotFoundError(absl::StrFormat("no budget reaches an error rate of %g", target));
}

}  // namespace recbandit::bandits

// The slate estimators of bandits/ope/slate_ope.h. Every estimator is written
// as per-round terms (c_i; a_ik, b_ik) with
//   value = mean_i(c_i) + sum_k sum_i(a_ik) / sum_i(b_ik),
// one ratio per position for the per-position self-normalised forms, so that
// one influence-function routine and one Poisson bootstrap pass serve all.
#include "bandits/ope/slate_ope.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bandits/ope/bootstrap.h"
#include "bandits/ope/intervals.h"
#include "proto/core/status_macros.h"

namespace recbandit::bandits {
namespace {

constexpr double kZ95 = 1.959963984540054;
// Relative tolerance of the logger-consistency checks.
constexpr double kConsistency = 1e-6;

std::string Where(int64_t round, int64_t position) {
  return absl::StrCat("round ", round, ", position ", position);
}

absl::Status CheckColumn(const std::vector<double>& column, const char* name, int64_t positions) {
  if (!column.empty() && static_cast<int64_t>(column.size()) != positions) {
    return absl::InvalidArgumentError(absl::StrCat(name, " has ", column.size(),
                                                   " entries; expected 0 (not recorded) or ",
                                                   positions, " (one per position)"));
  }
  return absl::OkStatus();
}

bool Near(double x, double y) { return std::fabs(x - y) <= kConsistency * std::max(x, y); }

// The logging marginal of entry e (round i, position k): recorded, or what the
// logger kind implies. REQUIRES: HasLoggingMarginals(rounds).
double LoggingMarginal(const SlateRounds& r, int64_t i, int64_t e) {
  if (!r.logging_marginal.empty()) return r.logging_marginal[e];
  if (r.logger == SlateLogger::kUniformWithoutReplacement) return 1.0 / r.candidates[i];
  return r.logging_conditional[e];  // kProduct
}

bool HasLoggingMarginals(const SlateRounds& r) {
  return !r.logging_marginal.empty() ||
         r.logger == SlateLogger::kUniformWithoutReplacement ||
         (r.logger == SlateLogger::kProduct && !r.logging_conditional.empty());
}

// Per-round terms of one estimator (see the file comment); c empty when the
// estimator has no plain-mean part, a/b one column pair per ratio.
struct SlateTerms {
  std::string name;
  std::vector<double> c;
  std::vector<std::vector<double>> a, b;
  double ess = 0, max_weight = 0;
};

double Sum(const std::vector<double>& x) { return std::accumulate(x.begin(), x.end(), 0.0); }

double ValueOf(const SlateTerms& t) {
  double v = t.c.empty() ? 0.0 : Sum(t.c) / t.c.size();
  for (size_t k = 0; k < t.a.size(); ++k) {
    const double sb = Sum(t.b[k]);
    if (sb > 0) v += Sum(t.a[k]) / sb;
  }
  return v;
}

// Standard error from the influence function of mean(c) + sum_k A_k / B_k.
double StdErrorOf(const SlateTerms& t, int64_t n) {
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  const double mean_c = t.c.empty() ? 0.0 : Sum(t.c) / n;
  std::vector<double> ratio(t.a.size(), 0.0), mean_b(t.a.size(), 0.0);
  for (size_t k = 0; k < t.a.size(); ++k) {
    const double sb = Sum(t.b[k]);
    mean_b[k] = sb / n;
    if (sb > 0) ratio[k] = Sum(t.a[k]) / sb;
  }
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) {
    double psi = t.c.empty() ? 0.0 : t.c[i] - mean_c;
    for (size_t k = 0; k < t.a.size(); ++k) {
      if (mean_b[k] > 0) psi += (t.a[k][i] - ratio[k] * t.b[k][i]) / mean_b[k];
    }
    ss += psi * psi;
  }
  return std::sqrt(ss / (n - 1) / n);
}

// (sum w)^2 / sum w^2, and max w.
std::pair<double, double> WeightStats(const std::vector<double>& w) {
  double s = 0, s2 = 0, mx = -std::numeric_limits<double>::infinity();
  for (double x : w) {
    s += x;
    s2 += x * x;
    mx = std::max(mx, x);
  }
  return {s2 > 0 ? s * s / s2 : 0.0, w.empty() ? 0.0 : mx};
}

// Per-position weights (n x kmax, position-major; 1 where a round has no
// position k) and the rewards beside them (0 there).
struct PositionColumns {
  int64_t kmax = 0;
  std::vector<std::vector<double>> weight, reward;
};

// Returns position weights: marginal ratios pi_k / mu_k (cumulative = false)
// or prefix products of conditional ratios (cumulative = true).
PositionColumns PositionWeights(const SlateRounds& r, bool cumulative) {
  const int64_t n = r.size();
  PositionColumns out;
  for (int64_t i = 0; i < n; ++i) out.kmax = std::max(out.kmax, r.slate_size(i));
  out.weight.assign(out.kmax, std::vector<double>(n, 1.0));
  out.reward.assign(out.kmax, std::vector<double>(n, 0.0));
  for (int64_t i = 0; i < n; ++i) {
    double prefix = 1.0;
    for (int64_t e = r.offsets[i], k = 0; e < r.offsets[i + 1]; ++e, ++k) {
      double w;
      if (cumulative) {
        prefix *= r.target_conditional[e] / r.logging_conditional[e];
        w = prefix;
      } else {
        w = r.target_marginal[e] / LoggingMarginal(r, i, e);
      }
      out.weight[k][i] = w;
      out.reward[k][i] = r.reward[e];
    }
  }
  return out;
}

// Slate-level estimator from one weight per round: mean(w R) or, self-
// normalised, sum(w R) / sum(w).
SlateTerms SlateLevel(const std::string& name, const std::vector<double>& w,
                      const std::vector<double>& slate_reward, bool self_normalised) {
  SlateTerms t;
  t.name = name;
  const size_t n = w.size();
  std::vector<double> wr(n);
  for (size_t i = 0; i < n; ++i) wr[i] = w[i] * slate_reward[i];
  if (self_normalised) {
    t.a.push_back(std::move(wr));
    t.b.push_back(w);
  } else {
    t.c = std::move(wr);
  }
  std::tie(t.ess, t.max_weight) = WeightStats(w);
  return t;
}

// Position-level estimator: sum_k mean(w_k r_k) or, self-normalised,
// sum_k sum(w_k r_k) / sum(w_k). ess is the smallest over positions.
SlateTerms PositionLevel(const std::string& name, const PositionColumns& p, int64_t n,
                         bool self_normalised) {
  SlateTerms t;
  t.name = name;
  if (!self_normalised) t.c.assign(n, 0.0);
  t.ess = std::numeric_limits<double>::infinity();
  t.max_weight = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < p.kmax; ++k) {
    std::vector<double> wr(n);
    for (int64_t i = 0; i < n; ++i) wr[i] = p.weight[k][i] * p.reward[k][i];
    if (self_normalised) {
      t.a.push_back(std::move(wr));
      t.b.push_back(p.weight[k]);
    } else {
      for (int64_t i = 0; i < n; ++i) t.c[i] += wr[i];
    }
    const auto [ess, max_weight] = WeightStats(p.weight[k]);
    t.ess = std::min(t.ess, ess);
    t.max_weight = std::max(t.max_weight, max_weight);
  }
  return t;
}

// Returns, per estimator, the bootstrap percentile interval of its value.
std::vector<std::pair<double, double>> Bootstrap(const std::vector<SlateTerms>& terms,
                                                 int64_t n, const SlateOpeOptions& options) {
  std::vector<const double*> columns;
  for (const SlateTerms& t : terms) {
    if (!t.c.empty()) columns.push_back(t.c.data());
    for (size_t k = 0; k < t.a.size(); ++k) {
      columns.push_back(t.a[k].data());
      columns.push_back(t.b[k].data());
    }
  }
  const BootstrapSums sums = PoissonBootstrapSums(
      columns, n, options.bootstrap, options.seed ^ 0x736c617465ULL, options.bootstrap_progress);
  std::vector<std::pair<double, double>> out;
  std::vector<double> values(options.bootstrap);
  size_t first = 0;
  for (const SlateTerms& t : terms) {
    for (int32_t rep = 0; rep < options.bootstrap; ++rep) {
      size_t col = first;
      double v = 0;
      if (!t.c.empty()) {
        if (sums.counts[rep] > 0) v += sums.Sum(rep, col) / sums.counts[rep];
        ++col;
      }
      for (size_t k = 0; k < t.a.size(); ++k, col += 2) {
        const double sb = sums.Sum(rep, col + 1);
        if (sb > 0) v += sums.Sum(rep, col) / sb;
      }
      values[rep] = v;
    }
    first += (t.c.empty() ? 0 : 1) + 2 * t.a.size();
    out.push_back(PercentileInterval95(&values));
  }
  return out;
}

bool NeedsConditionals(const std::string& name) {
  return name == "sips" || name == "snsips" || name == "rips" || name == "snrips";
}

}  // namespace

const std::vector<std::string>& KnownSlateEstimators() {
  static const auto* kNames = new std::vector<std::string>{
      "sips", "iips", "rips", "pi", "snsips", "sniips", "snrips", "snpi"};
  return *kNames;
}

absl::Status ValidateSlateRounds(const SlateRounds& r) {
  if (r.offsets.empty() || r.offsets[0] != 0) {
    return absl::InvalidArgumentError("offsets must start with 0");
  }
  const int64_t n = r.size();
  if (n == 0) return absl::InvalidArgumentError("no logged slates to evaluate");
  for (int64_t i = 0; i < n; ++i) {
    if (r.offsets[i + 1] <= r.offsets[i]) {
      return absl::InvalidArgumentError(absl::StrCat("round ", i, ": empty slate (offsets ",
                                                     r.offsets[i], ", ", r.offsets[i + 1], ")"));
    }
  }
  const int64_t positions = r.positions();
  if (static_cast<int64_t>(r.reward.size()) != positions) {
    return absl::InvalidArgumentError(absl::StrCat("reward has ", r.reward.size(),
                                                   " entries; expected ", positions,
                                                   " (one per position)"));
  }
  RETURN_IF_ERROR(CheckColumn(r.logging_conditional, "logging_conditional", positions));
  RETURN_IF_ERROR(CheckColumn(r.logging_marginal, "logging_marginal", positions));
  RETURN_IF_ERROR(CheckColumn(r.target_conditional, "target_conditional", positions));
  RETURN_IF_ERROR(CheckColumn(r.target_marginal, "target_marginal", positions));
  RETURN_IF_ERROR(CheckColumn(r.target_item_total, "target_item_total", positions));
  const bool uniform = r.logger == SlateLogger::kUniformWithoutReplacement;
  if (uniform && static_cast<int64_t>(r.candidates.size()) != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a uniform-without-replacement logger needs the number of candidates of every round: ",
        r.candidates.size(), " given for ", n, " rounds"));
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t slate = r.slate_size(i);
    if (uniform && !(r.candidates[i] > slate)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "round ", i, ": a uniform-without-replacement logger needs more candidates than "
          "slate positions, got m = ", r.candidates[i], " for K = ", slate));
    }
    for (int64_t e = r.offsets[i], k = 0; e < r.offsets[i + 1]; ++e, ++k) {
      if (!std::isfinite(r.reward[e])) {
        return absl::InvalidArgumentError(absl::StrCat(Where(i, k), ": reward is not finite"));
      }
      for (const auto& [column, name] :
           {std::pair{&r.logging_conditional, "logging conditional propensity"},
            std::pair{&r.logging_marginal, "logging marginal propensity"}}) {
        if (column->empty()) continue;
        const double p = (*column)[e];
        if (!(p > 0) || p > 1 + 1e-9) {
          return absl::InvalidArgumentError(
              absl::StrCat(Where(i, k), ": ", name, " ", p, " outside (0, 1]"));
        }
      }
      for (const auto& [column, name] :
           {std::pair{&r.target_conditional, "target conditional probability"},
            std::pair{&r.target_marginal, "target marginal probability"}}) {
        if (column->empty()) continue;
        const double p = (*column)[e];
        if (!(p >= 0) || p > 1 + 1e-9) {
          return absl::InvalidArgumentError(
              absl::StrCat(Where(i, k), ": ", name, " ", p, " outside [0, 1]"));
        }
      }
      if (!r.target_item_total.empty()) {
        const double q = r.target_item_total[e];
        const double at_k = r.target_marginal.empty() ? 0.0 : r.target_marginal[e];
        if (!(q >= at_k - 1e-9) || q > slate + 1e-9) {
          return absl::InvalidArgumentError(absl::StrCat(
              Where(i, k), ": target item total ", q, " outside [target marginal ", at_k,
              ", slate size ", slate, "]"));
        }
      }
      if (uniform) {
        const double m = r.candidates[i];
        if (!r.logging_conditional.empty() && !Near(r.logging_conditional[e], 1.0 / (m - k))) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "%s: logging conditional propensity %g is not 1/(m - k) = %g of a uniform draw "
              "without replacement from m = %d candidates",
              Where(i, k), r.logging_conditional[e], 1.0 / (m - k), r.candidates[i]));
        }
        if (!r.logging_marginal.empty() && !Near(r.logging_marginal[e], 1.0 / m)) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "%s: logging marginal propensity %g is not 1/m = %g of a uniform draw from "
              "m = %d candidates",
              Where(i, k), r.logging_marginal[e], 1.0 / m, r.candidates[i]));
        }
      }
      if (r.logger == SlateLogger::kProduct && !r.logging_conditional.empty() &&
          !r.logging_marginal.empty() &&
          !Near(r.logging_conditional[e], r.logging_marginal[e])) {
        return absl::InvalidArgumentError(absl::StrCat(
            Where(i, k), ": a product logger's conditional propensity ",
            r.logging_conditional[e], " differs from its marginal ", r.logging_marginal[e]));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> PseudoInverseWeights(const SlateRounds& r) {
  RETURN_IF_ERROR(ValidateSlateRounds(r));
  if (r.logger == SlateLogger::kUnknown) {
    return absl::InvalidArgumentError(
        "pi needs to know how the logger drew its slates (SlateLogger::kProduct or "
        "kUniformWithoutReplacement)");
  }
  if (r.target_marginal.empty()) {
    return absl::InvalidArgumentError("pi needs the target marginals (target_marginal)");
  }
  const bool uniform = r.logger == SlateLogger::kUniformWithoutReplacement;
  if (uniform && r.target_item_total.empty()) {
    return absl::InvalidArgumentError(
        "pi under a uniform-without-replacement logger needs target_item_total");
  }
  if (!uniform && !HasLoggingMarginals(r)) {
    return absl::InvalidArgumentError(
        "pi under a product logger needs logging_marginal or logging_conditional");
  }
  const int64_t n = r.size();
  std::vector<double> w(n);
  for (int64_t i = 0; i < n; ++i) {
    const double slate = static_cast<double>(r.slate_size(i));
    double s = 0;
    if (uniform) {
      const double m = r.candidates[i];
      const double c = (m - 1) / (m - slate);
      for (int64_t e = r.offsets[i]; e < r.offsets[i + 1]; ++e) {
        s += (m - 1) * r.target_marginal[e] + c * r.target_item_total[e];
      }
      w[i] = s - (slate - 1) * m / (m - slate);
    } else {
      for (int64_t e = r.offsets[i]; e < r.offsets[i + 1]; ++e) {
        s += r.target_marginal[e] / LoggingMarginal(r, i, e);
      }
      w[i] = s - slate + 1;
    }
  }
  return w;
}

absl::StatusOr<OpeReport> EvaluateSlates(const SlateRounds& rounds,
                                         const SlateOpeOptions& options) {
  RETURN_IF_ERROR(ValidateSlateRounds(rounds));
  if (options.bootstrap < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bootstrap must be >= 0, got ", options.bootstrap));
  }
  if (options.estimators.empty()) return absl::InvalidArgumentError("no estimators requested");
  const auto& known = KnownSlateEstimators();
  for (const std::string& name : options.estimators) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown slate estimator '", name,
                                                     "' (known: ", absl::StrJoin(known, ","),
                                                     ")"));
    }
    if (NeedsConditionals(name) &&
        (rounds.logging_conditional.empty() || rounds.target_conditional.empty())) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " needs the logging and target conditional probabilities of every position "
                "(logging_conditional, target_conditional)"));
    }
    if ((name == "iips" || name == "sniips") &&
        (rounds.target_marginal.empty() || !HasLoggingMarginals(rounds))) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " needs the target marginals and the logging marginals (recorded, or implied "
                "by a product or uniform logger)"));
    }
  }
  const int64_t n = rounds.size();
  std::vector<double> slate_reward(n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t e = rounds.offsets[i]; e < rounds.offsets[i + 1]; ++e) {
      slate_reward[i] += rounds.reward[e];
    }
  }

  OpeReport report;
  report.set_n(n);
  report.set_on_policy_mean(Sum(slate_reward) / n);

  // Weights shared by several estimators, computed on first use.
  std::vector<double> slate_weight, pi_weight;
  PositionColumns marginal, prefix;
  std::vector<SlateTerms> terms;
  for (const std::string& name : options.estimators) {
    const bool sn = name.rfind("sn", 0) == 0;
    const std::string base = sn ? name.substr(2) : name;
    if (base == "sips") {
      if (slate_weight.empty()) {
        slate_weight.assign(n, 1.0);
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t e = rounds.offsets[i]; e < rounds.offsets[i + 1]; ++e) {
            slate_weight[i] *= rounds.target_conditional[e] / rounds.logging_conditional[e];
          }
        }
      }
      terms.push_back(SlateLevel(name, slate_weight, slate_reward, sn));
    } else if (base == "pi") {
      if (pi_weight.empty()) {
        ASSIGN_OR_RETURN(pi_weight, PseudoInverseWeights(rounds));
      }
      terms.push_back(SlateLevel(name, pi_weight, slate_reward, sn));
    } else if (base == "iips") {
      if (marginal.weight.empty()) marginal = PositionWeights(rounds, /*cumulative=*/false);
      terms.push_back(PositionLevel(name, marginal, n, sn));
    } else {  // rips
      if (prefix.weight.empty()) prefix = PositionWeights(rounds, /*cumulative=*/true);
      terms.push_back(PositionLevel(name, prefix, n, sn));
    }
  }

  std::vector<std::pair<double, double>> boot;
  if (options.bootstrap > 0) boot = Bootstrap(terms, n, options);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const bool binary = std::all_of(rounds.reward.begin(), rounds.reward.end(),
                                  [](double r) { return r == 0.0 || r == 1.0; });
  const double mean_slate = static_cast<double>(rounds.positions()) / n;
  for (size_t e = 0; e < terms.size(); ++e) {
    const SlateTerms& t = terms[e];
    OpeEstimate* est = report.add_estimates();
    est->set_estimator(t.name);
    const double value = ValueOf(t);
    const double se = StdErrorOf(t, n);
    est->set_value(value);
    est->set_std_error(se);
    est->set_ess(t.ess);
    est->set_max_weight(t.max_weight);
    est->set_rounds_used(n);
    est->set_normal_ci_low(value - kZ95 * se);
    est->set_normal_ci_high(value + kZ95 * se);
    if (!boot.empty()) {
      est->set_bootstrap_ci_low(boot[e].first);
      est->set_bootstrap_ci_high(boot[e].second);
      est->set_ci_low(boot[e].first);
      est->set_ci_high(boot[e].second);
      est->set_ci_method("bootstrap");
    } else {
      est->set_bootstrap_ci_low(nan);
      est->set_bootstrap_ci_high(nan);
      est->set_ci_low(est->normal_ci_low());
      est->set_ci_high(est->normal_ci_high());
      est->set_ci_method("normal");
    }
    est->set_binary_ci_low(nan);
    est->set_binary_ci_high(nan);
    if (binary) {
      // Korn-Graubard on the per-position click rate, scaled to the slate.
      const Interval kg = KornGraubard(value / mean_slate, se / mean_slate, t.ess,
                                       static_cast<double>(n) * mean_slate);
      est->set_binary_ci_low(kg.low * mean_slate);
      est->set_binary_ci_high(kg.high * mean_slate);
      est->set_ci_low(std::min(est->ci_low(), est->binary_ci_low()));
      est->set_ci_high(std::max(est->ci_high(), est->binary_ci_high()));
      est->set_ci_method(est->ci_method() + "+clopper_pearson");
    }
    if (t.ess < 0.01 * n) {
      report.add_warnings(absl::StrFormat(
          "%s: effective sample size %.1f is under 1%% of the %d slates", t.name, t.ess, n));
    }
  }
  return report;
}

}  // namespace recbandit::bandits

// The OPE estimators of bandits/ope/ope.h. Every estimator is written as per-round
// terms (c_i, a_i, b_i) with value = mean(c) + sum(a) / sum(b), so that one
// normal-approximation routine (influence functions) and one Poisson bootstrap
// pass serve them all.
#include "bandits/ope/ope.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bandits/ope/bootstrap.h"
#include "bandits/ope/intervals.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"

namespace recbandit::bandits {

int64_t PmfTable::AddRow(absl::Span<const int32_t> row_actions,
                         absl::Span<const double> row_probs) {
  actions.insert(actions.end(), row_actions.begin(), row_actions.end());
  probs.insert(probs.end(), row_probs.begin(), row_probs.end());
  offsets.push_back(static_cast<int64_t>(actions.size()));
  return rows() - 1;
}

double PmfTable::Prob(int64_t row, int32_t action) const {
  for (int64_t e = offsets[row]; e < offsets[row + 1]; ++e) {
    if (actions[e] == action) return probs[e];
  }
  return 0.0;
}

const std::vector<std::string>& KnownEstimators() {
  static const auto* kNames = new std::vector<std::string>{
      "ips", "clipped_ips", "snips", "dm", "dr", "sndr", "switch_dr", "replay"};
  return *kNames;
}

void FillTargetProbFromRows(LoggedRounds* rounds) {
  const int64_t n = rounds->size();
  rounds->target_prob.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    rounds->target_prob[i] = rounds->target_pmfs.Prob(rounds->target_row[i], rounds->action[i]);
  }
}

absl::Status ValidateRounds(const LoggedRounds& r) {
  const size_t n = r.reward.size();
  if (r.action.size() != n || r.propensity.size() != n || r.target_prob.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inconsistent columns: ", n, " rewards, ", r.action.size(), " actions, ",
        r.propensity.size(), " propensities, ", r.target_prob.size(), " target probabilities"));
  }
  if (!r.target_row.empty() && r.target_row.size() != n) {
    return absl::InvalidArgumentError("target_row must have one entry per round");
  }
  if (!r.logging_row.empty() && r.logging_row.size() != n) {
    return absl::InvalidArgumentError("logging_row must have one entry per round");
  }
  if (n == 0) return absl::InvalidArgumentError("no logged rounds to evaluate");
  for (size_t i = 0; i < n; ++i) {
    if (r.action[i] < 0 || r.action[i] >= r.num_actions) {
      return absl::InvalidArgumentError(absl::StrCat(
          "round ", i, ": action ", r.action[i], " outside [0, ", r.num_actions, ")"));
    }
    const double p = r.propensity[i];
    if (!(p > 0) || p > 1 + 1e-9) {
      return absl::InvalidArgumentError(absl::StrCat(
          "round ", i, ": logging propensity ", p,
          (p == 0 ? " is zero (the logged action could not have been chosen; "
                    "IPS-type estimators need propensity > 0)"
                  : " outside (0, 1]")));
    }
    const double t = r.target_prob[i];
    if (!(t >= 0) || t > 1 + 1e-9) {
      return absl::InvalidArgumentError(
          absl::StrCat("round ", i, ": target probability ", t, " outside [0, 1]"));
    }
    if (!std::isfinite(r.reward[i])) {
      return absl::InvalidArgumentError(absl::StrCat("round ", i, ": reward is not finite"));
    }
    if (!r.target_row.empty() &&
        (r.target_row[i] < 0 || r.target_row[i] >= r.target_pmfs.rows())) {
      return absl::InvalidArgumentError(absl::StrCat("round ", i, ": bad target pmf row"));
    }
    if (!r.logging_row.empty() &&
        (r.logging_row[i] < 0 || r.logging_row[i] >= r.logging_pmfs.rows())) {
      return absl::InvalidArgumentError(absl::StrCat("round ", i, ": bad logging pmf row"));
    }
  }
  return absl::OkStatus();
}

namespace {

// Per-round terms of one estimator: value = mean(c) + sum(a) / sum(b); c is
// empty for pure ratios, a/b empty for pure means.
struct Terms {
  std::string name;
  std::vector<double> c, a, b;
  double ess = 0, max_weight = 0;
  int64_t rounds_used = 0;
};

double ValueOf(const Terms& t) {
  double v = 0;
  if (!t.c.empty()) v += std::accumulate(t.c.begin(), t.c.end(), 0.0) / t.c.size();
  if (!t.a.empty()) {
    const double sb = std::accumulate(t.b.begin(), t.b.end(), 0.0);
    if (sb > 0) v += std::accumulate(t.a.begin(), t.a.end(), 0.0) / sb;
  }
  return v;
}

// Standard error from the influence function of mean(c) + A/B.
double StdErrorOf(const Terms& t, int64_t n) {
  double mean_c = 0, ratio = 0, mean_b = 0;
  if (!t.c.empty()) mean_c = std::accumulate(t.c.begin(), t.c.end(), 0.0) / n;
  if (!t.a.empty()) {
    const double sb = std::accumulate(t.b.begin(), t.b.end(), 0.0);
    mean_b = sb / n;
    if (sb > 0) ratio = std::accumulate(t.a.begin(), t.a.end(), 0.0) / sb;
  }
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) {
    double psi = 0;
    if (!t.c.empty()) psi += t.c[i] - mean_c;
    if (!t.a.empty() && mean_b > 0) psi += (t.a[i] - ratio * t.b[i]) / mean_b;
    ss += psi * psi;
  }
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  return std::sqrt(ss / (n - 1) / n);
}

void SetWeightStats(const std::vector<double>& w, Terms* t) {
  double s = 0, s2 = 0, mx = 0;
  for (double x : w) {
    s += x;
    s2 += x * x;
    mx = std::max(mx, x);
  }
  t->ess = s2 > 0 ? s * s / s2 : 0;
  t->max_weight = mx;
  t->rounds_used = static_cast<int64_t>(w.size());
}

// Returns, per estimator, the 2.5% and 97.5% percentiles of `resamples`
// Poisson-bootstrap replicates (bandits/ope/bootstrap.h; all estimators share
// the draws).
std::vector<std::pair<double, double>> Bootstrap(const std::vector<Terms>& terms, int64_t n,
                                                 int32_t resamples, uint64_t seed,
                                                 const ProgressCallback& progress) {
  const size_t m = terms.size();
  // Columns to sum: per estimator c (if any), a and b (if any).
  std::vector<const double*> columns;
  std::vector<int> c_col(m, -1), a_col(m, -1), b_col(m, -1);
  for (size_t e = 0; e < m; ++e) {
    if (!terms[e].c.empty()) {
      c_col[e] = columns.size();
      columns.push_back(terms[e].c.data());
    }
    if (!terms[e].a.empty()) {
      a_col[e] = columns.size();
      columns.push_back(terms[e].a.data());
      b_col[e] = columns.size();
      columns.push_back(terms[e].b.data());
    }
  }
  const BootstrapSums sums = PoissonBootstrapSums(columns, n, resamples, seed, progress);
  std::vector<std::pair<double, double>> out(m);
  std::vector<double> values(resamples);
  for (size_t e = 0; e < m; ++e) {
    for (int32_t rep = 0; rep < resamples; ++rep) {
      double v = 0;
      if (c_col[e] >= 0 && sums.counts[rep] > 0) v += sums.Sum(rep, c_col[e]) / sums.counts[rep];
      if (a_col[e] >= 0 && sums.Sum(rep, b_col[e]) > 0) {
        v += sums.Sum(rep, a_col[e]) / sums.Sum(rep, b_col[e]);
      }
      values[rep] = v;
    }
    out[e] = PercentileInterval95(&values);
  }
  return out;
}

bool NeedsModel(const std::string& name) {
  return name == "dm" || name == "dr" || name == "sndr" || name == "switch_dr";
}

}  // namespace

bool NeedsRewardModel(const std::vector<std::string>& estimators) {
  return std::any_of(estimators.begin(), estimators.end(), NeedsModel);
}

absl::StatusOr<OpeReport> Evaluate(const LoggedRounds& rounds, const OpeOptions& options) {
  RETURN_IF_ERROR(ValidateRounds(rounds));
  const int64_t n = rounds.size();
  if (options.clip < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--clip must be >= 0, got ", options.clip));
  }
  if (options.switch_tau < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--switch_tau must be >= 0, got ", options.switch_tau));
  }
  if (options.bootstrap < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--bootstrap must be >= 0, got ", options.bootstrap));
  }
  if (options.estimators.empty()) return absl::InvalidArgumentError("no estimators requested");
  bool need_model = false, need_rows = false;
  for (const std::string& name : options.estimators) {
    const auto& known = KnownEstimators();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown estimator '", name,
                                                     "' (known: ", absl::StrJoin(known, ","),
                                                     ")"));
    }
    if (name == "clipped_ips" && !(options.clip > 0)) {
      return absl::InvalidArgumentError("clipped_ips needs --clip > 0");
    }
    need_model |= NeedsModel(name);
    need_rows |= NeedsModel(name) || name == "replay";
  }
  if (need_rows && rounds.target_row.empty()) {
    return absl::InvalidArgumentError(
        "dm, dr, sndr, switch_dr and replay need the target's pmf over all actions "
        "of every round; this input only gives the chosen action's probability");
  }

  OpeReport report;
  report.set_n(n);
  report.set_on_policy_mean(std::accumulate(rounds.reward.begin(), rounds.reward.end(), 0.0) /
                            n);
  report.set_support_threshold(options.support_threshold);

  std::vector<double> w(n);
  for (int64_t i = 0; i < n; ++i) w[i] = rounds.target_prob[i] / rounds.propensity[i];

  RewardPredictions model;
  if (need_model) {
    RewardModelOptions model_options = options.reward_model;
    model_options.seed = options.seed;
    ASSIGN_OR_RETURN(model, FitRewardModel(rounds, model_options));
    report.set_reward_model(model_options.kind);
    report.set_folds(model_options.folds);
  }

  std::vector<Terms> terms;
  for (const std::string& requested : options.estimators) {
    Terms t;
    t.name = requested;
    if (requested == "ips" || requested == "clipped_ips") {
      // "ips" is clipped by --clip unless "clipped_ips" is requested as well.
      const bool clipped =
          options.clip > 0 && (requested == "clipped_ips" ||
                               std::find(options.estimators.begin(), options.estimators.end(),
                                         "clipped_ips") == options.estimators.end());
      const double clip = clipped ? options.clip : std::numeric_limits<double>::infinity();
      if (clipped) t.name = "clipped_ips";
      std::vector<double> cw(n);
      t.c.resize(n);
      for (int64_t i = 0; i < n; ++i) {
        cw[i] = std::min(w[i], clip);
        t.c[i] = cw[i] * rounds.reward[i];
      }
      SetWeightStats(cw, &t);
    } else if (requested == "snips") {
      t.a.resize(n);
      t.b = w;
      for (int64_t i = 0; i < n; ++i) t.a[i] = w[i] * rounds.reward[i];
      SetWeightStats(w, &t);
    } else if (requested == "dm") {
      t.c = model.dm;
      t.ess = n;
      t.max_weight = 0;
      t.rounds_used = n;
    } else if (requested == "dr" || requested == "switch_dr") {
      t.c.resize(n);
      std::vector<double> used(n);
      for (int64_t i = 0; i < n; ++i) {
        const bool correct = requested == "dr" || w[i] <= options.switch_tau;
        used[i] = correct ? w[i] : 0.0;
        t.c[i] = model.dm[i] + used[i] * (rounds.reward[i] - model.chosen[i]);
      }
      SetWeightStats(used, &t);
      if (requested == "switch_dr" && t.ess == 0) t.ess = n;  // pure DM
    } else if (requested == "sndr") {
      t.c = model.dm;
      t.a.resize(n);
      t.b = w;
      for (int64_t i = 0; i < n; ++i) t.a[i] = w[i] * (rounds.reward[i] - model.chosen[i]);
      SetWeightStats(w, &t);
    } else if (requested == "replay") {
      // The target's choice: its action when deterministic, else a seeded draw.
      t.a.assign(n, 0.0);
      t.b.assign(n, 0.0);
      const PmfTable& pmfs = rounds.target_pmfs;
      Rng rng(Mix64(options.seed ^ 0x7265706c6179ULL));
      int64_t matched = 0;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t row = rounds.target_row[i];
        const double u = rng.Uniform();
        double acc = 0;
        int32_t choice = -1;
        for (int64_t e = pmfs.offsets[row]; e < pmfs.offsets[row + 1]; ++e) {
          acc += pmfs.probs[e];
          if (pmfs.probs[e] > 0) choice = pmfs.actions[e];
          if (u < acc) break;
        }
        if (choice == rounds.action[i]) {
          t.a[i] = rounds.reward[i];
          t.b[i] = 1.0;
          ++matched;
        }
      }
      t.ess = matched;
      t.max_weight = 0;
      t.rounds_used = matched;
    }
    terms.push_back(std::move(t));
  }

  std::vector<std::pair<double, double>> boot;
  if (options.bootstrap > 0) {
    boot = Bootstrap(terms, n, options.bootstrap, options.seed, options.bootstrap_progress);
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // 0/1 rewards (clicks): intervals that cannot collapse to [0, 0] on a log
  // without clicks (see OpeEstimate.binary_ci_low in proto/reports.proto).
  const bool binary = std::all_of(rounds.reward.begin(), rounds.reward.end(),
                                  [](double r) { return r == 0.0 || r == 1.0; });
  for (size_t e = 0; e < terms.size(); ++e) {
    const Terms& t = terms[e];
    OpeEstimate* est = report.add_estimates();
    est->set_estimator(t.name);
    const double value = ValueOf(t);
    const double se = StdErrorOf(t, n);
    est->set_value(value);
    est->set_std_error(se);
    est->set_ess(t.ess);
    est->set_max_weight(t.max_weight);
    est->set_rounds_used(t.rounds_used);
    est->set_normal_ci_low(value - 1.959963984540054 * se);
    est->set_normal_ci_high(value + 1.959963984540054 * se);
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
      if (t.name == "replay") {
        // A plain proportion: clicks among the matched rounds.
        const double clicks = std::accumulate(t.a.begin(), t.a.end(), 0.0);
        const Interval exact = ClopperPearson(clicks, static_cast<double>(t.rounds_used));
        est->set_binary_ci_low(exact.low);
        est->set_binary_ci_high(exact.high);
        est->set_ci_low(exact.low);
        est->set_ci_high(exact.high);
        est->set_ci_method("clopper_pearson");
      } else {
        // Korn-Graubard: a proportion seen at the sample size its standard
        // error implies (the weights' effective sample size without clicks).
        const Interval kg = KornGraubard(value, se, t.ess, static_cast<double>(n));
        est->set_binary_ci_low(kg.low);
        est->set_binary_ci_high(kg.high);
        est->set_ci_low(std::min(est->ci_low(), kg.low));
        est->set_ci_high(std::max(est->ci_high(), kg.high));
        est->set_ci_method(est->ci_method() + "+clopper_pearson");
      }
    }
    if (t.name == "replay") {
      const auto [lo, hi] = std::minmax_element(rounds.propensity.begin(), rounds.propensity.end());
      if (*hi > *lo * (1 + 1e-6)) {
        report.add_warnings(absl::StrFormat(
            "replay assumes a uniformly random logging policy, but logged propensities range "
            "from %g to %g: its estimate is biased here (prefer ips/snips/dr)",
            *lo, *hi));
      }
    }
    if (t.name == "replay" && t.rounds_used == 0) {
      report.add_warnings("replay: the target never chose the logged action; no estimate");
    }
  }

  // Support: does the target put mass where the logger (almost) never goes?
  int64_t low = 0, zero = 0;
  const double threshold = options.support_threshold;
  const bool full_logging = !rounds.logging_row.empty();
  const bool full_target = !rounds.target_row.empty();
  for (int64_t i = 0; i < n; ++i) {
    bool is_low = rounds.target_prob[i] > 0 && rounds.propensity[i] < threshold;
    bool is_zero = false;
    if (full_logging && full_target) {
      const PmfTable& tp = rounds.target_pmfs;
      const int64_t row = rounds.target_row[i];
      for (int64_t e = tp.offsets[row]; e < tp.offsets[row + 1]; ++e) {
        if (tp.probs[e] <= 0) continue;
        const double mu = rounds.logging_pmfs.Prob(rounds.logging_row[i], tp.actions[e]);
        if (mu < threshold) is_low = true;
        if (mu <= 0) is_zero = true;
      }
    }
    low += is_low;
    zero += is_zero;
  }
  report.set_low_support_rounds(low);
  report.set_low_support_share(static_cast<double>(low) / n);
  report.set_zero_support_rounds(zero);
  if (zero > 0) {
    report.add_warnings(absl::StrFormat(
        "target puts mass on actions the logging policy could never choose (probability 0) "
        "in %d of %d rounds (%.2f%%): IPS-type estimates miss that mass",
        zero, n, 100.0 * zero / n));
  }
  if (low > zero) {
    report.add_warnings(absl::StrFormat(
        "target puts mass on actions with logging probability below %g in %d of %d rounds "
        "(%.2f%%): expect large weights and wide intervals",
        threshold, low, n, 100.0 * low / n));
  }
  for (const OpeEstimate& est : report.estimates()) {
    if (est.estimator() != "dm" && est.estimator() != "replay" && est.ess() < 0.01 * n) {
      report.add_warnings(absl::StrFormat(
          "%s: effective sample size %.1f is under 1%% of the %d rounds", est.estimator(),
          est.ess(), n));
    }
  }
  return report;
}

}  // namespace recbandit::bandits

// Validation gates: bounds, the holdout split, and each gate's check.
#include "services/serving/validation_gates.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"
#include "ranking/metrics.h"
#include "ranking/split.h"

namespace recbandit::services {
namespace {

constexpr double kDefaultFraction = 0.1;
constexpr int32_t kDefaultK = 10;
constexpr int32_t kDefaultIndexRecallUsers = 500;

// Appends row `r` of `from` to `to`, by external id.
void AppendRow(const ranking::InteractionLog& from, int64_t r, ranking::InteractionLog* to) {
  to->Add(to->users.GetOrAdd(from.users.Name(from.user[r])),
          to->items.GetOrAdd(from.items.Name(from.item[r])), from.weight[r], from.timestamp[r]);
}

// Copies rows `rows` of `log` into a log with fresh id maps.
ranking::InteractionLog SubLog(const ranking::InteractionLog& log,
                               const std::vector<int64_t>& rows) {
  ranking::InteractionLog out;
  out.has_timestamps = log.has_timestamps;
  for (int64_t r : rows) AppendRow(log, r, &out);
  return out;
}

// The held-out rows a comparison can use, as logs sharing the holdout's id
// maps: `fresh` rows have a user and item every model knows and are not
// among the active version's training items; `stale` rows are known to all
// but the active version trained on them (evaluating on them would favour
// it), so they only join the excluded items.
struct ComparableRows {
  ranking::InteractionLog fresh;
  ranking::InteractionLog stale;
};

bool SeenBy(const ranking::FactorModel& model, int32_t u, int32_t i) {
  absl::Span<const int32_t> seen = model.SeenItems(u);
  return std::binary_search(seen.begin(), seen.end(), i);
}

ComparableRows SplitComparable(const ranking::InteractionLog& log,
                               const ranking::FactorModel& candidate,
                               const ranking::FactorModel* active) {
  ComparableRows out;
  for (ranking::InteractionLog* l : {&out.fresh, &out.stale}) {
    l->users = log.users;
    l->items = log.items;
    l->has_timestamps = log.has_timestamps;
  }
  for (int64_t r = 0; r < log.size(); ++r) {
    const std::string& user = log.users.Name(log.user[r]);
    const std::string& item = log.items.Name(log.item[r]);
    if (candidate.users().Find(user) < 0 || candidate.items().Find(item) < 0) continue;
    bool stale = false;
    if (active != nullptr) {
      const int32_t u = active->users().Find(user), i = active->items().Find(item);
      if (u < 0 || i < 0) continue;
      stale = SeenBy(*active, u, i);
    }
    (stale ? out.stale : out.fresh).Add(log.user[r], log.item[r], log.weight[r], log.timestamp[r]);
  }
  return out;
}

// Returns `a` followed by the rows of `b`, by external id.
ranking::InteractionLog Concat(const ranking::InteractionLog& a, const ranking::InteractionLog& b) {
  ranking::InteractionLog out = a;
  for (int64_t r = 0; r < b.size(); ++r) AppendRow(b, r, &out);
  return out;
}

// Returns `model`'s metrics at `k` on `test`, excluding `train` (both read
// through the model's ids).
absl::StatusOr<RankingMetrics> HoldoutMetrics(const ranking::FactorModel& model,
                                              const ranking::InteractionLog& train,
                                              const ranking::InteractionLog& test, int32_t k,
                                              int32_t threads) {
  const ranking::Interactions seen =
      ranking::Interactions::FromLogWithIds(train, model.users(), model.items(), nullptr);
  const ranking::Interactions held =
      ranking::Interactions::FromLogWithIds(test, model.users(), model.items(), nullptr);
  ranking::EvaluateOptions eo;
  eo.k = k;
  eo.threads = threads;
  return ranking::EvaluateRanking(seen.user_items(), held.user_items(),
                                  ranking::ModelScorer(model), eo);
}

bool AllFinite(absl::Span<const float> v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

GateResult Gate(const std::string& name, bool passed, double candidate, double baseline,
                double threshold, std::string detail) {
  GateResult g;
  g.set_gate(name);
  g.set_passed(passed);
  g.set_candidate(candidate);
  g.set_baseline(baseline);
  g.set_threshold(threshold);
  g.set_detail(std::move(detail));
  return g;
}

// The "not below the active version minus a tolerance" gates.
GateResult RelativeGate(const std::string& name, double candidate, double baseline,
                        double tolerance, bool has_active) {
  if (!has_active) {
    return Gate(name, true, candidate, 0, 0, "no active version to compare with");
  }
  const double threshold = baseline - tolerance;
  const bool passed = candidate >= threshold;
  return Gate(name, passed, candidate, baseline, threshold,
              absl::StrFormat("candidate %.6g %s active %.6g - tolerance %.6g", candidate,
                              passed ? ">=" : "<", baseline, tolerance));
}

// Mean recall@k of `index` against exact search over the model's item
// vectors, for up to `users` users of `model` drawn without replacement.
absl::StatusOr<double> IndexRecall(const ranking::FactorModel& model,
                                   const retrieval::ItemIndex& index, int32_t k, int32_t users,
                                   uint64_t seed) {
  const int32_t n = model.num_users();
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  const int32_t take = std::min(n, users);
  for (int32_t i = 0; i < take; ++i) {  // partial Fisher-Yates
    std::swap(order[i], order[i + static_cast<int32_t>(rng.UniformInt(n - i))]);
  }
  const int32_t kk = std::min<int32_t>(k, model.num_items());
  if (take == 0 || kk == 0) return 1.0;
  double sum = 0;
  retrieval::SearchResult approx;
  for (int32_t i = 0; i < take; ++i) {
    absl::Span<const float> query = model.UserVector(order[i]);
    RETURN_IF_ERROR(index.Search(query, kk, {}, {}, &approx));
    const retrieval::SearchResult exact =
        retrieval::ExactTopK(model.item_factors(), model.factors(), query, kk, {});
    absl::flat_hash_set<int32_t> truth(exact.ids.begin(), exact.ids.end());
    int32_t hits = 0;
    for (int32_t id : approx.ids) hits += truth.contains(id) ? 1 : 0;
    sum += static_cast<double>(hits) / kk;
  }
  return sum / take;
}

absl::Status CheckUnit(const char* what, const GateFieldNamer& name, double v) {
  if (std::isfinite(v) && v >= 0 && v <= 1) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(name(what), " = ", v,
                                                 " is out of range ([0, 1])"));
}

}  // namespace

absl::Status ValidateGates(const ValidationGates& gates, bool has_index,
                           const GateFieldNamer& name) {
  const HoldoutSpec& h = gates.holdout();
  if (!h.scheme().empty() && h.scheme() != "time" && h.scheme() != "user_holdout") {
    return absl::InvalidArgumentError(absl::StrCat(
        name("holdout.scheme"), " must be time or user_holdout, got ",
        h.scheme().size() > 32 ? "a longer string" : absl::StrCat("\"", h.scheme(), "\"")));
  }
  if (h.fraction() != 0 && !(h.fraction() > 0 && h.fraction() <= 0.5)) {
    return absl::InvalidArgumentError(absl::StrCat(name("holdout.fraction"), " = ", h.fraction(),
                                                   " is out of range ((0, 0.5])"));
  }
  if (gates.k() < 0 || gates.k() > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat(name("k"), " = ", gates.k(), " is out of range (1..1000)"));
  }
  for (const auto& [field, present, value] :
       {std::tuple<const char*, bool, double>{"ndcg_tolerance", gates.has_ndcg_tolerance(),
                                              gates.ndcg_tolerance().value()},
        {"recall_tolerance", gates.has_recall_tolerance(), gates.recall_tolerance().value()}}) {
    if (present && !(std::isfinite(value) && value >= 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name(field), " = ", value, " must be a finite number >= 0"));
    }
  }
  if (gates.has_min_coverage()) RETURN_IF_ERROR(CheckUnit("min_coverage", name, gates.min_coverage().value()));
  if (gates.has_min_index_recall()) {
    RETURN_IF_ERROR(CheckUnit("min_index_recall", name, gates.min_index_recall().value()));
    if (!has_index) {
      return absl::InvalidArgumentError(absl::StrCat(
          name("min_index_recall"), " needs an item index (", name("params.index_factory"), ")"));
    }
  }
  if (gates.index_recall_users() < 0 || gates.index_recall_users() > 100000) {
    return absl::InvalidArgumentError(absl::StrCat(name("index_recall_users"), " = ",
                                                   gates.index_recall_users(),
                                                   " is out of range (1..100000)"));
  }
  return absl::OkStatus();
}

ValidationGates WithGateDefaults(const ValidationGates& gates) {
  ValidationGates g = gates;
  if (g.holdout().scheme().empty()) g.mutable_holdout()->set_scheme("time");
  if (g.holdout().fraction() == 0) g.mutable_holdout()->set_fraction(kDefaultFraction);
  if (g.k() == 0) g.set_k(kDefaultK);
  if (g.index_recall_users() == 0) g.set_index_recall_users(kDefaultIndexRecallUsers);
  return g;
}

HoldoutSplit SplitHoldout(const ranking::InteractionLog& log, const HoldoutSpec& spec) {
  HoldoutSplit split;
  std::vector<int64_t> train, test;
  if (spec.scheme() == "user_holdout") {
    ranking::SplitOptions o;
    o.scheme = ranking::SplitScheme::kUserHoldout;
    o.test_fraction = spec.fraction();
    o.seed = spec.seed();
    absl::StatusOr<ranking::SplitResult> r = ranking::SplitInteractions(log, o);
    if (r.ok()) {
      train = std::move(r->train);
      test = std::move(r->test);
    } else {
      split.problem = std::string(r.status().message());
    }
  } else if (!log.has_timestamps) {
    split.problem =
        "the interactions have no timestamp column, so no time holdout can be made "
        "(use holdout.scheme user_holdout)";
  } else {
    std::vector<int64_t> rows(log.size());
    std::iota(rows.begin(), rows.end(), 0);
    std::stable_sort(rows.begin(), rows.end(), [&log](int64_t a, int64_t b) {
      return log.timestamp[a] < log.timestamp[b];
    });
    const int64_t held = static_cast<int64_t>(std::floor(spec.fraction() * log.size()));
    const int64_t cut = log.size() - held;
    std::vector<char> is_test(log.size(), 0);
    for (int64_t i = cut; i < log.size(); ++i) is_test[rows[i]] = 1;
    for (int64_t r = 0; r < log.size(); ++r) (is_test[r] ? test : train).push_back(r);
  }
  if (!split.problem.empty()) {
    train.resize(log.size());
    std::iota(train.begin(), train.end(), 0);
    test.clear();
  }
  split.train = SubLog(log, train);
  split.holdout = SubLog(log, test);
  return split;
}

absl::StatusOr<ValidationReport> EvaluateGates(const ValidationGates& gates,
                                               const GateInputs& in, int32_t threads) {
  ValidationReport report;
  *report.mutable_requested() = gates;
  report.set_baseline_version(in.active != nullptr ? in.active_version : 0);
  const ranking::InteractionLog& holdout = in.split->holdout;
  report.set_holdout_interactions(holdout.size());
  report.set_holdout_users(holdout.users.size());
  const int32_t k = gates.k();

  const ComparableRows comparable = SplitComparable(holdout, *in.candidate, in.active);
  const ranking::InteractionLog& rows = comparable.fresh;
  const ranking::InteractionLog excluded =
      comparable.stale.size() > 0 ? Concat(in.split->train, comparable.stale) : in.split->train;
  int64_t users_evaluated = 0;
  if (rows.size() > 0) {
    ASSIGN_OR_RETURN(*report.mutable_candidate_metrics(),
                     HoldoutMetrics(*in.candidate, excluded, rows, k, threads));
    users_evaluated = report.candidate_metrics().users_evaluated();
    if (in.active != nullptr) {
      ASSIGN_OR_RETURN(*report.mutable_baseline_metrics(),
                       HoldoutMetrics(*in.active, excluded, rows, k, threads));
    }
  }
  const bool has_holdout = in.split->problem.empty() && users_evaluated > 0;
  std::string why = in.split->problem;
  if (why.empty() && !has_holdout && comparable.stale.size() > 0 && rows.size() == 0) {
    why = absl::StrCat("the active version v", in.active_version, " trained on all ",
                       comparable.stale.size(),
                       " comparable held-out interactions, so the comparison would favour it "
                       "(retrain on data newer than the active version's)");
  } else if (why.empty() && !has_holdout) {
    why = absl::StrCat("none of the ", holdout.size(),
                       " held-out interactions has a user and item the ",
                       in.active != nullptr ? "candidate and the active version know"
                                            : "candidate knows",
                       " with an item left to find");
  }
  *report.add_gates() =
      Gate("holdout", has_holdout, static_cast<double>(users_evaluated), 0, 1,
           has_holdout ? absl::StrCat(users_evaluated, " users evaluated on ", rows.size(),
                                      " held-out interactions",
                                      comparable.stale.size() > 0
                                          ? absl::StrCat(" (", comparable.stale.size(),
                                                         " the active version trained on "
                                                         "left out)")
                                          : "")
                       : why);

  // Training loss: factors and computed losses finite, the last not above the first.
  bool finite = AllFinite(in.candidate->user_factors()) &&
                AllFinite(in.candidate->item_factors()) && AllFinite(in.candidate->item_bias());
  for (double l : in.losses) finite = finite && std::isfinite(l);
  const double first = in.losses.empty() ? 0 : in.losses.front();
  const double last = in.losses.empty() ? 0 : in.losses.back();
  const bool decreasing = in.losses.size() < 2 || !(last > first);
  std::string loss_detail;
  if (!finite) {
    loss_detail = "a factor or a loss is not finite";
  } else if (!decreasing) {
    loss_detail = absl::StrFormat("the last loss %.6g is above the first %.6g", last, first);
  } else if (in.losses.empty()) {
    loss_detail = "factors finite; no loss computed (compute_loss)";
  } else {
    loss_detail = absl::StrFormat("finite, %.6g after %d iterations from %.6g", last,
                                  static_cast<int>(in.losses.size()), first);
  }
  *report.add_gates() = Gate("training_loss", finite && decreasing, last, 0, first, loss_detail);

  const RankingMetrics& c = report.candidate_metrics();
  const RankingMetrics& b = report.baseline_metrics();
  const bool has_active = in.active != nullptr;
  if (gates.has_ndcg_tolerance()) {
    GateResult g = RelativeGate("ndcg_at_k", c.ndcg_at_k(), b.ndcg_at_k(), gates.ndcg_tolerance().value(),
                                has_active);
    g.set_passed(g.passed() && has_holdout);
    *report.add_gates() = g;
  }
  if (gates.has_recall_tolerance()) {
    GateResult g = RelativeGate("recall_at_k", c.recall_at_k(), b.recall_at_k(),
                                gates.recall_tolerance().value(), has_active);
    g.set_passed(g.passed() && has_holdout);
    *report.add_gates() = g;
  }
  if (gates.has_min_coverage()) {
    const bool passed = has_holdout && c.coverage() >= gates.min_coverage().value();
    *report.add_gates() =
        Gate("coverage_at_k", passed, c.coverage(), 0, gates.min_coverage().value(),
             absl::StrFormat("%.6g of the candidate's items in some holdout user's top %d",
                             c.coverage(), k));
  }
  if (gates.has_min_index_recall()) {
    if (in.index == nullptr) {
      *report.add_gates() = Gate("index_recall_at_k", false, 0, 0, gates.min_index_recall().value(),
                                 "the candidate has no item index");
    } else {
      ASSIGN_OR_RETURN(double recall,
                       IndexRecall(*in.candidate, *in.index, k, gates.index_recall_users(),
                                   gates.holdout().seed()));
      *report.add_gates() = Gate(
          "index_recall_at_k", recall >= gates.min_index_recall().value(), recall, 0,
          gates.min_index_recall().value(),
          absl::StrFormat("%s recall@%d %.6g against exact search over %d sampled users",
                          in.index->factory(), k, recall,
                          std::min(in.candidate->num_users(), gates.index_recall_users())));
    }
  }
  bool all = true;
  for (const GateResult& g : report.gates()) all = all && g.passed();
  report.set_promoted(all || gates.force());
  report.set_forced(!all && gates.force());
  return report;
}

std::string FailedGatesSummary(const ValidationReport& report) {
  std::string out;
  for (const GateResult& g : report.gates()) {
    if (g.passed()) continue;
    absl::StrAppend(&out, out.empty() ? "" : "; ", g.gate(), ": ", g.detail());
  }
  return out;
}

}  // namespace recbandit::services

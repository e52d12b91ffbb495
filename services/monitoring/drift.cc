// Drift statistics, histograms, baselines and the DriftMonitor.
#include "services/monitoring/drift.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"
#include "services/serving/serving_model.h"

namespace recbandit::services {
namespace {

constexpr int32_t kMaxDenseFeatures = 16;  // context.dense[0..15] are monitored
constexpr int32_t kMaxActions = 32;        // action bins besides "other"
constexpr int64_t kMinLive = 100;

absl::Status CheckCounts(absl::Span<const int64_t> a, absl::Span<const int64_t> b,
                         int64_t* sum_a, int64_t* sum_b) {
  if (a.size() != b.size() || a.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "histograms must have the same, non-zero number of bins; got ", a.size(), " and ",
        b.size()));
  }
  *sum_a = 0;
  *sum_b = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] < 0 || b[i] < 0) return absl::InvalidArgumentError("bin counts must be >= 0");
    *sum_a += a[i];
    *sum_b += b[i];
  }
  if (*sum_a == 0 || *sum_b == 0) {
    return absl::InvalidArgumentError("each histogram needs at least one observation");
  }
  return absl::OkStatus();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<int64_t> Counts(const DriftHistogram& h) {
  return std::vector<int64_t>(h.counts().begin(), h.counts().end());
}

int64_t Total(const std::vector<int64_t>& c) {
  int64_t t = 0;
  for (int64_t x : c) t += x;
  return t;
}

DriftState Worse(DriftState a, DriftState b) { return a > b ? a : b; }

}  // namespace

absl::StatusOr<double> Psi(absl::Span<const int64_t> baseline, absl::Span<const int64_t> live,
                           double epsilon) {
  int64_t nb, nl;
  RETURN_IF_ERROR(CheckCounts(baseline, live, &nb, &nl));
  double psi = 0;
  for (size_t i = 0; i < baseline.size(); ++i) {
    const double e = std::max(static_cast<double>(baseline[i]) / nb, epsilon);
    const double a = std::max(static_cast<double>(live[i]) / nl, epsilon);
    psi += (a - e) * std::log(a / e);
  }
  return psi;
}

absl::StatusOr<double> JensenShannon(absl::Span<const int64_t> p, absl::Span<const int64_t> q) {
  int64_t np, nq;
  RETURN_IF_ERROR(CheckCounts(p, q, &np, &nq));
  double js = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double pi = static_cast<double>(p[i]) / np;
    const double qi = static_cast<double>(q[i]) / nq;
    const double m = 0.5 * (pi + qi);
    if (pi > 0) js += 0.5 * pi * std::log2(pi / m);
    if (qi > 0) js += 0.5 * qi * std::log2(qi / m);
  }
  return std::clamp(js, 0.0, 1.0);
}

absl::Status ValidateThresholds(const DriftThresholds& t, absl::string_view warn_name,
                                absl::string_view alert_name) {
  auto in_range = [](double v) { return std::isfinite(v) && v > 0 && v <= kMaxPsiThreshold; };
  if (!in_range(t.warn)) {
    return absl::InvalidArgumentError(
        absl::StrCat(warn_name, " must be in (0, ", kMaxPsiThreshold, "], got ", t.warn));
  }
  if (!in_range(t.alert)) {
    return absl::InvalidArgumentError(
        absl::StrCat(alert_name, " must be in (0, ", kMaxPsiThreshold, "], got ", t.alert));
  }
  if (t.warn > t.alert) {
    return absl::InvalidArgumentError(absl::StrCat(warn_name, " must be <= ", alert_name,
                                                   " (", t.alert, "), got ", t.warn));
  }
  return absl::OkStatus();
}

DriftHistogram QuantileHistogram(const std::string& feature, std::vector<double> values,
                                 int bins) {
  DriftHistogram h;
  h.set_feature(feature);
  std::sort(values.begin(), values.end());
  if (!values.empty()) {
    for (int i = 1; i < bins; ++i) {
      const double q = values[std::min(values.size() - 1, values.size() * i / bins)];
      if (h.edges_size() == 0 || q > h.edges(h.edges_size() - 1)) h.add_edges(q);
    }
  }
  h.mutable_counts()->Resize(h.edges_size() + 1, 0);
  for (double v : values) h.set_counts(NumericBin(h, v), h.counts(NumericBin(h, v)) + 1);
  return h;
}

DriftHistogram Log2Histogram(const std::string& feature) {
  DriftHistogram h;
  h.set_feature(feature);
  for (int b = 0; b <= 20; ++b) h.add_edges(std::ldexp(1.0, b) - 1);  // 0, 1, 3, 7, ...
  h.mutable_counts()->Resize(h.edges_size() + 1, 0);
  return h;
}

int32_t NumericBin(const DriftHistogram& h, double value) {
  // First edge >= value: values in (edges[i-1], edges[i]] land in bin i.
  return static_cast<int32_t>(
      std::lower_bound(h.edges().begin(), h.edges().end(), value) - h.edges().begin());
}

int32_t CategoryBin(const DriftHistogram& h, std::string_view category) {
  const int32_t n = h.categories_size();
  for (int32_t i = 0; i + 1 < n; ++i) {
    if (h.categories(i) == category) return i;
  }
  return std::max(n - 1, 0);
}

WindowedHistogram::WindowedHistogram(int32_t bins, int64_t capacity)
    : counts_(std::max(bins, 1), 0), ring_(std::max<int64_t>(capacity, 1), 0) {}

void WindowedHistogram::Add(int32_t bin) {
  if (bin < 0 || bin >= static_cast<int32_t>(counts_.size())) return;
  const int64_t cap = static_cast<int64_t>(ring_.size());
  if (size_ == cap) {
    --counts_[ring_[next_]];
  } else {
    ++size_;
  }
  ring_[next_] = bin;
  ++counts_[bin];
  next_ = (next_ + 1) % cap;
}

// ---- baselines

std::string ModelBaselinePath(const std::string& version_dir) {
  return version_dir + "/drift_baseline";
}

std::string ExperimentBaselinePath(const std::string& data_dir, const std::string& experiment) {
  return absl::StrCat(data_dir, "/drift/", experiment, ".baseline");
}

namespace {

// Per-model lookups the observations need, computed once per version.
struct ModelTables {
  std::vector<int32_t> user_counts;  // training interactions per dense user
  std::vector<int32_t> item_counts;  // training interactions per dense item
  std::vector<float> item_norms;     // L2 norm of each item vector
};

ModelTables MakeTables(const ranking::FactorModel& m) {
  ModelTables t;
  t.user_counts.assign(m.num_users(), 0);
  t.item_counts.assign(m.num_items(), 0);
  for (int32_t u = 0; u < m.num_users(); ++u) {
    absl::Span<const int32_t> seen = m.SeenItems(u);
    t.user_counts[u] = static_cast<int32_t>(seen.size());
    for (int32_t i : seen) ++t.item_counts[i];
  }
  t.item_norms.resize(m.num_items());
  for (int32_t i = 0; i < m.num_items(); ++i) {
    double s = 0;
    for (float x : m.ItemVector(i)) s += double{x} * x;
    t.item_norms[i] = static_cast<float>(std::sqrt(s));
  }
  return t;
}

}  // namespace

absl::StatusOr<DriftBaseline> ComputeModelBaseline(const ServingModel& model,
                                                   int32_t sample_users, int32_t k,
                                                   uint64_t seed) {
  const ranking::FactorModel& m = model.model();
  const ModelTables t = MakeTables(m);
  std::vector<int64_t> prefix(m.num_users() + 1, 0);  // interactions before user u
  for (int32_t u = 0; u < m.num_users(); ++u) prefix[u + 1] = prefix[u] + t.user_counts[u];
  const int64_t nnz = prefix.back();
  if (nnz == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model ", Quote(model.name()), " kept no training interactions: no drift baseline"));
  }
  DriftBaseline b;
  b.set_subject(model.name());
  b.set_kind("model");
  b.set_model_version(model.version());
  b.set_created_unix_ms(NowMs());
  b.set_events(nnz);
  b.set_seed(seed);
  DriftHistogram activity = Log2Histogram("user_activity");
  DriftHistogram popularity = Log2Histogram("item_popularity");
  for (int32_t u = 0; u < m.num_users(); ++u) {
    const int32_t bin = NumericBin(activity, t.user_counts[u]);
    activity.set_counts(bin, activity.counts(bin) + t.user_counts[u]);
  }
  for (int32_t i = 0; i < m.num_items(); ++i) {
    const int32_t bin = NumericBin(popularity, t.item_counts[i]);
    popularity.set_counts(bin, popularity.counts(bin) + t.item_counts[i]);
  }
  Rng rng(seed);
  std::vector<double> scores, norms;
  for (int32_t n = 0; n < sample_users; ++n) {
    const int64_t x = static_cast<int64_t>(rng.UniformInt(nnz));
    const int32_t u = static_cast<int32_t>(
        std::upper_bound(prefix.begin(), prefix.end(), x) - prefix.begin() - 1);
    RecommendQuery query;
    query.user = m.users().Name(u);
    query.k = k;
    ASSIGN_OR_RETURN(Recommendation r, model.Recommend(query));
    if (r.fallback) continue;
    for (const ScoredItemId& item : r.items) {
      scores.push_back(item.score);
      const int32_t i = m.items().Find(item.item);
      if (i >= 0) norms.push_back(t.item_norms[i]);
    }
  }
  *b.add_features() = QuantileHistogram("score", std::move(scores));
  *b.add_features() = QuantileHistogram("item_embedding_norm", std::move(norms));
  *b.add_features() = std::move(activity);
  *b.add_features() = std::move(popularity);
  return b;
}

// ---- the monitor

// One monitored model version or experiment: its baseline features, a live
// window per feature, and (models) the lookup tables.
struct DriftMonitor::Subject {
  absl::Mutex mu;
  std::string name;
  std::string kind;  // "model" | "experiment"
  int64_t version = 0;
  std::shared_ptr<const ServingModel> model;
  ModelTables tables;
  DriftBaseline baseline ABSL_GUARDED_BY(mu);
  std::map<std::string, WindowedHistogram> live ABSL_GUARDED_BY(mu);
  // Experiments: the baseline being collected.
  bool decisions_frozen ABSL_GUARDED_BY(mu) = false;
  bool rewards_frozen ABSL_GUARDED_BY(mu) = false;
  int64_t decisions_seen ABSL_GUARDED_BY(mu) = 0;
  int32_t dense_dims ABSL_GUARDED_BY(mu) = -1;  // monitored dense features
  std::vector<std::vector<double>> dense_values ABSL_GUARDED_BY(mu);
  std::vector<double> sparse_counts ABSL_GUARDED_BY(mu);
  std::map<std::string, int64_t> action_counts ABSL_GUARDED_BY(mu);
  int64_t reward_counts[2] ABSL_GUARDED_BY(mu) = {0, 0};

  const DriftHistogram* Feature(const std::string& f) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (const DriftHistogram& h : baseline.features()) {
      if (h.feature() == f) return &h;
    }
    return nullptr;
  }
  void AddLive(const std::string& f, int32_t bin) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = live.find(f);
    if (it != live.end()) it->second.Add(bin);
  }
};

namespace {

// Reward bins: value <= 0, value > 0.
DriftHistogram RewardHistogram() {
  DriftHistogram h;
  h.set_feature("reward");
  h.add_edges(0);
  h.mutable_counts()->Resize(2, 0);
  return h;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DriftMonitor>> DriftMonitor::Create(DriftMonitorOptions options) {
  if (options.window < 100 || options.window > 1000000) {
    return absl::InvalidArgumentError(
        absl::StrCat("drift window must be in [100, 1000000], got ", options.window));
  }
  if (options.baseline_events < 100 || options.baseline_events > 1000000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "drift baseline events must be in [100, 1000000], got ", options.baseline_events));
  }
  RETURN_IF_ERROR(ValidateThresholds(options.thresholds, "psi_warn", "psi_alert"));
  return std::unique_ptr<DriftMonitor>(new DriftMonitor(std::move(options)));
}

DriftMonitor::DriftMonitor(DriftMonitorOptions options) : options_(std::move(options)) {}
DriftMonitor::~DriftMonitor() = default;

std::shared_ptr<DriftMonitor::Subject> DriftMonitor::Find(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = subjects_.find(key);
  return it == subjects_.end() ? nullptr : it->second;
}

absl::Status DriftMonitor::CaptureModel(std::shared_ptr<const ServingModel> model,
                                        const std::string& version_dir) {
  absl::MutexLock capture(&capture_mu_);
  const std::string key = "model/" + model->name();
  if (auto s = Find(key); s != nullptr && s->version == model->version()) return absl::OkStatus();
  DriftBaseline baseline;
  const std::string path = ModelBaselinePath(version_dir);
  auto stored = ReadFileToString(path);
  if (!stored.ok() || !baseline.ParseFromString(*stored) ||
      baseline.model_version() != model->version()) {
    ASSIGN_OR_RETURN(baseline, ComputeModelBaseline(*model, options_.sample_users, options_.k,
                                                    options_.seed));
    if (options_.persist && !version_dir.empty()) {
      RETURN_IF_ERROR(WriteFileAtomically(path, baseline.SerializeAsString()));
    }
  }
  auto subject = std::make_shared<Subject>();
  subject->name = model->name();
  subject->kind = "model";
  subject->version = model->version();
  subject->tables = MakeTables(model->model());
  subject->model = std::move(model);
  {
    absl::MutexLock lock(&subject->mu);
    for (const DriftHistogram& h : baseline.features()) {
      subject->live.emplace(h.feature(), WindowedHistogram(h.counts_size(), options_.window));
    }
    subject->baseline = std::move(baseline);
  }
  absl::MutexLock lock(&mu_);
  subjects_[key] = std::move(subject);
  return absl::OkStatus();
}

void DriftMonitor::ObserveRecommend(const std::string& model_name, int64_t version,
                                    bool fallback, const google::protobuf::RepeatedPtrField<ScoredItem>& items) {
  if (fallback || items.empty()) return;
  std::shared_ptr<Subject> s = Find("model/" + model_name);
  if ((s == nullptr || s->version != version) && options_.active_model) {
    // Activated by a path that did not capture it (or first traffic): the
    // active version is captured once, here.
    auto active = options_.active_model(model_name);
    if (!active.ok() || active->first->version() != version) return;
    if (!CaptureModel(active->first, active->second).ok()) return;
    s = Find("model/" + model_name);
  }
  if (s == nullptr || s->version != version) return;
  const ranking::FactorModel& m = s->model->model();
  absl::MutexLock lock(&s->mu);
  const DriftHistogram* score = s->Feature("score");
  const DriftHistogram* norm = s->Feature("item_embedding_norm");
  for (const ScoredItem& item : items) {
    if (score != nullptr) s->AddLive("score", NumericBin(*score, item.score()));
    const int32_t i = m.items().Find(item.item());
    if (norm != nullptr && i >= 0) {
      s->AddLive("item_embedding_norm", NumericBin(*norm, s->tables.item_norms[i]));
    }
  }
}

void DriftMonitor::ObserveInteractions(const google::protobuf::RepeatedPtrField<Interaction>& interactions) {
  std::vector<std::shared_ptr<Subject>> models;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, s] : subjects_) {
      if (s->kind == "model") models.push_back(s);
    }
  }
  for (const std::shared_ptr<Subject>& s : models) {
    const ranking::FactorModel& m = s->model->model();
    absl::MutexLock lock(&s->mu);
    const DriftHistogram* activity = s->Feature("user_activity");
    const DriftHistogram* popularity = s->Feature("item_popularity");
    for (const Interaction& x : interactions) {
      const int32_t u = m.users().Find(x.user());
      const int32_t i = m.items().Find(x.item());
      if (activity != nullptr) {
        s->AddLive("user_activity", NumericBin(*activity, u < 0 ? 0 : s->tables.user_counts[u]));
      }
      if (popularity != nullptr) {
        s->AddLive("item_popularity",
                   NumericBin(*popularity, i < 0 ? 0 : s->tables.item_counts[i]));
      }
    }
  }
}

std::shared_ptr<DriftMonitor::Subject> DriftMonitor::ExperimentSubject(
    const std::string& experiment) {
  const std::string key = "experiment/" + experiment;
  if (std::shared_ptr<Subject> s = Find(key)) return s;
  auto s = std::make_shared<Subject>();
  s->name = experiment;
  s->kind = "experiment";
  {
    absl::MutexLock lock(&s->mu);
    s->baseline.set_subject(experiment);
    s->baseline.set_kind("experiment");
    // A stored baseline (from before a restart) is reused as it is.
    if (!options_.data_dir.empty()) {
      auto stored = ReadFileToString(ExperimentBaselinePath(options_.data_dir, experiment));
      DriftBaseline b;
      if (stored.ok() && b.ParseFromString(*stored) && b.subject() == experiment) {
        s->baseline = std::move(b);
        for (const DriftHistogram& h : s->baseline.features()) {
          if (h.feature() == "reward") {
            s->rewards_frozen = true;
          } else {
            s->decisions_frozen = true;
          }
          s->live.emplace(h.feature(), WindowedHistogram(h.counts_size(), options_.window));
        }
      }
    }
  }
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = subjects_.emplace(key, s);
  return it->second;
}

namespace {

void StoreExperimentBaseline(const DriftMonitorOptions& o, const DriftBaseline& b) {
  if (!o.persist || o.data_dir.empty()) return;
  absl::Status s = MakeDirs(o.data_dir + "/drift");
  if (s.ok()) s = WriteFileAtomically(ExperimentBaselinePath(o.data_dir, b.subject()),
                                      b.SerializeAsString());
  if (!s.ok()) {
    std::fprintf(stderr, "drift: cannot store the baseline of %s: %s\n",
                 Quote(b.subject()).c_str(), std::string(s.message()).c_str());
  }
}

}  // namespace

void DriftMonitor::ObserveDecision(const std::string& experiment, const Context& context,
                                   const std::string& chosen_action) {
  std::shared_ptr<Subject> s = ExperimentSubject(experiment);
  int32_t sparse = 0;
  for (const Namespace& ns : context.namespaces()) sparse += ns.features_size();
  absl::MutexLock lock(&s->mu);
  if (!s->decisions_frozen) {
    if (s->dense_dims < 0) {
      s->dense_dims = std::min(context.dense_size(), kMaxDenseFeatures);
      s->dense_values.resize(s->dense_dims);
    }
    for (int32_t d = 0; d < s->dense_dims && d < context.dense_size(); ++d) {
      s->dense_values[d].push_back(context.dense(d));
    }
    s->sparse_counts.push_back(sparse);
    ++s->action_counts[chosen_action];
    if (++s->decisions_seen < options_.baseline_events) return;
    // Freeze: deciles per dense feature, log2 bins of the sparse count, the
    // most frequent actions (ties by id) plus "other".
    std::vector<DriftHistogram> made;
    for (int32_t d = 0; d < s->dense_dims; ++d) {
      made.push_back(QuantileHistogram(absl::StrCat("context.dense[", d, "]"),
                                       std::move(s->dense_values[d])));
    }
    DriftHistogram sp = Log2Histogram("context.sparse_features");
    for (double c : s->sparse_counts) {
      const int32_t bin = NumericBin(sp, c);
      sp.set_counts(bin, sp.counts(bin) + 1);
    }
    made.push_back(std::move(sp));
    std::vector<std::pair<int64_t, std::string>> by_count;
    for (const auto& [a, c] : s->action_counts) by_count.emplace_back(-c, a);
    std::sort(by_count.begin(), by_count.end());
    DriftHistogram actions;
    actions.set_feature("action");
    int64_t other = 0;
    for (size_t i = 0; i < by_count.size(); ++i) {
      if (static_cast<int32_t>(i) < kMaxActions) {
        actions.add_categories(by_count[i].second);
        actions.add_counts(-by_count[i].first);
      } else {
        other -= by_count[i].first;
      }
    }
    actions.add_categories("");
    actions.add_counts(other);
    made.push_back(std::move(actions));
    for (DriftHistogram& h : made) {
      s->live.emplace(h.feature(), WindowedHistogram(h.counts_size(), options_.window));
      *s->baseline.add_features() = std::move(h);
    }
    s->baseline.set_events(s->decisions_seen);
    s->baseline.set_created_unix_ms(NowMs());
    s->decisions_frozen = true;
    s->dense_values.clear();
    s->sparse_counts.clear();
    s->action_counts.clear();
    StoreExperimentBaseline(options_, s->baseline);
    return;
  }
  for (const DriftHistogram& h : s->baseline.features()) {
    const std::string& f = h.feature();
    if (f == "action") {
      s->AddLive(f, CategoryBin(h, chosen_action));
    } else if (f == "context.sparse_features") {
      s->AddLive(f, NumericBin(h, sparse));
    } else if (f.rfind("context.dense[", 0) == 0) {
      const int32_t d = std::atoi(f.c_str() + 14);
      if (d < context.dense_size()) s->AddLive(f, NumericBin(h, context.dense(d)));
    }
  }
}

void DriftMonitor::ObserveReward(const std::string& experiment, double value) {
  std::shared_ptr<Subject> s = ExperimentSubject(experiment);
  absl::MutexLock lock(&s->mu);
  const int32_t bin = value > 0 ? 1 : 0;
  if (s->rewards_frozen) {
    s->AddLive("reward", bin);
    return;
  }
  ++s->reward_counts[bin];
  if (s->reward_counts[0] + s->reward_counts[1] < options_.baseline_events) return;
  DriftHistogram h = RewardHistogram();
  h.set_counts(0, s->reward_counts[0]);
  h.set_counts(1, s->reward_counts[1]);
  s->live.emplace("reward", WindowedHistogram(2, options_.window));
  *s->baseline.add_features() = std::move(h);
  s->rewards_frozen = true;
  StoreExperimentBaseline(options_, s->baseline);
}

DriftReport DriftMonitor::ReportOf(Subject& s, const DriftThresholds& t) {
  DriftReport r;
  r.set_subject(s.name);
  r.set_kind(s.kind);
  r.set_model_version(s.version);
  r.set_psi_warn(t.warn);
  r.set_psi_alert(t.alert);
  r.set_window(options_.window);
  const int64_t min_live = std::min(kMinLive, options_.window);
  r.set_min_live(min_live);
  r.set_psi_epsilon(kPsiEpsilon);
  r.set_source(options_.source);
  DriftState worst = DRIFT_STATE_INSUFFICIENT_DATA;
  absl::MutexLock lock(&s.mu);
  for (const DriftHistogram& h : s.baseline.features()) {
    FeatureDrift* f = r.add_features();
    f->set_feature(h.feature());
    const std::vector<int64_t> base = Counts(h);
    auto it = s.live.find(h.feature());
    const std::vector<int64_t> live =
        it == s.live.end() ? std::vector<int64_t>(base.size(), 0) : it->second.counts();
    f->set_baseline_count(Total(base));
    f->set_live_count(Total(live));
    f->set_state(DRIFT_STATE_INSUFFICIENT_DATA);
    if (f->baseline_count() > 0 && f->live_count() >= min_live) {
      const double psi = Psi(base, live).value_or(0);
      f->set_psi(psi);
      f->set_js_divergence(JensenShannon(base, live).value_or(0));
      f->set_state(psi >= t.alert  ? DRIFT_STATE_ALERT
                   : psi >= t.warn ? DRIFT_STATE_WARN
                                   : DRIFT_STATE_OK);
    }
    worst = Worse(worst, f->state());
  }
  r.set_state(worst);
  return r;
}

absl::StatusOr<DriftReport> DriftMonitor::Report(const GetDriftReportRequest& request) {
  if (request.model_name().empty() == request.experiment().empty()) {
    return absl::InvalidArgumentError("give exactly one of model_name and experiment");
  }
  DriftThresholds t = options_.thresholds;
  if (request.psi_warn() != 0) t.warn = request.psi_warn();
  if (request.psi_alert() != 0) t.alert = request.psi_alert();
  RETURN_IF_ERROR(ValidateThresholds(t, "psi_warn", "psi_alert"));
  if (!request.model_name().empty()) {
    RETURN_IF_ERROR(ValidateName(request.model_name(), "model_name"));
    std::shared_ptr<Subject> s = Find("model/" + request.model_name());
    if (options_.active_model) {
      ASSIGN_OR_RETURN(auto active, options_.active_model(request.model_name()));
      if (s == nullptr || s->version != active.first->version()) {
        RETURN_IF_ERROR(CaptureModel(active.first, active.second));
        s = Find("model/" + request.model_name());
      }
    }
    if (s == nullptr) {
      return absl::NotFoundError(absl::StrCat("unknown model ", Quote(request.model_name())));
    }
    return ReportOf(*s, t);
  }
  RETURN_IF_ERROR(ValidateName(request.experiment(), "experiment"));
  if (options_.experiment_exists) RETURN_IF_ERROR(options_.experiment_exists(request.experiment()));
  return ReportOf(*ExperimentSubject(request.experiment()), t);
}

std::vector<DriftReport> DriftMonitor::ReportAll() {
  std::vector<std::shared_ptr<Subject>> all;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, s] : subjects_) all.push_back(s);
  }
  std::vector<DriftReport> out;
  for (const std::shared_ptr<Subject>& s : all) out.push_back(ReportOf(*s, options_.thresholds));
  return out;
}

}  // namespace recbandit::services

// Drift monitoring, the one home of its statistics: PSI and Jensen-Shannon
// divergence over fixed-bin histograms, the baselines captured with each
// model version and each experiment, the live windows the server fills from
// its traffic, and the per-feature report with its warn/alert verdicts.
// Used by the server (GetDriftReport, the recbandit_drift_* gauges) and by
// `recbandit monitor` (the same monitor fed from the data directory).
#ifndef RECBANDIT_SERVICES_MONITORING_DRIFT_H_
#define RECBANDIT_SERVICES_MONITORING_DRIFT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/common.pb.h"
#include "proto/drift.pb.h"
#include "proto/events.pb.h"

namespace recbandit::services {

class ServingModel;

// ---- statistics over bin counts

// Floor of a bin's proportion inside PSI, so an empty bin on either side
// gives a large but finite term (ln(a / 1e-4) instead of infinity).
inline constexpr double kPsiEpsilon = 1e-4;

// Returns the population stability index of `live` against `baseline`
// (counts over the same bins): sum_i (a_i - e_i) ln(a_i / e_i), with
// e_i = max(baseline_i / sum(baseline), epsilon) and likewise a_i (no
// renormalisation after the floor). INVALID_ARGUMENT when the sizes differ,
// a count is negative or a side has no observation.
absl::StatusOr<double> Psi(absl::Span<const int64_t> baseline, absl::Span<const int64_t> live,
                           double epsilon = kPsiEpsilon);
// Returns the Jensen-Shannon divergence of the two normalised count vectors,
// log base 2 (so in [0, 1]); 0 ln 0 = 0, no epsilon. Same errors as Psi.
absl::StatusOr<double> JensenShannon(absl::Span<const int64_t> p, absl::Span<const int64_t> q);

// PSI thresholds: a feature warns at psi >= warn and alerts at psi >= alert.
struct DriftThresholds {
  double warn = 0.1;
  double alert = 0.2;
};
// Largest threshold accepted.
inline constexpr double kMaxPsiThreshold = 10;
// Returns OK when 0 < warn <= alert <= 10 (both finite); INVALID_ARGUMENT
// naming `warn_name` or `alert_name` and the broken bound otherwise.
absl::Status ValidateThresholds(const DriftThresholds& t, absl::string_view warn_name,
                                absl::string_view alert_name);

// ---- histograms (proto DriftHistogram: edges or categories, and counts)

// Returns a histogram of `values` with up to `bins` bins whose edges are the
// values' quantiles (deciles for 10; repeated edges merged).
DriftHistogram QuantileHistogram(const std::string& feature, std::vector<double> values,
                                 int bins = 10);
// Returns an empty histogram with log2 bins for counts: 0 (unknown), 1,
// 2..3, 4..7, ..., 2^19..2^20-1, and one bin above.
DriftHistogram Log2Histogram(const std::string& feature);
// Returns the bin of numeric `value` in `h` (see DriftHistogram.edges).
int32_t NumericBin(const DriftHistogram& h, double value);
// Returns the bin of `category` in `h` (the last bin when unlisted).
int32_t CategoryBin(const DriftHistogram& h, std::string_view category);

// Counts of the last `capacity` bin indices added: a ring of bins and one
// count per bin, O(1) per Add, no allocation after construction.
// Thread-compatible (DriftMonitor guards each one with its subject's mutex).
class WindowedHistogram {
 public:
  WindowedHistogram(int32_t bins, int64_t capacity);
  // Adds one observation in bin `bin` (ignored when out of range), evicting
  // the oldest once `capacity` are held.
  void Add(int32_t bin);
  // Returns the current count of every bin.
  const std::vector<int64_t>& counts() const { return counts_; }
  int64_t size() const { return size_; }

 private:
  std::vector<int64_t> counts_;
  std::vector<int32_t> ring_;
  int64_t next_ = 0;
  int64_t size_ = 0;
};

// ---- baselines

// Returns the baseline of a model version: "user_activity" and
// "item_popularity" from its training interactions (each interaction counts
// the log2 bin of its user's, resp. its item's, number of training
// interactions), and "score" and "item_embedding_norm" (deciles) over the
// top-k slates (exclude_seen) of `sample_users` users drawn with `seed` as the
// users of uniformly drawn training interactions (so as active users ask
// more often). FAILED_PRECONDITION when the model kept no interactions.
absl::StatusOr<DriftBaseline> ComputeModelBaseline(const ServingModel& model,
                                                   int32_t sample_users, int32_t k,
                                                   uint64_t seed);

// Returns the baseline file of the model version in `version_dir`.
std::string ModelBaselinePath(const std::string& version_dir);
// Returns the baseline file of `experiment` under the data directory.
std::string ExperimentBaselinePath(const std::string& data_dir, const std::string& experiment);

struct DriftMonitorOptions {
  // Live window: observations kept per feature. 100..1000000.
  int64_t window = 1000;
  // Default thresholds of reports (validated).
  DriftThresholds thresholds;
  // An experiment's baseline: its first baseline_events decisions (and its
  // first baseline_events rewards for "reward"). 100..1000000.
  int64_t baseline_events = 1000;
  // Models: users sampled for the score baseline, slate size, seed.
  int32_t sample_users = 200;
  int32_t k = 10;
  uint64_t seed = 1;
  // Where experiment baselines are stored (<data_dir>/drift/); "" = not
  // stored. Model baselines go to the version directory given to
  // CaptureModel when `persist`.
  std::string data_dir;
  bool persist = true;
  // "server" or "log": DriftReport.source.
  std::string source = "server";
  // Returns the active snapshot of a model name and its version directory
  // (NOT_FOUND for an unknown name); used when a report or traffic names a
  // model not captured yet. May be empty (then such a model is NOT_FOUND).
  std::function<absl::StatusOr<std::pair<std::shared_ptr<const ServingModel>, std::string>>(
      const std::string&)>
      active_model;
  // Returns OK when the experiment exists (NOT_FOUND otherwise). May be
  // empty (then every experiment name is taken to exist).
  std::function<absl::Status(const std::string&)> experiment_exists;
};

// Live distributions of each model's and experiment's traffic against their
// baselines. Observations take one short mutex (the subject's) and do no
// allocation beyond a subject's first observation; an experiment's baseline
// file is written (once per part) on the observation that completes it.
// Thread-safe.
//
//   ASSIGN_OR_RETURN(auto monitor, DriftMonitor::Create(options));
//   RETURN_IF_ERROR(monitor->CaptureModel(snapshot, version_dir));
//   monitor->ObserveRecommend("movies", 3, false, items);
//   ASSIGN_OR_RETURN(DriftReport r, monitor->Report(request));
class DriftMonitor {
 public:
  // INVALID_ARGUMENT naming the option and its bound.
  static absl::StatusOr<std::unique_ptr<DriftMonitor>> Create(DriftMonitorOptions options);
  ~DriftMonitor();

  // Makes `model` the monitored version of its name: reads its stored
  // baseline (ModelBaselinePath(version_dir)) or computes it and stores it
  // there (when persist), then starts empty live windows. A no-op when that
  // version is already monitored.
  absl::Status CaptureModel(std::shared_ptr<const ServingModel> model,
                            const std::string& version_dir);

  // Observes one served slate of `model_name` version `version` (items best
  // first). Slates of another version than the monitored one, and fallback
  // (cold-start) slates, are not counted.
  void ObserveRecommend(const std::string& model_name, int64_t version, bool fallback,
                        const google::protobuf::RepeatedPtrField<ScoredItem>& items);
  // Observes real-time interactions against every monitored model.
  void ObserveInteractions(const google::protobuf::RepeatedPtrField<Interaction>& interactions);
  // Observes one decision of `experiment`.
  void ObserveDecision(const std::string& experiment, const Context& context,
                       const std::string& chosen_action);
  // Observes one reward value of `experiment`.
  void ObserveReward(const std::string& experiment, double value);

  // Returns the report of the request's subject. INVALID_ARGUMENT: not
  // exactly one of model_name / experiment, or thresholds out of bounds
  // (naming the field); NOT_FOUND: unknown model or experiment.
  absl::StatusOr<DriftReport> Report(const GetDriftReportRequest& request);
  // Returns the report of every subject with the default thresholds.
  std::vector<DriftReport> ReportAll();

 private:
  struct Subject;
  explicit DriftMonitor(DriftMonitorOptions options);
  std::shared_ptr<Subject> Find(const std::string& key) const;
  std::shared_ptr<Subject> ExperimentSubject(const std::string& experiment);
  DriftReport ReportOf(Subject& s, const DriftThresholds& t);

  const DriftMonitorOptions options_;
  absl::Mutex capture_mu_;  // serialises model captures
  mutable absl::Mutex mu_;
  // Key "model/<name>" or "experiment/<name>".
  std::map<std::string, std::shared_ptr<Subject>> subjects_ ABSL_GUARDED_BY(mu_);
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_MONITORING_DRIFT_H_

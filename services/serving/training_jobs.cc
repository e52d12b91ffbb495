// TrainingJobs: validation, the worker loop, training with progress and
// cancellation, saving the new version, building its index, activation.
#include "services/serving/training_jobs.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "bandits/experiment.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "ranking/train_params.h"
#include "ranking/training.h"
#include "ranking/interactions.h"
#include "retrieval/item_index.h"
#include "services/serving/model_builder.h"
#include "services/serving/model_store.h"

namespace recbandit::services {
namespace fs = std::filesystem;
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// True when `inner` is `root` or below it (both absolute and normalised).
bool IsWithin(const fs::path& inner, const fs::path& root) {
  auto r = root.begin(), i = inner.begin();
  for (; r != root.end(); ++r, ++i) {
    if (r->empty()) continue;  // trailing separator
    if (i == inner.end() || *i != *r) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> ResolveDataPath(const std::string& data_dir,
                                            const std::string& path, const std::string& field) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(fs::absolute(data_dir, ec), ec);
  if (ec || root.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot resolve the data directory ", Quote(data_dir), ": ", ec.message()));
  }
  fs::path p(path);
  if (p.is_relative()) p = root / p;
  const fs::path resolved = fs::weakly_canonical(p, ec);
  if (ec || !IsWithin(resolved, root)) {
    return absl::PermissionDeniedError(absl::StrCat(
        field, " ", Quote(path), " is outside the server's data directory ", root.string()));
  }
  if (!fs::exists(resolved, ec)) {
    return absl::NotFoundError(absl::StrCat(field, " ", Quote(path), " does not exist"));
  }
  return resolved.string();
}

TrainingJobs::TrainingJobs(ModelStore* store, TrainingJobsOptions options)
    : store_(store), options_(std::move(options)) {
  worker_ = std::thread([this] { WorkerLoop(); });
}

TrainingJobs::~TrainingJobs() { Shutdown(); }

void TrainingJobs::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (!shut_down_) {
      shut_down_ = true;
      for (auto& [id, entry] : jobs_) entry->cancel = true;
    }
  }
  absl::MutexLock join(&join_mu_);  // one caller joins; the others wait for it
  if (worker_.joinable()) worker_.join();
}

absl::StatusOr<Job> TrainingJobs::Submit(const TrainRequest& request) {
  RETURN_IF_ERROR(ValidateName(request.model_name(), "model_name"));
  RETURN_IF_ERROR(ranking::ValidateTrainParams(request.params()));
  if (!request.params().index_factory().empty()) {
    absl::Status index = retrieval::ValidateIndexFactory(request.params().index_factory(),
                                                         ranking::FactorsOf(request.params()));
    if (!index.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("params.index_factory: ", index.message()));
    }
  }
  if (request.k() < 0 || request.k() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("k must be in [0, 1000], got ", request.k()));
  }
  TrainRequest resolved = request;
  ASSIGN_OR_RETURN(*resolved.mutable_interactions_path(),
                   ResolveDataPath(options_.data_dir, request.interactions_path(),
                                   "interactions_path"));
  if (!request.test_path().empty()) {
    ASSIGN_OR_RETURN(*resolved.mutable_test_path(),
                     ResolveDataPath(options_.data_dir, request.test_path(), "test_path"));
  }
  if (resolved.k() == 0) resolved.set_k(10);
  absl::MutexLock lock(&mu_);
  if (shut_down_) return absl::UnavailableError("the server is shutting down");
  if (static_cast<int32_t>(queue_.size()) >= options_.max_queued) {
    return absl::ResourceExhaustedError(
        absl::StrCat(queue_.size(), " training jobs are already queued (at most ",
                     options_.max_queued, ")"));
  }
  auto entry = std::make_shared<Entry>();
  entry->request = std::move(resolved);
  Job& job = entry->job;
  job.set_job_id(absl::StrCat("job-", NowMs(), "-", ++next_id_));
  job.set_state(JOB_STATE_QUEUED);
  job.set_total_iterations(ranking::IterationsOf(request.params()));
  job.set_model_name(request.model_name());
  job.set_created_unix_ms(NowMs());
  Job copy = job;
  queue_.push_back(entry.get());
  jobs_[job.job_id()] = std::move(entry);
  return copy;
}

absl::StatusOr<Job> TrainingJobs::Get(const std::string& job_id) const {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("unknown job ", Quote(job_id)));
  return it->second->job;
}

absl::StatusOr<Job> TrainingJobs::WaitForChange(const std::string& job_id, int64_t* revision,
                                                absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("unknown job ", Quote(job_id)));
  const std::shared_ptr<const Entry> entry = it->second;
  const int64_t seen = *revision;
  auto changed = [&entry, seen]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return entry->revision > seen;
  };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  *revision = entry->revision;
  return entry->job;
}

absl::StatusOr<Job> TrainingJobs::Cancel(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("unknown job ", Quote(job_id)));
  Entry* entry = it->second.get();
  if (IsTerminal(entry->job.state())) return entry->job;
  entry->cancel = true;
  if (entry->job.state() == JOB_STATE_QUEUED) {
    for (auto q = queue_.begin(); q != queue_.end(); ++q) {
      if (*q == entry) {
        queue_.erase(q);
        break;
      }
    }
    entry->job.set_state(JOB_STATE_CANCELLED);
    ++entry->revision;
    finished_.push_back(job_id);
    Job copy = entry->job;
    ForgetOldLocked();
    return copy;
  }
  return entry->job;
}

std::map<JobState, int64_t> TrainingJobs::CountByState() const {
  absl::MutexLock lock(&mu_);
  std::map<JobState, int64_t> counts;
  for (const auto& [id, entry] : jobs_) ++counts[entry->job.state()];
  return counts;
}

void TrainingJobs::ForgetOldLocked() {
  while (static_cast<int32_t>(finished_.size()) > options_.max_finished) {
    jobs_.erase(finished_.front());
    finished_.pop_front();
  }
}

void TrainingJobs::Update(Entry* entry, const std::function<void(Job*)>& update) {
  absl::MutexLock lock(&mu_);
  update(&entry->job);
  ++entry->revision;
}

void TrainingJobs::WorkerLoop() {
  while (true) {
    Entry* entry = nullptr;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shut_down_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (shut_down_) {
        // Whatever is still queued is cancelled, never started.
        for (Entry* e : queue_) {
          e->job.set_state(JOB_STATE_CANCELLED);
          ++e->revision;
        }
        queue_.clear();
        return;
      }
      entry = queue_.front();
      queue_.pop_front();
      entry->job.set_state(JOB_STATE_RUNNING);
      ++entry->revision;
    }
    Run(entry);
  }
}

void TrainingJobs::Run(Entry* entry) {
  int64_t version = 0;
  absl::StatusOr<TrainReport> report = TrainAndActivate(entry, &version);
  Job finished;
  {
    absl::MutexLock lock(&mu_);
    Job& job = entry->job;
    job.set_eta_seconds(0);
    if (report.ok()) {
      job.set_state(JOB_STATE_SUCCEEDED);
      job.set_model_version(version);
      *job.mutable_report() = *report;
    } else if (absl::IsCancelled(report.status())) {
      job.set_state(JOB_STATE_CANCELLED);
    } else {
      job.set_state(JOB_STATE_FAILED);
      job.set_error(std::string(report.status().message()));
    }
    ++entry->revision;
    finished_.push_back(job.job_id());
    finished = job;
    ForgetOldLocked();  // never this entry: it was just pushed, max_finished >= 1
  }
  std::fprintf(stderr, "train job %s (%s): %s%s\n", finished.job_id().c_str(),
               finished.model_name().c_str(), JobState_Name(finished.state()).c_str(),
               finished.error().empty() ? "" : (": " + finished.error()).c_str());
  if (options_.on_finished) options_.on_finished(finished);
}

absl::StatusOr<TrainReport> TrainingJobs::TrainAndActivate(Entry* entry, int64_t* version) {
  const TrainRequest& request = entry->request;
  const TrainParams& params = request.params();
  ranking::LoadStats stats;
  ASSIGN_OR_RETURN(ranking::InteractionLog log,
                   ranking::LoadInteractions(request.interactions_path(), {}, &stats));
  int64_t extra = 0;
  if (options_.extra_interactions) {
    RETURN_IF_ERROR(options_.extra_interactions([&](const Interaction& x) {
      log.Add(log.users.GetOrAdd(x.user()), log.items.GetOrAdd(x.item()),
              x.weight() > 0 ? x.weight() : 1.0f, x.timestamp_us());
      ++extra;
    }));
  }
  RETURN_IF_ERROR(ranking::CheckHasInteractions(log, request.interactions_path(), stats));
  if (extra > 0) {
    std::fprintf(stderr, "train job %s: %lld real-time events added to %s\n",
                 entry->job.job_id().c_str(), static_cast<long long>(extra),
                 request.interactions_path().c_str());
  }
  const ranking::Interactions data = ranking::Interactions::FromLog(log);
  log = ranking::InteractionLog();
  if (!params.index_factory().empty()) {  // the item count is known now: fail before training
    absl::Status index = retrieval::ValidateIndexFactory(params.index_factory(),
                                                         ranking::FactorsOf(params),
                                                         data.num_items());
    if (!index.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("params.index_factory: ", index.message()));
    }
  }

  TrainReport report;
  double iteration_seconds = 0;
  int32_t iterations_run = 0;
  const ranking::IterationCallback callback =
      [&](const ranking::TrainingProgress& p, const ranking::FactorState&) -> absl::Status {
    iteration_seconds += p.seconds;
    ++iterations_run;
    if (!std::isnan(p.loss)) report.add_loss(p.loss);
    const double eta = iteration_seconds / iterations_run * (p.total - p.iteration);
    Update(entry, [&](Job* job) {
      job->set_iteration(p.iteration);
      job->set_total_iterations(p.total);
      job->set_loss(std::isnan(p.loss) ? 0 : p.loss);
      job->set_eta_seconds(eta);
    });
    if (entry->cancel) return absl::CancelledError("cancelled");
    return absl::OkStatus();
  };
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ranking::FactorState> state =
      ranking::Train(params, data, nullptr, callback);
  if (!state.ok()) return state.status();
  if (entry->cancel) return absl::CancelledError("cancelled");
  const double train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const int32_t threads = params.threads() > 0 ? params.threads() : 1;
  *version = store_->NextVersion(request.model_name());
  const std::string dir = store_->VersionDir(request.model_name(), *version);
  ASSIGN_OR_RETURN(ranking::FactorModel model,
                   MakeVersionedModel(data, params, *state, request.model_name(), *version,
                                      nullptr));
  if (!request.test_path().empty()) {
    ASSIGN_OR_RETURN(RankingMetrics metrics,
                     EvaluateOnTestFile(model, data.user_items(), request.test_path(),
                                        request.k(), threads, nullptr));
    *report.mutable_metrics() = metrics;
    ASSIGN_OR_RETURN(model, MakeVersionedModel(data, params, *state, request.model_name(),
                                               *version, &metrics));
  }
  if (entry->cancel) return absl::CancelledError("cancelled");
  // Written and indexed in a staging directory, then renamed into place: a
  // version directory is complete from the moment it exists (ModelStore
  // ignores names that are not numbers).
  const std::string staging = dir + ".staging";
  std::error_code ignored;
  fs::remove_all(staging, ignored);
  RETURN_IF_ERROR(MakeDirs(fs::path(dir).parent_path().string()));
  absl::Status staged = model.Save(staging);
  if (staged.ok() && !params.index_factory().empty()) {
    staged = BuildModelIndex(staging, params.index_factory(), threads, nullptr);
    report.set_index_factory(params.index_factory());
  }
  if (staged.ok() && entry->cancel) staged = absl::CancelledError("cancelled");
  if (staged.ok()) {
    fs::rename(staging, dir, ignored);
    if (ignored) {
      staged = absl::InternalError(
          absl::StrCat("cannot rename ", staging, " to ", dir, ": ", ignored.message()));
    }
  }
  if (!staged.ok()) {
    fs::remove_all(staging, ignored);
    return staged;
  }
  // A new version of the default model's name is served at once; another
  // name becomes the default only when there is none (ActivateModel says so
  // explicitly).
  absl::Status activated =
      store_->Activate(request.model_name(), *version, /*make_default=*/false).status();
  if (!activated.ok()) {
    fs::remove_all(dir, ignored);  // never keep a version that does not serve
    return activated;
  }
  store_->Prune(request.model_name());  // the newest --keep_versions stay

  FillTrainReport(data, params, *state, iterations_run, iteration_seconds, train_seconds, dir,
                  &report);
  return report;
}

}  // namespace recbandit::services

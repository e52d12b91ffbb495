// TrainingJobs: the server's queue of training jobs (Recommender.Train):
// one worker trains them in submission order, reports progress, honours
// cancellation, saves each model as a new version and swaps it in.
#ifndef RECBANDIT_SERVICES_SERVING_TRAINING_JOBS_H_
#define RECBANDIT_SERVICES_SERVING_TRAINING_JOBS_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/events.pb.h"
#include "proto/recommender.pb.h"

namespace recbandit::services {

class ModelStore;

// Returns `path` resolved against `data_dir` when relative, after checking
// that it stays inside `data_dir` (PERMISSION_DENIED otherwise, symlinks and
// ".." included) and exists (NOT_FOUND). INVALID_ARGUMENT naming `field` when
// empty.
absl::StatusOr<std::string> ResolveDataPath(const std::string& data_dir,
                                            const std::string& path, const std::string& field);

// Returns true for the states a job never leaves (SUCCEEDED, FAILED,
// CANCELLED).
inline bool IsTerminal(JobState s) {
  return s == JOB_STATE_SUCCEEDED || s == JOB_STATE_FAILED || s == JOB_STATE_CANCELLED;
}

struct TrainingJobsOptions {
  // The server's data directory: request paths resolve against it and must
  // stay inside it. Required.
  std::string data_dir;
  // Jobs waiting (not counting the running one) before Submit refuses with
  // RESOURCE_EXHAUSTED. >= 1.
  int32_t max_queued = 16;
  // Finished jobs remembered for GetJob (oldest forgotten first). >= 1.
  int32_t max_finished = 1000;
  // Interactions to train on besides the request's file (the real-time
  // events of PutEvents); null = none. Called on the worker thread.
  std::function<absl::Status(const std::function<void(const Interaction&)>&)> extra_interactions;
  // Called after a job's version is activated (metrics, logs); may be null.
  std::function<void(const Job&)> on_finished;
};

// Thread-safe. The destructor cancels queued and running jobs and joins the
// worker.
//
//   TrainingJobs jobs(store, {.data_dir = dir});
//   ASSIGN_OR_RETURN(Job job, jobs.Submit(request));   // QUEUED or RUNNING
//   ... jobs.Get(job.job_id()) until a terminal state
class TrainingJobs {
 public:
  TrainingJobs(ModelStore* store, TrainingJobsOptions options);
  ~TrainingJobs();
  TrainingJobs(const TrainingJobs&) = delete;
  TrainingJobs& operator=(const TrainingJobs&) = delete;

  // Validates `request` (proto/recommender.proto TrainRequest: names, params,
  // paths) and queues it. Returns the job as queued. INVALID_ARGUMENT,
  // NOT_FOUND, PERMISSION_DENIED as documented there; RESOURCE_EXHAUSTED when
  // max_queued jobs wait; UNAVAILABLE after Shutdown.
  absl::StatusOr<Job> Submit(const TrainRequest& request);

  // Returns the job's current state. NOT_FOUND for an unknown id.
  absl::StatusOr<Job> Get(const std::string& job_id) const;

  // Returns the job once its revision (a counter bumped by every change) is
  // above `*revision`, or when `timeout` passes, whichever is first; sets
  // `*revision` to the revision returned. NOT_FOUND for an unknown id.
  absl::StatusOr<Job> WaitForChange(const std::string& job_id, int64_t* revision,
                                    absl::Duration timeout) const;

  // Cancels a job: a queued one at once, a running one at its next iteration
  // or after its index build, whichever comes first (no model is written;
  // once the version is in place the job completes). A finished job is
  // returned unchanged.
  absl::StatusOr<Job> Cancel(const std::string& job_id);

  // Returns the number of jobs in each JobState (metrics).
  std::map<JobState, int64_t> CountByState() const;

  // Cancels every queued and running job and stops the worker. Idempotent.
  void Shutdown();

 private:
  struct Entry {
    Job job;
    TrainRequest request;  // paths already resolved
    int64_t revision = 0;
    std::atomic<bool> cancel{false};
  };

  void WorkerLoop();
  // Runs one job to a terminal state.
  void Run(Entry* entry);
  // Trains, saves and activates; returns the report (FAILED/CANCELLED status
  // otherwise).
  absl::StatusOr<TrainReport> TrainAndActivate(Entry* entry, int64_t* version);
  // Applies `update` to the job under the lock and bumps its revision.
  void Update(Entry* entry, const std::function<void(Job*)>& update) ABSL_LOCKS_EXCLUDED(mu_);
  void ForgetOldLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ModelStore* const store_;
  const TrainingJobsOptions options_;
  mutable absl::Mutex mu_;
  // Shared: WaitForChange keeps its entry alive while it waits unlocked,
  // even if the entry is forgotten meanwhile (max_finished).
  std::map<std::string, std::shared_ptr<Entry>> jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<Entry*> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> finished_ ABSL_GUARDED_BY(mu_);  // oldest first
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex join_mu_;  // serialises joining the worker
  std::thread worker_;
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_TRAINING_JOBS_H_

// JobQueue: the server's durable queue of jobs: training (Recommender.Train,
// with optional validation gates) and batch recommendation
// (Recommender.BatchRecommend). One worker runs them in submission order,
// reports progress, honours cancellation, and keeps every job's record under
// <data_dir>/jobs/<job_id>/ so a restart takes queued and running jobs up
// again (a training job from its last checkpoint).
#ifndef RECBANDIT_SERVICES_SERVING_JOB_QUEUE_H_
#define RECBANDIT_SERVICES_SERVING_JOB_QUEUE_H_

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
#include "proto/jobs.pb.h"
#include "proto/recommender.pb.h"
#include "services/serving/serving_model.h"

namespace recbandit::services {

class ModelStore;

// Returns `path` resolved against `data_dir` when relative, after checking
// that it stays inside `data_dir` (PERMISSION_DENIED otherwise, symlinks and
// ".." included) and exists (NOT_FOUND). INVALID_ARGUMENT naming `field` when
// empty.
absl::StatusOr<std::string> ResolveDataPath(const std::string& data_dir,
                                            const std::string& path, const std::string& field);

// As ResolveDataPath for a file to be written: its folder must exist inside
// `data_dir` (NOT_FOUND otherwise) and the path must not be a directory
// (INVALID_ARGUMENT); the file itself need not exist.
absl::StatusOr<std::string> ResolveOutputPath(const std::string& data_dir,
                                              const std::string& path, const std::string& field);

// Returns true for the states a job never leaves (SUCCEEDED, NOT_PROMOTED,
// FAILED, CANCELLED).
inline bool IsTerminal(JobState s) {
  return s == JOB_STATE_SUCCEEDED || s == JOB_STATE_NOT_PROMOTED || s == JOB_STATE_FAILED ||
         s == JOB_STATE_CANCELLED;
}

struct JobQueueOptions {
  // The server's data directory: request paths resolve against it and must
  // stay inside it; job records live in its jobs/ folder. Required.
  std::string data_dir;
  // Jobs waiting (not counting the running one) before Submit refuses with
  // RESOURCE_EXHAUSTED. >= 1.
  int32_t max_queued = 16;
  // Finished jobs remembered for GetJob (oldest forgotten first, their
  // records deleted). >= 1.
  int32_t max_finished = 1000;
  // Interactions to train on besides the request's file (the real-time
  // events of PutEvents); null = none. Called on the worker thread, once per
  // job: a resumed job trains on the copy saved when it first started.
  std::function<absl::Status(const std::function<void(const Interaction&)>&)> extra_interactions;
  // Compiles a BatchRecommend job's catalog filter (the hidden items left
  // out even when it is empty), at submission to check it and when the job
  // starts to run it; null = no catalog: a non-empty filter is refused.
  std::function<absl::StatusOr<std::shared_ptr<const RowFilter>>(const Filter&)> compile_filter;
  // Called after a job reaches a terminal state (metrics, logs); may be null.
  std::function<void(const Job&)> on_finished;
  // Whether Open starts the worker. False: jobs wait for Start(), so that
  // what on_finished uses can be wired up after Open returns.
  bool start_worker = true;
};

// Thread-safe. The destructor (and Shutdown) stops the worker: the running
// job stops at its next iteration and, like the queued ones, stays queued on
// disk for the next Open.
//
//   ASSIGN_OR_RETURN(auto jobs, JobQueue::Open(store, {.data_dir = dir}));
//   ASSIGN_OR_RETURN(Job job, jobs->Submit(request));   // QUEUED
//   ... jobs->WaitForChange(job.job_id(), &revision, timeout) until terminal
class JobQueue {
 public:
  // Reads the job records under <data_dir>/jobs/ (a damaged record is
  // reported on stderr and moved aside to job.record.corrupt), queues the
  // unfinished jobs again in submission order (counting a restart for the
  // one that was running) and starts the worker (unless
// options.start_worker is false). I/O errors creating the
  // folder.
  static absl::StatusOr<std::unique_ptr<JobQueue>> Open(ModelStore* store,
                                                        JobQueueOptions options);
  // Starts the worker when Open did not (options.start_worker false). Call
  // once, before Shutdown.
  void Start();
  ~JobQueue();
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // Validates `request` (proto/recommender.proto TrainRequest: names,
  // params, gates, paths), records it durably and queues it. Returns the job
  // as queued. INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED as documented
  // there; RESOURCE_EXHAUSTED when max_queued jobs wait; UNAVAILABLE after
  // Shutdown.
  absl::StatusOr<Job> Submit(const TrainRequest& request);
  // The same for a BatchRecommendRequest (the model is checked to exist).
  absl::StatusOr<Job> Submit(const BatchRecommendRequest& request);

  // Returns the job's current state. NOT_FOUND for an unknown id.
  absl::StatusOr<Job> Get(const std::string& job_id) const;

  // Returns the job once its revision (a counter bumped by every change) is
  // above `*revision`, or when `timeout` passes, whichever is first; sets
  // `*revision` to the revision returned. NOT_FOUND for an unknown id.
  absl::StatusOr<Job> WaitForChange(const std::string& job_id, int64_t* revision,
                                    absl::Duration timeout) const;

  // Cancels a job: a queued one at once, a running one at its next iteration
  // (or chunk of users) or after its index build, whichever comes first (no
  // model or file is written; once the version is in place the job
  // completes). A finished job is returned unchanged.
  absl::StatusOr<Job> Cancel(const std::string& job_id);

  // Returns the number of jobs in each JobState (metrics).
  std::map<JobState, int64_t> CountByState() const;

  // Stops the worker; unfinished jobs stay recorded for the next Open.
  // Idempotent.
  void Shutdown();

 private:
  struct Entry {
    JobRecord record;  // record.job is the live state; paths resolved
    int64_t revision = 0;
    std::atomic<bool> cancel{false};  // CancelJob asked
  };

  JobQueue(ModelStore* store, JobQueueOptions options);
  absl::Status Recover();
  absl::StatusOr<Job> Enqueue(JobRecord record);
  void WorkerLoop();
  // Runs one job to a terminal state (or leaves it unfinished at shutdown).
  void Run(Entry* entry);
  // Trains, saves, validates and activates; returns the report and sets
  // *promoted (CANCELLED / FAILED status otherwise).
  absl::StatusOr<TrainReport> TrainAndActivate(Entry* entry, int64_t* version, bool* promoted);
  absl::StatusOr<BatchRecommendReport> RecommendToFile(Entry* entry);
  // Returns a BatchRecommend filter (null: nothing filtered), through
  // options_.compile_filter.
  absl::StatusOr<std::shared_ptr<const RowFilter>> BatchFilter(const Filter& filter) const;
  // True when the job should stop now (CancelJob or Shutdown).
  bool Stopping(const Entry& entry) const;
  // Applies `update` to the job under the lock and bumps its revision.
  void Update(Entry* entry, const std::function<void(Job*)>& update) ABSL_LOCKS_EXCLUDED(mu_);
  // Writes the entry's record (a copy taken under the lock) atomically.
  absl::Status Persist(Entry* entry) ABSL_LOCKS_EXCLUDED(mu_);
  std::string JobDir(const std::string& job_id) const;
  void ForgetOldLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ModelStore* const store_;
  const JobQueueOptions options_;
  const std::string jobs_dir_;
  mutable absl::Mutex mu_;
  // Shared: WaitForChange keeps its entry alive while it waits unlocked,
  // even if the entry is forgotten meanwhile (max_finished).
  std::map<std::string, std::shared_ptr<Entry>> jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<Entry*> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> finished_ ABSL_GUARDED_BY(mu_);  // oldest first
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t submitting_ ABSL_GUARDED_BY(mu_) = 0;  // Enqueue calls writing their record
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> stopping_{false};  // Shutdown began
  absl::Mutex join_mu_;  // serialises joining the worker
  std::thread worker_;
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_JOB_QUEUE_H_

// Bandit experiments: variants with traffic weights assigned by hashing a unit
// id, shadow policies, durable Decide (logged before it returns), Reward joined
// by event id, and learning that survives restarts (snapshots + journal replay).
#ifndef RECBANDIT_BANDITS_EXPERIMENT_H_
#define RECBANDIT_BANDITS_EXPERIMENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "absl/synchronization/mutex.h"
#include "bandits/explore.h"
#include "bandits/log/event_log.h"
#include "bandits/features.h"
#include "bandits/policy.h"
#include "bandits/stored_features.h"
#include "proto/experiments.pb.h"

namespace recbandit::bandits {

struct ExperimentManagerOptions {
  // Options of the event log Open(data_dir, ...) opens under
  // <data_dir>/events (mode must be kReadWrite; tests inject the clock here,
  // now_us). Unused when the caller hands in its own log.
  EventLogOptions log;
  // Monte Carlo draws behind lin_ts pmfs (PolicyOptions::thompson_pmf_draws;
  // thompson's pmf is exact). 1..1000000; default 1000.
  int32_t thompson_pmf_draws = 1000;
  // true (default): Shutdown() and the destructor snapshot every policy.
  // false: no final snapshot (tests of restart replay).
  bool snapshot_on_shutdown = true;
  // Scale-out (--stream): true makes Reward only validate the reward and put
  // it in the log's outbox (RewardResponse.queued); the reward is joined and
  // learned when the stream hands it back, through ApplyStreamReward, in
  // stream order on every replica. REQUIRES: the log has an outbox_origin.
  bool replicated = false;
  // Stored attributes DecideRequest.stored_features read (the server's
  // catalog); null = none, and such requests fail with FAILED_PRECONDITION.
  // Not owned; must outlive the manager.
  const AttributeSource* attributes = nullptr;
};

// An exploring slate decision: Recommender.Recommend with an experiment.
struct SlateRequest {
  // experiment, event_id, unit_id and context as for Decide; actions are the
  // candidates in the model's order, best first.
  DecideRequest decide;
  // Positions to fill. 1..number of actions.
  int32_t slate_size = 1;
  // How far the slate may depart from the model's order. 0..1.
  double exploration_weight = 0;
};

// A logged slate.
struct SlateDecision {
  // The decision of the first position (event id, pmf over every action,
  // propensity, variant...).
  DecideResponse decide;
  std::vector<int32_t> slate;         // indices into actions, display order
  std::vector<double> propensities;   // per position, given the earlier ones
};

// Owns every experiment of one server: configs, live policies and the event
// log. Thread-safe: Decide and Reward may run concurrently from any threads.
//
//   ASSIGN_OR_RETURN(auto manager, ExperimentManager::Open(data_dir, {}));
//   ASSIGN_OR_RETURN(DecideResponse d, manager->Decide(request));  // logged
//   ASSIGN_OR_RETURN(RewardResponse r, manager->Reward(reward));
//
// Learning (bandits/log/log_format.md, "Learning from rewards"): the first in-window
// reward of a decision is learned with its value; later in-window rewards are
// learned with the change they make to the aggregate (SUM: the value; LAST: new
// minus old; FIRST: never), skipped when that change is 0; late rewards are
// stored, never learned. So the rewards a policy learned from a decision always
// sum to its aggregated reward. The decision's variant policy and every shadow
// policy learn (shadows learn the logged action's reward). Learned rewards are
// journaled with a per-experiment sequence number in the same durable write as
// the reward and applied in that order; a snapshot of every policy is written
// every snapshot_every_rewards learned rewards and at shutdown; Open restores
// each policy from its latest snapshot and replays the journal after it.
class ExperimentManager {
 public:
  // Restores every experiment stored in `log` (its policies from their
  // snapshots and the journal) and decides, rewards and snapshots through it.
  // The log is the caller's: the server owns it and hands the same log to
  // PutEvents. REQUIRES: `log` is read-write (else INVALID_ARGUMENT) and
  // outlives the manager.
  static absl::StatusOr<std::unique_ptr<ExperimentManager>> Open(
      EventLog* log, ExperimentManagerOptions options);
  // Opens (creating if needed) the log under `data_dir` with options.log and
  // owns it (tools and tests). UNAVAILABLE when another process holds it.
  static absl::StatusOr<std::unique_ptr<ExperimentManager>> Open(
      const std::string& data_dir, ExperimentManagerOptions options);
  // Calls Shutdown().
  ~ExperimentManager();
  ExperimentManager(const ExperimentManager&) = delete;
  ExperimentManager& operator=(const ExperimentManager&) = delete;

  // Validates `config` (bounds in proto/events.proto ExperimentConfig), fills
  // defaults (aggregation SUM, snapshot_every_rewards 100, canonical policy
  // specs, created_unix_ms), stores it durably and returns it as stored.
  // INVALID_ARGUMENT naming the field; ALREADY_EXISTS for a taken name.
  absl::StatusOr<ExperimentConfig> CreateExperiment(ExperimentConfig config);
  // NOT_FOUND for an unknown name.
  absl::StatusOr<ExperimentConfig> GetExperiment(const std::string& name) const;
  // Returns every experiment sorted by name.
  std::vector<ExperimentConfig> ListExperiments() const;

  // Chooses an action and logs the decision durably before returning (see
  // proto/experiments.proto Decide for the error codes).
  absl::StatusOr<DecideResponse> Decide(const DecideRequest& request);
  // Decide without blocking the caller: the decision is made at once and
  // queued to the event log's committer; `done` runs once it is durable (or
  // with the error), on the committer thread or, for errors found before
  // logging, on the calling thread. `done` must not block.
  void DecideAsync(const DecideRequest& request,
                   std::function<void(absl::StatusOr<DecideResponse>)> done);
  // Chooses and logs a slate (see DrawSlate and log_format.md "Slates"); a
  // later Reward of its event id is learned for the first item. Errors as
  // Decide, plus INVALID_ARGUMENT for slate_size or exploration_weight out of
  // bounds.
  absl::StatusOr<SlateDecision> DecideSlate(const SlateRequest& request);
  // Joins a reward and learns from it (proto/experiments.proto Reward).
  absl::StatusOr<RewardResponse> Reward(const RewardRequest& request);

  // ---- scale-out: records read back from the shared stream, in its order.
  // Joins a reward to its decision and learns from it, as Reward does on one
  // server, with the reward's own arrival time judging the window. OK when
  // it was applied already (a replay). NOT_FOUND: unknown experiment or
  // decision; INVALID_ARGUMENT as Reward (nothing stored).
  absl::Status ApplyStreamReward(const StreamReward& reward);
  // Adds an experiment created on another replica (config as stored there).
  // OK when it exists already.
  absl::Status ApplyStreamExperiment(const ExperimentConfig& config);

  // Writes a snapshot of every policy of every experiment now.
  absl::Status SnapshotAll();
  // Snapshots every policy (unless options say not to). Later calls are
  // no-ops. Decide and Reward must not run concurrently with or after it.
  absl::Status Shutdown();

  // The underlying log (for export and OPE in the same process).
  const EventLog& log() const { return *log_; }

  // Returns the current learned state of `variant` ("shadow:<spec>" for a
  // shadow) of `experiment` (tests and tools). NOT_FOUND when unknown.
  absl::StatusOr<PolicyState> PolicyStateOf(const std::string& experiment,
                                            const std::string& variant) const;

 private:
  struct Slot {
    std::string key;                 // variant name or "shadow:<spec>"
    std::unique_ptr<Policy> policy;
    int64_t restored_seq = 0;        // journal seq its restored snapshot covers
  };
  struct Experiment {
    ExperimentConfig config;
    FeatureSpace space;
    std::vector<Slot> variants;      // config order
    std::vector<Slot> shadows;       // config order
    std::vector<double> weights;     // traffic weights, variants order
    uint64_t salt = 0;               // StableHash64(name): variant assignment
    absl::Mutex learn_mu;
    int64_t next_seq ABSL_GUARDED_BY(learn_mu) = 0;     // last allocated
    int64_t applied_seq ABSL_GUARDED_BY(learn_mu) = 0;  // all <= applied done
    int64_t since_snapshot ABSL_GUARDED_BY(learn_mu) = 0;
  };

  struct Turn {
    Experiment* experiment;
    int64_t seq;
  };
  // Await condition: every learned reward before turn->seq has been applied.
  static bool IsMyTurn(Turn* turn) ABSL_NO_THREAD_SAFETY_ANALYSIS;

  ExperimentManager(ExperimentManagerOptions options, EventLog* log,
                    std::unique_ptr<EventLog> owned_log);
  // Open's common part: restores every stored experiment into `manager`.
  static absl::StatusOr<std::unique_ptr<ExperimentManager>> Restored(
      std::unique_ptr<ExperimentManager> manager);
  // Makes the decision (and the slate when `slate` is non-null) and fills the
  // event to log, without logging it.
  absl::StatusOr<DecideResponse> Prepare(const DecideRequest& request,
                                         const SlateRequest* slate_request, SlateDecision* slate,
                                         DecisionEvent* event);
  // Maps an event-log append error to Decide's codes.
  static absl::Status LogError(absl::Status logged);
  // Decide, and DecideSlate when `slate` is non-null (filled on success).
  absl::StatusOr<DecideResponse> DecideImpl(const DecideRequest& request,
                                            const SlateRequest* slate_request,
                                            SlateDecision* slate);
  absl::StatusOr<std::shared_ptr<Experiment>> Build(const ExperimentConfig& config) const;
  absl::Status Restore(Experiment& e);
  absl::StatusOr<std::shared_ptr<Experiment>> Find(const std::string& name) const;
  // Applies `outcome` (of AddReward; `seq` the journal position it took, -1
  // when none) in journal order and snapshots when due.
  absl::Status LearnInTurn(Experiment& e, int64_t seq,
                           const absl::StatusOr<RewardOutcome>& outcome);
  // Applies one learned reward to the decision's variant policy and the
  // shadows whose snapshot does not already cover `seq`.
  absl::Status Learn(Experiment& e, const DecisionEvent& decision, double value, int64_t seq);
  absl::Status SnapshotLocked(Experiment& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e.learn_mu);

  const ExperimentManagerOptions options_;
  std::unique_ptr<EventLog> owned_log_;  // null when the caller owns the log
  EventLog* const log_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Experiment>> experiments_
      ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_EXPERIMENT_H_

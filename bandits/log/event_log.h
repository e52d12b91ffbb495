// The durable bandit event log: decisions, rewards, learned-reward journal,
// policy snapshots and experiment configs in RocksDB under <data_dir>/events.
// Key layout and value types: bandits/log/log_format.md; options and results:
// log_types.h; key encodings: log_keys.h.
#ifndef RECBANDIT_BANDITS_LOG_EVENT_LOG_H_
#define RECBANDIT_BANDITS_LOG_EVENT_LOG_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "absl/synchronization/mutex.h"
#include "bandits/log/log_types.h"
#include "proto/deployments.pb.h"
#include "proto/events.pb.h"
#include "proto/replication.pb.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace recbandit::bandits {

// The RocksDB event log. Thread-safe: any number of threads may append and
// read concurrently. Exactly one process may open a log read-write; others
// open it kReadOnly or kSecondary.
//
//   ASSIGN_OR_RETURN(auto log, EventLog::Open(data_dir, {}));
//   RETURN_IF_ERROR(log->AppendDecision(event));   // durable on return
//   ASSIGN_OR_RETURN(RewardOutcome r, log->AddReward(config, event_id, 1.0, alloc));
class EventLog {
 public:
  // Returns the log under `data_dir`/events. NOT_FOUND when opening a missing
  // log read-only or as a secondary; UNAVAILABLE when another process holds it
  // read-write; DATA_LOSS naming the file when any file of the log is damaged
  // (a corrupt write-ahead-log record anywhere but a torn last record, a
  // truncated, missing or corrupt table file): the log never drops an
  // acknowledged event in silence. Repair() is the explicit way past it.
  static absl::StatusOr<std::unique_ptr<EventLog>> Open(const std::string& data_dir,
                                                        EventLogOptions options);

  // Repairs the log under `data_dir`/events when Open refuses it for a damaged
  // write-ahead log: copies the whole log folder aside first
  // (`events.damaged-<UTC time>`), replays every readable record, skipping
  // damaged ones, and reports what was dropped. A log that opens as it is is
  // left untouched (an empty report). Damaged table files cannot be repaired
  // this way (DATA_LOSS). UNAVAILABLE while a server holds the log.
  static absl::StatusOr<LogRepairReport> Repair(const std::string& data_dir);

  // Writes every column family's memtable to table files (tests, repair).
  absl::Status Flush();
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // How this log was opened.
  EventLogOptions::Mode mode() const { return options_.mode; }
  // Returns the current time of the log's clock (microseconds).
  int64_t NowUs() const { return options_.now_us(); }

  // ---- experiments
  // Stores `config` durably. ALREADY_EXISTS when the name is taken.
  absl::Status CreateExperiment(const ExperimentConfig& config);
  // NOT_FOUND for an unknown name; DATA_LOSS for a corrupt record.
  absl::StatusOr<ExperimentConfig> GetExperiment(const std::string& name) const;
  // Returns every experiment sorted by name. A corrupt record fails with
  // DATA_LOSS, or is skipped and counted with `skip_corrupt`.
  absl::StatusOr<std::vector<ExperimentConfig>> ListExperiments(bool skip_corrupt = false,
                                                                ScanStats* stats = nullptr) const;

  // ---- decisions
  // Appends `event` (event_id, experiment and timestamp_us set) durably: when
  // this returns OK the decision survives a crash. ALREADY_EXISTS when the
  // event id is already logged (or being logged by another thread).
  absl::Status AppendDecision(const DecisionEvent& event);
  // Same contract, without blocking: checks the event at once (`done` gets
  // INVALID_ARGUMENT or ALREADY_EXISTS before this returns), then queues it
  // for the committer thread, which writes everything queued meanwhile in one
  // synced batch and calls `done` with the outcome (OK = durable) on that
  // thread. `done` must not block. Events are written in the order queued.
  void AppendDecisionAsync(DecisionEvent event, std::function<void(absl::Status)> done);
  // Returns the decision with `event_id`. NOT_FOUND; DATA_LOSS naming the key.
  absl::StatusOr<DecisionEvent> GetDecision(const std::string& event_id) const;
  // Calls `fn` for each decision of `experiment` with start_us <= timestamp_us
  // < end_us (end_us 0 = no end), in time order (ties by event id). Stops at
  // the first non-OK status `fn` returns. A value that does not parse fails
  // with DATA_LOSS naming its key, or is skipped and counted with
  // `skip_corrupt`. `stats` may be null.
  absl::Status ScanDecisions(const std::string& experiment, int64_t start_us, int64_t end_us,
                             const std::function<absl::Status(const DecisionEvent&)>& fn,
                             bool skip_corrupt = false, ScanStats* stats = nullptr) const;

  // ---- rewards
  // Joins a reward of `value` to decision `event_id` of experiment `config`:
  // stores it (late when it arrives more than reward_window_ms after the
  // decision), recomputes the aggregate, and decides whether the policy learns
  // (see bandits/log/log_format.md, "Learning from rewards"). When it does,
  // `next_learn_seq` is called once (under the event's lock) for the journal
  // sequence number, and the journal entry is written in the same atomic,
  // durable batch as the reward record. NOT_FOUND: unknown event id;
  // INVALID_ARGUMENT: a value or aggregate outside [-kMaxAbsReward,
  // kMaxAbsReward] (nothing is written), or a decision of another experiment.
  // An empty `next_learn_seq` means nothing learns from the reward (a
  // deployment's slate): no journal entry is written and `learned` is false.
  // `position` is stored with the reward (1-based slate position; 0 = the
  // whole event).
  absl::StatusOr<RewardOutcome> AddReward(const ExperimentConfig& config,
                                          const std::string& event_id, double value,
                                          const std::function<int64_t()>& next_learn_seq,
                                          int32_t position = 0);
  // The same, for a reward read from the shared stream: its `timestamp_us`
  // (the arrival time at the replica that received it) judges the reward
  // window and is stored, and `reward_id` is stored with it; ALREADY_EXISTS
  // when a reward with that id is stored already (applied before a restart).
  absl::StatusOr<RewardOutcome> AddReplicatedReward(const ExperimentConfig& config,
                                                    const StreamReward& reward,
                                                    const std::function<int64_t()>& next_learn_seq);
  // INVALID_ARGUMENT unless `value` is finite and within [-kMaxAbsReward,
  // kMaxAbsReward] (the bound every stored reward obeys).
  static absl::Status CheckRewardValue(double value);
  // Returns the rewards of `event_id`. NOT_FOUND when none arrived.
  absl::StatusOr<RewardRecord> GetRewards(const std::string& event_id) const;

  // ---- learned journal
  // Returns the largest learn_seq stored for `experiment`, or 0 when none.
  absl::StatusOr<int64_t> LastLearnSeq(const std::string& experiment) const;
  // Calls `fn(seq, entry)` for each learned reward of `experiment` with
  // seq > after_seq, in sequence order. Corrupt entries: DATA_LOSS, or skipped
  // and counted with `skip_corrupt`.
  absl::Status ScanLearned(
      const std::string& experiment, int64_t after_seq,
      const std::function<absl::Status(int64_t, const LearnedReward&)>& fn,
      bool skip_corrupt = false, ScanStats* stats = nullptr) const;

  // ---- snapshots
  // Stores `snapshot` (experiment, variant, version set). Not synced on its
  // own: the journal it summarises is durable, so a lost snapshot only means
  // a longer replay.
  absl::Status PutSnapshot(const PolicySnapshot& snapshot);
  // Returns the snapshot of (experiment, variant) with the highest version, or
  // nullopt when there is none.
  absl::StatusOr<std::optional<PolicySnapshot>> LatestSnapshot(const std::string& experiment,
                                                               const std::string& variant) const;

  // ---- deployments (their rules: services/serving/deployments.h)
  // Journals `change` (in deployment_changes, by name then arrival) and
  // applies it to the stored deployment in the same atomic, durable batch:
  // CREATED stores it (ALREADY_EXISTS when an experiment or a deployment has
  // the name: the two share one name space), UPDATED replaces it and
  // DELETED removes it (NOT_FOUND when there is none).
  absl::Status WriteDeploymentChange(const DeploymentChange& change);
  // Returns every stored deployment sorted by name; corrupt records fail
  // with DATA_LOSS, or are skipped and counted with `skip_corrupt`.
  absl::StatusOr<std::vector<Deployment>> ListDeployments(bool skip_corrupt = false,
                                                          ScanStats* stats = nullptr) const;
  // Returns the journal of `name`, oldest first (empty when none).
  absl::StatusOr<std::vector<DeploymentChange>> ListDeploymentChanges(
      const std::string& name) const;

  // ---- real-time interactions (Recommender.PutEvents)
  // Stores `interactions` (each with user, item, finite weight > 0 and
  // timestamp_us >= 0 set by the caller) in one atomic, durable batch: when
  // this returns OK all of them survive a crash, otherwise none was stored.
  // INVALID_ARGUMENT for an empty user or item, or a user containing '\0'.
  absl::Status AppendInteractions(absl::Span<const Interaction> interactions);
  // Calls `fn` for each stored interaction of `user` ("" = every user), by
  // user then event time then arrival. Stops at the first non-OK status of
  // `fn`. Corrupt values: DATA_LOSS, or skipped and counted with skip_corrupt.
  absl::Status ScanInteractions(const std::string& user,
                                const std::function<absl::Status(const Interaction&)>& fn,
                                bool skip_corrupt = false, ScanStats* stats = nullptr) const;

  // ---- scale-out bookkeeping (services/replication/, log_format.md "Outbox")
  // Writes that came from the shared stream rather than from this process's
  // own clients: stored without an outbox record, so nothing is published
  // twice. StoreReplicatedDecision: ALREADY_EXISTS when the event id is
  // logged. CreateReplicatedExperiment: ALREADY_EXISTS when the name is taken.
  absl::Status StoreReplicatedDecision(const DecisionEvent& event);
  absl::Status CreateReplicatedExperiment(const ExperimentConfig& config);
  // Stores interactions read from the stream once: `record_id` (origin and
  // origin seq) is kept in the same batch, and a second call with it is a
  // no-op returning OK.
  absl::Status StoreReplicatedInteractions(absl::Span<const Interaction> interactions,
                                           const std::string& record_id);
  // Appends `record` to the outbox durably, with origin and the next outbox
  // position filled in; returns that position. FAILED_PRECONDITION when the
  // log has no outbox_origin.
  absl::StatusOr<int64_t> AppendOutbox(StreamRecord record);
  // Calls `fn` for up to `limit` outbox records after position `after`, in
  // order. A record that does not parse fails with DATA_LOSS naming it.
  absl::Status ScanOutbox(int64_t after, int32_t limit,
                          const std::function<absl::Status(const StreamRecord&)>& fn) const;
  // The last outbox position written (0 when none).
  int64_t LastOutboxSeq() const;
  // The last outbox position the stream acknowledged (0 when none).
  absl::StatusOr<int64_t> PublishedSeq() const;
  // Records that positions up to `seq` are in the stream and removes them
  // from the outbox, in one durable batch.
  absl::Status MarkPublished(int64_t seq);
  // The consumer's durable cursor: every stream record up to it is applied.
  absl::StatusOr<uint64_t> AppliedStreamSeq() const;
  absl::Status SetAppliedStreamSeq(uint64_t seq);
  // The stream sequence at which the decision `event_id` was read from the
  // stream (nullopt when it has not been read yet). Put is idempotent.
  absl::Status PutStreamPosition(const std::string& event_id, uint64_t seq);
  absl::StatusOr<std::optional<uint64_t>> StreamPosition(const std::string& event_id) const;

  // ---- readers
  // Secondary mode: applies the writer's new writes to this view. OK (no-op)
  // in other modes.
  absl::Status CatchUp();

  // Key encodings: bandits/log/log_keys.h.
  // Column family names in the order they are opened.
  static const std::vector<std::string>& ColumnFamilyNames();

 private:
  enum Cf { kDefault = 0, kDecisions, kRewards, kSnapshots, kExperiments, kEventIndex,
            kLearned, kInteractions, kDeployments, kDeploymentChanges, kNumCf };
  EventLog(EventLogOptions options, std::unique_ptr<rocksdb::DB> db,
           std::vector<rocksdb::ColumnFamilyHandle*> handles);

  struct Recovery;
  static absl::StatusOr<std::unique_ptr<EventLog>> OpenImpl(const std::string& data_dir,
                                                            EventLogOptions options,
                                                            Recovery* recovery);
  // DATA_LOSS naming a live table file that is missing or not its recorded size.
  absl::Status CheckTableFiles(const std::string& data_dir) const;
  absl::Status Write(rocksdb::WriteBatch* batch) const;  // synced per options_.sync
  // ALREADY_EXISTS when an experiment or a deployment is named `name`.
  absl::Status CheckNameFree(const std::string& name) const;
  // Returns a number larger than every earlier one (microsecond clock based).
  uint64_t NextArrival();
  // Checks `event` for AppendDecisionAsync and reserves its id in pending_.
  absl::Status BeginAppend(const DecisionEvent& event);
  void CommitterLoop();

  // A decision waiting for the committer, encoded by the thread that queued
  // it (so the one committer thread only writes and syncs).
  struct QueuedDecision {
    std::string event_id;
    std::string key;    // DecisionKey(experiment, timestamp, event id)
    std::string bytes;  // the serialised DecisionEvent
    std::optional<DecisionEvent> outbox;  // a copy for the stream outbox, when on
    std::function<void(absl::Status)> done;
  };
  absl::StatusOr<std::optional<std::string>> RawGet(Cf cf, const std::string& key) const;
  // AddReward and AddReplicatedReward: `reward_id` "" for a local reward.
  absl::StatusOr<RewardOutcome> AddRewardImpl(const ExperimentConfig& config,
                                              const std::string& event_id, double value,
                                              const std::function<int64_t()>& next_learn_seq,
                                              int32_t position, int64_t timestamp_us,
                                              const std::string& reward_id);
  // Writes `batch`, plus `records` in the outbox when the log has an
  // outbox_origin (positions assigned under outbox_mu_, so outbox order is
  // commit order).
  absl::Status WriteWithOutbox(rocksdb::WriteBatch* batch, std::vector<StreamRecord> records);
  // Reads the last outbox position at Open.
  absl::Status LoadOutboxSeq();
  // Stores `event` (decision and event index) without checks or outbox.
  void PutDecision(const DecisionEvent& event, rocksdb::WriteBatch* batch);
  // PutDecision's two writes, from an encoded decision.
  void PutEncodedDecision(const std::string& event_id, const std::string& key,
                          const std::string& bytes, rocksdb::WriteBatch* batch);

  EventLogOptions options_;
  std::string owned_secondary_dir_;  // a temp dir we created; removed on close
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;

  // Event ids being appended right now (duplicate detection without holding a
  // lock across the fsync).
  mutable absl::Mutex pending_mu_;
  absl::flat_hash_set<std::string> pending_ ABSL_GUARDED_BY(pending_mu_);
  // Serialises read-modify-write of one event's reward record (striped).
  static constexpr int kRewardStripes = 64;
  std::array<absl::Mutex, kRewardStripes> reward_mu_;
  absl::Mutex experiment_mu_;   // serialises experiment and deployment changes
  // AppendDecisionAsync's queue and its committer thread (started on first use).
  absl::Mutex commit_mu_;
  std::vector<QueuedDecision> commit_queue_ ABSL_GUARDED_BY(commit_mu_);
  bool commit_stop_ ABSL_GUARDED_BY(commit_mu_) = false;
  std::thread committer_;  // joinable once started; guarded by commit_mu_ for start
  // Last arrival number handed out (microsecond clock, strictly increasing):
  // makes interaction keys unique.
  std::atomic<uint64_t> last_arrival_{0};
  // Serialises outbox writes: positions are handed out and written in order.
  mutable absl::Mutex outbox_mu_;
  int64_t last_outbox_seq_ ABSL_GUARDED_BY(outbox_mu_) = 0;
};

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_LOG_EVENT_LOG_H_

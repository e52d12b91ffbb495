// The values the event log takes and returns: its options, the outcome of
// a reward, the counts of a scan, the report of a repair, and the bound on
// every stored reward.
#ifndef RECBANDIT_BANDITS_LOG_LOG_TYPES_H_
#define RECBANDIT_BANDITS_LOG_LOG_TYPES_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "proto/events.pb.h"

namespace recbandit::bandits {

// Rewards (and their per-event aggregate) are finite with magnitude at most
// this: sums and squares of many of them stay finite in every policy and
// estimator.
inline constexpr double kMaxAbsReward = 1e12;

struct EventLogOptions {
  enum class Mode {
    kReadWrite,   // the one writer (the server); creates the log if missing
    kReadOnly,    // a frozen view of the log as it was at Open
    kSecondary,   // follows a live writer: CatchUp() sees its new writes
  };
  Mode mode = Mode::kReadWrite;
  // Secondary mode only: directory for the secondary's own files (info log).
  // Default: a fresh directory under /tmp, removed when the log is closed.
  std::string secondary_dir;
  // Returns the current time in microseconds since the Unix epoch. Default:
  // the system clock. Tests inject a fake clock (reward windows).
  std::function<int64_t()> now_us;
  // true (default): every decision, reward and config write fsyncs the WAL
  // before returning (concurrent writers share one fsync: group commit).
  // false only for benchmarks and tests that do not need durability.
  bool sync = true;
  // Called after every write batch with its wall-clock seconds (metrics);
  // may be empty. Must be thread-safe and fast.
  std::function<void(double)> on_write;
  // Scale-out (services/replication/): when non-empty, every decision,
  // experiment and interaction batch this process writes on its own (not one
  // read back from the stream) also goes to the outbox, in the same durable
  // batch, as a StreamRecord with this origin (the server's --replica_id); a
  // forwarder publishes the outbox in order. Empty: no outbox (one server).
  std::string outbox_origin;
};

// Outcome of AddReward.
struct RewardOutcome {
  DecisionEvent decision;     // the decision the reward joined
  RewardRecord record;        // every reward of that decision, this one included
  bool late = false;          // arrived after the reward window
  // True when the policy learns from this reward: `learn_value` is passed to
  // Policy::Update and `learn_seq` orders it in the learned journal.
  bool learned = false;
  double learn_value = 0;
  int64_t learn_seq = -1;
};

// What EventLog::Repair did.
struct LogRepairReport {
  std::string damaged_copy;                // copy of the log before the repair ("" = none)
  std::vector<std::string> damaged_files;  // WAL files in which records were dropped
  int64_t bytes_dropped = 0;               // damaged bytes skipped in those files
  int64_t operations_lost = 0;             // writes missing between readable WAL records
  int64_t batches_recovered = 0;           // WAL write batches replayed
};

// Counts of a scan.
struct ScanStats {
  int64_t records = 0;          // records passed to the callback
  int64_t skipped_corrupt = 0;  // records whose value did not parse (skipped)
};

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_LOG_LOG_TYPES_H_

// The stream applier: reads the shared stream in order and applies every
// record to this replica: decisions made elsewhere are stored, rewards are
// joined to their decisions and learned (a reward read before its decision
// waits, parked, until the decision is read, so every replica learns in the
// same order), experiments created and models activated elsewhere appear
// here. Every application is idempotent, so the durable cursor may lag and
// a restart replays from it.
#ifndef RECBANDIT_SERVICES_REPLICATION_STREAM_APPLIER_H_
#define RECBANDIT_SERVICES_REPLICATION_STREAM_APPLIER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "bandits/experiment.h"
#include "bandits/log/event_log.h"
#include "proto/replication.pb.h"
#include "services/replication/nats_stream.h"

namespace recbandit::services {

struct StreamApplierOptions {
  std::string replica_id;  // records of this origin are already local
  bandits::EventLog* log = nullptr;
  bandits::ExperimentManager* experiments = nullptr;
  // Interactions stored from another replica (the fold-in's recent items).
  std::function<void(const Interaction&)> on_interaction;
  // Activates a version another replica activated. May be empty.
  std::function<absl::Status(const StreamModelActivation&)> activate;
};

// Thread-safe. Start() once; Stop() (or the destructor) ends the thread.
class StreamApplier {
 public:
  StreamApplier(StreamApplierOptions options, NatsStream* stream);
  ~StreamApplier();
  StreamApplier(const StreamApplier&) = delete;
  StreamApplier& operator=(const StreamApplier&) = delete;

  absl::Status Start();
  void Stop();

  struct Stats {
    uint64_t applied_seq = 0;     // every stream record up to it is applied or parked
    int64_t parked_rewards = 0;   // rewards waiting for their decision
    int64_t rejected = 0;         // records every replica refuses alike (counted, logged)
    std::string last_error;
  };
  Stats stats() const;

 private:
  struct Parked {
    uint64_t seq;
    StreamReward reward;
  };
  void Loop();
  // Applies the record at `seq`. UNAVAILABLE (the local disk) is retried by
  // the caller; other errors are the record's and are counted as rejected.
  absl::Status Apply(uint64_t seq, const std::string& data);
  absl::Status ApplyReward(const StreamReward& reward);
  // Stores the cursor: the last applied sequence below every parked reward.
  void SaveCursor();
  void SetError(const std::string& text);
  bool Stopping();

  const StreamApplierOptions options_;
  NatsStream* const stream_;
  std::thread thread_;
  // Applier-thread state.
  uint64_t applied_ = 0;
  uint64_t saved_ = 0;
  absl::flat_hash_map<std::string, std::vector<Parked>> parked_;  // by event id
  std::map<uint64_t, int> parked_seqs_;                           // seq -> count
  int64_t parked_count_ = 0;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_REPLICATION_STREAM_APPLIER_H_

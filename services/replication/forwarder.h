// The forwarder: ships a replica's outbox (records committed to its local
// event log) to the shared stream in outbox order, one message per record
// with a stable message id, retrying through stream outages; the outbox
// position the stream acknowledged is durable, so a restart resumes after it
// (and a record published twice is stored once: the stream's duplicate
// window). Calls may wait until their record is in the stream.
#ifndef RECBANDIT_SERVICES_REPLICATION_FORWARDER_H_
#define RECBANDIT_SERVICES_REPLICATION_FORWARDER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "bandits/log/event_log.h"
#include "proto/replication.pb.h"
#include "services/replication/nats_stream.h"

namespace recbandit::services {

// The message id a record is published under: a decision's event id (as
// the issue of exactly-once asks), otherwise "<origin>:<origin_seq>".
std::string StreamMessageId(const StreamRecord& record);
// The subject suffix of a record: "decision", "reward", "experiment",
// "interactions" or "activation".
const char* StreamKind(const StreamRecord& record);

// Thread-safe. Start() once; Stop() (or the destructor) ends the thread.
class Forwarder {
 public:
  // REQUIRES: `log` has an outbox_origin; both outlive the forwarder.
  Forwarder(bandits::EventLog* log, NatsStream* stream);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Reads the durable published position and starts the thread.
  absl::Status Start();
  void Stop();

  // Runs `fn` once outbox position `seq` is in the stream (at once when it
  // is already), on the forwarder's thread, or with `published` false when
  // the forwarder stops first. `fn` must not block.
  void WhenPublished(int64_t seq, std::function<void(bool published)> fn);

  struct Stats {
    int64_t published_seq = 0;     // last outbox position in the stream
    int64_t published_total = 0;   // records published by this process
    int64_t conflicts = 0;         // decisions whose event id another replica used first
    bool connected = false;
    std::string last_error;
  };
  Stats stats() const;

 private:
  void Loop();
  // Publishes one record, retrying until it is in the stream or Stop().
  bool PublishOne(const StreamRecord& record);
  void SetError(const absl::Status& s);
  bool Stopping();

  bandits::EventLog* const log_;
  NatsStream* const stream_;
  std::thread thread_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  struct Waiter {
    int64_t seq;
    std::function<void(bool)> fn;
  };
  std::vector<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_REPLICATION_FORWARDER_H_

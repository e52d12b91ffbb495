// A replica's place in the shared stream (serve --stream): the NATS
// connection, the forwarder that publishes this replica's outbox and the
// applier that applies every replica's records in stream order, wired to
// the server's log, experiments, recent events and model store. See
// services/scale_out.md for the architecture and what each failure does.
#ifndef RECBANDIT_SERVICES_REPLICATION_REPLICATION_H_
#define RECBANDIT_SERVICES_REPLICATION_REPLICATION_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bandits/experiment.h"
#include "bandits/log/event_log.h"
#include "proto/replication.pb.h"
#include "services/replication/forwarder.h"
#include "services/replication/nats_stream.h"
#include "services/replication/stream_applier.h"

namespace recbandit::services {

// When a Decide (or a logged Recommend) replies.
enum class StreamAck {
  kLocal,   // after the local durable commit (the stream follows)
  kStream,  // after the stream's replicated acknowledgement as well
};

// Parses --stream_ack: "local" or "stream". INVALID_ARGUMENT otherwise.
absl::StatusOr<StreamAck> ParseStreamAck(const std::string& flag);
// INVALID_ARGUMENT unless `id` is 1..64 bytes of [A-Za-z0-9_-] (it is part
// of every message id this replica publishes).
absl::Status ValidateReplicaId(const std::string& id);

struct ReplicationOptions {
  NatsStreamOptions stream;
  std::string replica_id;
  StreamAck ack = StreamAck::kLocal;
  // The applier's sinks (see StreamApplierOptions).
  std::function<void(const Interaction&)> on_interaction;
  std::function<absl::Status(const StreamModelActivation&)> activate;
};

// Thread-safe.
class Replication {
 public:
  // Connects and starts the forwarder and the applier. REQUIRES: `log` was
  // opened with outbox_origin == options.replica_id and `experiments` with
  // replicated = true; both outlive the replication.
  static absl::StatusOr<std::unique_ptr<Replication>> Start(ReplicationOptions options,
                                                            bandits::EventLog* log,
                                                            bandits::ExperimentManager* experiments);
  ~Replication();  // Stop()
  // Stops both threads (what is committed and not yet published stays in
  // the outbox for the next start).
  void Stop();

  StreamAck ack() const { return options_.ack; }
  // Runs `fn` once every record committed so far is in the stream (at once
  // with --stream_ack=local); `published` false when stopping first.
  void AfterCommitted(std::function<void(bool published)> fn);
  // Publishes a model activation (through the outbox).
  absl::Status PublishActivation(const std::string& name, int64_t version,
                                 const std::string& manifest_path);
  // Where this replica stands (GetStreamStatus).
  StreamStatus Status();

 private:
  Replication(ReplicationOptions options, bandits::EventLog* log)
      : options_(std::move(options)), log_(log) {}
  ReplicationOptions options_;
  bandits::EventLog* const log_;
  std::unique_ptr<NatsStream> stream_;
  std::unique_ptr<Forwarder> forwarder_;
  std::unique_ptr<StreamApplier> applier_;
};

// The hex CRC-32C of the file at `path` (StreamModelActivation).
absl::StatusOr<std::string> FileCrc32cHex(const std::string& path);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_REPLICATION_REPLICATION_H_

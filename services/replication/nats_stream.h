// The shared event stream on NATS JetStream (libnats): one connection to a
// cluster, the stream created if missing (replicated, with a duplicate
// window so a message id published twice is stored once), synchronous
// publishes that wait for the stream's replicated acknowledgement, and an
// ordered reader from a given stream sequence. The only file that includes
// nats.h; errors become absl::Status here.
#ifndef RECBANDIT_SERVICES_REPLICATION_NATS_STREAM_H_
#define RECBANDIT_SERVICES_REPLICATION_NATS_STREAM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct __natsConnection;
struct __jsCtx;
struct __natsSubscription;

namespace recbandit::services {

struct NatsStreamOptions {
  // Server URLs of the cluster ("nats://host:port"); at least one.
  std::vector<std::string> servers;
  // JetStream stream name (letters, digits, '-' and '_').
  std::string stream = "RECBANDIT";
  // Subjects are "<subject_prefix>.<kind>" ("recbandit.decision", ...).
  std::string subject_prefix = "recbandit";
  // Copies of every message in the cluster (1..5); 3 survives losing a node.
  int32_t replicas = 3;
  // A message id seen within this window is stored once (seconds).
  int64_t duplicate_window_s = 24 * 3600;
  // Per-request wait for a publish acknowledgement or an API call (ms).
  int64_t request_timeout_ms = 3000;
};

// Parses --stream: "nats://host:port[,nats://host:port...]" (at most 16
// URLs, each at most 256 bytes). INVALID_ARGUMENT naming the bad entry.
absl::StatusOr<std::vector<std::string>> ParseStreamUrls(const std::string& flag);

// A message read from the stream.
struct StreamMessage {
  uint64_t seq = 0;    // stream sequence (1, 2, ...)
  std::string data;    // payload
};

// Thread-safe: one thread may publish while another reads (NATS
// connections are thread-safe); a Reader is used by one thread.
class NatsStream {
 public:
  // Connects (retrying in the background when no server answers yet: the
  // stream may come up after the replica) and returns at once.
  static absl::StatusOr<std::unique_ptr<NatsStream>> Connect(NatsStreamOptions options);
  ~NatsStream();
  NatsStream(const NatsStream&) = delete;
  NatsStream& operator=(const NatsStream&) = delete;

  const NatsStreamOptions& options() const { return options_; }
  // True while connected to some server of the cluster.
  bool connected() const;

  // Creates the stream when it does not exist (OK when it does).
  // UNAVAILABLE while the cluster cannot be reached or has no leader.
  absl::Status EnsureStream();

  struct Ack {
    uint64_t seq = 0;        // stream sequence of the message
    bool duplicate = false;  // msg_id was already in the stream (seq is the first's)
  };
  // Publishes `data` to "<prefix>.<kind>" with `msg_id` as its Nats-Msg-Id
  // and waits for the stream's acknowledgement (stored on a quorum of the
  // replicas). UNAVAILABLE on timeout or no connection.
  absl::StatusOr<Ack> Publish(const std::string& kind, const std::string& msg_id,
                              const std::string& data);
  // The stream's last sequence (0 when empty).
  absl::StatusOr<uint64_t> LastSeq();
  // The payload stored at `seq`. NOT_FOUND when there is none.
  absl::StatusOr<std::string> Get(uint64_t seq);

  // Reads the stream in order from a sequence (an ordered consumer: no acks,
  // recreated by the library after a gap). Not thread-safe.
  class Reader {
   public:
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    // The next message, or nullopt when none arrived within `timeout_ms`.
    absl::StatusOr<std::optional<StreamMessage>> Next(int64_t timeout_ms);

   private:
    friend class NatsStream;
    explicit Reader(__natsSubscription* sub) : sub_(sub) {}
    __natsSubscription* sub_;
  };
  // Starts reading at `start_seq` (>= 1).
  absl::StatusOr<std::unique_ptr<Reader>> Read(uint64_t start_seq);

 private:
  explicit NatsStream(NatsStreamOptions options) : options_(std::move(options)) {}
  NatsStreamOptions options_;
  __natsConnection* nc_ = nullptr;
  __jsCtx* js_ = nullptr;
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_REPLICATION_NATS_STREAM_H_

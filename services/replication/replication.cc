// Replication: start-up, status and the calls the rpc handlers make (see
// replication.h).
#include "services/replication/replication.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"

namespace recbandit::services {

absl::StatusOr<StreamAck> ParseStreamAck(const std::string& flag) {
  if (flag == "local") return StreamAck::kLocal;
  if (flag == "stream") return StreamAck::kStream;
  return absl::InvalidArgumentError(
      absl::StrCat("--stream_ack must be local or stream, got ", Quote(flag.substr(0, 64))));
}

absl::Status ValidateReplicaId(const std::string& id) {
  const bool ok = !id.empty() && id.size() <= 64 &&
                  std::all_of(id.begin(), id.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
                  });
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--replica_id must be 1..64 characters of [A-Za-z0-9_-], got ", Quote(id.substr(0, 64)),
      id.size() > 64 ? " (truncated)" : ""));
}

absl::StatusOr<std::string> FileCrc32cHex(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  return absl::StrFormat("%08x", Crc32c(bytes));
}

absl::StatusOr<std::unique_ptr<Replication>> Replication::Start(
    ReplicationOptions options, bandits::EventLog* log, bandits::ExperimentManager* experiments) {
  RETURN_IF_ERROR(ValidateReplicaId(options.replica_id));
  std::unique_ptr<Replication> r(new Replication(options, log));
  ASSIGN_OR_RETURN(r->stream_, NatsStream::Connect(options.stream));
  r->forwarder_ = std::make_unique<Forwarder>(log, r->stream_.get());
  StreamApplierOptions applier;
  applier.replica_id = options.replica_id;
  applier.log = log;
  applier.experiments = experiments;
  applier.on_interaction = options.on_interaction;
  applier.activate = options.activate;
  r->applier_ = std::make_unique<StreamApplier>(std::move(applier), r->stream_.get());
  RETURN_IF_ERROR(r->forwarder_->Start());
  RETURN_IF_ERROR(r->applier_->Start());
  return r;
}

Replication::~Replication() { Stop(); }

void Replication::Stop() {
  if (applier_ != nullptr) applier_->Stop();
  if (forwarder_ != nullptr) forwarder_->Stop();
}

void Replication::AfterCommitted(std::function<void(bool)> fn) {
  if (options_.ack == StreamAck::kLocal) {
    fn(true);
    return;
  }
  forwarder_->WhenPublished(log_->LastOutboxSeq(), std::move(fn));
}

absl::Status Replication::PublishActivation(const std::string& name, int64_t version,
                                            const std::string& manifest_path) {
  StreamRecord record;
  StreamModelActivation* a = record.mutable_activation();
  a->set_name(name);
  a->set_version(version);
  ASSIGN_OR_RETURN(*a->mutable_manifest_crc32c(), FileCrc32cHex(manifest_path));
  return log_->AppendOutbox(std::move(record)).status();
}

StreamStatus Replication::Status() {
  StreamStatus s;
  s.set_replica_id(options_.replica_id);
  s.set_stream(options_.stream.stream);
  const Forwarder::Stats f = forwarder_->stats();
  const StreamApplier::Stats a = applier_->stats();
  s.set_published_seq(f.published_seq);
  s.set_outbox_pending(std::max<int64_t>(0, log_->LastOutboxSeq() - f.published_seq));
  s.set_applied_stream_seq(a.applied_seq);
  s.set_parked_rewards(a.parked_rewards);
  s.set_conflicts(f.conflicts);
  s.set_rejected(a.rejected);
  s.set_connected(f.connected);
  std::string error = !f.last_error.empty() ? f.last_error : a.last_error;
  if (error.size() > 200) error.resize(200);
  s.set_last_error(error);
  if (f.connected) {
    absl::StatusOr<uint64_t> last = stream_->LastSeq();
    if (last.ok()) s.set_stream_last_seq(*last);
  }
  return s;
}

}  // namespace recbandit::services

// `recbandit stream`: reads the whole shared event stream (scale-out) and
// reports what it holds: records by kind and origin, and message ids stored
// more than once; with --out, one JSON line per record.
#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "proto/core/file_util.h"
#include "proto/core/json.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "proto/replication.pb.h"
#include "services/cli/cli.h"
#include "services/cli/flags.h"
#include "services/replication/forwarder.h"
#include "services/replication/nats_stream.h"

namespace recbandit::services {

absl::Status RunStream(const CommandArgs& args) {
  if (!args.empty()) {
    return absl::InvalidArgumentError(
        "usage: recbandit stream --stream=nats://host:port[,...] [--stream_name=] [--out=]");
  }
  if (absl::GetFlag(FLAGS_stream).empty()) return absl::InvalidArgumentError("--stream is required");
  NatsStreamOptions options;
  ASSIGN_OR_RETURN(options.servers, ParseStreamUrls(absl::GetFlag(FLAGS_stream)));
  options.stream = absl::GetFlag(FLAGS_stream_name);
  RETURN_IF_ERROR(ValidateName(options.stream, "stream_name"));
  ASSIGN_OR_RETURN(std::unique_ptr<NatsStream> stream, NatsStream::Connect(options));
  ASSIGN_OR_RETURN(const uint64_t last, stream->LastSeq());
  StreamDumpReport report;
  report.set_stream(options.stream);
  report.set_last_seq(last);
  const std::string out = absl::GetFlag(FLAGS_out);
  report.set_out(out);
  std::string lines;
  absl::flat_hash_set<std::string> ids;
  if (last > 0) {
    ASSIGN_OR_RETURN(std::unique_ptr<NatsStream::Reader> reader, stream->Read(1));
    uint64_t seen = 0;
    while (seen < last) {
      ASSIGN_OR_RETURN(std::optional<StreamMessage> m, reader->Next(5000));
      if (!m.has_value()) {
        return absl::UnavailableError(absl::StrCat("the stream stopped answering after ", seen,
                                                   " of ", last, " records"));
      }
      seen = m->seq;
      report.set_messages(report.messages() + 1);
      StreamRecord record;
      if (!record.ParseFromString(m->data)) {
        report.set_unreadable(report.unreadable() + 1);
        continue;
      }
      StreamDumpRow row;
      row.set_seq(m->seq);
      row.set_kind(StreamKind(record));
      row.set_msg_id(StreamMessageId(record));
      row.set_origin(record.origin());
      row.set_origin_seq(record.origin_seq());
      if (record.has_decision()) row.set_event_id(record.decision().event_id());
      if (record.has_reward()) {
        row.set_event_id(record.reward().event_id());
        row.set_reward_id(record.reward().reward_id());
        row.set_value(record.reward().value());
      }
      (*report.mutable_by_kind())[row.kind()] += 1;
      (*report.mutable_by_origin())[row.origin()] += 1;
      if (!ids.insert(row.msg_id()).second) {
        report.set_duplicate_message_ids(report.duplicate_message_ids() + 1);
      }
      if (!out.empty()) absl::StrAppend(&lines, ToJson(row), "\n");
    }
  }
  if (!out.empty()) RETURN_IF_ERROR(WriteFileAtomically(out, lines));
  PrintJsonLine(ToJson(report));
  return absl::OkStatus();
}

}  // namespace recbandit::services

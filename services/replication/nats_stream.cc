// NatsStream: libnats calls behind absl::Status (see nats_stream.h).
#include "services/replication/nats_stream.h"

#include <nats/nats.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"

namespace recbandit::services {
namespace {

constexpr size_t kMaxUrls = 16;
constexpr size_t kMaxUrlBytes = 256;

// The status for a failed libnats call: UNAVAILABLE for what a retry may
// cure (no connection, timeouts, no responders), INTERNAL otherwise; the
// library's text, bounded.
absl::Status NatsError(natsStatus s, jsErrCode js_code, const std::string& what) {
  std::string text = natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail != nullptr && *detail != '\0') absl::StrAppend(&text, ": ", detail);
  if (text.size() > 200) text.resize(200);
  if (js_code != 0) absl::StrAppend(&text, " (JetStream error ", static_cast<int>(js_code), ")");
  const std::string message = absl::StrCat(what, ": ", text);
  switch (s) {
    case NATS_TIMEOUT:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NO_SERVER:
    case NATS_NOT_YET_CONNECTED:
    case NATS_NO_RESPONDERS:
    case NATS_STALE_CONNECTION:
    case NATS_IO_ERROR:
      return absl::UnavailableError(message);
    case NATS_NOT_FOUND:
      return absl::NotFoundError(message);
    default:
      // JetStream answers "no leader / not ready" with 503-like codes.
      if (js_code == JSClusterNotAvailErr || js_code == JSStreamOfflineErr ||
          js_code == JSInsufficientResourcesErr || js_code == JSClusterNoPeersErr) {
        return absl::UnavailableError(message);
      }
      return absl::InternalError(message);
  }
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseStreamUrls(const std::string& flag) {
  std::vector<std::string> urls;
  for (absl::string_view part : absl::StrSplit(flag, ',')) {
    if (part.size() > kMaxUrlBytes) {
      return absl::InvalidArgumentError(absl::StrCat("--stream: entry ", urls.size() + 1, " has ",
                                                     part.size(), " bytes; at most ", kMaxUrlBytes));
    }
    const std::string url(part);
    const size_t colon = url.rfind(':');
    const bool ok = url.rfind("nats://", 0) == 0 && colon != std::string::npos && colon > 7 &&
                    colon + 1 < url.size() &&
                    std::all_of(url.begin() + colon + 1, url.end(),
                                [](char c) { return c >= '0' && c <= '9'; }) &&
                    url.size() - colon - 1 <= 5 &&
                    std::all_of(url.begin() + 7, url.begin() + colon, [](char c) {
                      return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                             c == '[' || c == ']' || c == ':';
                    });
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("--stream: entry ", urls.size() + 1, " ", Quote(url),
                       " is not nats://host:port"));
    }
    urls.push_back(url);
    if (urls.size() > kMaxUrls) {
      return absl::InvalidArgumentError(absl::StrCat("--stream: at most ", kMaxUrls, " URLs"));
    }
  }
  return urls;
}

absl::StatusOr<std::unique_ptr<NatsStream>> NatsStream::Connect(NatsStreamOptions options) {
  if (options.servers.empty()) return absl::InvalidArgumentError("--stream names no server");
  if (options.replicas < 1 || options.replicas > 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("--stream_replicas must be in [1, 5], got ", options.replicas));
  }
  std::unique_ptr<NatsStream> stream(new NatsStream(std::move(options)));
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  std::vector<const char*> servers;
  for (const std::string& url : stream->options_.servers) servers.push_back(url.c_str());
  if (s == NATS_OK) s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);  // forever
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 200);
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 2000);
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts, true, nullptr, nullptr);
  // Messages published while reconnecting are buffered by the library; ours
  // wait for an acknowledgement anyway, so keep the buffer small.
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, 8 * 1024 * 1024);
  if (s == NATS_OK) {
    s = natsConnection_Connect(&stream->nc_, opts);
    if (s == NATS_NOT_YET_CONNECTED) s = NATS_OK;  // retried in the background
  }
  natsOptions_Destroy(opts);
  if (s != NATS_OK) return NatsError(s, static_cast<jsErrCode>(0), "connecting to the stream");
  jsOptions js_opts;
  jsOptions_Init(&js_opts);
  js_opts.Wait = stream->options_.request_timeout_ms;
  s = natsConnection_JetStream(&stream->js_, stream->nc_, &js_opts);
  if (s != NATS_OK) return NatsError(s, static_cast<jsErrCode>(0), "opening JetStream");
  return stream;
}

NatsStream::~NatsStream() {
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
}

bool NatsStream::connected() const {
  return nc_ != nullptr && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
}

absl::Status NatsStream::EnsureStream() {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, js_, options_.stream.c_str(), nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(info);
    return absl::OkStatus();
  }
  if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
    return NatsError(s, code, "reading the stream's info");
  }
  const std::string subjects = absl::StrCat(options_.subject_prefix, ".>");
  const char* subject_list[] = {subjects.c_str()};
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = options_.stream.c_str();
  cfg.Subjects = subject_list;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = options_.replicas;
  cfg.Duplicates = options_.duplicate_window_s * 1000000000LL;
  code = static_cast<jsErrCode>(0);
  s = js_AddStream(&info, js_, &cfg, nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(info);
    return absl::OkStatus();
  }
  if (code == JSStreamNameExistErr) return absl::OkStatus();  // another replica won the race
  return NatsError(s, code, absl::StrCat("creating stream ", options_.stream));
}

absl::StatusOr<NatsStream::Ack> NatsStream::Publish(const std::string& kind,
                                                    const std::string& msg_id,
                                                    const std::string& data) {
  const std::string subject = absl::StrCat(options_.subject_prefix, ".", kind);
  jsPubOptions opts;
  jsPubOptions_Init(&opts);
  opts.MsgId = msg_id.c_str();
  opts.MaxWait = options_.request_timeout_ms;
  opts.ExpectStream = options_.stream.c_str();
  jsPubAck* ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = js_Publish(&ack, js_, subject.c_str(), data.data(),
                                  static_cast<int>(data.size()), &opts, &code);
  if (s != NATS_OK) return NatsError(s, code, "publishing to the stream");
  Ack out{ack->Sequence, ack->Duplicate};
  jsPubAck_Destroy(ack);
  return out;
}

absl::StatusOr<uint64_t> NatsStream::LastSeq() {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = js_GetStreamInfo(&info, js_, options_.stream.c_str(), nullptr, &code);
  if (s != NATS_OK) return NatsError(s, code, "reading the stream's info");
  const uint64_t last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  return last;
}

absl::StatusOr<std::string> NatsStream::Get(uint64_t seq) {
  natsMsg* msg = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = js_GetMsg(&msg, js_, options_.stream.c_str(), seq, nullptr, &code);
  if (s != NATS_OK) return NatsError(s, code, absl::StrCat("reading stream message ", seq));
  std::string data(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
  natsMsg_Destroy(msg);
  return data;
}

absl::StatusOr<std::unique_ptr<NatsStream::Reader>> NatsStream::Read(uint64_t start_seq) {
  const std::string subjects = absl::StrCat(options_.subject_prefix, ".>");
  jsSubOptions opts;
  jsSubOptions_Init(&opts);
  opts.Stream = options_.stream.c_str();
  opts.Ordered = true;
  opts.Config.DeliverPolicy = js_DeliverByStartSequence;
  opts.Config.OptStartSeq = std::max<uint64_t>(start_seq, 1);
  natsSubscription* sub = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = js_SubscribeSync(&sub, js_, subjects.c_str(), nullptr, &opts, &code);
  if (s != NATS_OK) return NatsError(s, code, "subscribing to the stream");
  // Never drop messages for a slow applier: it is our own reader.
  natsSubscription_SetPendingLimits(sub, -1, -1);
  return std::unique_ptr<Reader>(new Reader(sub));
}

NatsStream::Reader::~Reader() {
  if (sub_ != nullptr) {
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
  }
}

absl::StatusOr<std::optional<StreamMessage>> NatsStream::Reader::Next(int64_t timeout_ms) {
  natsMsg* msg = nullptr;
  natsStatus s = natsSubscription_NextMsg(&msg, sub_, timeout_ms);
  if (s == NATS_TIMEOUT) return std::optional<StreamMessage>();
  if (s != NATS_OK) return NatsError(s, static_cast<jsErrCode>(0), "reading the stream");
  jsMsgMetaData* meta = nullptr;
  s = natsMsg_GetMetaData(&meta, msg);
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    return NatsError(s, static_cast<jsErrCode>(0), "reading a stream message's metadata");
  }
  StreamMessage out;
  out.seq = meta->Sequence.Stream;
  out.data.assign(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
  jsMsgMetaData_Destroy(meta);
  natsMsg_Destroy(msg);
  return std::optional<StreamMessage>(std::move(out));
}

}  // namespace recbandit::services

// JsonGateway over cpp-httplib (the HTTP side) and grpc::GenericStub on the
// server's in-process channel (the gRPC side): one generic route for every
// rpc, found in the generated descriptors; JSON <-> protobuf with protobuf's
// JSON utilities.
#include "services/http/json_gateway.h"

#include <httplib.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "proto/core/json.h"
#include "proto/core/names.h"

namespace recbandit::services {

namespace {

using google::protobuf::Message;

constexpr char kJson[] = "application/json";
constexpr char kNdjson[] = "application/x-ndjson";
// A refused request's body up to this size is read and dropped, so the
// client (still sending) sees the answer and the connection stays in step.
constexpr uint64_t kDrainMaxBytes = 64 << 20;

}  // namespace

struct JsonGateway::State {
  // One rpc as the gateway serves it.
  struct Route {
    std::string grpc_method;                // "/recbandit.Recommender/Recommend"
    const Message* request = nullptr;       // prototypes of the generated types
    const Message* response = nullptr;
    bool streaming = false;  // server streaming: NDJSON, one message a line
  };

  JsonGatewayOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::GenericStub> stub;
  std::map<std::string, Route> routes;  // by HTTP path; read-only once started
  std::atomic<bool> stopping{false};
  absl::Mutex mu;
  int in_flight ABSL_GUARDED_BY(mu) = 0;  // requests not yet fully answered
};

namespace {

using Route = JsonGateway::State::Route;

bool HasBody(const httplib::Request& req) {
  return req.has_header("Content-Length") || req.has_header("Transfer-Encoding");
}

void LogRejection(const httplib::Request& req, int http_status, const absl::Status& status) {
  std::string line = absl::StrFormat(
      "{\"ts_ms\":%d,\"level\":\"warn\",\"http\":\"%s\",\"path\":", absl::ToUnixMillis(absl::Now()),
      req.method.size() <= 16 ? req.method : "?");
  AppendJsonString(BoundedMessage(req.path, 256), &line);
  absl::StrAppendFormat(&line, ",\"status\":%d,\"peer\":", http_status);
  AppendJsonString(absl::StrCat(req.remote_addr, ":", req.remote_port), &line);
  line.append(",\"message\":");
  AppendJsonString(BoundedMessage(status.message()), &line);
  line.append("}\n");
  std::fputs(line.c_str(), stderr);
}

// Counts a request in flight from its start to its last byte. Thread-safe.
class InFlight {
 public:
  explicit InFlight(JsonGateway::State* state) : state_(state) {
    absl::MutexLock lock(&state_->mu);
    ++state_->in_flight;
  }
  ~InFlight() {
    absl::MutexLock lock(&state_->mu);
    --state_->in_flight;
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  JsonGateway::State* state_;
};

// Returns a forwarded call's status; a call the shutdown ended says so.
absl::Status CallStatus(const JsonGateway::State& state, const grpc::Status& s) {
  const absl::Status status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  if (state.stopping &&
      (absl::IsCancelled(status) || absl::IsUnavailable(status))) {
    return absl::UnavailableError("the server is shutting down");
  }
  return status;
}

// Answers a request the gateway itself refuses (it never reached gRPC).
void Reject(const httplib::Request& req, httplib::Response& res, int http_status,
            const absl::Status& status) {
  res.status = http_status;
  res.set_content(JsonErrorBody(status), kJson);
  LogRejection(req, http_status, status);
}

// Answers with a forwarded call's failure (logged by the gRPC path).
void ReplyStatus(httplib::Response& res, const absl::Status& status) {
  res.status = HttpStatusFromCode(status.code());
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    res.set_header("WWW-Authenticate", "Bearer");
  }
  res.set_content(JsonErrorBody(status), kJson);
}

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// Returns the response message `bytes` of `route` as one line of JSON (proto
// field names, every field printed, enums by name); INTERNAL if unparsable.
absl::StatusOr<std::string> ResponseJson(const Route& route, const std::string& bytes) {
  std::unique_ptr<Message> message(route.response->New());
  if (!message->ParseFromString(bytes)) {
    return absl::InternalError(absl::StrCat("the server's ", message->GetTypeName(),
                                            " could not be parsed"));
  }
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  print.always_print_primitive_fields = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(*message, &json, print);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat(
        "the response cannot be written as JSON: ",
        absl::string_view(status.message().data(), status.message().size())));
  }
  return json;
}

// One call over the in-process channel, driven on the calling thread through
// its own completion queue, one operation at a time. Not thread-safe.
class ForwardedCall {
 public:
  // `deadline` absl::InfiniteFuture() = none; `authorization` empty = none.
  ForwardedCall(grpc::GenericStub& stub, const std::string& method,
                const std::string& authorization, absl::Time deadline) {
    if (!authorization.empty()) ctx_.AddMetadata("authorization", authorization);
    if (deadline != absl::InfiniteFuture()) ctx_.set_deadline(absl::ToChronoTime(deadline));
    call_ = stub.PrepareCall(&ctx_, method, &cq_);
    call_->StartCall(this);
    live_ = Wait(nullptr);
  }

  ~ForwardedCall() {
    if (!finished_) {
      ctx_.TryCancel();
      Finish(nullptr);
    }
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  // Sends the call's one request message. Returns false when the call has
  // already ended (Finish() says why).
  bool Send(const std::string& request) {
    if (!live_) return false;
    call_->WriteLast(ToByteBuffer(request), grpc::WriteOptions(), this);
    live_ = Wait(nullptr);
    return live_;
  }

  // Returns true with the next response message in *message, false at the
  // end of the stream. While it waits, `keep_waiting` (may be null) is asked
  // four times a second; false cancels the call.
  bool Read(std::string* message, const std::function<bool()>& keep_waiting) {
    if (!live_) return false;
    grpc::ByteBuffer buffer;
    call_->Read(&buffer, this);
    live_ = Wait(keep_waiting);
    if (live_) *message = FromByteBuffer(buffer);
    return live_;
  }

  // Returns the call's status. REQUIRES: Send or Read returned false.
  grpc::Status Finish(const std::function<bool()>& keep_waiting) {
    if (!finished_) {
      call_->Finish(&status_, this);
      Wait(keep_waiting);
      finished_ = true;
    }
    return status_;
  }

 private:
  // Returns the `ok` of the one pending operation once it completes.
  bool Wait(const std::function<bool()>& keep_waiting) {
    while (true) {
      void* tag = nullptr;
      bool ok = false;
      switch (cq_.AsyncNext(&tag, &ok,
                            std::chrono::system_clock::now() + std::chrono::milliseconds(250))) {
        case grpc::CompletionQueue::GOT_EVENT:
          return ok;
        case grpc::CompletionQueue::SHUTDOWN:
          return false;
        case grpc::CompletionQueue::TIMEOUT:
          if (!cancelled_ && keep_waiting && !keep_waiting()) {
            ctx_.TryCancel();
            cancelled_ = true;
          }
          break;
      }
    }
  }

  grpc::ClientContext ctx_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  grpc::Status status_;
  bool live_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
};

// A server stream being written as NDJSON: its call and the first message,
// read before the 200 was committed.
struct Stream {
  std::shared_ptr<InFlight> in_flight;
  std::unique_ptr<ForwardedCall> call;
  std::string first;
  bool first_sent = false;
};

// Returns OK for a JSON request body's Content-Type (none, or
// application/json with no charset but UTF-8).
absl::Status CheckContentType(const httplib::Request& req) {
  if (!req.has_header("Content-Type")) return absl::OkStatus();
  const std::string value = req.get_header_value("Content-Type");
  std::vector<std::string> parts = absl::StrSplit(value, ';');
  bool ok = absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[0])) == kJson;
  for (size_t i = 1; ok && i < parts.size(); ++i) {
    const std::string param = absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[i]));
    if (absl::StartsWith(param, "charset=")) {
      std::string charset = param.substr(8);
      charset.erase(std::remove(charset.begin(), charset.end(), '"'), charset.end());
      ok = charset == "utf-8" || charset == "utf8";
    }
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "Content-Type must be application/json (UTF-8), got ", Quote(value),
      "; e.g. curl -H 'Content-Type: application/json' -d '{...}'"));
}

std::string UnknownPath(JsonGateway::State& state, const std::string& path) {
  std::string message = absl::StrCat(
      "no rpc at ", Quote(path),
      ": the API is POST /v1/<Service>/<Method>, e.g. /v1/Recommender/Recommend");
  for (const auto& [known, route] : state.routes) {
    if (absl::EqualsIgnoreCase(known, path)) {
      absl::StrAppend(&message, "; did you mean ", known, "?");
      break;
    }
  }
  return message;
}

// A GET or HEAD of a page (JsonGatewayOptions::pages).
void ServePage(JsonGateway::State& state, const httplib::Request& req, httplib::Response& res) {
  InFlight in_flight(&state);
  if (state.stopping) {
    ReplyStatus(res, absl::UnavailableError("the server is shutting down"));
    return;
  }
  HttpPageRequest page_request;
  page_request.path = req.path;
  for (const auto& [key, value] : req.params) page_request.params.emplace_back(key, value);
  page_request.authorization = req.get_header_value("Authorization");
  page_request.cookie = req.get_header_value("Cookie");
  HttpPage page = state.options.pages(page_request);
  res.status = page.status;
  for (const auto& [name, value] : page.headers) res.set_header(name.c_str(), value);
  if (page.status >= 400) {
    LogRejection(req, page.status, absl::Status(absl::StatusCode::kUnknown,
                                                absl::StrCat("page answered ", page.status)));
  }
  res.set_content(page.body, page.content_type);
}

// Every method but POST, before any body is read.
void HandleNotPost(JsonGateway::State& state, const httplib::Request& req,
                   httplib::Response& res) {
  // A body this handler leaves unread must not be taken for the next request.
  if (HasBody(req)) res.set_header("Connection", "close");
  if (state.options.pages && !absl::StartsWith(req.path, "/v1/")) {
    if (req.method == "GET" || req.method == "HEAD") {
      ServePage(state, req, res);
      return;
    }
    res.set_header("Allow", "GET, HEAD");
    Reject(req, res, 405,
           absl::UnimplementedError(absl::StrCat(
               "method ", req.method.size() <= 16 ? req.method : "?",
               " is not allowed: pages outside /v1/ are read with GET")));
    return;
  }
  if (state.routes.count(req.path) == 0) {
    Reject(req, res, 404, absl::NotFoundError(UnknownPath(state, req.path)));
    return;
  }
  res.set_header("Allow", "POST");
  Reject(req, res, 405,
         absl::UnimplementedError(absl::StrCat("method ", req.method.size() <= 16 ? req.method : "?",
                                               " is not allowed: call POST ", req.path,
                                               " with a JSON body")));
}

// Reads and drops the body of a refused request (at most kDrainMaxBytes;
// cpp-httplib skips a declared length over its payload bound unread).
void DrainBody(const httplib::Request& req, const httplib::ContentReader& reader) {
  if (!HasBody(req)) return;
  uint64_t length = 0;
  if (absl::SimpleAtoi(req.get_header_value("Content-Length"), &length) &&
      length > kDrainMaxBytes) {
    return;
  }
  uint64_t seen = 0;
  reader([&seen](const char*, size_t n) { return (seen += n) <= kDrainMaxBytes; });
}

// Returns the body of `req` read through `reader`, at most
// options.max_body_bytes bytes; sets the HTTP status to answer with
// otherwise (a body over the bound is drained first, see DrainBody).
absl::StatusOr<std::string> ReadBody(JsonGateway::State& state, const httplib::Request& req,
                                     const httplib::ContentReader& reader, int* http_status) {
  const size_t max_bytes = state.options.max_body_bytes;
  const auto too_large = [&] {
    *http_status = 413;
    return absl::ResourceExhaustedError(
        absl::StrCat("the request body is larger than ", max_bytes,
                     " bytes (--max_message_bytes)"));
  };
  std::string body;
  // No Content-Length and not chunked: no body (RFC 9112 section 6.3).
  if (!HasBody(req)) return body;
  const bool chunked =
      absl::StrContains(absl::AsciiStrToLower(req.get_header_value("Transfer-Encoding")), "chunked");
  if (!chunked) {
    uint64_t length = 0;
    if (!absl::SimpleAtoi(req.get_header_value("Content-Length"), &length)) {
      *http_status = 400;
      return absl::InvalidArgumentError("Content-Length is not a number");
    }
    if (length > max_bytes) {
      DrainBody(req, reader);
      return too_large();
    }
    if (length == 0) return body;
  }
  bool exceeded = false;
  uint64_t seen = 0;
  const bool read = reader([&](const char* data, size_t n) {
    seen += n;
    if (seen > kDrainMaxBytes) return false;
    if (!exceeded && body.size() + n > max_bytes) {
      exceeded = true;  // the rest is drained
      std::string().swap(body);
    }
    if (!exceeded) body.append(data, n);
    return true;
  });
  if (exceeded) return too_large();
  if (!read) {
    *http_status = 400;
    return absl::InvalidArgumentError(
        "the request body could not be read (malformed, cut short or too slow)");
  }
  return body;
}

// Streams `stream` as NDJSON: one response message a line, then, if the rpc
// failed after its first message, one {"error":{"code","message"}} line.
bool WriteStream(JsonGateway::State& state, const Route& route, Stream& stream,
                 httplib::DataSink& sink) {
  if (state.stopping && stream.first_sent) {  // even while messages keep coming
    stream.call.reset();                      // cancels the call
    const std::string line = absl::StrCat(
        "{\"error\":", JsonErrorBody(absl::UnavailableError("the server is shutting down")),
        "}\n");
    if (!sink.write(line.data(), line.size())) return false;
    sink.done();
    return true;
  }
  std::string bytes;
  bool more = true;
  if (!stream.first_sent) {
    bytes = std::move(stream.first);
    stream.first_sent = true;
  } else {
    more = stream.call->Read(
        &bytes, [&state, &sink] { return !state.stopping && sink.is_writable(); });
  }
  std::string line;
  if (more) {
    absl::StatusOr<std::string> json = ResponseJson(route, bytes);
    if (json.ok()) {
      line = std::move(*json);
    } else {
      stream.call.reset();  // cancels the call
      line = absl::StrCat("{\"error\":", JsonErrorBody(json.status()), "}");
      more = false;
    }
  } else {
    const absl::Status s = CallStatus(state, stream.call->Finish(nullptr));
    if (!s.ok()) line = absl::StrCat("{\"error\":", JsonErrorBody(s), "}");
  }
  if (!line.empty()) {
    line.push_back('\n');
    if (!sink.write(line.data(), line.size())) return false;
  }
  if (!more) sink.done();
  return true;
}

// POST /v1/<Service>/<Method>.
void HandlePost(JsonGateway::State* state, const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader& reader) {
  auto in_flight = std::make_shared<InFlight>(state);
  if (state->stopping) {
    DrainBody(req, reader);
    ReplyStatus(res, absl::UnavailableError("the server is shutting down"));
    return;
  }
  auto it = state->routes.find(req.path);
  if (it == state->routes.end()) {
    DrainBody(req, reader);
    Reject(req, res, 404, absl::NotFoundError(UnknownPath(*state, req.path)));
    return;
  }
  const Route& route = it->second;
  if (absl::Status s = CheckContentType(req); !s.ok()) {
    DrainBody(req, reader);
    Reject(req, res, 415, s);
    return;
  }
  std::string authorization = req.get_header_value("Authorization");
  for (unsigned char c : authorization) {
    if (c < 0x20 || c > 0x7e) {
      DrainBody(req, reader);
      Reject(req, res, 400,
             absl::InvalidArgumentError("the Authorization header must be printable ASCII"));
      return;
    }
  }
  int http_status = 400;
  absl::StatusOr<std::string> body = ReadBody(*state, req, reader, &http_status);
  if (!body.ok()) {
    Reject(req, res, http_status, body.status());
    return;
  }
  if (!IsValidUtf8(*body)) {
    Reject(req, res, 400, absl::InvalidArgumentError("the request body is not valid UTF-8"));
    return;
  }
  std::unique_ptr<Message> request(route.request->New());
  const absl::string_view json = absl::StripAsciiWhitespace(*body);
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      json.empty() ? "{}" : std::string(json), request.get(), parse);
  if (!parsed.ok()) {
    // protobuf's first line (the next ones quote the input around the error).
    absl::string_view why(parsed.message().data(), parsed.message().size());
    why = why.substr(0, why.find('\n'));
    Reject(req, res, 400,
           absl::InvalidArgumentError(absl::StrCat("invalid JSON for ", request->GetTypeName(),
                                                   ": ", BoundedMessage(why, 256))));
    return;
  }
  std::string bytes;
  request->SerializeToString(&bytes);

  auto call = std::make_unique<ForwardedCall>(
      *state->stub, route.grpc_method, authorization,
      route.streaming ? absl::InfiniteFuture() : absl::Now() + state->options.call_timeout);
  // A unary call drains with the gRPC server (its deadline bounds it); a
  // stream ends when the gateway stops.
  std::function<bool()> keep_waiting;
  if (route.streaming) keep_waiting = [state] { return !state->stopping; };
  std::string first;
  const bool has_first = call->Send(bytes) && call->Read(&first, keep_waiting);
  if (!route.streaming || !has_first) {
    if (has_first) {
      std::string extra;
      while (call->Read(&extra, keep_waiting)) {
      }
    }
    const absl::Status s = CallStatus(*state, call->Finish(keep_waiting));
    if (!s.ok()) {
      ReplyStatus(res, s);
      return;
    }
    if (route.streaming) {  // a stream that ended at once: no lines
      res.status = 200;
      res.set_content("", kNdjson);
      return;
    }
    absl::StatusOr<std::string> out =
        has_first ? ResponseJson(route, first)
                  : absl::InternalError("the server sent no response message");
    if (!out.ok()) {
      Reject(req, res, 500, out.status());
      return;
    }
    res.status = 200;
    res.set_content(*out, kJson);
    return;
  }
  // A stream: the first message is there, so the status is 200 and each
  // message is flushed as its own chunk when it arrives.
  auto stream = std::make_shared<Stream>();
  stream->in_flight = std::move(in_flight);
  stream->call = std::move(call);
  stream->first = std::move(first);
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      kNdjson, [state, &route, stream](size_t, httplib::DataSink& sink) {
        return WriteStream(*state, route, *stream, sink);
      });
}

// Fills the JSON body of the errors cpp-httplib answers by itself
// (malformed requests, 100-continue refusals, overlong URIs).
httplib::Server::HandlerResponse FillError(JsonGateway::State& state,
                                           const httplib::Request& req, httplib::Response& res) {
  if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
  absl::Status status;
  switch (res.status) {
    case 404:
      status = absl::NotFoundError(UnknownPath(state, req.path));
      break;
    case 413:
      status = absl::ResourceExhaustedError(
          absl::StrCat("the request body is larger than ", state.options.max_body_bytes,
                       " bytes (--max_message_bytes)"));
      break;
    case 414:
      status = absl::InvalidArgumentError("the request line is too long");
      break;
    case 400:
      status = absl::InvalidArgumentError("malformed HTTP request");
      break;
    default:
      status = absl::Status(res.status >= 500 ? absl::StatusCode::kInternal
                                              : absl::StatusCode::kInvalidArgument,
                            absl::StrCat("HTTP ", res.status));
  }
  res.set_content(JsonErrorBody(status), kJson);
  return httplib::Server::HandlerResponse::Handled;
}

}  // namespace

int HttpStatusFromCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kCancelled: return 499;
    case absl::StatusCode::kUnknown: return 500;
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists: return 409;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kFailedPrecondition: return 400;
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kInternal: return 500;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDataLoss: return 500;
    case absl::StatusCode::kUnauthenticated: return 401;
    default: return 500;
  }
}

std::string JsonErrorBody(const absl::Status& status) {
  std::string body = absl::StrCat("{\"code\":", static_cast<int>(status.code()), ",\"message\":");
  AppendJsonString(BoundedMessage(status.message()), &body);
  body.push_back('}');
  return body;
}

absl::StatusOr<std::unique_ptr<JsonGateway>> JsonGateway::Start(
    const JsonGatewayOptions& options, std::shared_ptr<grpc::Channel> channel) {
  if (options.services.empty()) return absl::InvalidArgumentError("no service to serve over HTTP");
  if (options.max_body_bytes < 1) return absl::InvalidArgumentError("max_body_bytes must be >= 1");
  if (options.threads < 1 || options.threads > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP threads must be in [1, 256], got ", options.threads));
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("the HTTP port must be in [0, 65535], got ", options.port));
  }
  if (options.tls_cert_path.empty() != options.tls_key_path.empty()) {
    return absl::InvalidArgumentError("TLS needs both --tls_cert and --tls_key");
  }
  std::unique_ptr<JsonGateway> gateway(new JsonGateway());
  gateway->state_ = std::make_unique<State>();
  State* state = gateway->state_.get();
  state->options = options;
  state->channel = std::move(channel);
  state->stub = std::make_unique<grpc::GenericStub>(state->channel);
  for (const std::string& name : options.services) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    if (service == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown gRPC service ", Quote(name)));
    }
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = service->method(i);
      if (method->client_streaming()) continue;
      Route route;
      route.grpc_method = absl::StrCat("/", service->full_name(), "/", method->name());
      auto* factory = google::protobuf::MessageFactory::generated_factory();
      route.request = factory->GetPrototype(method->input_type());
      route.response = factory->GetPrototype(method->output_type());
      route.streaming = method->server_streaming();
      if (route.request == nullptr || route.response == nullptr) {
        return absl::InternalError(absl::StrCat("no generated types for ", route.grpc_method));
      }
      state->routes[absl::StrCat("/v1/", service->name(), "/", method->name())] = route;
    }
  }

  std::unique_ptr<httplib::Server> http;
  if (options.tls_cert_path.empty()) {
    http = std::make_unique<httplib::Server>();
  } else {
    http = std::make_unique<httplib::SSLServer>(options.tls_cert_path.c_str(),
                                                options.tls_key_path.c_str());
    if (!http->is_valid()) {
      return absl::UnavailableError(absl::StrCat(
          "cannot serve HTTPS with ", PathForMessage(options.tls_cert_path), " and ",
          PathForMessage(options.tls_key_path), " (unreadable, not PEM, or not a pair)"));
    }
  }
  // A fixed pool: at most `threads` requests at once; cpp-httplib's API
  // takes ownership of the raw pointer.
  const int threads = options.threads;
  http->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Every method but POST is answered before its body is read.
  http->set_pre_routing_handler([state](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "POST") return httplib::Server::HandlerResponse::Unhandled;
    HandleNotPost(*state, req, res);
    return httplib::Server::HandlerResponse::Handled;
  });
  http->Post(".*", [state](const httplib::Request& req, httplib::Response& res,
                           const httplib::ContentReader& reader) {
    HandlePost(state, req, res, reader);
  });
  // `Expect: 100-continue` with a body over the bound: 413 before it is sent.
  http->set_expect_100_continue_handler([state](const httplib::Request& req,
                                                httplib::Response& res) {
    uint64_t length = 0;
    if (absl::SimpleAtoi(req.get_header_value("Content-Length"), &length) &&
        length > state->options.max_body_bytes) {
      res.set_header("Connection", "close");
      res.status = 413;  // cpp-httplib 0.11 answers with res.status, not the value returned
      FillError(*state, req, res);
      return 413;
    }
    return 100;
  });
  http->set_error_handler(httplib::Server::HandlerWithResponse(
      [state](const httplib::Request& req, httplib::Response& res) {
        return FillError(*state, req, res);
      }));
  http->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        res.set_content(JsonErrorBody(absl::InternalError("the gateway failed on this request")),
                        kJson);
      });
  http->set_payload_max_length(options.max_body_bytes);
  // Slow or idle clients cannot hold a thread for long.
  http->set_read_timeout(5, 0);
  http->set_write_timeout(5, 0);
  http->set_keep_alive_timeout(5);
  http->set_keep_alive_max_count(100);
  const bool bound = options.port == 0
                         ? (gateway->port_ = http->bind_to_any_port(options.host)) > 0
                         : http->bind_to_port(options.host, options.port);
  if (!bound) {
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", options.host, ":",
                                               options.port,
                                               ": the address is in use or not local"));
  }
  if (options.port != 0) gateway->port_ = options.port;
  gateway->http_ = std::move(http);
  gateway->listener_ = std::thread([server = gateway->http_.get()] { server->listen_after_bind(); });
  // httplib's stop() only stops a server that runs: wait until it does.
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!gateway->http_->is_running() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  return gateway;
}

JsonGateway::~JsonGateway() {
  Stop();
  Wait();
}

std::vector<std::string> JsonGateway::Paths() const {
  std::vector<std::string> paths;
  for (const auto& [path, route] : state_->routes) paths.push_back(path);
  return paths;
}

void JsonGateway::Stop() {
  if (state_ != nullptr) state_->stopping = true;
}

bool JsonGateway::Drain(absl::Duration timeout) {
  absl::MutexLock lock(&state_->mu);
  return state_->mu.AwaitWithTimeout(
      absl::Condition(+[](int* in_flight) { return *in_flight == 0; }, &state_->in_flight),
      timeout);
}

void JsonGateway::Wait() {
  absl::MutexLock lock(&wait_mu_);
  Stop();
  // Closes the listening socket; idle keep-alive connections end within
  // their timeout (5 s), and cpp-httplib joins its threads.
  if (http_ != nullptr) http_->stop();
  if (listener_.joinable()) listener_.join();
}

}  // namespace recbandit::services

// JsonGateway: the HTTP/JSON API beside gRPC. Every rpc of the exposed
// services is `POST /v1/<Service>/<Method>` with the protobuf JSON mapping of
// its request and response; the call is forwarded to the gRPC server through
// its in-process channel, so auth, admission, metrics, the request log, the
// request bounds and the Status conversion are the gRPC path's own. GETs
// outside /v1/ go to a page handler when one is given (the dashboard).
#ifndef RECBANDIT_SERVICES_HTTP_JSON_GATEWAY_H_
#define RECBANDIT_SERVICES_HTTP_JSON_GATEWAY_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace httplib {
class Server;
}  // namespace httplib

namespace recbandit::services {

// A GET request for a page served beside the API (the dashboard).
struct HttpPageRequest {
  std::string path;  // without the query
  std::vector<std::pair<std::string, std::string>> params;  // the query, decoded
  std::string authorization;  // the Authorization header ("" = none)
  std::string cookie;         // the Cookie header ("" = none)
};
// The page answered.
struct HttpPage {
  int status = 200;
  std::string content_type = "text/html; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};
// Answers every GET and HEAD outside /v1/ (HEAD without the body). Called on
// the gateway's threads, several at once. Must not throw.
using HttpPageHandler = std::function<HttpPage(const HttpPageRequest&)>;

struct JsonGatewayOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free port (see JsonGateway::port())
  // Full names of the gRPC services served, e.g. "recbandit.Recommender";
  // each must be in the generated descriptor pool. At least one. Their unary
  // and server-streaming rpcs are routed (client streaming is not).
  std::vector<std::string> services;
  // Largest request body, bytes (larger: 413 before it is read). >= 1.
  size_t max_body_bytes = 4 << 20;
  // HTTP requests served at once (a streaming response holds one for its
  // length); further connections wait for a thread. 1..256.
  int threads = 16;
  // Deadline of each forwarded unary call (streams have none: they end with
  // the rpc, the client or the server).
  absl::Duration call_timeout = absl::Seconds(60);
  // PEM certificate chain and private key: HTTPS instead of plain HTTP.
  // Both or neither.
  std::string tls_cert_path;
  std::string tls_key_path;
  // Pages beside the API (services/http/dashboard.h); empty = every GET is
  // 404 or 405 as for the API alone.
  HttpPageHandler pages;
};

// Returns the HTTP status grpc-gateway answers a gRPC status code with
// (INVALID_ARGUMENT 400, NOT_FOUND 404, UNAUTHENTICATED 401, CANCELLED 499, ...).
int HttpStatusFromCode(absl::StatusCode code);

// Returns the JSON error body {"code":<gRPC code>,"message":"..."}; the
// message is bounded (BoundedMessage) and valid UTF-8 whatever it quotes.
std::string JsonErrorBody(const absl::Status& status);

// A running gateway. Thread-safe.
//
//   ASSIGN_OR_RETURN(auto http, JsonGateway::Start(options, server->InProcessChannel(args)));
//   ... http->Stop(); http->Drain(grace); grpc_server->Shutdown(); http->Wait();
//
// REQUIRES: the process ignores SIGPIPE (`recbandit serve` does), so a
// client that hangs up mid-response cannot end it.
class JsonGateway {
 public:
  // Returns a gateway listening on options.host:options.port that forwards
  // to `channel` (the gRPC server's in-process channel); INVALID_ARGUMENT for
  // bad options or an unknown service, UNAVAILABLE when the address cannot
  // be bound or the TLS files cannot be used.
  static absl::StatusOr<std::unique_ptr<JsonGateway>> Start(const JsonGatewayOptions& options,
                                                            std::shared_ptr<grpc::Channel> channel);
  ~JsonGateway();  // Wait()

  // Returns the bound port.
  int port() const { return port_; }
  // Returns the paths served ("/v1/Recommender/Recommend", ...), sorted.
  std::vector<std::string> Paths() const;
  // Starts the shutdown: new requests get 503 UNAVAILABLE, open streams end
  // with an error line, requests in flight go on. Returns at once.
  // Idempotent.
  void Stop();
  // Returns true once no request is in flight (a stream counts until its
  // last line), false when `timeout` passes first. Call after Stop(), before
  // the gRPC server shuts down: its in-process channel ends with it, and
  // would fail the calls still running.
  bool Drain(absl::Duration timeout);
  // Stop()s, closes the listening socket and blocks until every request has
  // been answered and every connection closed (idle keep-alive ones within
  // 5 s). Idempotent.
  void Wait();

  struct State;  // routes, stub and options (json_gateway.cc)

 private:
  JsonGateway() = default;
  std::unique_ptr<State> state_;
  std::unique_ptr<httplib::Server> http_;
  absl::Mutex wait_mu_;  // two Wait()s never join the listener at once
  std::thread listener_;
  int port_ = 0;
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_HTTP_JSON_GATEWAY_H_

// `recbandit serve`: runs the server until SIGINT or SIGTERM, then drains.
#include <signal.h>

#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/strings/strip.h"
#include "proto/core/file_util.h"
#include "proto/core/status_macros.h"
#include "services/cli/cli.h"
#include "services/cli/flags.h"
#include "services/server.h"

namespace recbandit::services {

absl::StatusOr<std::string> AuthTokenFromFlag() {
  const std::string token_file = absl::GetFlag(FLAGS_auth_token_file);
  if (token_file.empty()) return std::string();
  absl::StatusOr<std::string> contents = ReadFileToString(token_file);
  if (!contents.ok()) {
    return absl::Status(contents.status().code(),
                        absl::StrCat("--auth_token_file: ", contents.status().message()));
  }
  std::string token(absl::StripAsciiWhitespace(*contents));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--auth_token_file ", token_file, " is empty"));
  }
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--auth_token_file ", token_file, ": the token must be printable ASCII without spaces"));
    }
  }
  return token;
}

namespace {

// Returns the bytes of a size written as digits with an optional K, M, G or
// T suffix (powers of 1024, either case); INVALID_ARGUMENT naming `flag`
// otherwise, or above 2^50.
absl::StatusOr<int64_t> ParseByteSize(const std::string& text, const char* flag) {
  const std::string shown = text.size() > 40 ? text.substr(0, 40) + "..." : text;
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, " must be a byte count with an optional K, M, G or T suffix (e.g. 512M, "
        "2G; 0 = no budget), at most 2^50, got '", shown, "'"));
  };
  if (text.empty() || text.size() > 20) return bad();
  std::string digits = text;
  int shift = 0;
  switch (digits.back()) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    default: break;
  }
  if (shift > 0) digits.pop_back();
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) {
    return bad();
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(digits, &value) || value > (uint64_t{1} << (50 - shift))) return bad();
  return static_cast<int64_t>(value << shift);
}

}  // namespace

absl::Status RunServe(const CommandArgs& args) {
  if (!args.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("serve takes no arguments, got '", args[0], "'"));
  }
  // Block the shutdown signals in every thread (gRPC's threads inherit the
  // mask); this thread then waits for them synchronously.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A client that hangs up mid-response (HTTP API, metrics) must not end the
  // server: writes to its socket fail with EPIPE instead.
  signal(SIGPIPE, SIG_IGN);

  ServerOptions options;
  options.host = absl::GetFlag(FLAGS_host);
  options.port = absl::GetFlag(FLAGS_port);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  if (options.data_dir.empty()) options.data_dir = "recbandit_data";
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--port must be in [0, 65535], got ", options.port));
  }
  options.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  if (options.metrics_port < -1 || options.metrics_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics_port must be in [-1, 65535] (0 = off, -1 = any free port), got ",
        options.metrics_port));
  }
  options.http_port = absl::GetFlag(FLAGS_http_port);
  if (options.http_port < -1 || options.http_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http_port must be in [-1, 65535] (0 = off, -1 = any free port), got ",
        options.http_port));
  }
  options.tls_cert_path = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_path = absl::GetFlag(FLAGS_tls_key);
  // Configuration errors before any work (the demo, the event log).
  if (options.tls_cert_path.empty() != options.tls_key_path.empty()) {
    return absl::InvalidArgumentError("TLS needs both --tls_cert and --tls_key");
  }
  for (const std::string* path : {&options.tls_cert_path, &options.tls_key_path}) {
    if (!path->empty() && !PathExists(*path)) {
      return absl::NotFoundError(absl::StrCat(
          path == &options.tls_cert_path ? "--tls_cert " : "--tls_key ", *path,
          " does not exist"));
    }
  }
  ASSIGN_OR_RETURN(options.auth_token, AuthTokenFromFlag());
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.keep_versions = absl::GetFlag(FLAGS_keep_versions);
  options.filter_scan_rows = absl::GetFlag(FLAGS_filter_scan_rows);
  if (options.filter_scan_rows < 0 || options.filter_scan_rows > 100000000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--filter_scan_rows must be in [0, 100000000], got ", options.filter_scan_rows));
  }
  if (absl::GetFlag(FLAGS_drain_seconds) < 0 || absl::GetFlag(FLAGS_drain_seconds) > 300) {
    return absl::InvalidArgumentError(absl::StrCat("--drain_seconds must be in [0, 300], got ",
                                                   absl::GetFlag(FLAGS_drain_seconds)));
  }
  if (options.keep_versions < 1 || options.keep_versions > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--keep_versions must be in [1, 1000], got ", options.keep_versions));
  }
  ASSIGN_OR_RETURN(options.model_memory_budget,
                   ParseByteSize(absl::GetFlag(FLAGS_model_memory_budget), "model_memory_budget"));
  options.log_requests = absl::GetFlag(FLAGS_log_requests);
  options.rollout_check_ms = absl::GetFlag(FLAGS_rollout_check_ms);
  if (options.rollout_check_ms < 10 || options.rollout_check_ms > 600000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--rollout_check_ms must be in [10, 600000], got ", options.rollout_check_ms));
  }
  RETURN_IF_ERROR(DriftOptionsFromFlags(&options.drift));
  options.stream = absl::GetFlag(FLAGS_stream);
  options.replica_id = absl::GetFlag(FLAGS_replica_id);
  options.stream_name = absl::GetFlag(FLAGS_stream_name);
  options.stream_replicas = absl::GetFlag(FLAGS_stream_replicas);
  options.stream_ack = absl::GetFlag(FLAGS_stream_ack);
  options.models_dir = absl::GetFlag(FLAGS_models_dir);
  if (absl::GetFlag(FLAGS_demo)) {
    RETURN_IF_ERROR(MakeDirs(options.data_dir));
    RETURN_IF_ERROR(PrepareDemo(options.data_dir));
    std::fprintf(stderr,
                 "demo ready in %s: model \"demo\" (users u0..u1999, items i0..i999) and "
                 "experiment \"demo_layout\"; see README \"The demo\" for calls\n",
                 options.data_dir.c_str());
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Server> server, Server::Start(options));
  if (absl::GetFlag(FLAGS_demo)) {
    RETURN_IF_ERROR(RunDemoTraffic(server->InProcessChannel(), options.auth_token));
  }
  std::fprintf(stderr, "recbandit serving on %s:%d (Ctrl-C to stop)\n",
               options.host.c_str(), server->port());
  if (server->metrics_port() > 0) {
    std::fprintf(stderr, "metrics on http://%s:%d/metrics\n", options.host.c_str(),
                 server->metrics_port());
  }
  if (server->http_port() > 0) {
    std::fprintf(stderr, "HTTP/JSON API on %s://%s:%d/v1/<Service>/<Method>\n",
                 options.tls_cert_path.empty() ? "http" : "https", options.host.c_str(),
                 server->http_port());
  }
  PrintJsonLine(absl::StrCat("{\"host\":\"", options.host, "\",\"port\":", server->port(),
                             ",\"metrics_port\":", server->metrics_port(),
                             ",\"http_port\":", server->http_port(),
                             ",\"tls\":", options.tls_cert_path.empty() ? "false" : "true",
                             "}"));
  int sig = 0;
  sigwait(&signals, &sig);
  const int32_t drain_seconds = absl::GetFlag(FLAGS_drain_seconds);
  server->SetNotServing();
  if (drain_seconds > 0) {
    std::fprintf(stderr, "serve: signal %d, health NOT_SERVING; serving %d s more\n", sig,
                 drain_seconds);
    absl::SleepFor(absl::Seconds(drain_seconds));
  }
  std::fprintf(stderr, "serve: signal %d, draining in-flight calls\n", sig);
  server->Shutdown(absl::Seconds(10));
  server->Wait();
  std::fprintf(stderr, "serve: stopped\n");
  return absl::OkStatus();
}

}  // namespace recbandit::services

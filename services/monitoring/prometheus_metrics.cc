// ServerMetrics over prometheus-cpp's core (counters, gauges, histograms,
// the text serializer) and cpp-httplib (the HTTP endpoint).
#include "services/monitoring/prometheus_metrics.h"

#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>


#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/monitoring/build_info.h"
#include "services/monitoring/process_metrics.h"

namespace recbandit::services {
namespace {

const char* CodeName(int code) {
  static const char* const kNames[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN";
}

// Returns an enum value's name as a label: lower case, without the enum's
// prefix ("JOB_STATE_NOT_PROMOTED", "JOB_STATE_" -> "not_promoted").
std::string ReadableState(absl::string_view name, absl::string_view prefix) {
  absl::ConsumePrefix(&name, prefix);
  return absl::AsciiStrToLower(name);
}

// Latency buckets in seconds: 50 us .. 10 s.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,   0.1,     0.25,   0.5,   1,     2.5,    10};
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Create(
    const std::vector<RpcLabel>& rpcs) {
  std::unique_ptr<ServerMetrics> m(new ServerMetrics());
  m->registry_ = std::make_shared<prometheus::Registry>();
  m->rpcs_ = rpcs;
  auto& requests = prometheus::BuildCounter()
                       .Name("recbandit_rpc_requests_total")
                       .Help("Finished gRPC calls, by grpc_service and grpc_method")
                       .Register(*m->registry_);
  auto& latency = prometheus::BuildHistogram()
                      .Name("recbandit_rpc_latency_seconds")
                      .Help("Server-side latency of gRPC calls, by grpc_service and grpc_method")
                      .Register(*m->registry_);
  for (const RpcLabel& rpc : rpcs) {
    const prometheus::Labels labels = {{"grpc_service", rpc.service}, {"grpc_method", rpc.method}};
    m->requests_.push_back(&requests.Add(labels));
    m->latency_.push_back(&latency.Add(labels, LatencyBuckets()));
  }
  m->errors_family_ = &prometheus::BuildCounter()
                           .Name("recbandit_rpc_errors_total")
                           .Help("gRPC calls that failed, by grpc_service, grpc_method and "
                                 "grpc_code (the status code's name)")
                           .Register(*m->registry_);
  m->model_version_family_ = &prometheus::BuildGauge()
                                  .Name("recbandit_model_version")
                                  .Help("Active version of each model name")
                                  .Register(*m->registry_);
  m->jobs_family_ = &prometheus::BuildGauge()
                         .Name("recbandit_training_jobs")
                         .Help("Jobs known to the server (training and batch "
                               "recommendation), by state (queued, running, succeeded, ...)")
                         .Register(*m->registry_);
  m->drift_psi_family_ = &prometheus::BuildGauge()
                              .Name("recbandit_drift_psi")
                              .Help("Population stability index of a feature's live window "
                                    "against its baseline, by kind, subject and feature")
                              .Register(*m->registry_);
  m->drift_alert_family_ = &prometheus::BuildGauge()
                                .Name("recbandit_drift_alert")
                                .Help("Drift state of a model or experiment: 0 ok (or too "
                                      "little data), 1 warn, 2 alert")
                                .Register(*m->registry_);
  m->drift_state_family_ = &prometheus::BuildGauge()
                                .Name("recbandit_drift_state")
                                .Help("1 for the drift state a model or experiment is in (ok, "
                                      "warn, alert, insufficient_data), 0 for the others")
                                .Register(*m->registry_);
  const BuildInfo& build = GetBuildInfo();
  prometheus::BuildGauge()
      .Name("recbandit_build_info")
      .Help("Always 1; the labels say which build is running")
      .Register(*m->registry_)
      .Add({{"version", build.version},
            {"build_type", build.build_type},
            {"git_commit", build.git_commit},
            {"compiler", build.compiler}})
      .Set(1);
  m->log_write_ = &prometheus::BuildHistogram()
                       .Name("recbandit_event_log_write_seconds")
                       .Help("Latency of durable event-log writes (fsync included)")
                       .Register(*m->registry_)
                       .Add({}, LatencyBuckets());
  m->model_load_ = &prometheus::BuildHistogram()
                        .Name("recbandit_model_load_seconds")
                        .Help("Time to load one model version (on first use or activation)")
                        .Register(*m->registry_)
                        .Add({}, prometheus::Histogram::BucketBoundaries{
                                     0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  m->model_evictions_ = &prometheus::BuildCounter()
                             .Name("recbandit_model_evictions_total")
                             .Help("Models evicted to stay within --model_memory_budget")
                             .Register(*m->registry_)
                             .Add({});
  m->models_resident_ = &prometheus::BuildGauge()
                             .Name("recbandit_models_resident")
                             .Help("Model snapshots resident in memory (active and pinned)")
                             .Register(*m->registry_)
                             .Add({});
  m->model_resident_bytes_ = &prometheus::BuildGauge()
                                  .Name("recbandit_model_resident_bytes")
                                  .Help("Bytes held by the resident model snapshots")
                                  .Register(*m->registry_)
                                  .Add({});
  auto& shadows = prometheus::BuildCounter()
                      .Name("recbandit_shadow_slates_total")
                      .Help("Deployments' shadow slates, by outcome (logged, dropped, failed)")
                      .Register(*m->registry_);
  m->shadow_logged_ = &shadows.Add({{"outcome", "logged"}});
  m->shadow_dropped_ = &shadows.Add({{"outcome", "dropped"}});
  m->shadow_failed_ = &shadows.Add({{"outcome", "failed"}});
  m->slate_log_failures_ = &prometheus::BuildCounter()
                                .Name("recbandit_slate_log_failures_total")
                                .Help("Served slates (QUEUED_BEFORE_REPLY deployments) whose "
                                      "log write failed after the reply")
                                .Register(*m->registry_)
                                .Add({});
  return m;
}

ServerMetrics::~ServerMetrics() {
  if (http_ != nullptr) http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
}

std::string ServerMetrics::Scrape() const {
  {
    absl::MutexLock lock(&hook_mu_);
    if (scrape_hook_) scrape_hook_();
  }
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  // Without /proc (not Linux) the process_* metrics are left out.
  if (absl::StatusOr<ProcessStats> process = ReadProcessStats(); process.ok()) {
    for (prometheus::MetricFamily& f : ProcessMetricFamilies(*process)) {
      families.push_back(std::move(f));
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

absl::Status ServerMetrics::Serve(const std::string& host, int port) {
  if (http_ != nullptr) return absl::FailedPreconditionError("metrics are already served");
  auto http = std::make_unique<httplib::Server>();
  // Every request is answered here, before httplib's own routing: one place
  // decides each method and path.
  http->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.path != "/metrics") {
      res.status = 404;
      res.set_content("not found: the metrics are at /metrics\n", "text/plain");
    } else if (req.method != "GET" && req.method != "HEAD") {
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_content("method not allowed: use GET /metrics\n", "text/plain");
    } else {
      res.status = 200;
      res.set_content(Scrape(), "text/plain; version=0.0.4; charset=utf-8");
    }
    return httplib::Server::HandlerResponse::Handled;
  });
  // Slow or idle clients cannot hold the endpoint's threads for long.
  http->set_read_timeout(5, 0);
  http->set_write_timeout(5, 0);
  http->set_keep_alive_max_count(100);
  http->set_payload_max_length(64 * 1024);
  const bool bound = port == 0 ? (port_ = http->bind_to_any_port(host)) > 0
                               : http->bind_to_port(host, port);
  if (!bound) {
    port_ = 0;
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", host, ":", port,
                                               ": the address is in use or not local"));
  }
  if (port != 0) port_ = port;
  http_ = std::move(http);
  http_thread_ = std::thread([server = http_.get()] { server->listen_after_bind(); });
  return absl::OkStatus();
}

void ServerMetrics::RecordRpc(int rpc, int code, double seconds) {
  if (rpc < 0 || rpc >= static_cast<int>(rpcs_.size())) return;
  requests_[rpc]->Increment();
  latency_[rpc]->Observe(seconds);
  if (code != 0) {
    errors_family_
        ->Add({{"grpc_service", rpcs_[rpc].service},
               {"grpc_method", rpcs_[rpc].method},
               {"grpc_code", CodeName(code)}})
        .Increment();
  }
}

void ServerMetrics::RecordLogWrite(double seconds) { log_write_->Observe(seconds); }

void ServerMetrics::RecordShadowSlate(const char* outcome) {
  const std::string o(outcome);
  (o == "logged" ? shadow_logged_ : o == "dropped" ? shadow_dropped_ : shadow_failed_)->Increment();
}

void ServerMetrics::RecordSlateLogFailure() { slate_log_failures_->Increment(); }

void ServerMetrics::SetModelVersion(const std::string& model, int64_t version) {
  model_version_family_->Add({{"model", model}}).Set(static_cast<double>(version));
}

void ServerMetrics::RecordModelLoad(double seconds) { model_load_->Observe(seconds); }

void ServerMetrics::RecordModelEviction() { model_evictions_->Increment(); }

void ServerMetrics::SetModelsResident(int64_t models, int64_t bytes) {
  models_resident_->Set(static_cast<double>(models));
  model_resident_bytes_->Set(static_cast<double>(bytes));
}

void ServerMetrics::SetDriftPsi(const std::string& kind, const std::string& subject,
                                const std::string& feature, double psi) {
  drift_psi_family_->Add({{"kind", kind}, {"subject", subject}, {"feature", feature}}).Set(psi);
}

void ServerMetrics::SetDriftAlert(const std::string& kind, const std::string& subject,
                                  int level, const std::string& state) {
  drift_alert_family_->Add({{"kind", kind}, {"subject", subject}}).Set(level);
  const std::string current = ReadableState(state, "DRIFT_STATE_");
  for (const char* s : {"ok", "warn", "alert", "insufficient_data"}) {
    drift_state_family_->Add({{"kind", kind}, {"subject", subject}, {"state", s}})
        .Set(current == s ? 1 : 0);
  }
}

void ServerMetrics::SetJobs(const std::string& state, int64_t count) {
  jobs_family_->Add({{"state", ReadableState(state, "JOB_STATE_")}})
      .Set(static_cast<double>(count));
}

}  // namespace recbandit::services

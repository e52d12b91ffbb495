// ServerMetrics: the server's Prometheus metrics (requests, errors and latency
// per rpc, labelled as go-grpc-prometheus labels them: grpc_service,
// grpc_method, grpc_code by name; the process_* metrics of the client
// conventions and recbandit_build_info; active model versions, event-log write latency, training jobs,
// deployments' shadow slates, model loads, evictions and residency, drift PSI
// and alert levels),
// kept by prometheus-cpp's core and served at GET /metrics by cpp-httplib
// (every other method or path gets 404/405; never civetweb's 404 path,
// which crashes the process: prometheus-cpp #739).
#ifndef RECBANDIT_SERVICES_MONITORING_PROMETHEUS_METRICS_H_
#define RECBANDIT_SERVICES_MONITORING_PROMETHEUS_METRICS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace recbandit::services {

// One rpc's labels: grpc_service (the full service name, e.g.
// "recbandit.Recommender") and grpc_method (e.g. "Recommend").
struct RpcLabel {
  std::string service;
  std::string method;
};

// Thread-safe. Rpcs are registered up front so the hot path only does
// atomic increments.
//
//   ASSIGN_OR_RETURN(auto metrics, ServerMetrics::Create(
//       {{"recbandit.Recommender", "Recommend"}, {"recbandit.Experiments", "Decide"}}));
//   metrics->RecordRpc(0, 0, 0.0012);      // rpc index, gRPC code, seconds
//   RETURN_IF_ERROR(metrics->Serve("127.0.0.1", 9090));
class ServerMetrics {
 public:
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Create(
      const std::vector<RpcLabel>& rpcs);
  ~ServerMetrics();

  // Starts the HTTP endpoint on host:port (0 = a free port): GET and HEAD
  // /metrics answer 200 with the text exposition format; another method on
  // /metrics answers 405 (Allow: GET, HEAD), any other path 404, a malformed
  // request 400. UNAVAILABLE when it cannot bind.
  absl::Status Serve(const std::string& host, int port);
  // Returns the text exposition of every metric (what GET /metrics serves),
  // the process_* metrics read from /proc at that moment.
  std::string Scrape() const;
  // Returns the bound HTTP port (0 when not serving).
  int port() const { return port_; }

  // Records one finished call of rpcs[rpc] with gRPC status `code`.
  void RecordRpc(int rpc, int code, double seconds);
  // Records one durable event-log write (decision, reward, interactions).
  void RecordLogWrite(double seconds);
  // Counts one shadow slate by what became of it: "logged", "dropped" (the
  // queue was full) or "failed" (its model or the log refused it).
  void RecordShadowSlate(const char* outcome);
  // Counts one served slate whose queued log write failed after the reply
  // (a deployment with QUEUED_BEFORE_REPLY).
  void RecordSlateLogFailure();
  // Sets the active version of a model name.
  void SetModelVersion(const std::string& model, int64_t version);
  // Sets the number of jobs in `state` (a JobState name; the label is its
  // readable form, JOB_STATE_NOT_PROMOTED -> "not_promoted").
  void SetJobs(const std::string& state, int64_t count);
  // Records one model version loaded (on demand or activated), seconds.
  void RecordModelLoad(double seconds);
  // Counts one model evicted to stay within --model_memory_budget.
  void RecordModelEviction();
  // Sets how many model snapshots are resident and their bytes.
  void SetModelsResident(int64_t models, int64_t bytes);
  // Sets recbandit_drift_psi{kind,subject,feature}: kind "model" or
  // "experiment", subject its name.
  void SetDriftPsi(const std::string& kind, const std::string& subject,
                   const std::string& feature, double psi);
  // Sets recbandit_drift_alert{kind,subject}: 0 ok or too little data,
  // 1 warn, 2 alert; and recbandit_drift_state{kind,subject,state} to 1 for
  // `state` and 0 for the other three (a DriftState name; the label is its
  // readable form: "ok", "warn", "alert", "insufficient_data").
  void SetDriftAlert(const std::string& kind, const std::string& subject, int level,
                     const std::string& state);
  // Runs `hook` at the start of every Scrape (to refresh computed gauges).
  // `hook` must be thread-safe.
  void SetScrapeHook(std::function<void()> hook) ABSL_LOCKS_EXCLUDED(hook_mu_) {
    absl::MutexLock lock(&hook_mu_);
    scrape_hook_ = std::move(hook);
  }

 private:
  ServerMetrics() = default;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
  int port_ = 0;
  std::vector<RpcLabel> rpcs_;
  std::vector<prometheus::Counter*> requests_;
  std::vector<prometheus::Histogram*> latency_;
  prometheus::Family<prometheus::Counter>* errors_family_ = nullptr;
  prometheus::Family<prometheus::Gauge>* model_version_family_ = nullptr;
  prometheus::Family<prometheus::Gauge>* jobs_family_ = nullptr;
  prometheus::Family<prometheus::Gauge>* drift_psi_family_ = nullptr;
  prometheus::Family<prometheus::Gauge>* drift_alert_family_ = nullptr;
  prometheus::Family<prometheus::Gauge>* drift_state_family_ = nullptr;
  mutable absl::Mutex hook_mu_;
  std::function<void()> scrape_hook_ ABSL_GUARDED_BY(hook_mu_);
  prometheus::Histogram* log_write_ = nullptr;
  prometheus::Counter* shadow_logged_ = nullptr;
  prometheus::Counter* shadow_dropped_ = nullptr;
  prometheus::Counter* shadow_failed_ = nullptr;
  prometheus::Counter* slate_log_failures_ = nullptr;
  prometheus::Histogram* model_load_ = nullptr;
  prometheus::Counter* model_evictions_ = nullptr;
  prometheus::Gauge* models_resident_ = nullptr;
  prometheus::Gauge* model_resident_bytes_ = nullptr;
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_MONITORING_PROMETHEUS_METRICS_H_

// The gRPC server: Recommender and Experiments services, grpc.health.v1 and
// server reflection, bound to 127.0.0.1 by default; optional TLS and bearer
// token, Prometheus metrics, the HTTP/JSON API, graceful shutdown (drain,
// cancel training, snapshot policies).
#ifndef RECBANDIT_SERVICES_SERVER_H_
#define RECBANDIT_SERVICES_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/monitoring/drift.h"

namespace grpc {
class Channel;
class Server;
class Service;
}  // namespace grpc

namespace recbandit::bandits {
class EventLog;
class ExperimentManager;
}  // namespace recbandit::bandits

namespace recbandit::services {

class Catalog;
class Dashboard;
class DeploymentStore;
class JsonGateway;
class ModelStore;
class RecentEvents;
class RecommendPipeline;
class ServerMetrics;
class JobQueue;
class Replication;
struct ServerCore;

struct ServerOptions {
  std::string host = "127.0.0.1";  // never 0.0.0.0 unless asked
  int port = 50051;                // 0 picks a free port (see Server::port())
  // Required. Holds the event log (events/) and the models
  // (models/<name>/<version>/, see ModelStore).
  std::string data_dir;
  // Prometheus metrics over HTTP (GET /metrics) on host:metrics_port;
  // 0 = no metrics endpoint; -1 = a free port (see Server::metrics_port()).
  int metrics_port = 0;
  // The HTTP/JSON API (services/http/json_gateway.h: POST
  // /v1/<Service>/<Method>) and the dashboard (services/http/dashboard.h:
  // GET /, /dashboard/...) on host:http_port, HTTPS with the TLS files;
  // 0 = off; -1 = a free port (see Server::http_port()). The dashboard's
  // simulations page shows <data_dir>/simulations/*.csv.
  int http_port = 0;
  // PEM files of the TLS certificate chain and private key; both empty =
  // plaintext. Both or neither.
  std::string tls_cert_path;
  std::string tls_key_path;
  // When non-empty, every call of our services must carry the metadata
  // `authorization: Bearer <auth_token>` (UNAUTHENTICATED otherwise). Health
  // checks and reflection stay open.
  std::string auth_token;
  // Largest request message accepted; larger ones fail with
  // RESOURCE_EXHAUSTED. 1 KiB..1 GiB.
  int32_t max_message_bytes = 4 << 20;
  // Versions kept per model name (ModelStore::Prune); >= 1.
  int32_t keep_versions = 5;
  // Bytes of models kept in memory; 0 = no budget (every model loads at
  // start-up). > 0: models load at first use and the least recently used
  // idle ones are evicted (ModelStoreOptions::memory_budget_bytes).
  int64_t model_memory_budget = 0;
  // Log every call as a JSON line on stderr (default: failed calls only).
  bool log_requests = false;
  // Experiments: a policy snapshot at shutdown (tests of restart replay turn
  // it off).
  bool snapshot_on_shutdown = true;
  // How often canary rollouts are checked (advance, promote, roll back),
  // milliseconds, 10..600000.
  int32_t rollout_check_ms = 1000;
  // Catalog filters allowing at most this many of a model's items score them
  // by an exact scan; more go to the index (FilteredRows). 0..100000000.
  int32_t filter_scan_rows = 20000;
  // Drift monitoring: window, thresholds and experiment baseline size (see
  // services/monitoring/drift.h; data_dir, source and lookups are set by
  // Start).
  DriftMonitorOptions drift;
  // Scale-out (services/scale_out.md). Empty `stream`: one server, as
  // always. Otherwise the NATS JetStream servers ("nats://host:port,...")
  // every replica shares; replica_id names this replica (required then,
  // unique and stable for its data_dir).
  std::string stream;
  std::string replica_id;
  std::string stream_name = "RECBANDIT";
  int32_t stream_replicas = 3;
  // "local": Decide replies after the local durable commit; "stream": also
  // after the stream's replicated acknowledgement.
  std::string stream_ack = "local";
  // Where model versions live; "" = <data_dir>/models. With --stream, a
  // folder every replica reads (a model activated on one replica is
  // activated from it on all).
  std::string models_dir;
};

// A running server. Thread-safe.
//
//   ASSIGN_OR_RETURN(auto server, Server::Start(options));
//   ... server->Shutdown(absl::Seconds(10));
class Server {
 public:
  // Returns a started server, or UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();  // shuts down at once if still running

  // Returns the bound port.
  int port() const { return port_; }
  // Returns the bound metrics HTTP port (0 when off).
  int metrics_port() const;
  // Returns the bound HTTP/JSON API port (0 when off).
  int http_port() const;
  // Returns a channel to this server's own services, in process (callers
  // still send the bearer token when one is set). REQUIRES: running.
  std::shared_ptr<grpc::Channel> InProcessChannel();
  // Turns grpc.health.v1 NOT_SERVING (overall and per service) while calls
  // are still served: load balancers stop sending new calls before Shutdown.
  void SetNotServing();
  // Stops accepting calls, lets in-flight calls finish for up to `grace`, then
  // cancels the rest, stops jobs (they resume at the next start) and snapshots every bandit
  // policy. Idempotent.
  void Shutdown(absl::Duration grace);
  // Blocks until Shutdown has finished (gRPC stopped, jobs stopped, policies
  // snapshotted).
  void Wait();

 private:
  Server() = default;
  ServerOptions options_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<bandits::EventLog> event_log_;  // outlives every user below
  std::unique_ptr<Catalog> catalog_;  // outlives the manager and the pipeline (they read it)
  std::unique_ptr<bandits::ExperimentManager> experiments_manager_;
  std::unique_ptr<ModelStore> models_;
  std::unique_ptr<DriftMonitor> drift_;
  std::unique_ptr<DeploymentStore> deployments_;
  std::unique_ptr<RecentEvents> recent_;
  std::unique_ptr<RecommendPipeline> pipeline_;
  std::unique_ptr<ServerCore> core_;     // before jobs_: their callbacks use it
  std::unique_ptr<JobQueue> jobs_;
  std::unique_ptr<Replication> replication_;  // with --stream
  std::unique_ptr<grpc::Service> recommender_;
  std::unique_ptr<grpc::Service> experiments_;
  std::unique_ptr<grpc::Service> deployments_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Dashboard> dashboard_;  // the HTTP port's pages
  std::unique_ptr<JsonGateway> http_;  // after server_ and dashboard_: destroyed first
  int port_ = 0;
  absl::Mutex shutdown_mu_;  // serialises Shutdown (a signal thread, the destructor)
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVER_H_

// The gRPC server: Recommender and Experiments services, grpc.health.v1 and
// server reflection, bound to 127.0.0.1 by default, graceful shutdown.
#ifndef RECBANDIT_SERVICES_SERVER_H_
#define RECBANDIT_SERVICES_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace recbandit::bandits {
class ExperimentManager;
}  // namespace recbandit::bandits

namespace recbandit::services {

class ModelStore;

struct ServerOptions {
  std::string host = "127.0.0.1";  // never 0.0.0.0 unless asked
  int port = 50051;                // 0 picks a free port (see Server::port())
  // Required. Holds the event log (events/) and the models
  // (models/<name>/<version>/, see ModelStore).
  std::string data_dir;
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
  // Stops accepting calls, lets in-flight calls finish for up to `grace`, then
  // cancels the rest, and snapshots every bandit policy. Idempotent.
  void Shutdown(absl::Duration grace);
  // Blocks until the server has shut down.
  void Wait();

 private:
  Server() = default;
  std::unique_ptr<bandits::ExperimentManager> experiments_manager_;
  std::unique_ptr<ModelStore> models_;
  std::unique_ptr<grpc::Service> recommender_;
  std::unique_ptr<grpc::Service> experiments_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVER_H_

// Server: builds the grpc::Server with our services, health and reflection.
#include "services/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "proto/status_macros.h"
#include "bandits/experiment.h"
#include "proto/experiments.grpc.pb.h"
#include "proto/file_util.h"
#include "proto/recommender.grpc.pb.h"

namespace recbandit::services {
namespace {

// The one place a Status becomes a grpc::Status (the canonical codes agree).
grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

grpc::Status Missing(const char* rpc, const char* what) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      absl::StrCat(rpc, " is not implemented yet: it needs ", what));
}

// The libraries exist (the CLI's train, recommend, similar); what is missing
// is the server's model store and job runner.
constexpr char kTraining[] =
    "the gRPC service issue's training jobs (use `recbandit train` meanwhile)";
constexpr char kRetrieval[] =
    "the gRPC service issue's model store (use `recbandit recommend` / `similar` meanwhile)";

// Recommender rpcs that have not landed answer UNIMPLEMENTED naming the issue.
class RecommenderService final : public recbandit::Recommender::Service {
  grpc::Status Train(grpc::ServerContext*, const TrainRequest*, Job*) override {
    return Missing("Train", kTraining);
  }
  grpc::Status GetJob(grpc::ServerContext*, const GetJobRequest*, Job*) override {
    return Missing("GetJob", kTraining);
  }
  grpc::Status WatchJob(grpc::ServerContext*, const GetJobRequest*,
                        grpc::ServerWriter<Job>*) override {
    return Missing("WatchJob", kTraining);
  }
  grpc::Status CancelJob(grpc::ServerContext*, const CancelJobRequest*, Job*) override {
    return Missing("CancelJob", kTraining);
  }
  grpc::Status Recommend(grpc::ServerContext*, const RecommendRequest*,
                         RecommendResponse*) override {
    return Missing("Recommend", kRetrieval);
  }
  grpc::Status RankItems(grpc::ServerContext*, const RankItemsRequest*,
                         RankItemsResponse*) override {
    return Missing("RankItems", kTraining);
  }
  grpc::Status SimilarItems(grpc::ServerContext*, const SimilarItemsRequest*,
                            SimilarItemsResponse*) override {
    return Missing("SimilarItems", kRetrieval);
  }
  grpc::Status PutEvents(grpc::ServerContext*, const PutEventsRequest*,
                         PutEventsResponse*) override {
    return Missing("PutEvents", kTraining);
  }
  grpc::Status ListModels(grpc::ServerContext*, const ListModelsRequest*,
                          ListModelsResponse*) override {
    return Missing("ListModels", kTraining);
  }
  grpc::Status ActivateModel(grpc::ServerContext*, const ActivateModelRequest*,
                             ActivateModelResponse*) override {
    return Missing("ActivateModel", kTraining);
  }
};

// Experiments: thin handlers over bandits::ExperimentManager. Thread-safe.
class ExperimentsService final : public recbandit::Experiments::Service {
 public:
  explicit ExperimentsService(bandits::ExperimentManager* manager) : manager_(manager) {}

  grpc::Status CreateExperiment(grpc::ServerContext*, const CreateExperimentRequest* request,
                                ExperimentConfig* response) override {
    auto created = manager_->CreateExperiment(request->config());
    if (!created.ok()) return ToGrpc(created.status());
    *response = *std::move(created);
    return grpc::Status::OK;
  }
  grpc::Status GetExperiment(grpc::ServerContext*, const GetExperimentRequest* request,
                             ExperimentConfig* response) override {
    auto config = manager_->GetExperiment(request->name());
    if (!config.ok()) return ToGrpc(config.status());
    *response = *std::move(config);
    return grpc::Status::OK;
  }
  grpc::Status ListExperiments(grpc::ServerContext*, const ListExperimentsRequest*,
                               ListExperimentsResponse* response) override {
    for (ExperimentConfig& c : manager_->ListExperiments()) {
      *response->add_experiments() = std::move(c);
    }
    return grpc::Status::OK;
  }
  grpc::Status Decide(grpc::ServerContext*, const DecideRequest* request,
                      DecideResponse* response) override {
    auto decided = manager_->Decide(*request);
    if (!decided.ok()) return ToGrpc(decided.status());
    *response = *std::move(decided);
    return grpc::Status::OK;
  }
  grpc::Status Reward(grpc::ServerContext*, const RewardRequest* request,
                      RewardResponse* response) override {
    auto rewarded = manager_->Reward(*request);
    if (!rewarded.ok()) return ToGrpc(rewarded.status());
    *response = *std::move(rewarded);
    return grpc::Status::OK;
  }
  grpc::Status EvaluatePolicy(grpc::ServerContext*, const EvaluatePolicyRequest*,
                              OpeReport*) override {
    return Missing("EvaluatePolicy",
                   "the gRPC service issue (the estimators exist: `recbandit ope --log=`)");
  }

 private:
  bandits::ExperimentManager* manager_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::unique_ptr<Server> server(new Server());
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("the server needs a data directory (--data_dir)");
  }
  RETURN_IF_ERROR(MakeDirs(options.data_dir));
  ASSIGN_OR_RETURN(server->experiments_manager_,
                   bandits::ExperimentManager::Open(options.data_dir, {}));
  server->recommender_ = std::make_unique<RecommenderService>();
  server->experiments_ =
      std::make_unique<ExperimentsService>(server->experiments_manager_.get());
  grpc::ServerBuilder builder;
  // Without this a second server could bind the same port and silently take
  // half the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  const std::string address = absl::StrCat(
      options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host,
      ":", options.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->recommender_.get());
  builder.RegisterService(server->experiments_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  }
  server->server_->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

Server::~Server() {
  Shutdown(absl::ZeroDuration());
  Wait();
}

void Server::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  // No handler runs any more: snapshot every policy; the log closes with the
  // manager (every acknowledged decision is already durable).
  if (experiments_manager_ != nullptr) {
    absl::Status s = experiments_manager_->Shutdown();
    if (!s.ok()) std::fprintf(stderr, "serve: snapshot at shutdown failed: %s\n",
                              std::string(s.message()).c_str());
  }
}

void Server::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace recbandit::services

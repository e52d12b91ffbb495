// Server: builds the grpc::Server with our services, health and reflection.
#include "services/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "proto/experiments.grpc.pb.h"
#include "proto/recommender.grpc.pb.h"

namespace recbandit::services {
namespace {

grpc::Status Missing(const char* rpc, const char* what) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      absl::StrCat(rpc, " is not implemented yet: it needs ", what));
}

constexpr char kTraining[] = "embedding training (issue: ALS/BPR training, ranking/)";
constexpr char kRetrieval[] = "candidate retrieval (issue: FAISS item index, retrieval/)";
constexpr char kBandits[] = "bandit policies and the event log (issue: bandits/)";
constexpr char kOpe[] = "offline policy evaluation (issue: OPE CLI)";

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

class ExperimentsService final : public recbandit::Experiments::Service {
  grpc::Status CreateExperiment(grpc::ServerContext*, const CreateExperimentRequest*,
                                ExperimentConfig*) override {
    return Missing("CreateExperiment", kBandits);
  }
  grpc::Status GetExperiment(grpc::ServerContext*, const GetExperimentRequest*,
                             ExperimentConfig*) override {
    return Missing("GetExperiment", kBandits);
  }
  grpc::Status ListExperiments(grpc::ServerContext*, const ListExperimentsRequest*,
                               ListExperimentsResponse*) override {
    return Missing("ListExperiments", kBandits);
  }
  grpc::Status Decide(grpc::ServerContext*, const DecideRequest*,
                      DecideResponse*) override {
    return Missing("Decide", kBandits);
  }
  grpc::Status Reward(grpc::ServerContext*, const RewardRequest*,
                      RewardResponse*) override {
    return Missing("Reward", kBandits);
  }
  grpc::Status EvaluatePolicy(grpc::ServerContext*, const EvaluatePolicyRequest*,
                              OpeReport*) override {
    return Missing("EvaluatePolicy", kOpe);
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::unique_ptr<Server> server(new Server());
  server->recommender_ = std::make_unique<RecommenderService>();
  server->experiments_ = std::make_unique<ExperimentsService>();
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
}

void Server::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace recbandit::services

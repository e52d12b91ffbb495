// Server: builds the grpc::Server with our services (thin handlers over
// ModelStore and bandits::ExperimentManager), health and reflection.
#include "services/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "bandits/experiment.h"
#include "proto/experiments.grpc.pb.h"
#include "proto/file_util.h"
#include "proto/recommender.grpc.pb.h"
#include "proto/status_macros.h"
#include "services/model_store.h"

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

// What the gRPC service issue still has to wire in.
constexpr char kTraining[] =
    "the gRPC service issue's training jobs (meanwhile: `recbandit train --out=<data_dir>/"
    "models/<name>/<version>` then ActivateModel)";
constexpr char kEvents[] = "the gRPC service issue's real-time event store and fold-in";
constexpr char kExploration[] =
    "the gRPC service issue's exploration layer (meanwhile: Experiments.Decide)";

void CopyItems(const Recommendation& rec, google::protobuf::RepeatedPtrField<ScoredItem>* out) {
  for (const ScoredItemId& s : rec.items) {
    ScoredItem* item = out->Add();
    item->set_item(s.item);
    item->set_score(s.score);
  }
}

// Recommender: thin handlers over ModelStore snapshots. Training jobs and
// real-time events belong to the gRPC service issue and answer UNIMPLEMENTED
// naming it. Thread-safe.
class RecommenderService final : public recbandit::Recommender::Service {
 public:
  explicit RecommenderService(ModelStore* store) : store_(store) {}

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
  grpc::Status Recommend(grpc::ServerContext*, const RecommendRequest* request,
                         RecommendResponse* response) override {
    if (!request->experiment().empty()) {
      return Missing("Recommend with an experiment (exploration)", kExploration);
    }
    if (request->user().empty() || request->user().size() > 256) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "user must be 1..256 bytes");
    }
    auto model = store_->Get(request->model_name());
    if (!model.ok()) return ToGrpc(model.status());
    RecommendQuery query;
    query.user = request->user();
    query.k = request->k() == 0 ? 10 : request->k();
    query.exclude_seen = !request->include_seen();
    query.exclude_items.assign(request->exclude_items().begin(), request->exclude_items().end());
    query.recent_items.assign(request->recent_items().begin(), request->recent_items().end());
    query.search.ef_search = request->ef_search();
    query.search.nprobe = request->nprobe();
    auto rec = (*model)->Recommend(query);
    if (!rec.ok()) return ToGrpc(rec.status());
    CopyItems(*rec, response->mutable_items());
    response->set_fallback(rec->fallback);
    response->set_model_name((*model)->name());
    response->set_model_version((*model)->version());
    return grpc::Status::OK;
  }
  grpc::Status RankItems(grpc::ServerContext*, const RankItemsRequest* request,
                         RankItemsResponse* response) override {
    if (request->items_size() < 1 || request->items_size() > 1000) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("items must have 1..1000 entries, got ",
                                       request->items_size()));
    }
    auto model = store_->Get(request->model_name());
    if (!model.ok()) return ToGrpc(model.status());
    auto rec = (*model)->RankItems(
        request->user(), std::vector<std::string>(request->items().begin(), request->items().end()),
        std::vector<std::string>(request->recent_items().begin(), request->recent_items().end()));
    if (!rec.ok()) return ToGrpc(rec.status());
    CopyItems(*rec, response->mutable_items());
    response->set_fallback(rec->fallback);
    return grpc::Status::OK;
  }
  grpc::Status SimilarItems(grpc::ServerContext*, const SimilarItemsRequest* request,
                            SimilarItemsResponse* response) override {
    auto model = store_->Get(request->model_name());
    if (!model.ok()) return ToGrpc(model.status());
    auto rec = (*model)->Similar(request->item(), request->k() == 0 ? 10 : request->k());
    if (!rec.ok()) return ToGrpc(rec.status());
    CopyItems(*rec, response->mutable_items());
    return grpc::Status::OK;
  }
  grpc::Status PutEvents(grpc::ServerContext*, const PutEventsRequest*,
                         PutEventsResponse*) override {
    return Missing("PutEvents", kEvents);
  }
  grpc::Status ListModels(grpc::ServerContext*, const ListModelsRequest* request,
                          ListModelsResponse* response) override {
    auto models = store_->List(request->model_name());
    if (!models.ok()) return ToGrpc(models.status());
    for (ModelInfo& m : *models) *response->add_models() = std::move(m);
    return grpc::Status::OK;
  }
  grpc::Status ActivateModel(grpc::ServerContext*, const ActivateModelRequest* request,
                             ActivateModelResponse* response) override {
    auto info = store_->Activate(request->model_name(), request->version());
    if (!info.ok()) return ToGrpc(info.status());
    *response->mutable_model() = *std::move(info);
    return grpc::Status::OK;
  }

 private:
  ModelStore* store_;
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
  ASSIGN_OR_RETURN(server->models_, ModelStore::Open(options.data_dir + "/models"));
  server->recommender_ = std::make_unique<RecommenderService>(server->models_.get());
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

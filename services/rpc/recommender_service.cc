// The Recommender service: training jobs, Recommend (also exploring), RankItems,
// SimilarItems, PutEvents, PutItems / PutUsers and the model registry, as thin
// handlers over the core.
#include "services/rpc/recommender_service.h"

// First of all: how our requests are parsed (before any handler is instantiated).
#include "proto/core/request_parsing.h"

#include <string>
#include <vector>

#include "proto/core/status_macros.h"
#include "proto/recommender.grpc.pb.h"
#include "services/monitoring/drift.h"
#include "services/replication/replication.h"
#include "services/monitoring/prometheus_metrics.h"
#include "services/serving/catalog.h"
#include "services/serving/model_store.h"
#include "services/serving/recommend_pipeline.h"
#include "services/serving/store_events.h"
#include "services/serving/job_queue.h"

// The callback handlers' request types parse through request_parsing.h too.
RECBANDIT_DIAGNOSED_REQUEST(recbandit::RecommendRequest)
RECBANDIT_DIAGNOSED_REQUEST(recbandit::RankItemsRequest)
RECBANDIT_DIAGNOSED_REQUEST(recbandit::SimilarItemsRequest)

namespace recbandit::services {
namespace {

// Request bounds (proto/recommender.proto documents each).
constexpr size_t kMaxQueuedExploring = 4096;

// Recommend, RankItems and SimilarItems never block (CPU only), so they run
// as callback handlers on gRPC's own threads: no hand-off to a worker thread
// per call. The others (training, durable writes) stay synchronous.
using RecommenderBase = Recommender::WithCallbackMethod_Recommend<
    Recommender::WithCallbackMethod_RankItems<
        Recommender::WithCallbackMethod_SimilarItems<Recommender::Service>>>;

// Recommender: thin handlers over the core. Thread-safe.
class RecommenderService final : public RecommenderBase {
 public:
  explicit RecommenderService(ServerCore* core) : core_(*core), blocking_(16) {}

  grpc::Status Train(grpc::ServerContext* ctx, const TrainRequest* request,
                     Job* response) override {
    return Call(core_, kTrain, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.jobs->Submit(*request));
      PublishJobCounts(core_);
      return absl::OkStatus();
    });
  }

  grpc::Status BatchRecommend(grpc::ServerContext* ctx, const BatchRecommendRequest* request,
                              Job* response) override {
    return Call(core_, kBatchRecommend, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.jobs->Submit(*request));
      PublishJobCounts(core_);
      return absl::OkStatus();
    });
  }

  grpc::Status GetJob(grpc::ServerContext* ctx, const GetJobRequest* request,
                      Job* response) override {
    return Call(core_, kGetJob, ctx, [&]() -> absl::Status {
      if (request->job_id().empty()) return absl::InvalidArgumentError("job_id is required");
      ASSIGN_OR_RETURN(*response, core_.jobs->Get(request->job_id()));
      return absl::OkStatus();
    });
  }

  grpc::Status WatchJob(grpc::ServerContext* ctx, const GetJobRequest* request,
                        grpc::ServerWriter<Job>* writer) override {
    return Call(core_, kWatchJob, ctx, [&]() -> absl::Status {
      if (request->job_id().empty()) return absl::InvalidArgumentError("job_id is required");
      int64_t revision = -1;
      int64_t sent = -1;
      while (true) {
        ASSIGN_OR_RETURN(Job job, core_.jobs->WaitForChange(request->job_id(), &revision,
                                                            absl::Milliseconds(250)));
        if (revision != sent) {
          if (!writer->Write(job)) return absl::CancelledError("the client went away");
          sent = revision;
        }
        if (IsTerminal(job.state())) return absl::OkStatus();
        if (ctx->IsCancelled()) return absl::CancelledError("the client cancelled the stream");
        if (core_.stopping) return absl::UnavailableError("the server is shutting down");
      }
    });
  }

  grpc::Status CancelJob(grpc::ServerContext* ctx, const CancelJobRequest* request,
                         Job* response) override {
    return Call(core_, kCancelJob, ctx, [&]() -> absl::Status {
      if (request->job_id().empty()) return absl::InvalidArgumentError("job_id is required");
      ASSIGN_OR_RETURN(*response, core_.jobs->Cancel(request->job_id()));
      PublishJobCounts(core_);
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* Recommend(grpc::CallbackServerContext* ctx,
                                      const RecommendRequest* request,
                                      RecommendResponse* response) override {
    if (!request->deployment().empty()) {
      // The served slate is durable before the reply: the log's committer
      // finishes the call, so no thread waits on the fsync.
      return CallAsync(core_, kRecommend, ctx, request, [&](auto done) {
        core_.pipeline->RecommendAsync(
            *request, response, [this, response, done](const absl::Status& s) {
              if (s.ok()) ObserveDrift(*response);
              done(s);
            });
      });
    }
    if (request->experiment().empty()) {
      return Finish(ctx, Call(core_, kRecommend, ctx,
                              [&]() { return RecommendObserved(*request, response); }, request));
    }
    // Exploring: the decision is durable (an fsync) before the reply.
    return CallOnPool(core_, kRecommend, ctx, &blocking_, kMaxQueuedExploring, request,
                      [this, request, response] {
                        return RecommendObserved(*request, response);
                      });
  }

  grpc::ServerUnaryReactor* RankItems(grpc::CallbackServerContext* ctx,
                                      const RankItemsRequest* request,
                                      RankItemsResponse* response) override {
    return Finish(ctx, Call(core_, kRankItems, ctx,
                            [&]() { return core_.pipeline->RankItems(*request, response); },
                            request));
  }

  grpc::ServerUnaryReactor* SimilarItems(grpc::CallbackServerContext* ctx,
                                         const SimilarItemsRequest* request,
                                         SimilarItemsResponse* response) override {
    return Finish(ctx, Call(core_, kSimilarItems, ctx,
                            [&]() { return core_.pipeline->SimilarItems(*request, response); },
                            request));
  }

  grpc::Status PutEvents(grpc::ServerContext* ctx, const PutEventsRequest* request,
                         PutEventsResponse* response) override {
    return Call(core_, kPutEvents, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(const int32_t accepted,
                       StoreEvents(*request, core_.event_log, core_.recent));
      response->set_accepted(accepted);
      core_.drift->ObserveInteractions(request->events());
      return absl::OkStatus();
    });
  }

  grpc::Status ListModels(grpc::ServerContext* ctx, const ListModelsRequest* request,
                          ListModelsResponse* response) override {
    return Call(core_, kListModels, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(std::vector<ModelInfo> models, core_.models->List(request->model_name()));
      for (ModelInfo& m : models) *response->add_models() = std::move(m);
      response->set_keep_versions(core_.models->keep_versions());
      return absl::OkStatus();
    });
  }

  grpc::Status ActivateModel(grpc::ServerContext* ctx, const ActivateModelRequest* request,
                             ActivateModelResponse* response) override {
    return Call(core_, kActivateModel, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response->mutable_model(),
                       core_.models->Activate(request->model_name(), request->version()));
      const int64_t version = response->model().manifest().version();
      core_.metrics->SetModelVersion(request->model_name(), version);
      if (core_.replication != nullptr) {
        RETURN_IF_ERROR(core_.replication->PublishActivation(
            request->model_name(), version,
            core_.models->VersionDir(request->model_name(), version) + "/manifest"));
      }
      CaptureDriftBaseline(core_, request->model_name());
      return absl::OkStatus();
    });
  }

  grpc::Status PutItems(grpc::ServerContext* ctx, const PutItemsRequest* request,
                        PutItemsResponse* response) override {
    return Call(core_, kPutItems, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.catalog->PutItems(*request));
      return absl::OkStatus();
    });
  }

  grpc::Status PutUsers(grpc::ServerContext* ctx, const PutUsersRequest* request,
                        PutUsersResponse* response) override {
    return Call(core_, kPutUsers, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.catalog->PutUsers(*request));
      return absl::OkStatus();
    });
  }

  grpc::Status GetDriftReport(grpc::ServerContext* ctx, const GetDriftReportRequest* request,
                              DriftReport* response) override {
    return Call(core_, kGetDriftReport, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.drift->Report(*request));
      return absl::OkStatus();
    });
  }

 private:
  absl::Status RecommendObserved(const RecommendRequest& request, RecommendResponse* response) {
    absl::Status s = core_.pipeline->Recommend(request, response);
    if (s.ok()) ObserveDrift(*response);
    return s;
  }
  void ObserveDrift(const RecommendResponse& r) {
    core_.drift->ObserveRecommend(r.model_name(), r.model_version(), r.fallback(), r.items());
  }

  ServerCore& core_;
  BlockingPool blocking_;  // exploring Recommends (durable decision writes)
};

}  // namespace

std::unique_ptr<grpc::Service> NewRecommenderService(ServerCore* core) {
  return std::make_unique<RecommenderService>(core);
}

}  // namespace recbandit::services

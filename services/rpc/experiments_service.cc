// The Experiments service: experiments, Decide, Reward and EvaluatePolicy, as
// thin handlers over bandits::ExperimentManager.
#include "services/rpc/experiments_service.h"

// First of all: how our requests are parsed (before any handler is instantiated).
#include "proto/core/request_parsing.h"

#include <string>

#include "bandits/experiment.h"
#include "bandits/ope/policy_evaluation.h"
#include "proto/core/status_macros.h"
#include "proto/experiments.grpc.pb.h"
#include "services/monitoring/drift.h"
#include "services/replication/replication.h"
#include "services/serving/model_store.h"
#include "services/serving/slate_evaluation.h"

// The callback handler's request type parses through request_parsing.h too.
RECBANDIT_DIAGNOSED_REQUEST(recbandit::DecideRequest)

namespace recbandit::services {
namespace {

// Decide is a callback handler: the decision is made on gRPC's thread and
// the call finishes when the event log's committer has synced it (one fsync
// for every decision queued meanwhile), so no thread waits per call.
using ExperimentsBase = Experiments::WithCallbackMethod_Decide<Experiments::Service>;

// Experiments: thin handlers over bandits::ExperimentManager. Thread-safe.
class ExperimentsService final : public ExperimentsBase {
 public:
  explicit ExperimentsService(ServerCore* core) : core_(*core) {}

  grpc::Status CreateExperiment(grpc::ServerContext* ctx, const CreateExperimentRequest* request,
                                ExperimentConfig* response) override {
    return Call(core_, kCreateExperiment, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.experiments->CreateExperiment(request->config()));
      return absl::OkStatus();
    });
  }
  grpc::Status GetExperiment(grpc::ServerContext* ctx, const GetExperimentRequest* request,
                             ExperimentConfig* response) override {
    return Call(core_, kGetExperiment, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.experiments->GetExperiment(request->name()));
      return absl::OkStatus();
    });
  }
  grpc::Status ListExperiments(grpc::ServerContext* ctx, const ListExperimentsRequest*,
                               ListExperimentsResponse* response) override {
    return Call(core_, kListExperiments, ctx, [&]() -> absl::Status {
      for (ExperimentConfig& c : core_.experiments->ListExperiments()) {
        *response->add_experiments() = std::move(c);
      }
      return absl::OkStatus();
    });
  }
  grpc::ServerUnaryReactor* Decide(grpc::CallbackServerContext* ctx,
                                   const DecideRequest* request,
                                   DecideResponse* response) override {
    return CallAsync(core_, kDecide, ctx, request, [&](auto done) {
      core_.experiments->DecideAsync(
          *request, [this, request, response, done](absl::StatusOr<DecideResponse> r) {
            if (r.ok()) {
              core_.drift->ObserveDecision(request->experiment(), request->context(),
                                           r->chosen_action());
              *response = *std::move(r);
            }
            if (!r.ok() || core_.replication == nullptr) {
              done(r.status());
              return;
            }
            // --stream_ack=stream: reply once the stream holds the decision.
            core_.replication->AfterCommitted([done](bool published) {
              done(published ? absl::OkStatus()
                             : absl::UnavailableError(
                                   "the decision is logged locally but the server stopped "
                                   "before the stream acknowledged it"));
            });
          });
    });
  }
  grpc::Status Reward(grpc::ServerContext* ctx, const RewardRequest* request,
                      RewardResponse* response) override {
    return Call(core_, kReward, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.experiments->Reward(*request));
      core_.drift->ObserveReward(request->experiment(), request->value());
      return absl::OkStatus();
    });
  }
  grpc::Status EvaluatePolicy(grpc::ServerContext* ctx, const EvaluatePolicyRequest* request,
                              OpeReport* response) override {
    return Call(core_, kEvaluatePolicy, ctx, [&]() -> absl::Status {
      if (!request->deployment().empty()) {
        if (!request->experiment().empty()) {
          return absl::InvalidArgumentError("give experiment or deployment, not both");
        }
        ASSIGN_OR_RETURN(*response, EvaluateDeploymentSlates(*core_.event_log, *request,
                                                             LookupIn(*core_.models)));
        return absl::OkStatus();
      }
      ASSIGN_OR_RETURN(*response,
                       bandits::EvaluatePolicyOnLog(*core_.event_log, *request));
      return absl::OkStatus();
    });
  }
  grpc::Status GetPolicyState(grpc::ServerContext* ctx, const GetPolicyStateRequest* request,
                              PolicyStateResponse* response) override {
    return Call(core_, kGetPolicyState, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response->mutable_state(),
                       core_.experiments->PolicyStateOf(request->experiment(), request->variant()));
      response->set_experiment(request->experiment());
      response->set_variant(request->variant());
      return absl::OkStatus();
    });
  }
  grpc::Status GetStreamStatus(grpc::ServerContext* ctx, const GetStreamStatusRequest*,
                               StreamStatus* response) override {
    return Call(core_, kGetStreamStatus, ctx, [&]() -> absl::Status {
      if (core_.replication == nullptr) {
        return absl::FailedPreconditionError("this server runs without --stream");
      }
      *response = core_.replication->Status();
      return absl::OkStatus();
    });
  }

 private:
  ServerCore& core_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewExperimentsService(ServerCore* core) {
  return std::make_unique<ExperimentsService>(core);
}

}  // namespace recbandit::services

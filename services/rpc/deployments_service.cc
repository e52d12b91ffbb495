// The Deployments service: thin handlers over services::DeploymentStore.
#include "services/rpc/deployments_service.h"

// First of all: how our requests are parsed (before any handler is instantiated).
#include "proto/core/request_parsing.h"

#include <vector>

#include "proto/core/status_macros.h"
#include "proto/deployments.grpc.pb.h"
#include "services/serving/deployments.h"

namespace recbandit::services {
namespace {

// Deployments: every change is one durable write, so all handlers are
// synchronous. Thread-safe.
class DeploymentsService final : public Deployments::Service {
 public:
  explicit DeploymentsService(ServerCore* core) : core_(*core) {}

  grpc::Status CreateDeployment(grpc::ServerContext* ctx, const CreateDeploymentRequest* request,
                                Deployment* response) override {
    return Call(core_, kCreateDeployment, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.deployments->Create(request->deployment()));
      return absl::OkStatus();
    });
  }

  grpc::Status GetDeployment(grpc::ServerContext* ctx, const GetDeploymentRequest* request,
                             Deployment* response) override {
    return Call(core_, kGetDeployment, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.deployments->Describe(request->name()));
      return absl::OkStatus();
    });
  }

  grpc::Status ListDeployments(grpc::ServerContext* ctx, const ListDeploymentsRequest*,
                               ListDeploymentsResponse* response) override {
    return Call(core_, kListDeployments, ctx, [&]() -> absl::Status {
      for (Deployment& d : core_.deployments->List()) *response->add_deployments() = std::move(d);
      return absl::OkStatus();
    });
  }

  grpc::Status UpdateDeployment(grpc::ServerContext* ctx, const UpdateDeploymentRequest* request,
                                Deployment* response) override {
    return Call(core_, kUpdateDeployment, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.deployments->Update(request->deployment(),
                                                            request->expected_revision()));
      return absl::OkStatus();
    });
  }

  grpc::Status DeleteDeployment(grpc::ServerContext* ctx, const DeleteDeploymentRequest* request,
                                DeleteDeploymentResponse* response) override {
    return Call(core_, kDeleteDeployment, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response->mutable_deployment(),
                       core_.deployments->Delete(request->name(), request->expected_revision()));
      return absl::OkStatus();
    });
  }

  grpc::Status ListDeploymentChanges(grpc::ServerContext* ctx,
                                     const ListDeploymentChangesRequest* request,
                                     ListDeploymentChangesResponse* response) override {
    return Call(core_, kListDeploymentChanges, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(std::vector<DeploymentChange> changes,
                       core_.deployments->Changes(request->name()));
      for (DeploymentChange& c : changes) *response->add_changes() = std::move(c);
      return absl::OkStatus();
    });
  }

  grpc::Status RewardSlate(grpc::ServerContext* ctx, const RewardSlateRequest* request,
                           RewardSlateResponse* response) override {
    return Call(core_, kRewardSlate, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.deployments->RewardSlate(*request));
      return absl::OkStatus();
    });
  }

  grpc::Status SwitchDeployment(grpc::ServerContext* ctx, const SwitchDeploymentRequest* request,
                                Deployment* response) override {
    return Call(core_, kSwitchDeployment, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.deployments->Switch(request->name(), request->variant(),
                                                            request->expected_revision()));
      return absl::OkStatus();
    });
  }

  grpc::Status RollbackDeployment(grpc::ServerContext* ctx,
                                  const RollbackDeploymentRequest* request,
                                  Deployment* response) override {
    return Call(core_, kRollbackDeployment, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response,
                       core_.deployments->Rollback(request->name(), request->expected_revision()));
      return absl::OkStatus();
    });
  }

 private:
  ServerCore& core_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewDeploymentsService(ServerCore* core) {
  return std::make_unique<DeploymentsService>(core);
}

}  // namespace recbandit::services

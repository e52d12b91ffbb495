// The Deployments service: create, read, update and delete deployments, their
// journal, and slate rewards, each a few lines over services::DeploymentStore.
#ifndef RECBANDIT_SERVICES_RPC_DEPLOYMENTS_SERVICE_H_
#define RECBANDIT_SERVICES_RPC_DEPLOYMENTS_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "services/rpc/call.h"

namespace recbandit::services {

// Returns the Deployments service over `core` (which must outlive it).
std::unique_ptr<grpc::Service> NewDeploymentsService(ServerCore* core);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_RPC_DEPLOYMENTS_SERVICE_H_

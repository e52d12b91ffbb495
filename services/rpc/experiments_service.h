// The Experiments service: experiments, Decide, Reward and EvaluatePolicy,
// each a few lines over bandits::ExperimentManager.
#ifndef RECBANDIT_SERVICES_RPC_EXPERIMENTS_SERVICE_H_
#define RECBANDIT_SERVICES_RPC_EXPERIMENTS_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "services/rpc/call.h"

namespace recbandit::services {

// Returns the ExperimentsService service over `core` (which must outlive it).
std::unique_ptr<grpc::Service> NewExperimentsService(ServerCore* core);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_RPC_EXPERIMENTS_SERVICE_H_

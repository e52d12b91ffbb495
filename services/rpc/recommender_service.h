// The Recommender service: Train, jobs, Recommend (also exploring), RankItems,
// SimilarItems, PutEvents and models, each a few lines over the core.
#ifndef RECBANDIT_SERVICES_RPC_RECOMMENDER_SERVICE_H_
#define RECBANDIT_SERVICES_RPC_RECOMMENDER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "services/rpc/call.h"

namespace recbandit::services {

// Returns the RecommenderService service over `core` (which must outlive it).
std::unique_ptr<grpc::Service> NewRecommenderService(ServerCore* core);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_RPC_RECOMMENDER_SERVICE_H_

// Force-included into the generated recommender.grpc.pb.cc: the request type
// of the server-streaming rpc (WatchJob) parses through request_parsing.h.
#ifndef RECBANDIT_PROTO_CORE_STREAMING_REQUESTS_H_
#define RECBANDIT_PROTO_CORE_STREAMING_REQUESTS_H_

#include "proto/recommender.pb.h"
#include "proto/core/request_parsing.h"

RECBANDIT_DIAGNOSED_STREAM_REQUEST(recbandit::GetJobRequest)

#endif  // RECBANDIT_PROTO_CORE_STREAMING_REQUESTS_H_

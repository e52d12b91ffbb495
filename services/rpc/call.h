// How every rpc of the server runs: what the handlers share (ServerCore),
// admission (bearer token, deadline, unparsable request), metrics and the
// failure log, the one Status -> grpc::Status conversion, and the request
// checks several handlers use. Handlers are a few lines over Call().
#ifndef RECBANDIT_SERVICES_RPC_CALL_H_
#define RECBANDIT_SERVICES_RPC_CALL_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "proto/core/blocking_pool.h"
#include "services/monitoring/prometheus_metrics.h"
#include "services/serving/request_checks.h"

namespace recbandit::bandits {
class EventLog;
class ExperimentManager;
}  // namespace recbandit::bandits

namespace recbandit::services {

class Catalog;
class DeploymentStore;
class DriftMonitor;
class ModelStore;
class RecentEvents;
class RecommendPipeline;
class ServerMetrics;
class JobQueue;
class Replication;
struct ServerOptions;

// Everything the handlers share. Thread-safe (each member is).
struct ServerCore {
  const ServerOptions* options = nullptr;
  ServerMetrics* metrics = nullptr;
  ModelStore* models = nullptr;
  JobQueue* jobs = nullptr;
  RecentEvents* recent = nullptr;
  bandits::ExperimentManager* experiments = nullptr;
  RecommendPipeline* pipeline = nullptr;
  bandits::EventLog* event_log = nullptr;  // the one log: experiments, PutEvents, OPE
  DeploymentStore* deployments = nullptr;
  DriftMonitor* drift = nullptr;  // live distributions vs baselines (GetDriftReport)
  Replication* replication = nullptr;  // with --stream: the shared event stream
  Catalog* catalog = nullptr;  // item and user metadata (PutItems, filters)
  std::atomic<bool> stopping{false};  // ends WatchJob streams at shutdown
};

// Rpc indices (metrics labels in this order).
enum Rpc {
  kTrain, kGetJob, kWatchJob, kCancelJob, kRecommend, kRankItems, kSimilarItems, kPutEvents,
  kListModels, kActivateModel, kCreateExperiment, kGetExperiment, kListExperiments, kDecide,
  kReward, kEvaluatePolicy, kCreateDeployment, kGetDeployment, kListDeployments,
  kUpdateDeployment, kDeleteDeployment, kListDeploymentChanges, kRewardSlate, kSwitchDeployment,
  kRollbackDeployment, kBatchRecommend, kGetDriftReport, kGetPolicyState, kGetStreamStatus,
  kPutItems, kPutUsers, kNumRpcs
};

// Returns the rpc names, in Rpc order (the metrics' labels).
const std::vector<std::string>& RpcNames();
// Returns RpcNames() with each method's full service name (from the
// generated descriptors), the labels of the rpc metrics.
std::vector<RpcLabel> RpcLabels();

// The one place a Status becomes a grpc::Status (the canonical codes agree).
// The message is bounded and valid UTF-8 whatever input it quotes, so a
// client sees the real code, never a metadata-size or decoding error.
grpc::Status ToGrpc(const absl::Status& s);

// Returns OK when the call carries the server's bearer token (or none is set).
absl::Status Authorize(const ServerCore& core, const grpc::ServerContextBase& ctx);

// Admits a call: the bearer token, then the deadline, then (callback
// handlers) a request that failed to parse.
absl::Status Admit(const ServerCore& core, const grpc::ServerContextBase& ctx,
                   const google::protobuf::MessageLite* request = nullptr);

using Clock = std::chrono::steady_clock;

// Ends a call started at `start`: metrics, the failure log, the one
// conversion to grpc::Status.
grpc::Status Complete(ServerCore& core, Rpc rpc, const grpc::ServerContextBase& ctx,
                      Clock::time_point start, const absl::Status& status);

// Runs one call: admission, the handler, Complete().
template <typename Fn>
grpc::Status Call(ServerCore& core, Rpc rpc, grpc::ServerContextBase* ctx, Fn&& handler,
                  const google::protobuf::MessageLite* request = nullptr) {
  const auto start = Clock::now();
  absl::Status status = Admit(core, *ctx, request);
  if (status.ok()) status = handler();
  return Complete(core, rpc, *ctx, start, status);
}

// Runs one callback call whose handler blocks (a durable write's fsync) on
// `pool`: admission, the handler, Complete() and the reactor's Finish all on
// a pool thread. Latency counts the time queued; RESOURCE_EXHAUSTED when
// `max_queued` calls already wait; CANCELLED (the handler never runs) when
// the client gave up while queued.
template <typename Fn>
grpc::ServerUnaryReactor* CallOnPool(ServerCore& core, Rpc rpc, grpc::CallbackServerContext* ctx,
                                     BlockingPool* pool, size_t max_queued,
                                     const google::protobuf::MessageLite* request, Fn handler) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const auto start = Clock::now();
  const bool queued = pool->Run(
      [&core, rpc, ctx, request, reactor, start, handler = std::move(handler)] {
        absl::Status status = Admit(core, *ctx, request);
        if (status.ok() && ctx->IsCancelled()) {
          status = absl::CancelledError("the client cancelled the call");
        }
        if (status.ok()) status = handler();
        reactor->Finish(Complete(core, rpc, *ctx, start, status));
      },
      max_queued);
  if (!queued) {
    reactor->Finish(Complete(
        core, rpc, *ctx, start,
        absl::ResourceExhaustedError(absl::StrCat(
            max_queued, " ", RpcNames()[rpc], " calls are already waiting; retry later"))));
  }
  return reactor;
}

// Runs one callback call whose handler completes later without blocking a
// thread: admission, then `start(done)`; `done(status)` (from any thread,
// once) runs Complete() and finishes the reactor.
template <typename Fn>
grpc::ServerUnaryReactor* CallAsync(ServerCore& core, Rpc rpc, grpc::CallbackServerContext* ctx,
                                    const google::protobuf::MessageLite* request, Fn start) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const auto started = Clock::now();
  const absl::Status admitted = Admit(core, *ctx, request);
  if (!admitted.ok()) {
    reactor->Finish(Complete(core, rpc, *ctx, started, admitted));
    return reactor;
  }
  start([&core, rpc, ctx, reactor, started](const absl::Status& status) {
    reactor->Finish(Complete(core, rpc, *ctx, started, status));
  });
  return reactor;
}

// Publishes the active model versions and the job counts as metrics.
void PublishModelVersions(ServerCore& core);
void PublishJobCounts(ServerCore& core);
// Captures the drift baseline of the active version of model `name` (read
// from, or computed and stored in, its version directory). A failure is
// reported on stderr only: the model is served all the same.
void CaptureDriftBaseline(ServerCore& core, const std::string& name);
// Sets the recbandit_drift_* gauges from every monitored subject's report.
void PublishDrift(ServerCore& core);

// Finishes a callback call with `status` on its default reactor.
grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, grpc::Status status);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_RPC_CALL_H_

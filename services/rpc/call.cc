// The rpc call path: admission, completion, conversion, shared checks.
#include "services/rpc/call.h"

// First of all: how our requests are parsed.
#include "proto/core/request_parsing.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "google/protobuf/descriptor.h"
#include "proto/deployments.pb.h"
#include "proto/experiments.pb.h"
#include "proto/recommender.pb.h"
#include "proto/core/json.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "services/monitoring/drift.h"
#include "services/monitoring/prometheus_metrics.h"
#include "services/server.h"
#include "services/serving/model_store.h"
#include "services/serving/job_queue.h"

namespace recbandit::services {
namespace {

// Compares without an early exit, so timing does not reveal a token prefix.
bool SameToken(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

void LogCall(Rpc rpc, const grpc::ServerContextBase& ctx, const absl::Status& status,
             double seconds) {
  std::string line = absl::StrFormat("{\"ts_ms\":%d,\"level\":\"%s\",\"rpc\":\"%s\",",
                                     absl::ToUnixMillis(absl::Now()),
                                     status.ok() ? "info"
                                     : (absl::IsInternal(status) || absl::IsUnavailable(status) ||
                                        absl::IsDataLoss(status) || absl::IsUnknown(status))
                                         ? "error"
                                         : "warn",
                                     RpcNames()[rpc]);
  absl::StrAppendFormat(&line, "\"code\":\"%s\",\"ms\":%.3f,\"peer\":",
                        absl::StatusCodeToString(status.code()), seconds * 1e3);
  AppendJsonString(ctx.peer(), &line);
  if (!status.ok()) {
    line.append(",\"message\":");
    AppendJsonString(BoundedMessage(status.message()), &line);
  }
  line.append("}\n");
  std::fputs(line.c_str(), stderr);
}

}  // namespace

const std::vector<std::string>& RpcNames() {
  static const auto* names = new std::vector<std::string>{
      "Train", "GetJob", "WatchJob", "CancelJob", "Recommend", "RankItems", "SimilarItems",
      "PutEvents", "ListModels", "ActivateModel", "CreateExperiment", "GetExperiment",
      "ListExperiments", "Decide", "Reward", "EvaluatePolicy", "CreateDeployment",
      "GetDeployment", "ListDeployments", "UpdateDeployment", "DeleteDeployment",
      "ListDeploymentChanges", "RewardSlate", "SwitchDeployment", "RollbackDeployment",
      "BatchRecommend", "GetDriftReport", "GetPolicyState", "GetStreamStatus",
      "PutItems", "PutUsers"};
  return *names;
}

std::vector<RpcLabel> RpcLabels() {
  // Each method's service, from the descriptors of the services we serve
  // (reached through a message of each file, so they are linked in).
  const google::protobuf::FileDescriptor* files[] = {RecommendRequest::descriptor()->file(),
                                                     DecideRequest::descriptor()->file(),
                                                     CreateDeploymentRequest::descriptor()->file()};
  std::vector<RpcLabel> labels;
  for (const std::string& method : RpcNames()) {
    RpcLabel label{"unknown", method};
    for (const google::protobuf::FileDescriptor* file : files) {
      for (int i = 0; i < file->service_count(); ++i) {
        if (file->service(i)->FindMethodByName(method) != nullptr) {
          label.service = file->service(i)->full_name();
        }
      }
    }
    labels.push_back(std::move(label));
  }
  return labels;
}

// The one place a Status becomes a grpc::Status (the canonical codes agree).
// The message is bounded and valid UTF-8 whatever input it quotes, so a
// client sees the real code, never a metadata-size or decoding error.
grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), BoundedMessage(s.message()));
}

absl::Status Authorize(const ServerCore& core, const grpc::ServerContextBase& ctx) {
  const std::string& token = core.options->auth_token;
  if (token.empty()) return absl::OkStatus();
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  const std::string value(it->second.data(), it->second.size());
  // The scheme name is case-insensitive (RFC 6750 via RFC 7235).
  if (value.size() < 7 || !absl::EqualsIgnoreCase(value.substr(0, 7), "bearer ") ||
      !SameToken(value.substr(7), token)) {
    return absl::UnauthenticatedError("invalid bearer token");
  }
  return absl::OkStatus();
}

// Admits a call: the bearer token, then the deadline, then (callback
// handlers) a request that failed to parse.
absl::Status Admit(const ServerCore& core, const grpc::ServerContextBase& ctx,
                   const google::protobuf::MessageLite* request) {
  RETURN_IF_ERROR(Authorize(core, ctx));
  if (request != nullptr) {
    const std::string unparsable = UnparsableReason(*request);
    if (!unparsable.empty()) return absl::InvalidArgumentError(unparsable);
  }
  if (ctx.deadline() <= std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError("the call's deadline passed before it was served");
  }
  return absl::OkStatus();
}

// Ends a call started at `start`: metrics, the failure log, the one
// conversion to grpc::Status.
grpc::Status Complete(ServerCore& core, Rpc rpc, const grpc::ServerContextBase& ctx,
                      Clock::time_point start, const absl::Status& status) {
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  core.metrics->RecordRpc(rpc, static_cast<int>(status.code()), seconds);
  if (!status.ok() || core.options->log_requests) LogCall(rpc, ctx, status, seconds);
  return ToGrpc(status);
}

void PublishModelVersions(ServerCore& core) {
  absl::StatusOr<std::vector<ModelInfo>> models = core.models->List("");
  if (!models.ok()) return;
  for (const ModelInfo& m : *models) {
    if (m.active()) core.metrics->SetModelVersion(m.manifest().name(), m.manifest().version());
  }
}

void CaptureDriftBaseline(ServerCore& core, const std::string& name) {
  if (core.drift == nullptr) return;
  auto model = core.models->Get(name);
  absl::Status s = model.status();
  if (s.ok()) {
    s = core.drift->CaptureModel(*model, core.models->VersionDir(name, (*model)->version()));
  }
  if (!s.ok()) {
    std::fprintf(stderr, "drift: no baseline for model %s: %s\n", Quote(name).c_str(),
                 BoundedMessage(s.message()).c_str());
  }
}

void PublishDrift(ServerCore& core) {
  for (const DriftReport& r : core.drift->ReportAll()) {
    for (const FeatureDrift& f : r.features()) {
      if (f.state() != DRIFT_STATE_INSUFFICIENT_DATA) {
        core.metrics->SetDriftPsi(r.kind(), r.subject(), f.feature(), f.psi());
      }
    }
    core.metrics->SetDriftAlert(r.kind(), r.subject(),
                                r.state() == DRIFT_STATE_ALERT  ? 2
                                : r.state() == DRIFT_STATE_WARN ? 1
                                                                : 0,
                                DriftState_Name(r.state()));
  }
}

void PublishJobCounts(ServerCore& core) {
  const std::map<JobState, int64_t> counts = core.jobs->CountByState();
  for (int s = JOB_STATE_QUEUED; s <= JobState_MAX; ++s) {
    auto it = counts.find(static_cast<JobState>(s));
    core.metrics->SetJobs(JobState_Name(static_cast<JobState>(s)),
                          it == counts.end() ? 0 : it->second);
  }
}

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, grpc::Status status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

}  // namespace recbandit::services

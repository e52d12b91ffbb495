// Server: builds the grpc::Server with our services (thin handlers over
// ModelStore, TrainingJobs, RecentEvents and bandits::ExperimentManager),
// health and reflection; every handler goes through one Call() that checks the
// bearer token and the deadline, records metrics and logs failures, and
// converts the Status to a grpc::Status once.
#include "services/server.h"

// First of all: how our requests are parsed (before any handler is instantiated).
#include "proto/core/request_parsing.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bandits/experiment.h"
#include "bandits/ope/policy_evaluation.h"
#include "proto/experiments.grpc.pb.h"
#include "proto/core/file_util.h"
#include "proto/core/json.h"
#include "proto/core/names.h"
#include "proto/recommender.grpc.pb.h"
#include "proto/core/status_macros.h"
#include "services/monitoring/prometheus_metrics.h"
#include "services/serving/model_store.h"
#include "services/serving/recent_events.h"
#include "services/serving/training_jobs.h"

// The callback handlers' request types parse through request_parsing.h too.
RECBANDIT_DIAGNOSED_REQUEST(recbandit::RecommendRequest)
RECBANDIT_DIAGNOSED_REQUEST(recbandit::RankItemsRequest)
RECBANDIT_DIAGNOSED_REQUEST(recbandit::SimilarItemsRequest)
RECBANDIT_DIAGNOSED_REQUEST(recbandit::DecideRequest)

namespace recbandit::services {

// Everything the handlers share. Thread-safe (each member is).
struct ServerCore {
  const ServerOptions* options = nullptr;
  ServerMetrics* metrics = nullptr;
  ModelStore* models = nullptr;
  TrainingJobs* jobs = nullptr;
  RecentEvents* recent = nullptr;
  bandits::ExperimentManager* experiments = nullptr;
  std::atomic<bool> stopping{false};  // ends WatchJob streams at shutdown
};

namespace {

// Request bounds (proto/recommender.proto documents each).
constexpr size_t kMaxIdBytes = 256;
constexpr int32_t kMaxK = 1000;
constexpr int kMaxExcludeItems = 10000;
constexpr int kMaxRecentItems = 1000;
constexpr int kMaxRankItems = 1000;
constexpr int kMaxEventsPerCall = 10000;
constexpr int32_t kMaxEfSearch = 4096;
constexpr int32_t kMaxNprobe = 65536;
constexpr size_t kMaxQueuedExploring = 4096;

// Rpc indices (metrics labels in this order).
enum Rpc {
  kTrain, kGetJob, kWatchJob, kCancelJob, kRecommend, kRankItems, kSimilarItems, kPutEvents,
  kListModels, kActivateModel, kCreateExperiment, kGetExperiment, kListExperiments, kDecide,
  kReward, kEvaluatePolicy, kNumRpcs
};

const std::vector<std::string>& RpcNames() {
  static const auto* names = new std::vector<std::string>{
      "Train", "GetJob", "WatchJob", "CancelJob", "Recommend", "RankItems", "SimilarItems",
      "PutEvents", "ListModels", "ActivateModel", "CreateExperiment", "GetExperiment",
      "ListExperiments", "Decide", "Reward", "EvaluatePolicy"};
  return *names;
}

// The one place a Status becomes a grpc::Status (the canonical codes agree).
// The message is bounded and valid UTF-8 whatever input it quotes, so a
// client sees the real code, never a metadata-size or decoding error.
grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), BoundedMessage(s.message()));
}

// Compares without an early exit, so timing does not reveal a token prefix.
bool SameToken(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
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

using Clock = std::chrono::steady_clock;

// Admits a call: the bearer token, then the deadline, then (callback
// handlers) a request that failed to parse.
absl::Status Admit(const ServerCore& core, const grpc::ServerContextBase& ctx,
                   const google::protobuf::MessageLite* request = nullptr) {
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

// Runs one call: admission, the handler, Complete().
template <typename Fn>
grpc::Status Call(ServerCore& core, Rpc rpc, grpc::ServerContextBase* ctx, Fn&& handler,
                  const google::protobuf::MessageLite* request = nullptr) {
  const auto start = Clock::now();
  absl::Status status = Admit(core, *ctx, request);
  if (status.ok()) status = handler();
  return Complete(core, rpc, *ctx, start, status);
}

absl::Status CheckId(const std::string& value, const char* field) {
  if (value.empty() || value.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must have 1..", kMaxIdBytes,
                                                   " bytes, got ", value.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckCount(int n, int max, const char* field) {
  if (n > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", n, " entries; at most ", max));
  }
  return absl::OkStatus();
}

// Returns k with the default applied, or INVALID_ARGUMENT out of [0, 1000].
absl::StatusOr<int32_t> CheckK(int32_t k) {
  if (k < 0 || k > kMaxK) {
    return absl::InvalidArgumentError(
        absl::StrCat("k must be in [1, ", kMaxK, "] (0 = 10), got ", k));
  }
  return k == 0 ? 10 : k;
}

void CopyItems(const Recommendation& rec, google::protobuf::RepeatedPtrField<ScoredItem>* out) {
  for (const ScoredItemId& s : rec.items) {
    ScoredItem* item = out->Add();
    item->set_item(s.item);
    item->set_score(s.score);
  }
}

// The user's stored real-time items followed by the request's recent items.
std::vector<std::string> RecentItems(const ServerCore& core, const std::string& user,
                                     const google::protobuf::RepeatedPtrField<std::string>& more) {
  std::vector<std::string> items = core.recent->Items(user);
  items.insert(items.end(), more.begin(), more.end());
  return items;
}

void PublishModelVersions(ServerCore& core) {
  absl::StatusOr<std::vector<ModelInfo>> models = core.models->List("");
  if (!models.ok()) return;
  for (const ModelInfo& m : *models) {
    if (m.active()) core.metrics->SetModelVersion(m.manifest().name(), m.manifest().version());
  }
}

void PublishJobCounts(ServerCore& core) {
  const std::map<JobState, int64_t> counts = core.jobs->CountByState();
  for (int s = JOB_STATE_QUEUED; s <= JOB_STATE_CANCELLED; ++s) {
    auto it = counts.find(static_cast<JobState>(s));
    core.metrics->SetJobs(JobState_Name(static_cast<JobState>(s)),
                          it == counts.end() ? 0 : it->second);
  }
}

// A fixed set of threads for work that blocks (a durable write's fsync)
// and must not run on gRPC's callback threads. Thread-safe.
class BlockingPool {
 public:
  explicit BlockingPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~BlockingPool() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    for (std::thread& t : threads_) t.join();
  }
  // Queues `task`; returns false (and drops it) when `max_queued` tasks wait.
  bool Run(std::function<void()> task, size_t max_queued) {
    absl::MutexLock lock(&mu_);
    if (tasks_.size() >= max_queued) return false;
    tasks_.push_back(std::move(task));
    return true;
  }

 private:
  void Loop() {
    while (true) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stop_ || !tasks_.empty();
        };
        mu_.Await(absl::Condition(&ready));
        if (tasks_.empty()) return;  // stopping, and everything queued ran
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// Recommend, RankItems and SimilarItems never block (CPU only), so they run
// as callback handlers on gRPC's own threads: no hand-off to a worker thread
// per call. The others (training, durable writes) stay synchronous.
using RecommenderBase = Recommender::WithCallbackMethod_Recommend<
    Recommender::WithCallbackMethod_RankItems<
        Recommender::WithCallbackMethod_SimilarItems<Recommender::Service>>>;

// Finishes a callback call with `status` on its default reactor.
grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, grpc::Status status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

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
    if (request->experiment().empty()) {
      return Finish(ctx, Call(core_, kRecommend, ctx,
                              [&]() { return DoRecommend(*request, response); }, request));
    }
    // Exploring: the decision is written durably (an fsync) before the reply,
    // on the blocking pool. Latency counts the time queued there.
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    const auto start = Clock::now();
    const bool queued = blocking_.Run(
        [this, ctx, request, response, reactor, start] {
          absl::Status status = Admit(core_, *ctx, request);
          if (status.ok() && ctx->IsCancelled()) {
            status = absl::CancelledError("the client cancelled the call");  // nothing logged
          }
          if (status.ok()) status = DoRecommend(*request, response);
          reactor->Finish(Complete(core_, kRecommend, *ctx, start, status));
        },
        kMaxQueuedExploring);
    if (!queued) {
      reactor->Finish(Complete(core_, kRecommend, *ctx, start,
                               absl::ResourceExhaustedError(absl::StrCat(
                                   kMaxQueuedExploring,
                                   " exploring Recommends are already waiting; retry later"))));
    }
    return reactor;
  }

  grpc::ServerUnaryReactor* RankItems(grpc::CallbackServerContext* ctx,
                                      const RankItemsRequest* request,
                                      RankItemsResponse* response) override {
    return Finish(ctx, Call(core_, kRankItems, ctx, [&]() -> absl::Status {
      RETURN_IF_ERROR(CheckId(request->user(), "user"));
      if (request->items_size() < 1 || request->items_size() > kMaxRankItems) {
        return absl::InvalidArgumentError(absl::StrCat(
            "items must have 1..", kMaxRankItems, " entries, got ", request->items_size()));
      }
      RETURN_IF_ERROR(CheckCount(request->recent_items_size(), kMaxRecentItems, "recent_items"));
      absl::flat_hash_set<absl::string_view> distinct;
      for (const std::string& item : request->items()) {
        if (!distinct.insert(item).second) {
          return absl::InvalidArgumentError(absl::StrCat("items has ", Quote(item), " twice"));
        }
      }
      ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model,
                       core_.models->Get(request->model_name()));
      ASSIGN_OR_RETURN(
          Recommendation rec,
          model->RankItems(request->user(),
                           std::vector<std::string>(request->items().begin(),
                                                    request->items().end()),
                           RecentItems(core_, request->user(), request->recent_items())));
      CopyItems(rec, response->mutable_items());
      response->set_fallback(rec.fallback);
      return absl::OkStatus();
    }, request));
  }

  grpc::ServerUnaryReactor* SimilarItems(grpc::CallbackServerContext* ctx,
                                         const SimilarItemsRequest* request,
                                         SimilarItemsResponse* response) override {
    return Finish(ctx, Call(core_, kSimilarItems, ctx, [&]() -> absl::Status {
      RETURN_IF_ERROR(CheckId(request->item(), "item"));
      ASSIGN_OR_RETURN(const int32_t k, CheckK(request->k()));
      ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model,
                       core_.models->Get(request->model_name()));
      ASSIGN_OR_RETURN(Recommendation rec, model->Similar(request->item(), k));
      CopyItems(rec, response->mutable_items());
      return absl::OkStatus();
    }, request));
  }

  grpc::Status PutEvents(grpc::ServerContext* ctx, const PutEventsRequest* request,
                         PutEventsResponse* response) override {
    return Call(core_, kPutEvents, ctx, [&]() -> absl::Status {
      const int n = request->events_size();
      if (n < 1 || n > kMaxEventsPerCall) {
        return absl::InvalidArgumentError(
            absl::StrCat("events must have 1..", kMaxEventsPerCall, " entries, got ", n));
      }
      const int64_t now_us = absl::GetCurrentTimeNanos() / 1000;
      std::vector<Interaction> events(request->events().begin(), request->events().end());
      for (int i = 0; i < n; ++i) {
        Interaction& e = events[i];
        const std::string where = absl::StrCat("events[", i, "]");
        // Bounds of the API; the event log checks what it stores (no NUL in
        // a user, timestamps >= 0) and its INVALID_ARGUMENT passes through.
        absl::Status s = CheckId(e.user(), "user");
        if (s.ok()) s = CheckId(e.item(), "item");
        if (s.ok() && (!std::isfinite(e.weight()) || e.weight() < 0)) {
          s = absl::InvalidArgumentError(
              absl::StrCat("weight must be finite and >= 0, got ", e.weight()));
        }
        if (!s.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(where, ".", s.message()));
        }
        if (e.weight() == 0) e.set_weight(1);
        if (e.timestamp_us() == 0) e.set_timestamp_us(now_us);
      }
      // Durable first: an acknowledged event is never lost.
      absl::Status stored = core_.experiments->mutable_log()->AppendInteractions(events);
      if (absl::IsInvalidArgument(stored)) {
        return absl::InvalidArgumentError(absl::StrCat("events: ", stored.message()));
      }
      if (!stored.ok()) {
        return absl::UnavailableError(absl::StrCat("events not stored: ", stored.message()));
      }
      for (const Interaction& e : events) core_.recent->Add(e.user(), e.item());
      response->set_accepted(n);
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
      core_.metrics->SetModelVersion(request->model_name(),
                                     response->model().manifest().version());
      return absl::OkStatus();
    });
  }

 private:
  absl::Status DoRecommend(const RecommendRequest& request, RecommendResponse* response) {
    RETURN_IF_ERROR(CheckId(request.user(), "user"));
    ASSIGN_OR_RETURN(const int32_t k, CheckK(request.k()));
    RETURN_IF_ERROR(CheckCount(request.exclude_items_size(), kMaxExcludeItems, "exclude_items"));
    RETURN_IF_ERROR(CheckCount(request.recent_items_size(), kMaxRecentItems, "recent_items"));
    if (request.ef_search() != 0 &&
        (request.ef_search() < k || request.ef_search() > kMaxEfSearch)) {
      return absl::InvalidArgumentError(absl::StrCat("ef_search must be 0 or in [k=", k, ", ",
                                                     kMaxEfSearch, "], got ",
                                                     request.ef_search()));
    }
    if (request.nprobe() < 0 || request.nprobe() > kMaxNprobe) {
      return absl::InvalidArgumentError(absl::StrCat("nprobe must be in [0, ", kMaxNprobe,
                                                     "], got ", request.nprobe()));
    }
    if (request.experiment().empty() &&
        (request.exploration_weight() != 0 || !request.event_id().empty())) {
      return absl::InvalidArgumentError(
          "exploration_weight and event_id need an experiment");
    }
    if (!request.experiment().empty()) {
      // Unknown experiments fail before any retrieval work.
      RETURN_IF_ERROR(core_.experiments->GetExperiment(request.experiment()).status());
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model,
                     core_.models->Get(request.model_name()));
    RecommendQuery query;
    query.user = request.user();
    query.k = k;
    query.exclude_seen = !request.include_seen();
    query.exclude_items.assign(request.exclude_items().begin(), request.exclude_items().end());
    query.recent_items = RecentItems(core_, request.user(), request.recent_items());
    query.search.ef_search = request.ef_search();
    query.search.nprobe = request.nprobe();
    response->set_model_name(model->name());
    response->set_model_version(model->version());
    if (request.experiment().empty()) {
      ASSIGN_OR_RETURN(Recommendation rec, model->Recommend(query));
      CopyItems(rec, response->mutable_items());
      response->set_fallback(rec.fallback);
      return absl::OkStatus();
    }
    // Exploration: the model's best candidates become the experiment's
    // actions (in model order), and the experiment draws and logs the slate.
    if (!(request.exploration_weight() >= 0 && request.exploration_weight() <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "exploration_weight must be in [0, 1], got ", request.exploration_weight()));
    }
    query.k = std::min(kMaxK, std::max(4 * k, 50));
    ASSIGN_OR_RETURN(Recommendation candidates, model->Recommend(query));
    response->set_fallback(candidates.fallback);
    if (candidates.items.empty()) return absl::OkStatus();  // nothing allowed: nothing logged
    bandits::SlateRequest slate;
    slate.decide.set_experiment(request.experiment());
    slate.decide.set_event_id(request.event_id());
    slate.decide.set_unit_id(request.user());
    *slate.decide.mutable_context() = request.context();
    for (const ScoredItemId& c : candidates.items) slate.decide.add_actions()->set_id(c.item);
    slate.slate_size = std::min<int32_t>(k, static_cast<int32_t>(candidates.items.size()));
    slate.exploration_weight = request.exploration_weight();
    ASSIGN_OR_RETURN(bandits::SlateDecision decided, core_.experiments->DecideSlate(slate));
    for (size_t j = 0; j < decided.slate.size(); ++j) {
      const ScoredItemId& c = candidates.items[decided.slate[j]];
      ScoredItem* item = response->add_items();
      item->set_item(c.item);
      item->set_score(c.score);
      item->set_propensity(decided.propensities[j]);
    }
    response->set_event_id(decided.decide.event_id());
    return absl::OkStatus();
  }

  ServerCore& core_;
  BlockingPool blocking_;  // exploring Recommends (durable decision writes)
};

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
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    const auto start = Clock::now();
    const absl::Status admitted = Admit(core_, *ctx, request);
    if (!admitted.ok()) {
      reactor->Finish(Complete(core_, kDecide, *ctx, start, admitted));
      return reactor;
    }
    core_.experiments->DecideAsync(
        *request, [this, ctx, response, reactor, start](absl::StatusOr<DecideResponse> r) {
          const absl::Status status = r.status();
          if (r.ok()) *response = *std::move(r);
          reactor->Finish(Complete(core_, kDecide, *ctx, start, status));
        });
    return reactor;
  }
  grpc::Status Reward(grpc::ServerContext* ctx, const RewardRequest* request,
                      RewardResponse* response) override {
    return Call(core_, kReward, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response, core_.experiments->Reward(*request));
      return absl::OkStatus();
    });
  }
  grpc::Status EvaluatePolicy(grpc::ServerContext* ctx, const EvaluatePolicyRequest* request,
                              OpeReport* response) override {
    return Call(core_, kEvaluatePolicy, ctx, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(*response,
                       bandits::EvaluatePolicyOnLog(core_.experiments->log(), *request));
      return absl::OkStatus();
    });
  }

 private:
  ServerCore& core_;
};

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const ServerOptions& options) {
  if (options.tls_cert_path.empty() != options.tls_key_path.empty()) {
    return absl::InvalidArgumentError("TLS needs both --tls_cert and --tls_key");
  }
  if (options.tls_cert_path.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.private_key, ReadFileToString(options.tls_key_path));
  ASSIGN_OR_RETURN(pair.cert_chain, ReadFileToString(options.tls_cert_path));
  if (pair.cert_chain.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.tls_cert_path, ": not a PEM certificate"));
  }
  if (pair.private_key.find("PRIVATE KEY-----") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.tls_key_path, ": not a PEM private key"));
  }
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("the server needs a data directory (--data_dir)");
  }
  if (options.max_message_bytes < 1024 || options.max_message_bytes > (1 << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_message_bytes must be in [1024, 2^30], got ", options.max_message_bytes));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, Credentials(options));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::unique_ptr<Server> server(new Server());
  server->options_ = options;
  RETURN_IF_ERROR(MakeDirs(options.data_dir));
  ASSIGN_OR_RETURN(server->metrics_, ServerMetrics::Create(RpcNames()));
  if (options.metrics_port != 0) {
    RETURN_IF_ERROR(server->metrics_->Serve(options.host, std::max(options.metrics_port, 0)));
  }
  ServerMetrics* metrics = server->metrics_.get();
  bandits::ExperimentManagerOptions manager_options;
  manager_options.snapshot_on_shutdown = options.snapshot_on_shutdown;
  manager_options.log.on_write = [metrics](double seconds) { metrics->RecordLogWrite(seconds); };
  ASSIGN_OR_RETURN(server->experiments_manager_,
                   bandits::ExperimentManager::Open(options.data_dir, manager_options));
  ASSIGN_OR_RETURN(server->models_, ModelStore::Open(options.data_dir + "/models",
                                                    options.keep_versions));

  // Real-time events survive restarts: rebuild each user's recent items.
  server->recent_ = std::make_unique<RecentEvents>();
  RecentEvents* recent = server->recent_.get();
  bandits::ScanStats scanned;
  RETURN_IF_ERROR(server->experiments_manager_->log().ScanInteractions(
      "",
      [recent](const Interaction& x) {
        recent->Add(x.user(), x.item());
        return absl::OkStatus();
      },
      /*skip_corrupt=*/true, &scanned));
  if (scanned.skipped_corrupt > 0) {
    std::fprintf(stderr, "serve: %lld corrupt stored interactions skipped\n",
                 static_cast<long long>(scanned.skipped_corrupt));
  }

  server->core_ = std::make_unique<ServerCore>();
  ServerCore* core = server->core_.get();
  TrainingJobsOptions job_options;
  job_options.data_dir = options.data_dir;
  const bandits::EventLog* log = &server->experiments_manager_->log();
  job_options.extra_interactions =
      [log](const std::function<void(const Interaction&)>& add) -> absl::Status {
    return log->ScanInteractions(
        "",
        [&add](const Interaction& x) {
          add(x);
          return absl::OkStatus();
        },
        /*skip_corrupt=*/true);
  };
  job_options.on_finished = [core](const Job& job) {
    if (job.state() == JOB_STATE_SUCCEEDED) {
      core->metrics->SetModelVersion(job.model_name(), job.model_version());
    }
    PublishJobCounts(*core);
  };
  server->jobs_ = std::make_unique<TrainingJobs>(server->models_.get(), job_options);

  core->options = &server->options_;
  core->metrics = metrics;
  core->models = server->models_.get();
  core->jobs = server->jobs_.get();
  core->recent = recent;
  core->experiments = server->experiments_manager_.get();
  PublishModelVersions(*core);
  PublishJobCounts(*core);
  server->recommender_ = std::make_unique<RecommenderService>(core);
  server->experiments_ = std::make_unique<ExperimentsService>(core);

  grpc::ServerBuilder builder;
  // Without this a second server could bind the same port and silently take
  // half the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  const std::string address = absl::StrCat(
      options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host,
      ":", options.port);
  builder.AddListeningPort(address, credentials, &server->port_);
  builder.RegisterService(server->recommender_.get());
  builder.RegisterService(server->experiments_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", address,
        options.tls_cert_path.empty()
            ? " (address in use or not local?)"
            : " (address in use, or the TLS key does not match the certificate or a PEM "
              "file is malformed: see gRPC's messages above)"));
  }
  // Health per service (grpc.health.v1 with service="recbandit.Recommender"
  // or "recbandit.Experiments") and overall (service=""); all turn
  // NOT_SERVING when Shutdown starts.
  grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService();
  for (const char* service : {"recbandit.Recommender", "recbandit.Experiments"}) {
    health->SetServingStatus(service, true);
  }
  health->SetServingStatus(true);
  return server;
}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

int Server::metrics_port() const { return metrics_ == nullptr ? 0 : metrics_->port(); }

void Server::SetNotServing() {
  absl::MutexLock lock(&shutdown_mu_);
  if (server_ != nullptr && !shut_down_) server_->GetHealthCheckService()->SetServingStatus(false);
}

void Server::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (server_ == nullptr || shut_down_) return;
  if (core_ != nullptr) core_->stopping = true;
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  // No handler runs any more: stop training (a running job is cancelled and
  // writes nothing), then snapshot every policy; the log closes with the
  // manager (every acknowledged decision and event is already durable).
  if (jobs_ != nullptr) jobs_->Shutdown();
  if (experiments_manager_ != nullptr) {
    absl::Status s = experiments_manager_->Shutdown();
    if (!s.ok()) std::fprintf(stderr, "serve: snapshot at shutdown failed: %s\n",
                              std::string(s.message()).c_str());
  }
  shut_down_ = true;
}

void Server::Wait() {
  if (server_ == nullptr) return;
  server_->Wait();
  absl::MutexLock lock(&shutdown_mu_);
  shutdown_mu_.Await(absl::Condition(&shut_down_));
}

}  // namespace recbandit::services

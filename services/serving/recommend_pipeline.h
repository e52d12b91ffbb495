// RecommendPipeline: one Recommend request end to end: its bounds (checked
// once), the model snapshot, the user's stored recent items, retrieval and
// ranking, and with an experiment the exploring slate, drawn and logged with
// its per-position propensities by bandits::ExperimentManager (one lookup).
// RankItems and SimilarItems, the same path without exploration, live here
// too, so every serving request's bounds are checked in one file, and so
// does Recommend through a deployment (services/serving/deployments.h).
#ifndef RECBANDIT_SERVICES_SERVING_RECOMMEND_PIPELINE_H_
#define RECBANDIT_SERVICES_SERVING_RECOMMEND_PIPELINE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "proto/core/blocking_pool.h"
#include "proto/events.pb.h"
#include "proto/recommender.pb.h"
#include "services/serving/deployments.h"
#include "services/serving/serving_model.h"

namespace recbandit::bandits {
class EventLog;
class ExperimentManager;
}  // namespace recbandit::bandits

namespace recbandit::services {

class Catalog;
class ModelStore;
class RecentEvents;

// Appends `rec`'s items with their scores (no propensities) to `out`: how
// Recommend, RankItems and SimilarItems answer.
void CopyItems(const Recommendation& rec, google::protobuf::RepeatedPtrField<ScoredItem>* out);

// Thread-safe; the components must outlive it. Shadow slates are computed
// on one thread of its own (joined, after the queue drains, on destruction).
class RecommendPipeline {
 public:
  // The shadow slates that may wait for the shadow thread; more are dropped.
  static constexpr size_t kMaxQueuedShadows = 1024;

  // `on_shadow` (may be empty; thread-safe and fast) hears what became of
  // each shadow slate: "logged", "dropped" or "failed"; at most
  // `max_queued_shadows` wait to be computed. `on_slate_log_failure` (may
  // be empty; thread-safe, fast) hears of each served slate of a
  // QUEUED_BEFORE_REPLY deployment whose log write failed after the reply.
  // `catalog` (may be null) supplies the requests' filters and hidden items.
  RecommendPipeline(ModelStore* models, RecentEvents* recent,
                    bandits::ExperimentManager* experiments, DeploymentStore* deployments,
                    bandits::EventLog* log,
                    std::function<void(const char* outcome)> on_shadow = nullptr,
                    size_t max_queued_shadows = kMaxQueuedShadows,
                    std::function<void()> on_slate_log_failure = nullptr,
                    Catalog* catalog = nullptr)
      : models_(models),
        recent_(recent),
        experiments_(experiments),
        deployments_(deployments),
        log_(log),
        on_shadow_(std::move(on_shadow)),
        on_slate_log_failure_(std::move(on_slate_log_failure)),
        catalog_(catalog),
        max_queued_shadows_(max_queued_shadows),
        shadows_(1) {}

  // Answers `request` into `response`: INVALID_ARGUMENT naming the field and
  // bound, NOT_FOUND for an unknown model, experiment or deployment; with an
  // experiment or a deployment the served slate is durable before it
  // returns (it blocks on an fsync).
  absl::Status Recommend(const RecommendRequest& request, RecommendResponse* response) const;
  // Recommend without blocking, for plain requests and deployments (not
  // experiments: their draw blocks): `done` runs with the outcome once the
  // served slate is durable, on the event log's committer thread, or at once
  // on the calling thread (errors, plain requests, and a deployment with
  // QUEUED_BEFORE_REPLY once its slate is queued). `done` must not block.
  void RecommendAsync(const RecommendRequest& request, RecommendResponse* response,
                      std::function<void(absl::Status)> done) const;

  // Scores the request's candidate items for its user, best first, with the
  // same bounds (INVALID_ARGUMENT for a repeated item, NOT_FOUND for an
  // unknown model).
  absl::Status RankItems(const RankItemsRequest& request, RankItemsResponse* response) const;

  // Answers the k items nearest the request's item.
  absl::Status SimilarItems(const SimilarItemsRequest& request,
                            SimilarItemsResponse* response) const;

  // Returns the request's catalog filter (null: nothing filtered).
  absl::StatusOr<std::shared_ptr<const RowFilter>> CompileFilter(const Filter& filter,
                                                                 bool has_user,
                                                                 const std::string& user) const;

 private:
  // A slate a deployment served, before it is logged: its event, and what
  // its shadows need.
  struct ServedSlate {
    DecisionEvent event;
    std::shared_ptr<const ServedDeployment> deployment;
    RecommendQuery query;  // the candidates' query, before the variant's filters
    int32_t k = 0;         // positions served
  };
  // The deployment revision and variant a call was assigned, so that its
  // outcome and latency count for a rollout in progress (variant -1 before).
  struct Assigned {
    std::shared_ptr<const ServedDeployment> deployment;
    int32_t variant = -1;
    std::chrono::steady_clock::time_point start;
    bool slate_logged = false;  // set once a slate was served and is to be logged
    // Counts the call's outcome `s` for the rollout (if any).
    void Record(const absl::Status& s) const;
  };
  // Answers `request` into `response`; a deployment's served slate is left
  // in `to_log` for the caller to log (an experiment's is logged here).
  absl::Status Prepare(const RecommendRequest& request, RecommendResponse* response,
                       std::optional<ServedSlate>* to_log, Assigned* assigned) const;
  // Recommend through a deployment: assign the unit's variant, retrieve with
  // its model, fill the served slate's event (candidates included).
  absl::Status ServeDeployment(const RecommendRequest& request, RecommendQuery query,
                               RecommendResponse* response, std::optional<ServedSlate>* to_log,
                               Assigned* assigned) const;
  // The new-item candidates of a call through a pipeline exploring new
  // items (proto NewItemExploration): `model`'s new catalog items created
  // since the age cutoff, allowed by the query's filter and not excluded or
  // seen, best metadata score for the user first (newest first on ties), at
  // most the exploration's pool.
  absl::StatusOr<std::vector<ScoredItemId>> NewItemCandidates(const ServingModel& model,
                                                              const RecommendQuery& query,
                                                              const NewItemExploration& fresh,
                                                              int32_t k, int64_t now_us) const;
  // Recommend through an INTERLEAVED deployment: both variants retrieve,
  // their first k are merged by team-draft interleaving seeded by the event
  // id, and the slate is logged with its teams.
  absl::Status ServeInterleaved(const RecommendRequest& request, RecommendQuery query,
                                std::shared_ptr<const ServedDeployment> deployment,
                                const std::string& unit, RecommendResponse* response,
                                std::optional<ServedSlate>* to_log) const;
  // Queues the shadows sampled for a logged `slate` (dropping them when the
  // queue is full); RunShadow computes and logs one, on the shadow thread.
  void ScheduleShadows(const ServedSlate& slate) const;
  void RunShadow(const ServedSlate& slate, int shadow) const;

  ModelStore* const models_;
  RecentEvents* const recent_;
  bandits::ExperimentManager* const experiments_;
  DeploymentStore* const deployments_;
  bandits::EventLog* const log_;
  const std::function<void(const char*)> on_shadow_;
  const std::function<void()> on_slate_log_failure_;
  Catalog* const catalog_;  // may be null: filters refused, nothing hidden
  const size_t max_queued_shadows_;
  mutable BlockingPool shadows_;  // last: its thread stops before the rest goes
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_RECOMMEND_PIPELINE_H_

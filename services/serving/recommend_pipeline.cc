// The Recommend pipeline: retrieve -> rank -> explore -> log.
#include "services/serving/recommend_pipeline.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bandits/experiment.h"
#include "bandits/explore.h"
#include "bandits/interleaving.h"
#include "bandits/log/event_log.h"
#include "bandits/log/log_keys.h"
#include "proto/core/names.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"
#include "services/serving/catalog.h"
#include "services/serving/deployments.h"
#include "services/serving/model_store.h"
#include "services/serving/recent_events.h"
#include "services/serving/request_checks.h"
#include "services/serving/serving_model.h"

namespace recbandit::services {
namespace {

// Request bounds (proto/recommender.proto documents each).
constexpr int kMaxExcludeItems = 10000;
constexpr int kMaxRankItems = 1000;
constexpr int32_t kMaxEfSearch = 4096;
constexpr int32_t kMaxNprobe = 65536;

}  // namespace

void CopyItems(const Recommendation& rec, google::protobuf::RepeatedPtrField<ScoredItem>* out) {
  for (const ScoredItemId& s : rec.items) {
    ScoredItem* item = out->Add();
    item->set_item(s.item);
    item->set_score(s.score);
  }
}

absl::Status RecommendPipeline::RankItems(const RankItemsRequest& request,
                                          RankItemsResponse* response) const {
  RETURN_IF_ERROR(CheckId(request.user(), "user"));
  if (request.items_size() < 1 || request.items_size() > kMaxRankItems) {
    return absl::InvalidArgumentError(absl::StrCat("items must have 1..", kMaxRankItems,
                                                   " entries, got ", request.items_size()));
  }
  RETURN_IF_ERROR(CheckCount(request.recent_items_size(), kMaxRecentItems, "recent_items"));
  absl::flat_hash_set<absl::string_view> distinct;
  for (const std::string& item : request.items()) {
    if (!distinct.insert(item).second) {
      return absl::InvalidArgumentError(absl::StrCat("items has ", Quote(item), " twice"));
    }
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model, models_->Get(request.model_name()));
  ASSIGN_OR_RETURN(
      Recommendation rec,
      model->RankItems(request.user(),
                       std::vector<std::string>(request.items().begin(), request.items().end()),
                       std::vector<std::string>(request.recent_items().begin(),
                                                request.recent_items().end()),
                       recent_->Events(request.user())));
  CopyItems(rec, response->mutable_items());
  response->set_fallback(rec.fallback);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const RowFilter>> RecommendPipeline::CompileFilter(
    const Filter& filter, bool has_user, const std::string& user) const {
  if (catalog_ != nullptr) return catalog_->Compile(filter, has_user, user);
  if (!filter.expression().empty() || !filter.parameters().empty()) {
    return absl::FailedPreconditionError("filters need the server's catalog");
  }
  return nullptr;
}

absl::Status RecommendPipeline::SimilarItems(const SimilarItemsRequest& request,
                                             SimilarItemsResponse* response) const {
  RETURN_IF_ERROR(CheckId(request.item(), "item"));
  ASSIGN_OR_RETURN(const int32_t k, CheckK(request.k()));
  ASSIGN_OR_RETURN(std::shared_ptr<const RowFilter> filter,
                   CompileFilter(request.filter(), /*has_user=*/false, ""));
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model, models_->Get(request.model_name()));
  ASSIGN_OR_RETURN(Recommendation rec, model->Similar(request.item(), k, filter.get()));
  CopyItems(rec, response->mutable_items());
  return absl::OkStatus();
}

void RecommendPipeline::Assigned::Record(const absl::Status& s) const {
  if (deployment == nullptr) return;
  // The caller's mistakes are not the variant's errors.
  const bool error = !s.ok() && s.code() != absl::StatusCode::kInvalidArgument;
  const int64_t latency_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
  deployment->RecordCall(variant, latency_us, error, s.ok() && slate_logged);
}

absl::Status RecommendPipeline::Recommend(const RecommendRequest& request,
                                          RecommendResponse* response) const {
  std::optional<ServedSlate> to_log;
  Assigned assigned;
  absl::Status s = Prepare(request, response, &to_log, &assigned);
  assigned.slate_logged = to_log.has_value();
  if (s.ok() && to_log) {
    s = log_->AppendDecision(to_log->event);  // durable before the reply
    if (s.ok()) ScheduleShadows(*to_log);
  }
  assigned.Record(s);
  return s;
}

void RecommendPipeline::RecommendAsync(const RecommendRequest& request,
                                       RecommendResponse* response,
                                       std::function<void(absl::Status)> done) const {
  if (!request.experiment().empty()) {  // an exploring draw blocks: callers use Recommend
    done(absl::InternalError("RecommendAsync serves deployments and plain requests only"));
    return;
  }
  std::optional<ServedSlate> to_log;
  Assigned assigned;
  const absl::Status prepared = Prepare(request, response, &to_log, &assigned);
  assigned.slate_logged = to_log.has_value();
  if (!prepared.ok() || !to_log) {
    assigned.Record(prepared);
    done(prepared);
    return;
  }
  if (assigned.deployment != nullptr) {  // a rollout counts the call's outcome once known
    done = [assigned, done = std::move(done)](absl::Status s) {
      assigned.Record(s);
      done(std::move(s));
    };
  }
  const bool queued = to_log->deployment->config.slate_durability() == QUEUED_BEFORE_REPLY;
  std::function<void(absl::Status)> reply;  // called when the write is done
  if (queued) {
    // Reply now; the write lands in the log's next synced batch.
    done(absl::OkStatus());
    reply = [on_failure = on_slate_log_failure_](absl::Status s) {
      if (!s.ok() && on_failure) on_failure();
    };
  } else {
    reply = std::move(done);
  }
  if (to_log->deployment->config.shadows_size() == 0) {
    log_->AppendDecisionAsync(std::move(to_log->event), std::move(reply));
    return;
  }
  DecisionEvent event = to_log->event;  // the shadows need its id and unit too
  // The shadows are queued once the served slate is durable; their work
  // never delays the reply (a full queue drops them).
  log_->AppendDecisionAsync(
      std::move(event), [this, slate = *std::move(to_log), reply = std::move(reply)](absl::Status s) {
        if (s.ok()) ScheduleShadows(slate);
        reply(std::move(s));
      });
}

absl::Status RecommendPipeline::Prepare(const RecommendRequest& request,
                                        RecommendResponse* response,
                                        std::optional<ServedSlate>* to_log,
                                        Assigned* assigned) const {
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
  if (!request.deployment().empty()) {
    if (!request.model_name().empty() || !request.experiment().empty() ||
        request.exploration_weight() != 0) {
      return absl::InvalidArgumentError(
          "deployment excludes model_name, experiment and exploration_weight (its variants "
          "name their models)");
    }
  } else if (!request.unit_id().empty()) {
    return absl::InvalidArgumentError("unit_id needs a deployment");
  } else if (request.experiment().empty() &&
             (request.exploration_weight() != 0 || !request.event_id().empty())) {
    return absl::InvalidArgumentError(
        "exploration_weight and event_id need an experiment (event_id: or a deployment)");
  }
  if (request.experiment().empty() && !request.stored_features().empty()) {
    return absl::InvalidArgumentError("stored_features need an experiment");
  }
  if (!request.experiment().empty()) {
    // Unknown experiments fail before any retrieval work.
    RETURN_IF_ERROR(experiments_->GetExperiment(request.experiment()).status());
  }
  RecommendQuery query;
  ASSIGN_OR_RETURN(query.filter, CompileFilter(request.filter(), /*has_user=*/true,
                                               request.user()));
  query.user = request.user();
  query.k = k;
  query.exclude_seen = !request.include_seen();
  query.exclude_items.assign(request.exclude_items().begin(), request.exclude_items().end());
  query.recent_items.assign(request.recent_items().begin(), request.recent_items().end());
  query.recent_events = recent_->Events(request.user());  // weighed by each model
  query.search.ef_search = request.ef_search();
  query.search.nprobe = request.nprobe();
  if (!request.deployment().empty()) {
    return ServeDeployment(request, std::move(query), response, to_log, assigned);
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model,
                   models_->Get(request.model_name()));
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
  *slate.decide.mutable_stored_features() = request.stored_features();
  for (const ScoredItemId& c : candidates.items) slate.decide.add_actions()->set_id(c.item);
  slate.slate_size = std::min<int32_t>(k, static_cast<int32_t>(candidates.items.size()));
  slate.exploration_weight = request.exploration_weight();
  ASSIGN_OR_RETURN(bandits::SlateDecision decided, experiments_->DecideSlate(slate));
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

namespace {

// Returns the model serving pipeline `p` of `deployment`: its pinned
// snapshot, or the active version of the model it follows.
absl::StatusOr<std::shared_ptr<const ServingModel>> PipelineModel(
    const ServedDeployment& deployment, size_t p, const ModelStore& models) {
  const ModelRef& ref = deployment.models[p];
  if (deployment.pinned[p] != nullptr) return deployment.pinned[p];
  if (ref.version != 0) {  // pinned, but it failed to load at start-up
    return absl::NotFoundError(absl::StrCat("model ", Quote(ref.name), " version ", ref.version,
                                            " is not loaded"));
  }
  return models.Get(ref.name);  // follows the active version
}

// Retrieves pipeline `p`'s candidates for `query` with its model, ordered
// by its rescoring model when it has one (whose "<name>@<version>" goes to
// `rescored_by`).
absl::StatusOr<Recommendation> PipelineCandidates(const ServedDeployment& deployment, size_t p,
                                                  const ModelStore& models,
                                                  const ServingModel& retrieval,
                                                  const RecommendQuery& query,
                                                  std::string* rescored_by) {
  ASSIGN_OR_RETURN(Recommendation candidates, retrieval.Recommend(query));
  const int32_t r = p < deployment.rescore_index.size() ? deployment.rescore_index[p] : -1;
  if (r < 0 || candidates.items.empty()) return candidates;
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> ranker,
                   PipelineModel(deployment, r, models));
  std::vector<std::string> ids;
  ids.reserve(candidates.items.size());
  for (const ScoredItemId& c : candidates.items) ids.push_back(c.item);
  ASSIGN_OR_RETURN(Recommendation ranked, ranker->RankItems(query.user, ids, query.recent_items,
                                                            query.recent_events));
  ranked.fallback = candidates.fallback;
  *rescored_by = absl::StrCat(ranker->name(), "@", ranker->version());
  return ranked;
}

// A slate of candidate indices with its logged probabilities.
struct DrawnSlate {
  std::vector<int32_t> indices;
  std::vector<double> conditionals, marginals;
  double epsilon = 0;
  int32_t pool = 0;
};

// The model's first `served` candidates, every probability 1.
DrawnSlate FirstOf(int32_t served) {
  DrawnSlate d;
  for (int32_t j = 0; j < served; ++j) {
    d.indices.push_back(j);
    d.conditionals.push_back(1.0);
    d.marginals.push_back(1.0);
  }
  return d;
}

// The logged event of `slate` over `candidates` (log_format.md,
// "Deployments").
DecisionEvent SlateEvent(const ServedDeployment& deployment, const std::string& variant,
                         const std::string& event_id, int64_t now_us, const std::string& unit,
                         const std::string& user, const ServingModel& model,
                         const Recommendation& candidates, const DrawnSlate& slate) {
  DecisionEvent event;
  event.set_event_id(event_id);
  event.set_experiment(deployment.config.name());
  event.set_variant(variant);
  event.set_timestamp_us(now_us);
  event.set_unit_id(unit);
  event.set_user(user);
  for (const ScoredItemId& c : candidates.items) event.add_actions()->set_id(c.item);
  for (size_t i = 0; i < candidates.items.size(); ++i) event.add_pmf(0.0);
  if (!slate.indices.empty()) {
    event.set_chosen_index(slate.indices[0]);
    event.set_chosen_action(candidates.items[slate.indices[0]].item);
    event.set_pmf(slate.indices[0], 1.0);
  }
  event.set_policy_name("model");
  event.set_policy_spec(absl::StrCat("model:", model.name(), "@", model.version()));
  event.set_policy_version(model.version());
  for (size_t j = 0; j < slate.indices.size(); ++j) {
    event.add_slate_indices(slate.indices[j]);
    event.add_slate_propensities(slate.conditionals[j]);
    event.add_slate_marginals(slate.marginals[j]);
  }
  event.set_exploration_epsilon(slate.epsilon);
  event.set_exploration_pool(slate.pool);
  event.set_deployment_revision(deployment.config.revision());
  event.set_model_name(model.name());
  event.set_model_version(model.version());
  return event;
}

}  // namespace

absl::Status RecommendPipeline::ServeDeployment(const RecommendRequest& request,
                                                RecommendQuery query,
                                                RecommendResponse* response,
                                                std::optional<ServedSlate>* to_log,
                                                Assigned* assigned) const {
  if (!request.unit_id().empty()) RETURN_IF_ERROR(CheckId(request.unit_id(), "unit_id"));
  if (!request.event_id().empty()) RETURN_IF_ERROR(bandits::ValidateEventId(request.event_id()));
  // One snapshot serves the whole call: an update swapping the deployment
  // meanwhile changes the next call, never half of this one.
  ASSIGN_OR_RETURN(std::shared_ptr<const ServedDeployment> deployment,
                   deployments_->Get(request.deployment()));
  const std::string& unit = request.unit_id().empty() ? request.user() : request.unit_id();
  if (deployment->rollout != nullptr || deployment->interleaving != nullptr) {
    assigned->deployment = deployment;
    assigned->start = std::chrono::steady_clock::now();
  }
  if (deployment->config.mode() == INTERLEAVED) {
    return ServeInterleaved(request, std::move(query), std::move(deployment), unit, response,
                            to_log);
  }
  const int32_t v = deployment->AssignVariant(unit);
  assigned->variant = v;
  const DeploymentVariant& variant = deployment->config.variants(v);
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model,
                   PipelineModel(*deployment, v, *models_));
  const bool include_seen = !query.exclude_seen;
  if (variant.pipeline().include_seen()) query.exclude_seen = false;
  // The served slate is the model's first k (or, exploring, a random one
  // from its first `pool`); the candidates logged with it are its first
  // max(4k, 50), so another model's slate can be recomputed over them
  // offline. They are exactly the index candidates a plain Recommend
  // rescores, so the served k are what it would serve, at its cost.
  const SlateExploration& exploration = variant.pipeline().exploration();
  const int32_t k = query.k;
  const bool exploring = exploration.epsilon() > 0;
  const int32_t wanted_pool =
      std::max(k, exploration.pool() > 0 ? exploration.pool() : std::max(2 * k, 20));
  query.k = std::min(kMaxK, std::max({4 * k, 50, exploring ? wanted_pool : 0}));
  query.candidates = query.k;
  std::string rescored_by;
  ASSIGN_OR_RETURN(Recommendation candidates,
                   PipelineCandidates(*deployment, v, *models_, *model, query, &rescored_by));
  const int32_t available = static_cast<int32_t>(candidates.items.size());
  const int64_t now = log_->NowUs();
  const NewItemExploration& fresh = variant.pipeline().new_items();
  std::vector<ScoredItemId> new_items;
  if (fresh.share() > 0) {
    ASSIGN_OR_RETURN(new_items, NewItemCandidates(*model, query, fresh, k, now));
  }
  const int32_t num_new = static_cast<int32_t>(new_items.size());
  const int32_t base_size = std::min<int32_t>(k, available);
  const int32_t served = std::min<int32_t>(k, available + num_new);
  response->set_model_name(model->name());
  response->set_model_version(model->version());
  response->set_variant(variant.name());
  response->set_deployment_revision(deployment->config.revision());
  response->set_fallback(candidates.fallback);
  if (served == 0) return absl::OkStatus();  // nothing allowed: nothing served, nothing logged

  const std::string event_id =
      request.event_id().empty() ? bandits::NewEventId(now) : request.event_id();
  DrawnSlate drawn = FirstOf(base_size);
  if (exploring && base_size > 0) {
    drawn.epsilon = exploration.epsilon();
    drawn.pool = std::min(wanted_pool, available);  // >= base_size
    bandits::DrawExploringSlate(base_size, drawn.pool, drawn.epsilon,
                                StableHash64(event_id, deployment->salt), &drawn.indices,
                                &drawn.conditionals, &drawn.marginals);
  }
  if (num_new > 0) {
    // New items join the candidates after the model's, and the slate is
    // mixed from both (a second draw, seeded apart from the first).
    const double epsilon = drawn.epsilon;
    const int32_t pool = drawn.pool;
    auto base_marginal = [epsilon, pool](int32_t index, int32_t position) {
      return bandits::ExploringSlateMarginal(index, position, pool, epsilon);
    };
    DrawnSlate mixed = drawn;
    bandits::MixNewItems(drawn.indices, drawn.conditionals, base_marginal, available, num_new, k,
                         fresh.share(),
                         StableHash64(event_id, StableHash64("new_items", deployment->salt)),
                         &mixed.indices, &mixed.conditionals, &mixed.marginals);
    drawn = std::move(mixed);
    candidates.items.insert(candidates.items.end(), new_items.begin(), new_items.end());
  }
  for (int32_t j = 0; j < served; ++j) {
    const ScoredItemId& c = candidates.items[drawn.indices[j]];
    ScoredItem* item = response->add_items();
    item->set_item(c.item);
    item->set_score(c.score);
    item->set_propensity(drawn.conditionals[j]);
    item->set_new_item(drawn.indices[j] >= available);
  }
  response->set_event_id(event_id);
  ServedSlate slate;
  slate.event = SlateEvent(*deployment, variant.name(), event_id, now, unit, request.user(),
                           *model, candidates, drawn);
  slate.event.set_rescore_model(rescored_by);
  if (num_new > 0) {
    slate.event.set_new_item_share(fresh.share());
    slate.event.set_new_item_candidates(num_new);
  }
  slate.deployment = std::move(deployment);
  query.exclude_seen = !include_seen;  // the shadows apply their own filters
  slate.query = std::move(query);
  slate.k = k;
  *to_log = std::move(slate);  // logged by the caller before the reply
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ScoredItemId>> RecommendPipeline::NewItemCandidates(
    const ServingModel& model, const RecommendQuery& query, const NewItemExploration& fresh,
    int32_t k, int64_t now_us) const {
  if (catalog_ == nullptr) {
    return absl::FailedPreconditionError("new-item exploration needs the server's catalog");
  }
  std::shared_ptr<const NewItemPool> pool = catalog_->NewItems(model);
  if (pool->items.empty()) return std::vector<ScoredItemId>();
  ASSIGN_OR_RETURN(std::vector<float> user,
                   model.UserVector(query.user, query.recent_items, query.recent_events));
  const double days = fresh.max_age_days() > 0 ? fresh.max_age_days() : 30;
  const int64_t min_created_ms = now_us / 1000 - static_cast<int64_t>(days * 86400000.0);
  absl::flat_hash_set<absl::string_view> excluded(query.exclude_items.begin(),
                                                  query.exclude_items.end());
  if (query.exclude_seen) {  // any stored event of a new item counts as seen: no weights apply
    excluded.insert(query.recent_items.begin(), query.recent_items.end());
    for (const RecentEvent& e : query.recent_events) excluded.insert(e.item);
  }
  std::vector<ScoredItemId> out;
  for (size_t i = 0; i < pool->items.size(); ++i) {
    const NewItemPool::Item& item = pool->items[i];
    if (item.record.created_unix_ms() < min_created_ms) break;  // newest first: the rest are older
    if (excluded.contains(item.id)) continue;
    if (query.filter != nullptr && !query.filter->AllowsRecord(item.id, item.record)) continue;
    // A cold user (no vector) leaves every score 0: the newest come first.
    out.push_back({item.id, user.empty() ? 0.0f : pool->Score(i, user)});
  }
  const size_t wanted = fresh.pool() > 0 ? fresh.pool() : std::max(2 * k, 20);
  auto better = [](const ScoredItemId& a, const ScoredItemId& b) { return a.score > b.score; };
  std::stable_sort(out.begin(), out.end(), better);
  if (out.size() > wanted) out.resize(wanted);
  return out;
}

absl::Status RecommendPipeline::ServeInterleaved(
    const RecommendRequest& request, RecommendQuery query,
    std::shared_ptr<const ServedDeployment> deployment, const std::string& unit,
    RecommendResponse* response, std::optional<ServedSlate>* to_log) const {
  const int32_t k = query.k;
  const bool include_seen = !query.exclude_seen;
  RecommendQuery team_query = query;
  team_query.k = std::min(kMaxK, std::max(4 * k, 50));
  team_query.candidates = team_query.k;
  // Each team's candidates, retrieved with its own model and filters.
  std::shared_ptr<const ServingModel> models[2];
  Recommendation ranked[2];
  for (int t = 0; t < 2; ++t) {
    ASSIGN_OR_RETURN(models[t], PipelineModel(*deployment, t, *models_));
    RecommendQuery q = team_query;
    if (deployment->config.variants(t).pipeline().include_seen()) q.exclude_seen = false;
    std::string rescored_by;
    ASSIGN_OR_RETURN(ranked[t],
                     PipelineCandidates(*deployment, t, *models_, *models[t], q, &rescored_by));
  }
  std::vector<std::string> rankings[2];
  for (int t = 0; t < 2; ++t) {
    for (size_t j = 0; j < ranked[t].items.size() && j < static_cast<size_t>(k); ++j) {
      rankings[t].push_back(ranked[t].items[j].item);
    }
  }
  response->set_model_name(models[0]->name());
  response->set_model_version(models[0]->version());
  response->set_variant("interleaved");
  response->set_deployment_revision(deployment->config.revision());
  response->set_fallback(ranked[0].fallback || ranked[1].fallback);
  if (rankings[0].empty() && rankings[1].empty()) return absl::OkStatus();

  const int64_t now = log_->NowUs();
  const std::string event_id =
      request.event_id().empty() ? bandits::NewEventId(now) : request.event_id();
  ASSIGN_OR_RETURN(bandits::TeamDraftSlate<std::string> merged,
                   bandits::TeamDraftInterleave(rankings[0], rankings[1], k,
                                                StableHash64(event_id)));
  // The logged candidates: team A's, then team B's not among them.
  DecisionEvent event;
  event.set_event_id(event_id);
  event.set_experiment(deployment->config.name());
  event.set_variant("interleaved");
  event.set_timestamp_us(now);
  event.set_unit_id(unit);
  event.set_user(request.user());
  absl::flat_hash_map<std::string, int32_t> index;
  absl::flat_hash_map<std::string, double> score[2];
  for (int t = 0; t < 2; ++t) {
    for (const ScoredItemId& c : ranked[t].items) {
      score[t].emplace(c.item, c.score);
      if (index.emplace(c.item, event.actions_size()).second) event.add_actions()->set_id(c.item);
    }
  }
  for (int i = 0; i < event.actions_size(); ++i) event.add_pmf(0.0);
  event.set_policy_name("team_draft");
  event.set_policy_spec(absl::StrCat("team_draft:", models[0]->name(), "@",
                                     models[0]->version(), ",", models[1]->name(), "@",
                                     models[1]->version()));
  event.set_policy_version(models[0]->version());
  event.set_deployment_revision(deployment->config.revision());
  event.set_model_name(models[0]->name());
  event.set_model_version(models[0]->version());
  // A position's propensity is its team's draft probability given the
  // earlier positions and teams (1/2 where the coin decided, else 1): their
  // product is the probability of the logged (slate, teams).
  for (size_t j = 0; j < merged.items.size(); ++j) {
    const std::string& item = merged.items[j];
    const int team = merged.teams[j] == bandits::Team::kA ? 0 : 1;
    const double propensity = merged.team_probabilities[j];
    event.add_slate_indices(index.at(item));
    event.add_slate_propensities(propensity);
    event.add_interleaving_teams(team);
    ScoredItem* out = response->add_items();
    out->set_item(item);
    auto found = score[team].find(item);
    out->set_score(found != score[team].end() ? found->second : 0);
    out->set_propensity(propensity);
  }
  event.set_chosen_index(event.slate_indices(0));
  event.set_chosen_action(merged.items[0]);
  event.set_pmf(event.slate_indices(0), 1.0);
  response->set_event_id(event_id);
  ServedSlate slate;
  slate.event = std::move(event);
  slate.deployment = std::move(deployment);
  query.exclude_seen = !include_seen;
  slate.query = std::move(query);
  slate.k = k;
  *to_log = std::move(slate);
  return absl::OkStatus();
}

void RecommendPipeline::ScheduleShadows(const ServedSlate& slate) const {
  const Deployment& config = slate.deployment->config;
  for (int i = 0; i < config.shadows_size(); ++i) {
    const ShadowPipeline& shadow = config.shadows(i);
    const uint64_t h = StableHash64(slate.event.event_id(), StableHash64(shadow.name()));
    if (!(static_cast<double>(h >> 11) * 0x1.0p-53 < shadow.sample_rate())) continue;
    const bool queued = shadows_.Run(
        [this, slate, i] { RunShadow(slate, i); }, max_queued_shadows_);
    if (!queued && on_shadow_) on_shadow_("dropped");
  }
}

void RecommendPipeline::RunShadow(const ServedSlate& slate, int shadow) const {
  const ServedDeployment& deployment = *slate.deployment;
  const ShadowPipeline& config = deployment.config.shadows(shadow);
  RecommendQuery query = slate.query;
  if (config.pipeline().include_seen()) query.exclude_seen = false;
  absl::StatusOr<std::shared_ptr<const ServingModel>> model =
      PipelineModel(deployment, deployment.config.variants_size() + shadow, *models_);
  const size_t pipeline = deployment.config.variants_size() + shadow;
  std::string rescored_by;
  absl::StatusOr<Recommendation> candidates =
      model.ok() ? PipelineCandidates(deployment, pipeline, *models_, **model, query, &rescored_by)
                 : absl::StatusOr<Recommendation>(model.status());
  if (!candidates.ok()) {
    if (on_shadow_) on_shadow_("failed");
    return;
  }
  const int64_t now = log_->NowUs();
  DecisionEvent event = SlateEvent(
      deployment, absl::StrCat("shadow:", config.name()), bandits::NewEventId(now), now,
      slate.event.unit_id(), slate.event.user(), **model, *candidates,
      FirstOf(std::min<int32_t>(slate.k, static_cast<int32_t>(candidates->items.size()))));
  event.set_shadow_of(slate.event.event_id());
  event.set_rescore_model(rescored_by);
  log_->AppendDecisionAsync(std::move(event), [on_shadow = on_shadow_](absl::Status s) {
    if (on_shadow) on_shadow(s.ok() ? "logged" : "failed");
  });
}

}  // namespace recbandit::services

// The Recommend pipeline: retrieve -> rank -> explore -> log.
#include "services/serving/recommend_pipeline.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "bandits/experiment.h"
#include "bandits/log/event_log.h"
#include "bandits/log/log_keys.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
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

std::vector<std::string> RecommendPipeline::RecentItems(
    const std::string& user, const google::protobuf::RepeatedPtrField<std::string>& more) const {
  std::vector<std::string> items = recent_->Items(user);
  items.insert(items.end(), more.begin(), more.end());
  return items;
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
                       RecentItems(request.user(), request.recent_items())));
  CopyItems(rec, response->mutable_items());
  response->set_fallback(rec.fallback);
  return absl::OkStatus();
}

absl::Status RecommendPipeline::SimilarItems(const SimilarItemsRequest& request,
                                             SimilarItemsResponse* response) const {
  RETURN_IF_ERROR(CheckId(request.item(), "item"));
  ASSIGN_OR_RETURN(const int32_t k, CheckK(request.k()));
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model, models_->Get(request.model_name()));
  ASSIGN_OR_RETURN(Recommendation rec, model->Similar(request.item(), k));
  CopyItems(rec, response->mutable_items());
  return absl::OkStatus();
}

absl::Status RecommendPipeline::Recommend(const RecommendRequest& request,
                                          RecommendResponse* response) const {
  std::optional<DecisionEvent> to_log;
  RETURN_IF_ERROR(Prepare(request, response, &to_log));
  return to_log ? log_->AppendDecision(*to_log) : absl::OkStatus();  // durable before the reply
}

void RecommendPipeline::RecommendAsync(const RecommendRequest& request,
                                       RecommendResponse* response,
                                       std::function<void(absl::Status)> done) const {
  if (!request.experiment().empty()) {  // an exploring draw blocks: callers use Recommend
    done(absl::InternalError("RecommendAsync serves deployments and plain requests only"));
    return;
  }
  std::optional<DecisionEvent> to_log;
  const absl::Status prepared = Prepare(request, response, &to_log);
  if (!prepared.ok() || !to_log) {
    done(prepared);
    return;
  }
  log_->AppendDecisionAsync(*std::move(to_log), std::move(done));
}

absl::Status RecommendPipeline::Prepare(const RecommendRequest& request,
                                        RecommendResponse* response,
                                        std::optional<DecisionEvent>* to_log) const {
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
  if (!request.experiment().empty()) {
    // Unknown experiments fail before any retrieval work.
    RETURN_IF_ERROR(experiments_->GetExperiment(request.experiment()).status());
  }
  RecommendQuery query;
  query.user = request.user();
  query.k = k;
  query.exclude_seen = !request.include_seen();
  query.exclude_items.assign(request.exclude_items().begin(), request.exclude_items().end());
  query.recent_items = RecentItems(request.user(), request.recent_items());
  query.search.ef_search = request.ef_search();
  query.search.nprobe = request.nprobe();
  if (!request.deployment().empty()) {
    return ServeDeployment(request, std::move(query), response, to_log);
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

absl::Status RecommendPipeline::ServeDeployment(const RecommendRequest& request,
                                                RecommendQuery query,
                                                RecommendResponse* response,
                                                std::optional<DecisionEvent>* to_log) const {
  if (!request.unit_id().empty()) RETURN_IF_ERROR(CheckId(request.unit_id(), "unit_id"));
  if (!request.event_id().empty()) RETURN_IF_ERROR(bandits::ValidateEventId(request.event_id()));
  // One snapshot serves the whole call: an update swapping the deployment
  // meanwhile changes the next call, never half of this one.
  ASSIGN_OR_RETURN(std::shared_ptr<const ServedDeployment> deployment,
                   deployments_->Get(request.deployment()));
  const std::string& unit = request.unit_id().empty() ? request.user() : request.unit_id();
  const int32_t v = deployment->AssignVariant(unit);
  const DeploymentVariant& variant = deployment->config.variants(v);
  const ModelRef& ref = deployment->models[v];
  std::shared_ptr<const ServingModel> model = deployment->pinned[v];
  if (model == nullptr) {
    if (ref.version != 0) {  // pinned, but it failed to load at start-up
      return absl::NotFoundError(absl::StrCat("model ", Quote(ref.name), " version ",
                                              ref.version, " is not loaded"));
    }
    ASSIGN_OR_RETURN(model, models_->Get(ref.name));  // follows the active version
  }
  if (variant.pipeline().include_seen()) query.exclude_seen = false;
  // The served slate is the model's first k; the candidates logged with it
  // are its first max(4k, 50), so another model's slate can be recomputed
  // over them offline. They are exactly the index candidates a plain
  // Recommend rescores, so the served k are what it would serve, at its cost.
  const int32_t k = query.k;
  query.k = std::min(kMaxK, std::max(4 * k, 50));
  query.candidates = query.k;
  ASSIGN_OR_RETURN(Recommendation candidates, model->Recommend(query));
  const int32_t served = std::min<int32_t>(k, static_cast<int32_t>(candidates.items.size()));
  response->set_model_name(model->name());
  response->set_model_version(model->version());
  response->set_variant(variant.name());
  response->set_deployment_revision(deployment->config.revision());
  response->set_fallback(candidates.fallback);
  if (served == 0) return absl::OkStatus();  // nothing allowed: nothing served, nothing logged

  DecisionEvent event;
  const int64_t now = log_->NowUs();
  event.set_event_id(request.event_id().empty() ? bandits::NewEventId(now) : request.event_id());
  event.set_experiment(deployment->config.name());
  event.set_variant(variant.name());
  event.set_timestamp_us(now);
  event.set_unit_id(unit);
  for (const ScoredItemId& c : candidates.items) event.add_actions()->set_id(c.item);
  for (size_t i = 0; i < candidates.items.size(); ++i) event.add_pmf(i == 0 ? 1.0 : 0.0);
  event.set_chosen_index(0);
  if (!candidates.items.empty()) event.set_chosen_action(candidates.items[0].item);
  event.set_policy_name("model");
  event.set_policy_spec(absl::StrCat("model:", model->name(), "@", model->version()));
  event.set_policy_version(model->version());
  for (int32_t j = 0; j < served; ++j) {
    event.add_slate_indices(j);
    event.add_slate_propensities(1.0);
  }
  event.set_deployment_revision(deployment->config.revision());
  event.set_model_name(model->name());
  event.set_model_version(model->version());

  for (int32_t j = 0; j < served; ++j) {
    ScoredItem* item = response->add_items();
    item->set_item(candidates.items[j].item);
    item->set_score(candidates.items[j].score);
    item->set_propensity(1.0);
  }
  response->set_event_id(event.event_id());
  *to_log = std::move(event);  // logged by the caller before the reply
  return absl::OkStatus();
}

}  // namespace recbandit::services

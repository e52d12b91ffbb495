// DeploymentStore: validation, the journal, pinned versions, snapshots.
#include "services/serving/deployments.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bandits/assignment.h"
#include "bandits/log/event_log.h"
#include "proto/core/names.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"
#include "services/serving/model_store.h"
#include "services/serving/request_checks.h"

namespace recbandit::services {
namespace {

// Bounds (proto/deployments.proto documents each).
constexpr int kMaxVariants = 16;
constexpr int kMaxShadows = 4;
constexpr size_t kMaxDescriptionBytes = 4096;
constexpr size_t kMaxDeployments = 1000;
// Pinned versions stay loaded (each a model and its index): a bound on them
// is a bound on the memory deployments can make the server hold.
constexpr size_t kMaxPinnedVersions = 32;

// The ExperimentConfig the event log joins a deployment's rewards with.
ExperimentConfig RewardConfig(const Deployment& d) {
  ExperimentConfig config;
  config.set_name(d.name());
  config.set_reward_window_ms(d.reward_window_ms());
  config.set_reward_aggregation(d.reward_aggregation());
  return config;
}

}  // namespace

absl::StatusOr<ModelRef> ParseModelRef(const std::string& model, const std::string& field) {
  ModelRef ref;
  const size_t at = model.find('@');
  ref.name = model.substr(0, at);
  RETURN_IF_ERROR(ValidateName(ref.name, field));
  if (at != std::string::npos) {
    const std::string version = model.substr(at + 1);
    if (!absl::SimpleAtoi(version, &ref.version) || ref.version < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " must be <name> or <name>@<version> with version >= 1, got ", Quote(model)));
    }
  }
  return ref;
}

namespace {

// `name` (of the variant or shadow at `field`) follows the name rule and is
// not already in `names`, which it joins.
absl::Status CheckUniqueName(const std::string& field, const std::string& name,
                             absl::flat_hash_set<std::string>* names) {
  RETURN_IF_ERROR(ValidateName(name, field + ".name"));
  if (!names->insert(name).second) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".name ", Quote(name), " is used twice"));
  }
  return absl::OkStatus();
}

// The pipeline at `field` is set and names a model reference.
absl::Status CheckPipeline(const std::string& field, bool has_pipeline, const Pipeline& pipeline) {
  if (!has_pipeline) return absl::InvalidArgumentError(absl::StrCat(field, ".pipeline is required"));
  const SlateExploration& e = pipeline.exploration();
  if (!(e.epsilon() >= 0 && e.epsilon() <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".pipeline.exploration.epsilon must be in [0, 1], got ", e.epsilon()));
  }
  if (e.pool() < 0 || e.pool() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".pipeline.exploration.pool must be in [0, 1000] (0 = max(2k, 20)), got ",
        e.pool()));
  }
  const NewItemExploration& fresh = pipeline.new_items();
  if (!(fresh.share() >= 0 && fresh.share() <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".pipeline.new_items.share must be in [0, 1], got ", fresh.share()));
  }
  if (!(fresh.max_age_days() >= 0 && fresh.max_age_days() <= 3650)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".pipeline.new_items.max_age_days must be in [0, 3650] (0 = 30), got ",
                     fresh.max_age_days()));
  }
  if (fresh.pool() < 0 || fresh.pool() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".pipeline.new_items.pool must be in [0, 1000] (0 = max(2k, 20)), got ",
        fresh.pool()));
  }
  if (!pipeline.rescore_model().empty()) {
    RETURN_IF_ERROR(
        ParseModelRef(pipeline.rescore_model(), field + ".pipeline.rescore_model").status());
  }
  return ParseModelRef(pipeline.model(), field + ".pipeline.model").status();
}

}  // namespace

absl::Status ValidateDeployment(const Deployment& d) {
  RETURN_IF_ERROR(ValidateName(d.name(), "deployment.name"));
  if (d.variants_size() < 1 || d.variants_size() > kMaxVariants) {
    return absl::InvalidArgumentError(absl::StrCat("deployment.variants must have 1..",
                                                   kMaxVariants, " entries, got ",
                                                   d.variants_size()));
  }
  absl::flat_hash_set<std::string> names;
  double total = 0;
  for (int i = 0; i < d.variants_size(); ++i) {
    const DeploymentVariant& v = d.variants(i);
    const std::string field = absl::StrCat("deployment.variants[", i, "]");
    RETURN_IF_ERROR(CheckUniqueName(field, v.name(), &names));
    if (!(v.traffic_weight() >= 0 && v.traffic_weight() <= kMaxTrafficWeight)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".traffic_weight must be in [0, ",
                                                     kMaxTrafficWeight, "], got ",
                                                     v.traffic_weight()));
    }
    total += v.traffic_weight();
    RETURN_IF_ERROR(CheckPipeline(field, v.has_pipeline(), v.pipeline()));
  }
  if (d.shadows_size() > kMaxShadows) {
    return absl::InvalidArgumentError(absl::StrCat("deployment.shadows must have 0..", kMaxShadows,
                                                   " entries, got ", d.shadows_size()));
  }
  absl::flat_hash_set<std::string> shadow_names;
  for (int i = 0; i < d.shadows_size(); ++i) {
    const ShadowPipeline& sh = d.shadows(i);
    const std::string field = absl::StrCat("deployment.shadows[", i, "]");
    RETURN_IF_ERROR(CheckUniqueName(field, sh.name(), &shadow_names));
    if (!(sh.sample_rate() >= 0 && sh.sample_rate() <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".sample_rate must be in [0, 1], got ", sh.sample_rate()));
    }
    RETURN_IF_ERROR(CheckPipeline(field, sh.has_pipeline(), sh.pipeline()));
    if (sh.pipeline().new_items().share() > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".pipeline.new_items: a shadow's slates are never shown, so explore nothing"));
    }
  }
  if (!(total > 0)) {
    return absl::InvalidArgumentError("deployment.variants: at least one traffic_weight must be > 0");
  }
  if (d.description().size() > kMaxDescriptionBytes) {
    return absl::InvalidArgumentError(absl::StrCat("deployment.description has ",
                                                   d.description().size(), " bytes; at most ",
                                                   kMaxDescriptionBytes));
  }
  if (d.reward_window_ms() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "deployment.reward_window_ms must be >= 0, got ", d.reward_window_ms()));
  }
  if (!RewardAggregation_IsValid(d.reward_aggregation())) {
    return absl::InvalidArgumentError("deployment.reward_aggregation is not a known value");
  }
  if (d.has_rollout()) RETURN_IF_ERROR(ValidateRollout(d));
  if (!SlateDurability_IsValid(d.slate_durability())) {
    return absl::InvalidArgumentError("deployment.slate_durability is not a known value");
  }
  if (!DeploymentMode_IsValid(d.mode())) {
    return absl::InvalidArgumentError("deployment.mode is not a known value");
  }
  if (d.mode() == INTERLEAVED) {
    if (d.variants_size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "deployment.mode INTERLEAVED needs exactly 2 variants, got ", d.variants_size()));
    }
    if (d.has_rollout()) {
      return absl::InvalidArgumentError(
          "deployment.mode INTERLEAVED serves both variants on every call: no rollout");
    }
    for (int i = 0; i < d.variants_size(); ++i) {
      if (d.variants(i).pipeline().new_items().share() > 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "deployment.variants[", i, "].pipeline.new_items: INTERLEAVED deployments merge the two "
            "rankings as they are; explore new items in a WEIGHTED deployment"));
      }
    }
  }
  for (const auto& [variant, weight] : d.rollback_weights()) {
    if (!(weight >= 0 && weight <= kMaxTrafficWeight)) {
      return absl::InvalidArgumentError("deployment.rollback_weights out of bounds");
    }
  }
  return absl::OkStatus();
}

int32_t ServedDeployment::AssignVariant(const std::string& unit) const {
  return bandits::AssignVariant(unit, salt, weights);
}

void InterleavingCounters::AddImpression() {
  absl::MutexLock lock(&mu_);
  ++impressions_;
}

void InterleavingCounters::Change(bandits::ImpressionOutcome before,
                                  bandits::ImpressionOutcome after) {
  absl::MutexLock lock(&mu_);
  wins_a_ += (after == bandits::ImpressionOutcome::kAWins) -
             (before == bandits::ImpressionOutcome::kAWins);
  wins_b_ += (after == bandits::ImpressionOutcome::kBWins) -
             (before == bandits::ImpressionOutcome::kBWins);
}

InterleavingStatus InterleavingCounters::Status() const {
  bandits::InterleavingCounts counts;
  {
    absl::MutexLock lock(&mu_);
    counts.wins_a = wins_a_;
    counts.wins_b = wins_b_;
    // Clicks on slates served before a restart are not counted, so wins
    // never exceed the impressions counted.
    counts.ties = std::max<int64_t>(0, impressions_ - wins_a_ - wins_b_);
  }
  InterleavingStatus status;
  status.set_impressions(counts.wins_a + counts.wins_b + counts.ties);
  status.set_wins_a(counts.wins_a);
  status.set_wins_b(counts.wins_b);
  status.set_ties(counts.ties);
  absl::StatusOr<bandits::PreferenceEstimate> p = bandits::InterleavingPreference(counts);
  if (p.ok()) {
    status.set_delta(p->delta);
    status.set_delta_low(p->delta_low);
    status.set_delta_high(p->delta_high);
    status.set_win_share_a(p->win_share_a);
    status.set_win_share_low(p->win_share_low);
    status.set_win_share_high(p->win_share_high);
    status.set_p_value(p->sign_test_p_value);
  }
  return status;
}

void ServedDeployment::RecordCall(int32_t v, int64_t latency_us, bool error,
                                  bool slate_logged) const {
  if (interleaving != nullptr && slate_logged) interleaving->AddImpression();
  if (rollout == nullptr) return;
  const int64_t now_us = absl::ToUnixMicros(absl::Now());
  if (v == rollout_baseline) {
    rollout->RecordCall(RolloutCounters::kBaseline, latency_us, error, now_us);
  }
  if (v == rollout_canary) rollout->RecordCall(RolloutCounters::kCanary, latency_us, error, now_us);
}

void DeploymentStore::StartRollout(Deployment* d, int64_t now_ms) {
  d->clear_rollback_weights();
  d->clear_rollout_status();
  if (!d->has_rollout()) return;
  RolloutStatus* status = d->mutable_rollout_status();
  status->set_phase(RolloutStatus::IN_PROGRESS);
  status->set_step(0);
  status->set_started_unix_ms(now_ms);
  status->set_step_started_unix_ms(now_ms);
  status->set_reason("rollout started at step 0");
  // Only when the plan is valid (Serve reports it otherwise).
  if (ValidateRollout(*d).ok()) ApplyRolloutWeights(d);
}

absl::StatusOr<std::shared_ptr<ServedDeployment>> DeploymentStore::Serve(
    Deployment deployment, std::shared_ptr<RolloutCounters> counters, int64_t now_us) {
  RETURN_IF_ERROR(ValidateDeployment(deployment));
  auto served = std::make_shared<ServedDeployment>();
  if (deployment.rollout_status().phase() == RolloutStatus::IN_PROGRESS &&
      deployment.has_rollout()) {
    for (int i = 0; i < deployment.variants_size(); ++i) {
      if (deployment.variants(i).name() == deployment.rollout().baseline()) {
        served->rollout_baseline = i;
      }
      if (deployment.variants(i).name() == deployment.rollout().canary()) {
        served->rollout_canary = i;
      }
    }
    served->rollout =
        counters != nullptr ? std::move(counters) : std::make_shared<RolloutCounters>(now_us);
  }
  if (deployment.mode() == INTERLEAVED) {
    served->interleaving = std::make_shared<InterleavingCounters>(now_us);
  }
  for (const DeploymentVariant& v : deployment.variants()) {
    ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(v.pipeline().model(), "pipeline.model"));
    served->models.push_back(std::move(ref));
    served->weights.push_back(v.traffic_weight());
  }
  for (const ShadowPipeline& sh : deployment.shadows()) {
    ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(sh.pipeline().model(), "pipeline.model"));
    served->models.push_back(std::move(ref));
  }
  std::vector<const Pipeline*> pipelines;
  for (const DeploymentVariant& v : deployment.variants()) pipelines.push_back(&v.pipeline());
  for (const ShadowPipeline& sh : deployment.shadows()) pipelines.push_back(&sh.pipeline());
  for (const Pipeline* p : pipelines) {
    if (p->rescore_model().empty()) {
      served->rescore_index.push_back(-1);
      continue;
    }
    ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(p->rescore_model(), "pipeline.rescore_model"));
    served->rescore_index.push_back(static_cast<int32_t>(served->models.size()));
    served->models.push_back(std::move(ref));
  }
  served->salt = StableHash64(deployment.name());
  served->config = std::move(deployment);
  return served;
}

absl::Status DeploymentStore::Resolve(ServedDeployment* served, bool missing_ok) const {
  served->pinned.clear();
  for (const ModelRef& ref : served->models) {
    std::shared_ptr<const ServingModel> model;
    if (ref.version != 0) {
      absl::StatusOr<std::shared_ptr<const ServingModel>> got =
          models_->GetVersion(ref.name, ref.version);
      if (got.ok()) {
        model = *std::move(got);
      } else if (!missing_ok) {
        return got.status();
      }
    }
    served->pinned.push_back(std::move(model));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DeploymentStore>> DeploymentStore::Open(bandits::EventLog* log,
                                                                       ModelStore* models) {
  std::unique_ptr<DeploymentStore> store(new DeploymentStore(log, models));
  bandits::ScanStats stats;
  ASSIGN_OR_RETURN(std::vector<Deployment> stored,
                   log->ListDeployments(/*skip_corrupt=*/true, &stats));
  if (stats.skipped_corrupt > 0) {
    std::fprintf(stderr, "deployments: %lld corrupt deployment records skipped\n",
                 static_cast<long long>(stats.skipped_corrupt));
  }
  std::set<ModelStore::VersionId> pinned;
  for (Deployment& d : stored) {
    const std::string name = d.name();
    absl::StatusOr<std::shared_ptr<ServedDeployment>> served =
        Serve(std::move(d), nullptr, log->NowUs());
    if (!served.ok()) {
      std::fprintf(stderr, "deployments: %s skipped: %s\n", Quote(name).c_str(),
                   std::string(served.status().message()).c_str());
      continue;
    }
    for (const ModelRef& ref : (*served)->models) {
      if (ref.version == 0) continue;
      // One version at a time, so one that no longer loads leaves the rest.
      std::set<ModelStore::VersionId> with = pinned;
      with.emplace(ref.name, ref.version);
      const absl::Status s = models->SetPinned(with);
      if (s.ok()) {
        pinned = std::move(with);
      } else {
        std::fprintf(stderr, "deployments: %s: %s\n", Quote(name).c_str(),
                     std::string(s.message()).c_str());
      }
    }
    store->deployments_[name] = *std::move(served);
  }
  RETURN_IF_ERROR(models->SetPinned(pinned));
  for (auto& [name, served] : store->deployments_) {
    // A version that no longer loads leaves its pipeline's calls NOT_FOUND.
    auto resolved = std::make_shared<ServedDeployment>(*served);
    RETURN_IF_ERROR(store->Resolve(resolved.get(), /*missing_ok=*/true));
    served = std::move(resolved);
  }
  return store;
}

int64_t DeploymentStore::NowMs() const { return log_->NowUs() / 1000; }

absl::Status DeploymentStore::PinFor(const ServedDeployment* next, const std::string& removed) {
  std::set<ModelStore::VersionId> pinned;
  if (next != nullptr) {
    for (const ModelRef& ref : next->models) {
      if (ref.version == 0) {
        RETURN_IF_ERROR(models_->Get(ref.name).status());  // NOT_FOUND: no such model
      } else {
        pinned.emplace(ref.name, ref.version);
      }
    }
  }
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, served] : deployments_) {
      if (name == removed || (next != nullptr && name == next->config.name())) continue;
      for (const ModelRef& ref : served->models) {
        if (ref.version != 0) pinned.emplace(ref.name, ref.version);
      }
    }
  }
  if (pinned.size() > kMaxPinnedVersions) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "deployments would pin ", pinned.size(), " model versions; at most ", kMaxPinnedVersions));
  }
  return models_->SetPinned(pinned);
}

absl::Status DeploymentStore::Commit(DeploymentChange::Kind kind,
                                     std::shared_ptr<const ServedDeployment> served) {
  DeploymentChange change;
  change.set_kind(kind);
  *change.mutable_deployment() = served->config;
  change.set_unix_ms(NowMs());
  absl::Status written = log_->WriteDeploymentChange(change);
  if (!written.ok()) {
    // Nothing changed: pin what the unchanged deployments name again.
    PinFor(nullptr, "").IgnoreError();
    return written;
  }
  absl::MutexLock lock(&mu_);
  if (kind == DeploymentChange::DELETED) {
    deployments_.erase(served->config.name());
  } else {
    deployments_[served->config.name()] = std::move(served);
  }
  return absl::OkStatus();
}

absl::StatusOr<Deployment> DeploymentStore::Create(Deployment deployment) {
  absl::MutexLock change(&change_mu_);
  const int64_t now = NowMs();
  deployment.set_revision(1);
  deployment.set_created_unix_ms(now);
  deployment.set_updated_unix_ms(now);
  deployment.clear_rollout_status();
  RETURN_IF_ERROR(ValidateDeployment(deployment));  // the weights as sent
  StartRollout(&deployment, now);
  ASSIGN_OR_RETURN(std::shared_ptr<ServedDeployment> served,
                   Serve(std::move(deployment), nullptr, now * 1000));
  {
    absl::MutexLock lock(&mu_);
    if (deployments_.count(served->config.name())) {
      return absl::AlreadyExistsError(
          absl::StrCat("deployment ", Quote(served->config.name()), " exists"));
    }
    if (deployments_.size() >= kMaxDeployments) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the server already has ", kMaxDeployments, " deployments"));
    }
  }
  return Apply(DeploymentChange::CREATED, std::move(served));
}

absl::StatusOr<std::shared_ptr<const ServedDeployment>> DeploymentStore::CurrentAt(
    const std::string& name, const char* field, int64_t expected_revision) const {
  RETURN_IF_ERROR(ValidateName(name, field));
  ASSIGN_OR_RETURN(std::shared_ptr<const ServedDeployment> current, Get(name));
  if (expected_revision > 0 && expected_revision != current->config.revision()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "deployment ", Quote(name), " is at revision ", current->config.revision(),
        ", not the expected ", expected_revision));
  }
  return current;
}

absl::StatusOr<Deployment> DeploymentStore::Apply(DeploymentChange::Kind kind,
                                                 std::shared_ptr<ServedDeployment> served) {
  RETURN_IF_ERROR(PinFor(served.get(), ""));
  RETURN_IF_ERROR(Resolve(served.get(), /*missing_ok=*/false));
  Deployment stored = served->config;
  RETURN_IF_ERROR(Commit(kind, std::move(served)));
  return stored;
}

namespace {

// True when `next` carries the plan of `current` and the same baseline and
// canary pipelines: an update of other fields, not a new rollout.
bool SameRollout(const Deployment& current, const Deployment& next) {
  if (!current.has_rollout() || !next.has_rollout() ||
      current.rollout().SerializeAsString() != next.rollout().SerializeAsString()) {
    return false;
  }
  auto pipeline_of = [](const Deployment& d, const std::string& variant) {
    for (const DeploymentVariant& v : d.variants()) {
      if (v.name() == variant) return v.pipeline().SerializeAsString();
    }
    return std::string();
  };
  for (const std::string& variant : {current.rollout().baseline(), current.rollout().canary()}) {
    if (pipeline_of(current, variant) != pipeline_of(next, variant)) return false;
  }
  return true;
}

// Lets `next` keep the interleaving counts of `current` when it interleaves
// the same two variant pipelines.
void KeepInterleavingCounters(const ServedDeployment& current, ServedDeployment* next) {
  if (current.interleaving == nullptr || next->interleaving == nullptr) return;
  for (int i = 0; i < 2; ++i) {
    const DeploymentVariant& a = current.config.variants(i);
    const DeploymentVariant& b = next->config.variants(i);
    if (a.name() != b.name() || a.pipeline().SerializeAsString() != b.pipeline().SerializeAsString()) {
      return;
    }
  }
  next->interleaving = current.interleaving;
}

}  // namespace

absl::StatusOr<Deployment> DeploymentStore::Update(Deployment deployment,
                                                  int64_t expected_revision) {
  absl::MutexLock change(&change_mu_);
  ASSIGN_OR_RETURN(std::shared_ptr<const ServedDeployment> current,
                   CurrentAt(deployment.name(), "deployment.name", expected_revision));
  const int64_t now = NowMs();
  deployment.set_revision(current->config.revision() + 1);
  deployment.set_created_unix_ms(current->config.created_unix_ms());
  deployment.set_updated_unix_ms(now);
  // The status as read back (phase and step) marks a read-modify-write.
  const bool keep = SameRollout(current->config, deployment) &&
                    deployment.rollout_status().phase() ==
                        current->config.rollout_status().phase() &&
                    deployment.rollout_status().step() == current->config.rollout_status().step();
  deployment.clear_rollout_status();
  RETURN_IF_ERROR(ValidateDeployment(deployment));  // the weights as sent
  std::shared_ptr<RolloutCounters> counters;
  if (keep) {
    // A read-modify-write of other fields: the rollout goes on where it is
    // (a finished one stays finished).
    *deployment.mutable_rollout_status() = current->config.rollout_status();
    deployment.clear_rollback_weights();
    ApplyRolloutWeights(&deployment);
    counters = current->rollout;
  } else {
    StartRollout(&deployment, now);
  }
  ASSIGN_OR_RETURN(std::shared_ptr<ServedDeployment> served,
                   Serve(std::move(deployment), std::move(counters), now * 1000));
  KeepInterleavingCounters(*current, served.get());
  return Apply(DeploymentChange::UPDATED, std::move(served));
}

absl::StatusOr<Deployment> DeploymentStore::Next(const ServedDeployment& current,
                                                Deployment next, DeploymentChange::Kind kind,
                                                std::shared_ptr<RolloutCounters> counters) {
  const int64_t now = NowMs();
  next.set_revision(current.config.revision() + 1);
  next.set_updated_unix_ms(now);
  ASSIGN_OR_RETURN(std::shared_ptr<ServedDeployment> served,
                   Serve(std::move(next), std::move(counters), now * 1000));
  KeepInterleavingCounters(current, served.get());
  return Apply(kind, std::move(served));
}

absl::StatusOr<Deployment> DeploymentStore::Switch(const std::string& name,
                                                  const std::string& variant,
                                                  int64_t expected_revision) {
  absl::MutexLock change(&change_mu_);
  ASSIGN_OR_RETURN(std::shared_ptr<const ServedDeployment> current,
                   CurrentAt(name, "name", expected_revision));
  RETURN_IF_ERROR(ValidateName(variant, "variant"));
  if (current->rollout != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "deployment ", Quote(name), " has a rollout in progress: RollbackDeployment stops it, "
        "UpdateDeployment without a plan replaces it"));
  }
  if (current->config.mode() == INTERLEAVED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "deployment ", Quote(name), " is INTERLEAVED: UpdateDeployment to mode SPLIT first"));
  }
  Deployment next = current->config;
  int target = -1;
  double total = 0;
  next.clear_rollback_weights();
  for (int i = 0; i < next.variants_size(); ++i) {
    const DeploymentVariant& v = next.variants(i);
    (*next.mutable_rollback_weights())[v.name()] = v.traffic_weight();
    total += v.traffic_weight();
    if (v.name() == variant) target = i;
  }
  if (target < 0) {
    return absl::InvalidArgumentError(absl::StrCat("variant ", Quote(variant),
                                                   " is not a variant of deployment ",
                                                   Quote(name)));
  }
  bool already = true;  // a retried switch changes nothing (and keeps what to restore)
  for (int i = 0; i < next.variants_size(); ++i) {
    already &= (i == target) == (next.variants(i).traffic_weight() > 0);
  }
  if (already) return current->config;
  for (int i = 0; i < next.variants_size(); ++i) {
    next.mutable_variants(i)->set_traffic_weight(i == target ? std::min(total, kMaxTrafficWeight)
                                                             : 0);
  }
  next.clear_rollout();
  next.clear_rollout_status();
  return Next(*current, std::move(next), DeploymentChange::SWITCHED, nullptr);
}

absl::StatusOr<Deployment> DeploymentStore::Rollback(const std::string& name,
                                                    int64_t expected_revision) {
  absl::MutexLock change(&change_mu_);
  ASSIGN_OR_RETURN(std::shared_ptr<const ServedDeployment> current,
                   CurrentAt(name, "name", expected_revision));
  if (current->rollout != nullptr) {
    RolloutDecision decision = DecideRollout(current->config, *current->rollout, NowMs());
    decision.action = RolloutDecision::kRollback;
    decision.reason = absl::StrCat("RollbackDeployment called at step ",
                                   current->config.rollout_status().step());
    return MoveRollout(*current, std::move(decision));
  }
  if (current->config.rollback_weights().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "deployment ", Quote(name), " has no rollout in progress and no switch to undo"));
  }
  Deployment next = current->config;
  for (int i = 0; i < next.variants_size(); ++i) {
    auto it = next.rollback_weights().find(next.variants(i).name());
    if (it != next.rollback_weights().end()) {
      next.mutable_variants(i)->set_traffic_weight(it->second);
    }
  }
  next.clear_rollback_weights();
  return Next(*current, std::move(next), DeploymentChange::ROLLED_BACK, nullptr);
}

absl::StatusOr<Deployment> DeploymentStore::MoveRollout(const ServedDeployment& current,
                                                       RolloutDecision decision) {
  Deployment next = current.config;
  RolloutStatus* status = next.mutable_rollout_status();
  status->set_reason(decision.reason);
  *status->mutable_evidence() = std::move(decision.evidence);
  DeploymentChange::Kind kind = DeploymentChange::ROLLOUT_ADVANCED;
  std::shared_ptr<RolloutCounters> counters;  // the rollout ends unless it advances
  switch (decision.action) {
    case RolloutDecision::kAdvance:
      status->set_step(status->step() + 1);
      status->set_step_started_unix_ms(NowMs());
      counters = current.rollout;
      break;
    case RolloutDecision::kPromote:
      status->set_phase(RolloutStatus::PROMOTED);
      kind = DeploymentChange::PROMOTED;
      break;
    case RolloutDecision::kRollback:
      status->set_phase(RolloutStatus::ROLLED_BACK);
      kind = DeploymentChange::ROLLED_BACK;
      break;
    case RolloutDecision::kHold:
      return current.config;
  }
  ApplyRolloutWeights(&next);
  ASSIGN_OR_RETURN(Deployment stored, Next(current, std::move(next), kind, counters));
  if (counters != nullptr) counters->StartStep();
  return stored;
}

void DeploymentStore::CheckRollouts() {
  std::vector<std::shared_ptr<const ServedDeployment>> running;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, served] : deployments_) {
      if (served->rollout != nullptr) running.push_back(served);
    }
  }
  for (const std::shared_ptr<const ServedDeployment>& served : running) {
    RolloutDecision decision = DecideRollout(served->config, *served->rollout, NowMs());
    if (decision.action == RolloutDecision::kHold) continue;
    absl::MutexLock change(&change_mu_);
    absl::StatusOr<std::shared_ptr<const ServedDeployment>> now = Get(served->config.name());
    if (!now.ok() || *now != served) continue;  // changed meanwhile: decide again next time
    absl::StatusOr<Deployment> moved = MoveRollout(*served, std::move(decision));
    if (!moved.ok()) {
      std::fprintf(stderr, "deployments: rollout of %s: %s\n",
                   Quote(served->config.name()).c_str(),
                   std::string(moved.status().message()).c_str());
    }
  }
}

void DeploymentStore::StartRolloutChecks(absl::Duration every) {
  if (checker_.joinable()) return;  // one checker
  checker_ = std::thread([this, every] {
    absl::MutexLock lock(&checker_mu_);
    while (!checker_mu_.AwaitWithTimeout(absl::Condition(&stopping_), every)) {
      checker_mu_.Unlock();
      CheckRollouts();
      checker_mu_.Lock();
    }
  });
}

void DeploymentStore::StopRolloutChecks() {
  {
    absl::MutexLock lock(&checker_mu_);
    stopping_ = true;
  }
  if (checker_.joinable()) checker_.join();
}

DeploymentStore::~DeploymentStore() { StopRolloutChecks(); }

absl::StatusOr<Deployment> DeploymentStore::Delete(const std::string& name,
                                                  int64_t expected_revision) {
  absl::MutexLock change(&change_mu_);
  ASSIGN_OR_RETURN(std::shared_ptr<const ServedDeployment> current,
                   CurrentAt(name, "name", expected_revision));
  RETURN_IF_ERROR(PinFor(nullptr, name));
  RETURN_IF_ERROR(Commit(DeploymentChange::DELETED, current));
  return current->config;
}

absl::StatusOr<std::shared_ptr<const ServedDeployment>> DeploymentStore::Get(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = deployments_.find(name);
  if (it == deployments_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown deployment ", Quote(name)));
  }
  return it->second;
}

namespace {

// The config of `served`, with a rollout in progress's live evidence.
Deployment Described(const ServedDeployment& served, int64_t now_ms) {
  Deployment d = served.config;
  if (served.interleaving != nullptr) {
    InterleavingStatus* status = d.mutable_interleaving();
    *status = served.interleaving->Status();
    status->set_variant_a(d.variants(0).name());
    status->set_variant_b(d.variants(1).name());
    if (status->delta_low() > 0) status->set_preferred(status->variant_a());
    if (status->delta_high() < 0) status->set_preferred(status->variant_b());
  }
  if (served.rollout != nullptr) {
    *d.mutable_rollout_status()->mutable_evidence() =
        DecideRollout(served.config, *served.rollout, now_ms).evidence;
  }
  return d;
}

}  // namespace

absl::StatusOr<Deployment> DeploymentStore::Describe(const std::string& name) const {
  ASSIGN_OR_RETURN(std::shared_ptr<const ServedDeployment> served, Get(name));
  return Described(*served, NowMs());
}

std::vector<Deployment> DeploymentStore::List() const {
  std::vector<std::shared_ptr<const ServedDeployment>> all;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, served] : deployments_) all.push_back(served);
  }
  std::vector<Deployment> out;
  const int64_t now = NowMs();
  for (const auto& served : all) out.push_back(Described(*served, now));
  return out;
}

absl::StatusOr<std::vector<DeploymentChange>> DeploymentStore::Changes(
    const std::string& name) const {
  RETURN_IF_ERROR(ValidateName(name, "name"));
  ASSIGN_OR_RETURN(std::vector<DeploymentChange> changes, log_->ListDeploymentChanges(name));
  if (changes.empty()) {
    return absl::NotFoundError(absl::StrCat("no change of deployment ", Quote(name)));
  }
  return changes;
}

namespace {

// The aggregate of a record's non-late rewards before its last one.
double AggregateBeforeLast(const RewardRecord& record, RewardAggregation aggregation) {
  double total = 0;
  bool any = false;
  for (int i = 0; i + 1 < record.rewards_size(); ++i) {
    const RewardEvent& r = record.rewards(i);
    if (r.late()) continue;
    if (aggregation == FIRST) {
      if (!any) total = r.value();
    } else if (aggregation == LAST) {
      total = r.value();
    } else {
      total += r.value();
    }
    any = true;
  }
  return any ? total : 0;
}

// The outcome of an interleaved slate from the clicks (non-late rewards of
// an item, value > 0) among its first `rewards` rewards.
bandits::ImpressionOutcome OutcomeOf(const DecisionEvent& decision, const RewardRecord& record,
                                     int rewards) {
  std::vector<bandits::Team> teams;
  for (int32_t t : decision.interleaving_teams()) {
    teams.push_back(t == 0 ? bandits::Team::kA : bandits::Team::kB);
  }
  std::vector<int32_t> clicked;
  for (int i = 0; i < rewards; ++i) {
    const RewardEvent& r = record.rewards(i);
    if (r.late() || r.position() < 1 || !(r.value() > 0)) continue;
    if (r.position() <= static_cast<int32_t>(teams.size())) clicked.push_back(r.position() - 1);
  }
  return bandits::CreditClicks(teams, clicked).value_or(bandits::ImpressionOutcome::kTie);
}

// Counts a click of an interleaved slate served since `counters` began.
void CountInterleavedClick(InterleavingCounters& counters, const bandits::RewardOutcome& outcome) {
  const DecisionEvent& decision = outcome.decision;
  if (decision.interleaving_teams().empty() || decision.timestamp_us() < counters.since_us()) {
    return;
  }
  const int n = outcome.record.rewards_size();
  counters.Change(OutcomeOf(decision, outcome.record, n - 1),
                  OutcomeOf(decision, outcome.record, n));
}

// Counts a joined slate reward for the rollout in progress of `d`, when the
// slate was served by its baseline or canary since its counters began.
void CountReward(const ServedDeployment& d, const bandits::RewardOutcome& outcome) {
  if (outcome.late) return;
  if (d.interleaving != nullptr) CountInterleavedClick(*d.interleaving, outcome);
  if (d.rollout == nullptr) return;
  const std::string& variant = outcome.decision.variant();
  int role = -1;
  if (variant == d.config.rollout().baseline()) role = RolloutCounters::kBaseline;
  if (variant == d.config.rollout().canary()) role = RolloutCounters::kCanary;
  if (role < 0 || outcome.decision.timestamp_us() < d.rollout->since_us()) return;
  bool first = true;
  for (int i = 0; i + 1 < outcome.record.rewards_size(); ++i) {
    first &= outcome.record.rewards(i).late();
  }
  d.rollout->RecordReward(role, AggregateBeforeLast(outcome.record, d.config.reward_aggregation()),
                          outcome.record.aggregated(), first, outcome.decision.timestamp_us());
}

}  // namespace

absl::StatusOr<RewardSlateResponse> DeploymentStore::RewardSlate(
    const RewardSlateRequest& request) {
  RETURN_IF_ERROR(ValidateName(request.deployment(), "deployment"));
  RETURN_IF_ERROR(CheckId(request.event_id(), "event_id"));
  if (!request.item().empty()) RETURN_IF_ERROR(CheckId(request.item(), "item"));
  ASSIGN_OR_RETURN(std::shared_ptr<const ServedDeployment> d, Get(request.deployment()));
  RewardSlateResponse response;
  if (!request.item().empty()) {
    ASSIGN_OR_RETURN(DecisionEvent decision, log_->GetDecision(request.event_id()));
    if (decision.experiment() != request.deployment()) {
      return absl::InvalidArgumentError(absl::StrCat("event_id ", Quote(request.event_id()),
                                                     " was not served by deployment ",
                                                     Quote(request.deployment())));
    }
    for (int j = 0; j < decision.slate_indices_size(); ++j) {
      const int32_t index = decision.slate_indices(j);
      if (index >= 0 && index < decision.actions_size() &&
          decision.actions(index).id() == request.item()) {
        response.set_position(j + 1);
        break;
      }
    }
    if (response.position() == 0) {
      return absl::InvalidArgumentError(absl::StrCat("item ", Quote(request.item()),
                                                     " is not in the slate of event_id ",
                                                     Quote(request.event_id())));
    }
  }
  ASSIGN_OR_RETURN(bandits::RewardOutcome outcome,
                   log_->AddReward(RewardConfig(d->config), request.event_id(), request.value(),
                                   /*next_learn_seq=*/nullptr, response.position()));
  CountReward(*d, outcome);
  response.set_late(outcome.late);
  response.set_aggregated_reward(outcome.record.aggregated());
  return response;
}

}  // namespace recbandit::services

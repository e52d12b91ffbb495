// ExperimentManager: config validation, variant assignment, durable Decide,
// Reward joins with in-order learning, snapshots and restart replay.
#include "bandits/experiment.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bandits/assignment.h"
#include "bandits/explore.h"
#include "bandits/log/log_keys.h"
#include "proto/core/names.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"

namespace recbandit::bandits {
namespace {

constexpr int kMaxVariants = 16;
constexpr int kMaxShadows = 8;
constexpr size_t kMaxExperiments = 1000;
constexpr int kMaxActions = 1024;
constexpr size_t kMaxUnitIdBytes = 256;
constexpr size_t kMaxDescriptionBytes = 4096;
constexpr int32_t kDefaultSnapshotEvery = 100;
constexpr int32_t kMaxSnapshotEvery = 1000000;

std::string ShadowKey(const std::string& spec) { return "shadow:" + spec; }

PolicyOptions MakePolicyOptions(const ExperimentConfig& config, const FeatureSpace& space,
                                int32_t thompson_pmf_draws) {
  PolicyOptions o;
  o.context_dim = ContextLength(space);
  o.exploration_floor = config.exploration_floor();
  o.thompson_pmf_draws = thompson_pmf_draws;
  return o;
}

}  // namespace

// ------------------------------------------------------------------ open

absl::StatusOr<std::unique_ptr<ExperimentManager>> ExperimentManager::Open(
    const std::string& data_dir, ExperimentManagerOptions options) {
  if (options.log.mode != EventLogOptions::Mode::kReadWrite) {
    return absl::InvalidArgumentError("ExperimentManager needs a read-write event log");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<EventLog> log, EventLog::Open(data_dir, options.log));
  EventLog* borrowed = log.get();
  return Restored(std::unique_ptr<ExperimentManager>(
      new ExperimentManager(std::move(options), borrowed, std::move(log))));
}

absl::StatusOr<std::unique_ptr<ExperimentManager>> ExperimentManager::Open(
    EventLog* log, ExperimentManagerOptions options) {
  if (log->mode() != EventLogOptions::Mode::kReadWrite) {
    return absl::InvalidArgumentError("ExperimentManager needs a read-write event log");
  }
  return Restored(std::unique_ptr<ExperimentManager>(
      new ExperimentManager(std::move(options), log, nullptr)));
}

absl::StatusOr<std::unique_ptr<ExperimentManager>> ExperimentManager::Restored(
    std::unique_ptr<ExperimentManager> manager) {
  // Corrupt records are reported on stderr and skipped, never fatal: a corrupt
  // config leaves that experiment out (NOT_FOUND), a corrupt snapshot falls
  // back to a full replay of the journal, a corrupt journal entry is skipped.
  ScanStats config_stats;
  ASSIGN_OR_RETURN(std::vector<ExperimentConfig> configs,
                   manager->log_->ListExperiments(/*skip_corrupt=*/true, &config_stats));
  if (config_stats.skipped_corrupt > 0) {
    std::fprintf(stderr, "experiments: %lld corrupt experiment configs skipped\n",
                 static_cast<long long>(config_stats.skipped_corrupt));
  }
  for (const ExperimentConfig& config : configs) {
    absl::StatusOr<std::shared_ptr<Experiment>> built = manager->Build(config);
    if (!built.ok()) {
      std::fprintf(stderr, "experiments: '%s' skipped: %s\n", config.name().c_str(),
                   built.status().ToString().c_str());
      continue;
    }
    std::shared_ptr<Experiment> e = *std::move(built);
    RETURN_IF_ERROR(manager->Restore(*e));
    absl::MutexLock lock(&manager->mu_);
    manager->experiments_[config.name()] = std::move(e);
  }
  return manager;
}

ExperimentManager::ExperimentManager(ExperimentManagerOptions options, EventLog* log,
                                     std::unique_ptr<EventLog> owned_log)
    : options_(std::move(options)), owned_log_(std::move(owned_log)), log_(log) {}

ExperimentManager::~ExperimentManager() {
  absl::Status s = Shutdown();
  if (!s.ok()) std::fprintf(stderr, "experiments: final snapshot failed: %s\n", s.ToString().c_str());
}

absl::StatusOr<std::shared_ptr<ExperimentManager::Experiment>> ExperimentManager::Build(
    const ExperimentConfig& config) const {
  auto e = std::make_shared<Experiment>();
  e->config = config;
  e->space = FeatureSpaceFromConfig(config);
  e->salt = StableHash64(config.name());
  const PolicyOptions policy_options =
      MakePolicyOptions(config, e->space, options_.thompson_pmf_draws);
  for (const Variant& v : config.variants()) {
    Slot slot;
    slot.key = v.name();
    ASSIGN_OR_RETURN(slot.policy, CreatePolicy(v.policy_spec(), policy_options));
    e->variants.push_back(std::move(slot));
    e->weights.push_back(v.traffic_weight());
  }
  for (const std::string& spec : config.shadow_policy_specs()) {
    Slot slot;
    slot.key = ShadowKey(spec);
    ASSIGN_OR_RETURN(slot.policy, CreatePolicy(spec, policy_options));
    e->shadows.push_back(std::move(slot));
  }
  return e;
}

absl::Status ExperimentManager::Restore(Experiment& e) {
  const std::string& name = e.config.name();
  int64_t replay_from = -1;
  for (std::vector<Slot>* slots : {&e.variants, &e.shadows}) {
    for (Slot& slot : *slots) {
      absl::StatusOr<std::optional<PolicySnapshot>> snapshot = log_->LatestSnapshot(name, slot.key);
      PolicyState state;
      absl::Status restored = snapshot.status();
      if (restored.ok() && snapshot->has_value() &&
          (*snapshot)->policy_spec() == slot.policy->spec()) {
        if (!state.ParseFromString((*snapshot)->state())) {
          restored = absl::DataLossError("its state does not parse");
        } else {
          restored = slot.policy->Restore(state);
        }
        if (restored.ok()) slot.restored_seq = (*snapshot)->learn_seq();
      }
      if (!restored.ok()) {  // start fresh and replay the whole journal
        std::fprintf(stderr, "experiments: snapshot of %s/%s unusable, replaying: %s\n",
                     name.c_str(), slot.key.c_str(), restored.ToString().c_str());
        ASSIGN_OR_RETURN(slot.policy,
                         CreatePolicy(slot.policy->spec(),
                                      MakePolicyOptions(e.config, e.space,
                                                        options_.thompson_pmf_draws)));
        slot.restored_seq = 0;
      }
      replay_from = replay_from < 0 ? slot.restored_seq : std::min(replay_from, slot.restored_seq);
    }
  }
  int64_t replayed = 0, skipped = 0;
  ScanStats journal_stats;
  RETURN_IF_ERROR(log_->ScanLearned(
      name, std::max<int64_t>(replay_from, 0),
      [&](int64_t seq, const LearnedReward& learned) -> absl::Status {
        absl::StatusOr<DecisionEvent> decision = log_->GetDecision(learned.event_id());
        if (!decision.ok()) {  // never fatal: the rest of the journal still counts
          ++skipped;
          std::fprintf(stderr, "experiments: replay of %s seq %lld skipped: %s\n", name.c_str(),
                       static_cast<long long>(seq), decision.status().ToString().c_str());
          return absl::OkStatus();
        }
        ++replayed;
        absl::Status s = Learn(e, *decision, learned.value(), seq);
        if (!s.ok()) ++skipped;
        return absl::OkStatus();
      },
      /*skip_corrupt=*/true, &journal_stats));
  skipped += journal_stats.skipped_corrupt;
  if (skipped > 0) {
    std::fprintf(stderr, "experiments: %s: %lld journal entries replayed, %lld skipped\n",
                 name.c_str(), static_cast<long long>(replayed), static_cast<long long>(skipped));
  }
  ASSIGN_OR_RETURN(int64_t last, log_->LastLearnSeq(name));
  absl::MutexLock lock(&e.learn_mu);
  e.next_seq = last;
  e.applied_seq = last;
  return absl::OkStatus();
}

// ------------------------------------------------------------------ experiments

absl::StatusOr<ExperimentConfig> ExperimentManager::CreateExperiment(ExperimentConfig config) {
  RETURN_IF_ERROR(ValidateName(config.name(), "name"));
  if (config.variants_size() < 1 || config.variants_size() > kMaxVariants) {
    return absl::InvalidArgumentError(absl::StrCat("variants must have 1..", kMaxVariants,
                                                   " entries, got ", config.variants_size()));
  }
  if (config.shadow_policy_specs_size() > kMaxShadows) {
    return absl::InvalidArgumentError(absl::StrCat("shadow_policy_specs must have 0..",
                                                   kMaxShadows, " entries, got ",
                                                   config.shadow_policy_specs_size()));
  }
  if (!RewardAggregation_IsValid(config.reward_aggregation())) {
    return absl::InvalidArgumentError(
        absl::StrCat("reward_aggregation ", config.reward_aggregation(), " is not SUM, FIRST or LAST"));
  }
  if (config.reward_aggregation() == REWARD_AGGREGATION_UNSPECIFIED) {
    config.set_reward_aggregation(SUM);
  }
  if (!std::isfinite(config.default_reward())) {
    return absl::InvalidArgumentError("default_reward must be finite");
  }
  if (config.reward_window_ms() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("reward_window_ms must be >= 0, got ", config.reward_window_ms()));
  }
  if (config.context_dim() < 0 || config.context_dim() > kMaxDenseDim) {
    return absl::InvalidArgumentError(absl::StrCat("context_dim must be in [0, ", kMaxDenseDim,
                                                   "], got ", config.context_dim()));
  }
  if (!(config.exploration_floor() >= 0 && config.exploration_floor() <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("exploration_floor must be in [0, 1], got ", config.exploration_floor()));
  }
  if (config.description().size() > kMaxDescriptionBytes) {
    return absl::InvalidArgumentError(absl::StrCat("description has ", config.description().size(),
                                                   " bytes; at most ", kMaxDescriptionBytes));
  }
  if (config.snapshot_every_rewards() == 0) config.set_snapshot_every_rewards(kDefaultSnapshotEvery);
  if (config.snapshot_every_rewards() < 1 || config.snapshot_every_rewards() > kMaxSnapshotEvery) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot_every_rewards must be in [1, ",
                                                   kMaxSnapshotEvery, "], got ",
                                                   config.snapshot_every_rewards()));
  }
  RETURN_IF_ERROR(ValidateFeatureSpace(FeatureSpaceFromConfig(config)));
  absl::flat_hash_set<std::string> names;
  for (int i = 0; i < config.variants_size(); ++i) {
    Variant* v = config.mutable_variants(i);
    RETURN_IF_ERROR(ValidateName(v->name(), absl::StrCat("variants[", i, "].name")));
    if (!names.insert(v->name()).second) {
      return absl::InvalidArgumentError(absl::StrCat("variants[", i, "].name '", v->name(),
                                                     "' is repeated"));
    }
    if (!(std::isfinite(v->traffic_weight()) && v->traffic_weight() > 0)) {
      return absl::InvalidArgumentError(absl::StrCat("variants[", i,
                                                     "].traffic_weight must be > 0 and finite, got ",
                                                     v->traffic_weight()));
    }
    absl::StatusOr<std::string> canonical = CanonicalPolicySpec(v->policy_spec());
    if (!canonical.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("variants[", i, "].policy_spec: ",
                                                     canonical.status().message()));
    }
    v->set_policy_spec(*canonical);
  }
  absl::flat_hash_set<std::string> shadows;
  for (int i = 0; i < config.shadow_policy_specs_size(); ++i) {
    absl::StatusOr<std::string> canonical = CanonicalPolicySpec(config.shadow_policy_specs(i));
    if (!canonical.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("shadow_policy_specs[", i, "]: ",
                                                     canonical.status().message()));
    }
    if (!shadows.insert(*canonical).second) {
      return absl::InvalidArgumentError(absl::StrCat("shadow_policy_specs[", i, "] '", *canonical,
                                                     "' is repeated"));
    }
    *config.mutable_shadow_policy_specs(i) = *canonical;
  }
  config.set_created_unix_ms(log_->NowUs() / 1000);
  // Building the policies checks the specs against the feature space (e.g. a
  // linear policy's dimension bound).
  absl::StatusOr<std::shared_ptr<Experiment>> e = Build(config);
  if (!e.ok()) return absl::InvalidArgumentError(e.status().message());
  absl::MutexLock lock(&mu_);
  if (shut_down_) return absl::FailedPreconditionError("experiments are shut down");
  if (experiments_.contains(config.name())) {
    return absl::AlreadyExistsError(absl::StrCat("experiment ", Quote(config.name()), " exists"));
  }
  if (experiments_.size() >= kMaxExperiments) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the server already has ", kMaxExperiments, " experiments"));
  }
  RETURN_IF_ERROR(log_->CreateExperiment(config));
  experiments_[config.name()] = *std::move(e);
  return config;
}

absl::StatusOr<std::shared_ptr<ExperimentManager::Experiment>> ExperimentManager::Find(
    const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = experiments_.find(name);
  if (it == experiments_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown experiment ", Quote(name)));
  }
  return it->second;
}

absl::StatusOr<ExperimentConfig> ExperimentManager::GetExperiment(const std::string& name) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Experiment> e, Find(name));
  return e->config;
}

std::vector<ExperimentConfig> ExperimentManager::ListExperiments() const {
  std::vector<ExperimentConfig> out;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, e] : experiments_) out.push_back(e->config);
  }
  std::sort(out.begin(), out.end(), [](const ExperimentConfig& a, const ExperimentConfig& b) {
    return a.name() < b.name();
  });
  return out;
}

// ------------------------------------------------------------------ decide

absl::StatusOr<SlateDecision> ExperimentManager::DecideSlate(const SlateRequest& request) {
  const int32_t n = request.decide.actions_size();
  if (request.slate_size < 1 || (n > 0 && request.slate_size > n)) {
    return absl::InvalidArgumentError(absl::StrCat("slate size must be in [1, ", n,
                                                   "] (the candidates), got ",
                                                   request.slate_size));
  }
  if (!(request.exploration_weight >= 0 && request.exploration_weight <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "exploration_weight must be in [0, 1], got ", request.exploration_weight));
  }
  SlateDecision out;
  ASSIGN_OR_RETURN(out.decide, DecideImpl(request.decide, &request, &out));
  return out;
}

absl::StatusOr<DecideResponse> ExperimentManager::Decide(const DecideRequest& request) {
  return DecideImpl(request, nullptr, nullptr);
}

absl::StatusOr<DecideResponse> ExperimentManager::DecideImpl(const DecideRequest& request,
                                                             const SlateRequest* slate_request,
                                                             SlateDecision* slate) {
  DecisionEvent event;
  ASSIGN_OR_RETURN(DecideResponse response, Prepare(request, slate_request, slate, &event));
  // Durable before the reply: no decision is returned unlogged.
  RETURN_IF_ERROR(LogError(log_->AppendDecision(event)));
  return response;
}

absl::Status ExperimentManager::LogError(absl::Status logged) {
  if (logged.ok() || absl::IsAlreadyExists(logged) || absl::IsInvalidArgument(logged)) {
    return logged;
  }
  return absl::UnavailableError(absl::StrCat("decision not logged: ", logged.message()));
}

void ExperimentManager::DecideAsync(const DecideRequest& request,
                                    std::function<void(absl::StatusOr<DecideResponse>)> done) {
  DecisionEvent event;
  absl::StatusOr<DecideResponse> response = Prepare(request, nullptr, nullptr, &event);
  if (!response.ok()) {
    done(response.status());
    return;
  }
  log_->AppendDecisionAsync(
      std::move(event),
      [response = *std::move(response), done = std::move(done)](absl::Status logged) mutable {
        absl::Status s = LogError(std::move(logged));
        if (s.ok()) {
          done(std::move(response));
        } else {
          done(s);
        }
      });
}

absl::StatusOr<DecideResponse> ExperimentManager::Prepare(const DecideRequest& request,
                                                          const SlateRequest* slate_request,
                                                          SlateDecision* slate,
                                                          DecisionEvent* event_out) {
  ASSIGN_OR_RETURN(std::shared_ptr<Experiment> e, Find(request.experiment()));
  if (request.actions_size() < 1 || request.actions_size() > kMaxActions) {
    return absl::InvalidArgumentError(absl::StrCat("actions must have 1..", kMaxActions,
                                                   " entries, got ", request.actions_size()));
  }
  const int64_t now = log_->NowUs();
  std::string event_id = request.event_id();
  if (event_id.empty()) {
    event_id = NewEventId(now);
  } else {
    RETURN_IF_ERROR(ValidateEventId(event_id));
  }
  if (request.unit_id().size() > kMaxUnitIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("unit_id has ", request.unit_id().size(),
                                                   " bytes; at most ", kMaxUnitIdBytes));
  }
  const std::string unit_id = request.unit_id().empty() ? event_id : request.unit_id();

  // Stored features: the request's context and actions plus the stored
  // values as they are now, built once here; the policy sees and the log
  // keeps exactly these.
  const Context* context = &request.context();
  const google::protobuf::RepeatedPtrField<Action>* actions = &request.actions();
  Context stored_context;
  google::protobuf::RepeatedPtrField<Action> stored_actions;
  if (!request.stored_features().empty()) {
    ASSIGN_OR_RETURN(const StoredFeatureSpec spec, ParseStoredFeatures(request.stored_features()));
    if (options_.attributes == nullptr) {
      return absl::FailedPreconditionError(
          "stored_features need a catalog of stored attributes (recbandit serve has one)");
    }
    RETURN_IF_ERROR(CheckStoredFields(spec, *options_.attributes));
    if (e->space.hash_bits == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stored_features are added as sparse features, but experiment ", Quote(e->config.name()),
          " has hash_bits 0: create it with hash_bits > 0"));
    }
    stored_context = request.context();
    stored_actions = request.actions();
    RETURN_IF_ERROR(ApplyStoredFeatures(spec, *options_.attributes, request.unit_id(),
                                        &stored_context, &stored_actions));
    context = &stored_context;
    actions = &stored_actions;
  }
  DecisionInput input;
  RETURN_IF_ERROR(BuildDecisionInput(e->space, *context, *actions, &input));
  const Slot& slot = e->variants[AssignVariant(unit_id, e->salt, e->weights)];
  const uint64_t seed = StableHash64(event_id);
  const int64_t version = slot.policy->version();
  Decision decision;
  RETURN_IF_ERROR(slot.policy->Choose(input, seed, &decision));
  if (slate != nullptr) {
    std::vector<double> first_pmf;
    DrawSlate(decision.pmf, slate_request->slate_size, slate_request->exploration_weight, seed,
              &slate->slate, &slate->propensities, &first_pmf);
    decision.pmf = std::move(first_pmf);
    decision.chosen = slate->slate[0];
  }

  DecisionEvent& event = *event_out;
  event.set_event_id(event_id);
  event.set_experiment(e->config.name());
  event.set_variant(slot.key);
  event.set_timestamp_us(now);
  *event.mutable_context() = *context;
  *event.mutable_actions() = *actions;
  *event.mutable_stored_features() = request.stored_features();
  event.mutable_pmf()->Assign(decision.pmf.begin(), decision.pmf.end());
  event.set_chosen_index(decision.chosen);
  event.set_chosen_action(request.actions(decision.chosen).id());
  event.set_seed(seed);
  event.set_policy_name(slot.policy->family());
  event.set_policy_spec(slot.policy->spec());
  event.set_policy_version(version);
  event.set_unit_id(unit_id);
  if (slate != nullptr) {
    event.mutable_slate_indices()->Assign(slate->slate.begin(), slate->slate.end());
    event.mutable_slate_propensities()->Assign(slate->propensities.begin(),
                                               slate->propensities.end());
    event.set_exploration_weight(slate_request->exploration_weight);
  }
  Decision shadow_decision;
  for (const Slot& shadow : e->shadows) {
    RETURN_IF_ERROR(shadow.policy->Choose(input, seed, &shadow_decision));
    ShadowDecision* s = event.add_shadows();
    s->set_policy_name(shadow.policy->family());
    s->set_policy_spec(shadow.policy->spec());
    s->mutable_pmf()->Assign(shadow_decision.pmf.begin(), shadow_decision.pmf.end());
    s->set_chosen_index(shadow_decision.chosen);
  }
  DecideResponse response;
  response.set_event_id(event_id);
  response.set_chosen_action(event.chosen_action());
  response.set_chosen_index(decision.chosen);
  response.set_propensity(decision.pmf[decision.chosen]);
  *response.mutable_pmf() = event.pmf();
  response.set_variant(slot.key);
  response.set_policy_spec(slot.policy->spec());
  response.set_policy_version(version);
  return response;
}

// ------------------------------------------------------------------ reward

absl::Status ExperimentManager::Learn(Experiment& e, const DecisionEvent& decision, double value,
                                      int64_t seq) {
  DecisionInput input;
  RETURN_IF_ERROR(BuildDecisionInput(e.space, decision.context(), decision.actions(), &input));
  absl::Status status;
  for (Slot& slot : e.variants) {
    if (slot.key == decision.variant() && seq > slot.restored_seq) {
      status.Update(slot.policy->Update(input, decision.chosen_index(), value));
    }
  }
  for (Slot& slot : e.shadows) {
    if (seq > slot.restored_seq) {
      status.Update(slot.policy->Update(input, decision.chosen_index(), value));
    }
  }
  return status;
}

absl::Status ExperimentManager::SnapshotLocked(Experiment& e) {
  const int64_t now = log_->NowUs();
  for (std::vector<Slot>* slots : {&e.variants, &e.shadows}) {
    for (Slot& slot : *slots) {
      PolicySnapshot snapshot;
      snapshot.set_experiment(e.config.name());
      snapshot.set_variant(slot.key);
      snapshot.set_policy_spec(slot.policy->spec());
      snapshot.set_version(slot.policy->version());
      snapshot.set_timestamp_us(now);
      snapshot.set_state(slot.policy->Snapshot().SerializeAsString());
      snapshot.set_learn_seq(e.applied_seq);
      RETURN_IF_ERROR(log_->PutSnapshot(snapshot));
    }
  }
  e.since_snapshot = 0;
  return absl::OkStatus();
}

bool ExperimentManager::IsMyTurn(Turn* turn) {
  return turn->experiment->applied_seq == turn->seq - 1;
}

absl::StatusOr<RewardResponse> ExperimentManager::Reward(const RewardRequest& request) {
  ASSIGN_OR_RETURN(std::shared_ptr<Experiment> e, Find(request.experiment()));
  if (request.event_id().empty()) return absl::InvalidArgumentError("event_id is required");
  if (options_.replicated) {
    // Checked here, so a reward the stream would refuse is refused now; the
    // join waits for the stream (the decision may be on another replica).
    RETURN_IF_ERROR(ValidateEventId(request.event_id()));
    RETURN_IF_ERROR(EventLog::CheckRewardValue(request.value()));
    absl::StatusOr<DecisionEvent> decision = log_->GetDecision(request.event_id());
    if (decision.ok() && decision->experiment() != request.experiment()) {
      return absl::InvalidArgumentError(absl::StrCat("event id '", request.event_id(),
                                                     "' belongs to experiment '",
                                                     decision->experiment(), "', not '",
                                                     request.experiment(), "'"));
    }
    StreamRecord record;
    StreamReward* reward = record.mutable_reward();
    reward->set_experiment(request.experiment());
    reward->set_event_id(request.event_id());
    reward->set_value(request.value());
    reward->set_timestamp_us(log_->NowUs());
    RETURN_IF_ERROR(log_->AppendOutbox(std::move(record)).status());
    RewardResponse response;
    response.set_queued(true);
    return response;
  }
  int64_t seq = -1;
  auto allocate = [&] {
    absl::MutexLock lock(&e->learn_mu);
    seq = ++e->next_seq;
    return seq;
  };
  absl::StatusOr<RewardOutcome> outcome =
      log_->AddReward(e->config, request.event_id(), request.value(), allocate);
  RETURN_IF_ERROR(LearnInTurn(*e, seq, outcome));
  if (!outcome.ok()) return outcome.status();
  RewardResponse response;
  response.set_learned(outcome->learned);
  response.set_aggregated(outcome->record.aggregated());
  return response;
}

absl::Status ExperimentManager::LearnInTurn(Experiment& e, int64_t seq,
                                            const absl::StatusOr<RewardOutcome>& outcome) {
  if (seq < 0) return absl::OkStatus();
  // Apply learned rewards in journal order, so a restart's replay sees the
  // same sequence and a snapshot covers exactly the rewards up to its seq.
  absl::MutexLock lock(&e.learn_mu);
  Turn turn{&e, seq};
  e.learn_mu.Await(absl::Condition(&IsMyTurn, &turn));
  absl::Status learned = absl::OkStatus();
  if (outcome.ok()) learned = Learn(e, outcome->decision, outcome->learn_value, seq);
  e.applied_seq = seq;
  if (outcome.ok() && ++e.since_snapshot >= e.config.snapshot_every_rewards()) {
    absl::Status s = SnapshotLocked(e);
    if (!s.ok()) std::fprintf(stderr, "experiments: snapshot failed: %s\n", s.ToString().c_str());
  }
  return learned;
}

absl::Status ExperimentManager::ApplyStreamReward(const StreamReward& reward) {
  ASSIGN_OR_RETURN(std::shared_ptr<Experiment> e, Find(reward.experiment()));
  int64_t seq = -1;
  auto allocate = [&] {
    absl::MutexLock lock(&e->learn_mu);
    seq = ++e->next_seq;
    return seq;
  };
  absl::StatusOr<RewardOutcome> outcome = log_->AddReplicatedReward(e->config, reward, allocate);
  RETURN_IF_ERROR(LearnInTurn(*e, seq, outcome));
  if (absl::IsAlreadyExists(outcome.status())) return absl::OkStatus();  // applied before
  return outcome.status();
}

absl::Status ExperimentManager::ApplyStreamExperiment(const ExperimentConfig& config) {
  absl::StatusOr<std::shared_ptr<Experiment>> e = Build(config);
  if (!e.ok()) return absl::InvalidArgumentError(e.status().message());
  absl::MutexLock lock(&mu_);
  if (shut_down_) return absl::FailedPreconditionError("experiments are shut down");
  if (experiments_.contains(config.name())) return absl::OkStatus();
  RETURN_IF_ERROR(log_->CreateReplicatedExperiment(config));
  experiments_[config.name()] = *std::move(e);
  return absl::OkStatus();
}

// ------------------------------------------------------------------ snapshots

absl::Status ExperimentManager::SnapshotAll() {
  std::vector<std::shared_ptr<Experiment>> all;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, e] : experiments_) all.push_back(e);
  }
  absl::Status status;
  for (auto& e : all) {
    absl::MutexLock lock(&e->learn_mu);
    status.Update(SnapshotLocked(*e));
  }
  return status;
}

absl::Status ExperimentManager::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::OkStatus();
    shut_down_ = true;
  }
  return options_.snapshot_on_shutdown ? SnapshotAll() : absl::OkStatus();
}

absl::StatusOr<PolicyState> ExperimentManager::PolicyStateOf(const std::string& experiment,
                                                             const std::string& variant) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Experiment> e, Find(experiment));
  std::string key = variant;
  if (key.rfind("shadow:", 0) == 0) {  // accept a shadow's spec in any spelling
    absl::StatusOr<std::string> canonical = CanonicalPolicySpec(key.substr(7));
    if (canonical.ok()) key = ShadowKey(*canonical);
  }
  for (const std::vector<Slot>* slots : {&e->variants, &e->shadows}) {
    for (const Slot& slot : *slots) {
      if (slot.key == key) return slot.policy->Snapshot();
    }
  }
  return absl::NotFoundError(absl::StrCat("experiment ", Quote(experiment), " has no variant '",
                                          variant, "'"));
}

}  // namespace recbandit::bandits

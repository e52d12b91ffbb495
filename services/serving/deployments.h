// DeploymentStore: the server's named deployments (proto/deployments.proto):
// their rules, the durable journal of every change (kept in the event log),
// the pinned model versions they keep loaded, immutable snapshots that
// Recommend reads while changes swap them, and slate rewards.
#ifndef RECBANDIT_SERVICES_SERVING_DEPLOYMENTS_H_
#define RECBANDIT_SERVICES_SERVING_DEPLOYMENTS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bandits/interleaving.h"
#include "proto/deployments.pb.h"
#include "services/serving/rollout.h"

namespace recbandit::bandits {
class EventLog;
}  // namespace recbandit::bandits

namespace recbandit::services {

class ModelStore;
class ServingModel;

// A pipeline's model reference, "<name>" or "<name>@<version>".
struct ModelRef {
  std::string name;
  int64_t version = 0;  // 0 = the name's active version
};

// Parses Pipeline.model; INVALID_ARGUMENT naming `field` otherwise.
absl::StatusOr<ModelRef> ParseModelRef(const std::string& model, const std::string& field);

// Returns OK when `deployment` follows the rules of proto/deployments.proto
// (name, 1..16 uniquely named variants, weights in [0, 1e6] with one > 0,
// 0..4 uniquely named shadows sampling [0, 1] of the calls, a model per
// pipeline, description and reward settings in bounds, a valid rollout);
// INVALID_ARGUMENT naming the field and bound otherwise.
absl::Status ValidateDeployment(const Deployment& deployment);

// The outcomes of an INTERLEAVED deployment's slates: impressions served,
// and wins of each team as clicks arrive. Thread-safe.
class InterleavingCounters {
 public:
  // Counts slates served from `since_us` (microseconds since the Unix epoch).
  explicit InterleavingCounters(int64_t since_us) : since_us_(since_us) {}
  int64_t since_us() const { return since_us_; }
  // One interleaved slate served.
  void AddImpression();
  // A slate's outcome changed from `before` to `after` (a click arrived).
  void Change(bandits::ImpressionOutcome before, bandits::ImpressionOutcome after);
  // The status GetDeployment shows (variant names left to the caller).
  InterleavingStatus Status() const;

 private:
  const int64_t since_us_;
  mutable absl::Mutex mu_;
  int64_t impressions_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t wins_a_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t wins_b_ ABSL_GUARDED_BY(mu_) = 0;
};

// One revision of a deployment as Recommend serves it. Immutable.
struct ServedDeployment {
  Deployment config;
  // Per pipeline, the variants in config order and then the shadows: the
  // parsed model reference, and the pinned version's snapshot, held by this
  // revision so a call that read it is served even after an update unpinned
  // the version (null for a pipeline that follows its model's active
  // version). The pipeline of shadow i is at variants_size() + i; after
  // them come the pipelines' rescoring models, pipeline p's at
  // rescore_index[p] (-1 without one).
  std::vector<ModelRef> models;
  std::vector<std::shared_ptr<const ServingModel>> pinned;
  std::vector<int32_t> rescore_index;  // per variant, then per shadow
  std::vector<double> weights;   // per variant
  uint64_t salt = 0;             // StableHash64(name): the assignment's salt
  // While a rollout is IN_PROGRESS: its counters (shared by the revisions of
  // one rollout) and the variant indices of its baseline and canary.
  std::shared_ptr<RolloutCounters> rollout;
  int32_t rollout_baseline = -1, rollout_canary = -1;
  // INTERLEAVED mode: its counters (shared by revisions that keep both
  // variants' pipelines); null otherwise.
  std::shared_ptr<InterleavingCounters> interleaving;

  // Returns the variant index serving `unit`: bandits::AssignVariant over the
  // weights (variants of weight 0 never serve).
  int32_t AssignVariant(const std::string& unit) const;
  // Counts a call variant `v` answered (or failed) for the rollout in
  // progress, if any and if `v` is its baseline or canary, or an
  // interleaved slate served. Fast; thread-safe.
  // `slate_logged`: a slate was served and logged.
  void RecordCall(int32_t v, int64_t latency_us, bool error, bool slate_logged) const;
};

// Thread-safe: Get and List read snapshots while changes (serialised among
// themselves) journal durably and then swap them.
class DeploymentStore {
 public:
  // Loads every stored deployment from `log` and pins the model versions
  // they name in `models` (a version that no longer loads is reported on
  // stderr; its variant's calls fail with NOT_FOUND). Both must outlive the
  // store; `log` must be read-write.
  static absl::StatusOr<std::unique_ptr<DeploymentStore>> Open(bandits::EventLog* log,
                                                               ModelStore* models);

  // Validates, checks the models exist (pinning pinned versions), journals
  // and stores `deployment` at revision 1. Errors: see proto/deployments.proto;
  // RESOURCE_EXHAUSTED beyond 1000 deployments or 32 distinct pinned versions.
  absl::StatusOr<Deployment> Create(Deployment deployment);
  // Replaces the deployment of the same name as one new revision.
  // FAILED_PRECONDITION when expected_revision > 0 differs from the current.
  absl::StatusOr<Deployment> Update(Deployment deployment, int64_t expected_revision);
  // Deletes `name` (its events stay in the log) and returns it as it was.
  absl::StatusOr<Deployment> Delete(const std::string& name, int64_t expected_revision);

  // Blue/green: all traffic to `variant` in one new revision, keeping the
  // weights it replaced in rollback_weights (a repeated switch is a no-op).
  // FAILED_PRECONDITION during a rollout or in INTERLEAVED mode.
  absl::StatusOr<Deployment> Switch(const std::string& name, const std::string& variant,
                                    int64_t expected_revision);
  // Rolls a rollout in progress back, or restores the weights of the last
  // switch; FAILED_PRECONDITION when there is neither.
  absl::StatusOr<Deployment> Rollback(const std::string& name, int64_t expected_revision);

  // Decides every rollout in progress once (DecideRollout) and commits each
  // step, promotion or rollback as a new revision journaled with its
  // evidence. Called by the checker thread; tests call it directly.
  void CheckRollouts();
  // Starts a thread calling CheckRollouts every `every` (once; later calls
  // do nothing) until StopRolloutChecks or destruction.
  void StartRolloutChecks(absl::Duration every);
  // Stops and joins the checker thread (server shutdown); idempotent.
  void StopRolloutChecks();
  ~DeploymentStore();

  // Returns the current revision of `name`. NOT_FOUND for an unknown name.
  absl::StatusOr<std::shared_ptr<const ServedDeployment>> Get(const std::string& name) const;
  // Returns the current revision of `name` as GetDeployment shows it: a
  // rollout in progress with its live evidence.
  absl::StatusOr<Deployment> Describe(const std::string& name) const;
  // Returns every deployment sorted by name, as Describe shows them.
  std::vector<Deployment> List() const;
  // Returns the journal of `name`, oldest first. NOT_FOUND when empty.
  absl::StatusOr<std::vector<DeploymentChange>> Changes(const std::string& name) const;

  // Joins feedback to a slate the deployment served (see RewardSlate in
  // proto/deployments.proto).
  absl::StatusOr<RewardSlateResponse> RewardSlate(const RewardSlateRequest& request);

 private:
  DeploymentStore(bandits::EventLog* log, ModelStore* models) : log_(log), models_(models) {}
  // Builds the snapshot of a deployment (validated here); its pinned
  // versions are resolved by Resolve once pinned. A rollout in progress
  // keeps `counters`, or gets new ones counting from `now_us` when null.
  static absl::StatusOr<std::shared_ptr<ServedDeployment>> Serve(
      Deployment deployment, std::shared_ptr<RolloutCounters> counters = nullptr,
      int64_t now_us = 0);
  // Prepares a created or updated deployment: starts its rollout at step 0
  // (or clears the rollout state when it has no plan) and clears
  // rollback_weights.
  static void StartRollout(Deployment* deployment, int64_t now_ms);
  // Commits the next revision of `current` with `next` (a copy of its config
  // changed by the caller) as change `kind`. REQUIRES: change_mu_ held.
  absl::StatusOr<Deployment> Next(const ServedDeployment& current, Deployment next,
                                  DeploymentChange::Kind kind,
                                  std::shared_ptr<RolloutCounters> counters);
  // Ends the rollout of `current` as `phase` (PROMOTED or ROLLED_BACK) or
  // advances it, with `reason` and `evidence`. REQUIRES: change_mu_ held.
  absl::StatusOr<Deployment> MoveRollout(const ServedDeployment& current,
                                         RolloutDecision decision);
  // Fills `served->pinned` from the model store; a version that is not
  // loaded is NOT_FOUND, or left null with `missing_ok` (start-up).
  absl::Status Resolve(ServedDeployment* served, bool missing_ok) const;
  // Returns the current revision of `name` (checked against the name rule
  // as `field`); FAILED_PRECONDITION when expected_revision > 0 differs.
  absl::StatusOr<std::shared_ptr<const ServedDeployment>> CurrentAt(
      const std::string& name, const char* field, int64_t expected_revision) const;
  // Pins and resolves the models of `served` and commits it as change
  // `kind`; returns its config. REQUIRES: change_mu_ held.
  absl::StatusOr<Deployment> Apply(DeploymentChange::Kind kind,
                                   std::shared_ptr<ServedDeployment> served);
  // Checks every model of `next` exists and pins the versions every
  // deployment (with `next` in place of its namesake, or without `removed`)
  // names. REQUIRES: change_mu_ held.
  absl::Status PinFor(const ServedDeployment* next, const std::string& removed);
  // Journals `kind` of `served`'s config and swaps the snapshot map.
  absl::Status Commit(DeploymentChange::Kind kind, std::shared_ptr<const ServedDeployment> served);
  int64_t NowMs() const;

  bandits::EventLog* const log_;
  ModelStore* const models_;
  absl::Mutex change_mu_;  // held across a change's checks, journal write and swap
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const ServedDeployment>> deployments_ ABSL_GUARDED_BY(mu_);
  absl::Mutex checker_mu_;
  bool stopping_ ABSL_GUARDED_BY(checker_mu_) = false;
  std::thread checker_;
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_DEPLOYMENTS_H_

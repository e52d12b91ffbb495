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
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "proto/deployments.pb.h"

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
// pipeline, description and reward settings in bounds);
// INVALID_ARGUMENT naming the field and bound otherwise.
absl::Status ValidateDeployment(const Deployment& deployment);

// One revision of a deployment as Recommend serves it. Immutable.
struct ServedDeployment {
  Deployment config;
  // Per pipeline, the variants in config order and then the shadows: the
  // parsed model reference, and the pinned version's snapshot, held by this
  // revision so a call that read it is served even after an update unpinned
  // the version (null for a pipeline that follows its model's active
  // version). The pipeline of shadow i is at variants_size() + i.
  std::vector<ModelRef> models;
  std::vector<std::shared_ptr<const ServingModel>> pinned;
  std::vector<double> weights;   // per variant
  uint64_t salt = 0;             // StableHash64(name): the assignment's salt

  // Returns the variant index serving `unit`: bandits::AssignVariant over the
  // weights (variants of weight 0 never serve).
  int32_t AssignVariant(const std::string& unit) const;
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

  // Returns the current revision of `name`. NOT_FOUND for an unknown name.
  absl::StatusOr<std::shared_ptr<const ServedDeployment>> Get(const std::string& name) const;
  // Returns every deployment sorted by name.
  std::vector<Deployment> List() const;
  // Returns the journal of `name`, oldest first. NOT_FOUND when empty.
  absl::StatusOr<std::vector<DeploymentChange>> Changes(const std::string& name) const;

  // Joins feedback to a slate the deployment served (see RewardSlate in
  // proto/deployments.proto).
  absl::StatusOr<RewardSlateResponse> RewardSlate(const RewardSlateRequest& request);

 private:
  DeploymentStore(bandits::EventLog* log, ModelStore* models) : log_(log), models_(models) {}
  // Builds the snapshot of a deployment (validated here); its pinned
  // versions are resolved by Resolve once pinned.
  static absl::StatusOr<std::shared_ptr<ServedDeployment>> Serve(Deployment deployment);
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
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_DEPLOYMENTS_H_

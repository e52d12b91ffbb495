// ModelStore: the server's versioned models under <data_dir>/models/<name>/
// <version>/, each name's active version published as a ServingModel
// snapshot, and the default name served when a request names none.
#ifndef RECBANDIT_SERVICES_SERVING_MODEL_STORE_H_
#define RECBANDIT_SERVICES_SERVING_MODEL_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "proto/recommender.pb.h"
#include "services/serving/serving_model.h"

namespace recbandit::services {

// Layout: <root>/<name>/<version>/ is a model directory (FactorModel::Save
// plus items.index); <root>/<name>/ACTIVE holds the active version number;
// <root>/DEFAULT the default name. Versions a deployment pins stay loaded
// beside the active ones and are never pruned. Thread-safe: readers get
// snapshots while Activate swaps them.
class ModelStore {
 public:
  // Opens (creating) `root`, removes what crashed writers left behind
  // (`<name>/<N>.staging*` folders, `*.tmp` files), loads every name's active
  // version (its ACTIVE file, else its highest version) and prunes versions
  // beyond `keep_versions` (see Prune) unless `prune` is false (the server
  // prunes with PruneAll once the deployments have pinned their versions).
  // A version that fails to load is reported on stderr and skipped; the
  // store still opens. Directories whose names break the name rule are
  // ignored. REQUIRES: keep_versions >= 1.
  static absl::StatusOr<std::unique_ptr<ModelStore>> Open(const std::string& root,
                                                          int32_t keep_versions = 5,
                                                          bool prune = true);

  // Deletes the versions of `name` older than its newest `keep_versions`,
  // never the active one (which is the default model's when `name` is the
  // default) nor a pinned one. Returns how many were deleted.
  int32_t Prune(const std::string& name);
  // Prune for every stored name; returns how many versions were deleted.
  int32_t PruneAll();
  int32_t keep_versions() const { return keep_versions_; }

  // Returns the active snapshot of `name` ("" = the default name).
  // NOT_FOUND for an unknown name; FAILED_PRECONDITION when `name` is empty
  // and no model is active.
  absl::StatusOr<std::shared_ptr<const ServingModel>> Get(const std::string& name) const;

  // Returns every stored version of `name` ("" = all names), with the active
  // ones flagged. NOT_FOUND when `name` is given but has no version.
  absl::StatusOr<std::vector<ModelInfo>> List(const std::string& name) const;

  // Loads and verifies <name>/<version> (0 = the highest), swaps it in as the
  // active version of `name` and records it durably; with `make_default`
  // also makes `name` the default (otherwise only when there is none). On
  // error the previous model stays active. Activations are serialised, so the
  // recorded ACTIVE/DEFAULT always match what is served. NOT_FOUND for an
  // unknown model or version; DATA_LOSS for a corrupt artifact.
  absl::StatusOr<ModelInfo> Activate(const std::string& name, int64_t version,
                                     bool make_default = true);

  // A stored version: (name, version).
  using VersionId = std::pair<std::string, int64_t>;

  // Returns version `version` of `name`: the active snapshot when it is that
  // version, else the pinned one. NOT_FOUND when it is neither (pin it first).
  absl::StatusOr<std::shared_ptr<const ServingModel>> GetVersion(const std::string& name,
                                                                 int64_t version) const;

  // Replaces the set of pinned versions (the deployments name them): loads
  // every one not loaded yet, keeps them from Prune, releases the others. On
  // error (NOT_FOUND for a missing version, DATA_LOSS for a corrupt one)
  // the pinned set is unchanged. Serialised with Activate.
  absl::Status SetPinned(const std::set<VersionId>& versions);

  // Returns the directory of a version, and the next free version number.
  std::string VersionDir(const std::string& name, int64_t version) const;
  int64_t NextVersion(const std::string& name) const;

 private:
  ModelStore(std::string root, int32_t keep_versions)
      : root_(std::move(root)), keep_versions_(keep_versions) {}
  std::vector<int64_t> Versions(const std::string& name) const;
  // Returns the sorted names of the model folders under the root; folders
  // whose names break the name rule are skipped (reported on stderr when
  // `report_ignored`).
  std::vector<std::string> StoredNames(bool report_ignored) const;

  const std::string root_;
  const int32_t keep_versions_;
  absl::Mutex activate_mu_;  // held across an activation's file writes and swap
  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<ModelSlot>> slots_ ABSL_GUARDED_BY(mu_);
  std::string default_name_ ABSL_GUARDED_BY(mu_);
  std::map<VersionId, std::shared_ptr<const ServingModel>> pinned_ ABSL_GUARDED_BY(mu_);
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_MODEL_STORE_H_

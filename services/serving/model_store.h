// ModelStore: the server's versioned models under <data_dir>/models/<name>/
// <version>/, each name's active version published as a ServingModel
// snapshot (all loaded at start-up, or loaded on first use within a memory
// budget, least recently used first out), and the default name served when a
// request names none.
#ifndef RECBANDIT_SERVICES_SERVING_MODEL_STORE_H_
#define RECBANDIT_SERVICES_SERVING_MODEL_STORE_H_

#include <cstdint>
#include <functional>
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

struct ModelStoreOptions {
  // Versions kept per name (see Prune); >= 1.
  int32_t keep_versions = 5;
  // Prune at Open (the server prunes with PruneAll once the deployments have
  // pinned their versions).
  bool prune = true;
  // 0 = no budget: every name's active version is loaded at Open. > 0: bytes
  // of models kept in memory (ServingModel::memory_bytes, pinned versions
  // included); nothing loads at Open, a name's active version loads at its
  // first use, and to make room the least recently used models that no call
  // holds are evicted (they load again at their next use).
  int64_t memory_budget_bytes = 0;
  // Hears each load of a version (seconds, bytes), each eviction, and every
  // change of what is resident (models, bytes). Each may be empty; called
  // under the store's lock: keep them short.
  std::function<void(double seconds, int64_t bytes)> on_load;
  std::function<void()> on_evict;
  std::function<void(int64_t models, int64_t bytes)> on_resident;
};

// Layout: <root>/<name>/<version>/ is a model directory (FactorModel::Save
// plus items.index); <root>/<name>/ACTIVE holds the active version number;
// <root>/DEFAULT the default name. Versions a deployment pins stay loaded
// beside the active ones and are never pruned. Thread-safe: readers get
// snapshots while Activate swaps them. A name whose folder appears after
// Open is found at its first use (it does not become the default).
class ModelStore {
 public:
  // Opens (creating) `root` as below with `options`; with a memory budget no
  // version is loaded here (a version that fails to load is then reported
  // to the call that needs it). INVALID_ARGUMENT for keep_versions < 1 or a
  // negative budget.
  static absl::StatusOr<std::unique_ptr<ModelStore>> Open(const std::string& root,
                                                          const ModelStoreOptions& options);

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

  // Returns the active snapshot of `name` ("" = the default name), loading
  // it first when it is not resident (a name whose folder appeared after
  // Open included). NOT_FOUND for an unknown name; FAILED_PRECONDITION when
  // `name` is empty and no model is active; DATA_LOSS for a damaged version
  // (nothing is evicted for it); RESOURCE_EXHAUSTED when the model cannot
  // fit in the budget even after evicting every model no call holds.
  absl::StatusOr<std::shared_ptr<const ServingModel>> Get(const std::string& name) const;

  // What is resident now, and how many evictions there have been.
  struct Residency {
    int64_t models = 0;     // distinct snapshots held (active and pinned)
    int64_t bytes = 0;      // their memory_bytes
    int64_t evictions = 0;  // since Open
    int64_t loads = 0;      // versions loaded since Open
  };
  Residency residency() const;
  int64_t memory_budget_bytes() const { return options_.memory_budget_bytes; }

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
  // A name's active version and, when loaded, its snapshot.
  struct Entry {
    int64_t active = 0;  // the active version number
    std::shared_ptr<const ServingModel> resident;  // null until used, or evicted
    uint64_t last_used = 0;                        // LRU tick
  };

  ModelStore(std::string root, const ModelStoreOptions& options)
      : root_(std::move(root)), options_(options), keep_versions_(options.keep_versions) {}
  std::vector<int64_t> Versions(const std::string& name) const;
  // Returns the version a name serves when nothing is loaded: its ACTIVE
  // file's when that version exists, else its highest; 0 when it has none.
  int64_t RecordedActive(const std::string& name) const;
  // Loads `name`'s active version (finding a new name's folder) and makes it
  // resident. REQUIRES: `name` passes the name rule.
  absl::StatusOr<std::shared_ptr<const ServingModel>> LoadOnDemand(const std::string& name) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Loads one version, reporting it to on_load.
  absl::StatusOr<std::shared_ptr<const ServingModel>> LoadVersion(const std::string& name,
                                                                  int64_t version) const;
  // Evicts least recently used unheld models (never `keep`) until `incoming`
  // more bytes fit the budget; returns false when they cannot.
  bool MakeRoom(int64_t incoming, const std::string& keep) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Residency ResidencyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishResidency() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns the sorted names of the model folders under the root; folders
  // whose names break the name rule are skipped (reported on stderr when
  // `report_ignored`).
  std::vector<std::string> StoredNames(bool report_ignored) const;

  const std::string root_;
  const ModelStoreOptions options_;
  const int32_t keep_versions_;
  absl::Mutex activate_mu_;  // held across an activation's file writes and swap
  // One load at a time (on demand or an activation): the same name is never
  // loaded twice at once, and a load overshoots the budget by one model at most.
  mutable absl::Mutex load_mu_ ABSL_ACQUIRED_AFTER(activate_mu_);
  mutable absl::Mutex mu_ ABSL_ACQUIRED_AFTER(load_mu_);
  // Every known name (the store's cache of loaded versions: mutable, as Get
  // loads on demand).
  mutable std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  mutable uint64_t clock_ ABSL_GUARDED_BY(mu_) = 0;
  mutable int64_t evictions_ ABSL_GUARDED_BY(mu_) = 0;
  mutable int64_t loads_ ABSL_GUARDED_BY(mu_) = 0;
  std::string default_name_ ABSL_GUARDED_BY(mu_);
  std::map<VersionId, std::shared_ptr<const ServingModel>> pinned_ ABSL_GUARDED_BY(mu_);
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_MODEL_STORE_H_

// ModelStore: directory scanning, ACTIVE/DEFAULT files, snapshot swaps.
#include "services/serving/model_store.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "absl/strings/numbers.h"
#include "google/protobuf/text_format.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bandits/experiment.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"

namespace recbandit::services {
namespace fs = std::filesystem;

namespace {

// True for what an interrupted write leaves: a version staged but never
// renamed into place, a half-written temp file.
bool IsLeftover(const std::string& filename) {
  return filename.find(".staging") != std::string::npos ||
         (filename.size() > 4 && filename.compare(filename.size() - 4, 4, ".tmp") == 0) ||
         filename.find(".tmp.") != std::string::npos;
}

// Removes leftovers directly in `dir`; returns how many.
int RemoveLeftovers(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  std::vector<fs::path> doomed;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (IsLeftover(entry.path().filename().string())) doomed.push_back(entry.path());
  }
  for (const fs::path& p : doomed) {
    std::error_code ignored;
    if (fs::remove_all(p, ignored) > 0) {
      std::fprintf(stderr, "model store: removed the leftover %s\n", p.c_str());
      ++removed;
    }
  }
  return removed;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelStore>> ModelStore::Open(const std::string& root,
                                                          int32_t keep_versions, bool prune) {
  ModelStoreOptions options;
  options.keep_versions = keep_versions;
  options.prune = prune;
  return Open(root, options);
}

absl::StatusOr<std::unique_ptr<ModelStore>> ModelStore::Open(const std::string& root,
                                                          const ModelStoreOptions& options) {
  if (options.keep_versions < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("keep_versions must be >= 1, got ", options.keep_versions));
  }
  if (options.memory_budget_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "memory_budget_bytes must be >= 0 (0 = no budget), got ", options.memory_budget_bytes));
  }
  RETURN_IF_ERROR(MakeDirs(root));
  std::unique_ptr<ModelStore> store(new ModelStore(root, options));
  const bool eager = options.memory_budget_bytes == 0;
  RemoveLeftovers(root);
  const std::vector<std::string> names = store->StoredNames(/*report_ignored=*/true);
  for (const std::string& name : names) RemoveLeftovers(absl::StrCat(root, "/", name));
  for (const std::string& name : names) {
    std::vector<int64_t> versions = store->Versions(name);
    if (versions.empty()) continue;
    int64_t active = store->RecordedActive(name);
    if (active == 0) continue;  // every version was held back by its gates
    if (!eager) {  // loaded at first use
      absl::MutexLock lock(&store->mu_);
      store->entries_[name].active = active;
      continue;
    }
    auto model = store->LoadVersion(name, active);
    // A recorded version that no longer loads: serve the newest one that does.
    for (auto v = versions.rbegin(); !model.ok() && v != versions.rend(); ++v) {
      std::fprintf(stderr, "model store: %s version %lld does not load: %s\n", name.c_str(),
                   static_cast<long long>(active), std::string(model.status().message()).c_str());
      if (*v == active) continue;
      active = *v;
      model = store->LoadVersion(name, active);
    }
    if (!model.ok()) {
      std::fprintf(stderr, "model store: no version of %s loads; skipping it\n", name.c_str());
      continue;
    }
    absl::MutexLock lock(&store->mu_);
    Entry& entry = store->entries_[name];
    entry.active = active;
    entry.resident = *std::move(model);
    entry.last_used = ++store->clock_;
  }
  auto recorded_default = ReadFileToString(absl::StrCat(root, "/DEFAULT"), 4096);
  {
    absl::MutexLock lock(&store->mu_);
    if (recorded_default.ok()) {
      const std::string name(absl::StripAsciiWhitespace(*recorded_default));
      if (store->entries_.count(name)) store->default_name_ = name;
    }
    if (store->default_name_.empty() && store->entries_.size() == 1) {
      store->default_name_ = store->entries_.begin()->first;
    }
    store->PublishResidency();
  }
  if (options.prune) store->PruneAll();
  return store;
}

int64_t ModelStore::RecordedActive(const std::string& name) const {
  const std::vector<int64_t> versions = Versions(name);
  if (versions.empty()) return 0;
  auto recorded = ReadFileToString(absl::StrCat(root_, "/", name, "/ACTIVE"), 4096);
  int64_t v = 0;
  if (recorded.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*recorded), &v) &&
      std::binary_search(versions.begin(), versions.end(), v)) {
    return v;
  }
  // No record: the highest version that its validation gates did not hold
  // back (a trained-but-not-promoted version is never served by default).
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    auto text = ReadFileToString(absl::StrCat(VersionDir(name, *it), "/manifest"), 1 << 20);
    ModelManifest m;
    if (text.ok() && google::protobuf::TextFormat::ParseFromString(*text, &m) &&
        m.has_validation() && !m.validation().promoted()) {
      continue;
    }
    return *it;
  }
  return 0;
}

absl::StatusOr<std::shared_ptr<const ServingModel>> ModelStore::LoadVersion(
    const std::string& name, int64_t version) const {
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model,
                   ServingModel::Load(VersionDir(name, version), "Exact", name, version));
  absl::MutexLock lock(&mu_);
  ++loads_;
  if (options_.on_load) {
    options_.on_load(absl::ToDoubleSeconds(absl::Now() - start), model->memory_bytes());
  }
  return model;
}

ModelStore::Residency ModelStore::ResidencyLocked() const {
  Residency r;
  std::set<const ServingModel*> seen;
  auto add = [&](const std::shared_ptr<const ServingModel>& m) {
    if (m != nullptr && seen.insert(m.get()).second) {
      ++r.models;
      r.bytes += m->memory_bytes();
    }
  };
  for (const auto& [name, entry] : entries_) add(entry.resident);
  for (const auto& [id, model] : pinned_) add(model);
  r.evictions = evictions_;
  r.loads = loads_;
  return r;
}

ModelStore::Residency ModelStore::residency() const {
  absl::MutexLock lock(&mu_);
  return ResidencyLocked();
}

void ModelStore::PublishResidency() const {
  if (!options_.on_resident) return;
  const Residency r = ResidencyLocked();
  options_.on_resident(r.models, r.bytes);
}

bool ModelStore::MakeRoom(int64_t incoming, const std::string& keep) const {
  if (options_.memory_budget_bytes == 0) return true;
  int64_t bytes = ResidencyLocked().bytes;
  while (bytes + incoming > options_.memory_budget_bytes) {
    // The least recently used model that only the store holds: a call in
    // flight or a pinned deployment keeps its snapshot (use_count > 1), and
    // nobody can take a new reference while mu_ is held.
    Entry* victim = nullptr;
    for (auto& [name, entry] : entries_) {
      if (name == keep || entry.resident == nullptr || entry.resident.use_count() != 1) continue;
      if (victim == nullptr || entry.last_used < victim->last_used) victim = &entry;
    }
    if (victim == nullptr) return false;
    bytes -= victim->resident->memory_bytes();
    victim->resident.reset();
    ++evictions_;
    if (options_.on_evict) options_.on_evict();
  }
  return true;
}

absl::StatusOr<std::shared_ptr<const ServingModel>> ModelStore::LoadOnDemand(
    const std::string& name) const {
  absl::MutexLock loading(&load_mu_);
  int64_t version = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(name);
    if (it != entries_.end()) {
      if (it->second.resident != nullptr) {  // another call loaded it meanwhile
        it->second.last_used = ++clock_;
        return it->second.resident;
      }
      version = it->second.active;
    }
  }
  if (version == 0) version = RecordedActive(name);  // a folder that appeared after Open
  if (version == 0) return absl::NotFoundError(absl::StrCat("unknown model ", Quote(name)));
  absl::StatusOr<std::shared_ptr<const ServingModel>> model = LoadVersion(name, version);
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat("model ", Quote(name), " version ", version,
                                     " does not load: ", model.status().message()));
  }
  absl::MutexLock lock(&mu_);
  Entry& entry = entries_[name];
  if (entry.active == 0) entry.active = version;
  if (entry.active != version) {
    // Never happens: activations hold load_mu_ too. Serve what is recorded.
    return absl::AbortedError(absl::StrCat("model ", Quote(name), " changed while loading"));
  }
  if (!MakeRoom((*model)->memory_bytes(), name)) {
    const Residency r = ResidencyLocked();
    PublishResidency();
    return absl::ResourceExhaustedError(absl::StrCat(
        "model ", Quote(name), " needs ", (*model)->memory_bytes(),
        " bytes but --model_memory_budget is ", options_.memory_budget_bytes, " and ", r.bytes,
        " bytes are held by calls in flight or deployments; retry later"));
  }
  entry.resident = *model;
  entry.last_used = ++clock_;
  PublishResidency();
  return *std::move(model);
}

std::vector<std::string> ModelStore::StoredNames(bool report_ignored) const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory()) continue;
    if (!ValidateName(name, "model_name").ok()) {
      if (report_ignored) {
        std::fprintf(stderr, "model store: ignoring %s (not a model name)\n",
                     entry.path().c_str());
      }
      continue;
    }
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

int32_t ModelStore::PruneAll() {
  int32_t deleted = 0;
  for (const std::string& name : StoredNames(/*report_ignored=*/false)) deleted += Prune(name);
  return deleted;
}

int32_t ModelStore::Prune(const std::string& name) {
  absl::MutexLock activation(&activate_mu_);  // no version is being activated meanwhile
  int64_t active = -1;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(name);
    if (it != entries_.end()) active = it->second.active;
  }
  std::set<int64_t> pinned;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, model] : pinned_) {
      if (id.first == name) pinned.insert(id.second);
    }
  }
  const std::vector<int64_t> versions = Versions(name);
  int32_t deleted = 0;
  for (size_t i = 0; i + keep_versions_ < versions.size(); ++i) {  // oldest first
    if (versions[i] == active || pinned.count(versions[i])) continue;
    std::error_code ignored;
    if (fs::remove_all(VersionDir(name, versions[i]), ignored) > 0) ++deleted;
  }
  if (deleted > 0) {
    std::fprintf(stderr, "model store: %s: deleted %d old versions (--keep_versions=%d)\n",
                 name.c_str(), deleted, keep_versions_);
  }
  return deleted;
}

std::string ModelStore::VersionDir(const std::string& name, int64_t version) const {
  return absl::StrCat(root_, "/", name, "/", version);
}

std::vector<int64_t> ModelStore::Versions(const std::string& name) const {
  std::vector<int64_t> versions;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(absl::StrCat(root_, "/", name), ec)) {
    int64_t v;
    if (entry.is_directory() && absl::SimpleAtoi(entry.path().filename().string(), &v) && v > 0) {
      versions.push_back(v);
    }
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

int64_t ModelStore::NextVersion(const std::string& name) const {
  std::vector<int64_t> versions = Versions(name);
  return versions.empty() ? 1 : versions.back() + 1;
}

absl::StatusOr<std::shared_ptr<const ServingModel>> ModelStore::Get(
    const std::string& name) const {
  std::string key;
  {
    absl::MutexLock lock(&mu_);
    key = name.empty() ? default_name_ : name;
    if (key.empty()) {
      return absl::FailedPreconditionError(
          "no model is active: train one (Train) or activate a stored version (ActivateModel)");
    }
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.resident != nullptr) {
      it->second.last_used = ++clock_;
      return it->second.resident;
    }
  }
  if (!ValidateName(key, "model_name").ok()) {
    return absl::NotFoundError(absl::StrCat("unknown model ", Quote(key)));
  }
  return LoadOnDemand(key);
}

absl::StatusOr<std::shared_ptr<const ServingModel>> ModelStore::GetVersion(
    const std::string& name, int64_t version) const {
  {
    absl::MutexLock lock(&mu_);
    auto it = pinned_.find(VersionId(name, version));
    if (it != pinned_.end()) return it->second;
    auto entry = entries_.find(name);
    if (entry == entries_.end() || entry->second.active != version) {
      return absl::NotFoundError(
          absl::StrCat("model ", Quote(name), " version ", version, " is not loaded"));
    }
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model, Get(name));
  if (model->version() != version) {
    return absl::NotFoundError(
        absl::StrCat("model ", Quote(name), " version ", version, " is not loaded"));
  }
  return model;
}

absl::Status ModelStore::SetPinned(const std::set<VersionId>& versions) {
  absl::MutexLock activation(&activate_mu_);
  std::map<VersionId, std::shared_ptr<const ServingModel>> next;
  for (const VersionId& id : versions) {
    {
      absl::MutexLock lock(&mu_);
      auto it = pinned_.find(id);
      if (it != pinned_.end()) {
        next.emplace(id, it->second);
        continue;
      }
      auto entry = entries_.find(id.first);  // the active version: share its snapshot
      if (entry != entries_.end() && entry->second.resident != nullptr &&
          entry->second.active == id.second) {
        next.emplace(id, entry->second.resident);
        continue;
      }
    }
    RETURN_IF_ERROR(ValidateName(id.first, "model name"));
    const std::string dir = VersionDir(id.first, id.second);
    if (id.second < 1 || !PathExists(dir)) {
      return absl::NotFoundError(
          absl::StrCat("model ", Quote(id.first), " has no version ", id.second));
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model, LoadVersion(id.first, id.second));
    next.emplace(id, std::move(model));
  }
  // Pinned versions are served whatever the budget; the on-demand ones make
  // room for them where they can.
  absl::MutexLock lock(&mu_);
  pinned_ = std::move(next);
  MakeRoom(0, "");
  PublishResidency();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ModelInfo>> ModelStore::List(const std::string& name) const {
  std::vector<std::string> names;
  if (!name.empty()) {
    names.push_back(name);
  } else {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root_, ec)) {
      if (entry.is_directory()) names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
  }
  std::vector<ModelInfo> out;
  for (const std::string& n : names) {
    std::vector<int64_t> versions = Versions(n);
    if (!name.empty() && versions.empty()) {
      return absl::NotFoundError(absl::StrCat("unknown model ", Quote(n)));
    }
    int64_t active = -1;
    {
      absl::MutexLock lock(&mu_);
      auto it = entries_.find(n);
      if (it != entries_.end()) active = it->second.active;
    }
    for (auto v_it = versions.rbegin(); v_it != versions.rend(); ++v_it) {  // newest first
      const int64_t v = *v_it;
      ModelInfo info;
      ModelManifest* m = info.mutable_manifest();
      // The manifest (proto text) carries algo, params, counts and metrics;
      // an unreadable one still lists the version, without those.
      auto text = ReadFileToString(absl::StrCat(VersionDir(n, v), "/manifest"));
      if (text.ok()) google::protobuf::TextFormat::ParseFromString(*text, m);
      m->set_name(n);
      m->set_version(v);
      info.set_active(active == v);
      out.push_back(std::move(info));
    }
  }
  return out;
}

absl::StatusOr<ModelInfo> ModelStore::Activate(const std::string& name, int64_t version,
                                               bool make_default) {
  RETURN_IF_ERROR(ValidateName(name, "model_name"));
  absl::MutexLock activation(&activate_mu_);
  if (version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("version must be >= 1, or 0 for the latest; got ", version));
  }
  if (version == 0) {
    const std::vector<int64_t> versions = Versions(name);
    if (versions.empty()) return absl::NotFoundError(absl::StrCat("unknown model ", Quote(name)));
    version = versions.back();
  }
  const std::string dir = VersionDir(name, version);
  if (!PathExists(dir)) {
    return absl::NotFoundError(absl::StrCat("model ", Quote(name), " has no version ", version));
  }
  absl::MutexLock loading(&load_mu_);
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model, LoadVersion(name, version));
  RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(root_, "/", name, "/ACTIVE"),
                                      absl::StrCat(version, "\n")));
  {
    absl::MutexLock lock(&mu_);
    if (default_name_.empty()) make_default = true;
  }
  if (make_default) {
    RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(root_, "/DEFAULT"), name + "\n"));
  }
  ModelInfo info;
  *info.mutable_manifest() = model->model().manifest();
  info.mutable_manifest()->set_name(name);
  info.mutable_manifest()->set_version(version);
  info.set_active(true);
  absl::MutexLock lock(&mu_);
  Entry& entry = entries_[name];
  entry.active = version;
  entry.resident.reset();  // the old version leaves the budget
  // Kept resident when it fits; otherwise it loads again at its first use.
  if (MakeRoom(model->memory_bytes(), name)) {
    entry.resident = std::move(model);
    entry.last_used = ++clock_;
  }
  if (make_default) default_name_ = name;
  PublishResidency();
  return info;
}

}  // namespace recbandit::services

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
  if (keep_versions < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("keep_versions must be >= 1, got ", keep_versions));
  }
  RETURN_IF_ERROR(MakeDirs(root));
  std::unique_ptr<ModelStore> store(new ModelStore(root, keep_versions));
  RemoveLeftovers(root);
  const std::vector<std::string> names = store->StoredNames(/*report_ignored=*/true);
  for (const std::string& name : names) RemoveLeftovers(absl::StrCat(root, "/", name));
  for (const std::string& name : names) {
    std::vector<int64_t> versions = store->Versions(name);
    if (versions.empty()) continue;
    int64_t active = versions.back();
    auto recorded = ReadFileToString(absl::StrCat(root, "/", name, "/ACTIVE"), 4096);
    int64_t v = 0;
    if (recorded.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*recorded), &v)) active = v;
    auto model = ServingModel::Load(store->VersionDir(name, active), "Exact", name, active);
    // A recorded version that no longer loads: serve the newest one that does.
    for (auto v = versions.rbegin(); !model.ok() && v != versions.rend(); ++v) {
      std::fprintf(stderr, "model store: %s version %lld does not load: %s\n", name.c_str(),
                   static_cast<long long>(active), std::string(model.status().message()).c_str());
      if (*v == active) continue;
      active = *v;
      model = ServingModel::Load(store->VersionDir(name, active), "Exact", name, active);
    }
    if (!model.ok()) {
      std::fprintf(stderr, "model store: no version of %s loads; skipping it\n", name.c_str());
      continue;
    }
    absl::MutexLock lock(&store->mu_);
    auto slot = std::make_unique<ModelSlot>();
    slot->Swap(*std::move(model));
    store->slots_[name] = std::move(slot);
  }
  auto recorded_default = ReadFileToString(absl::StrCat(root, "/DEFAULT"), 4096);
  {
    absl::MutexLock lock(&store->mu_);
    if (recorded_default.ok()) {
      const std::string name(absl::StripAsciiWhitespace(*recorded_default));
      if (store->slots_.count(name)) store->default_name_ = name;
    }
    if (store->default_name_.empty() && store->slots_.size() == 1) {
      store->default_name_ = store->slots_.begin()->first;
    }
  }
  if (prune) store->PruneAll();
  return store;
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
    auto it = slots_.find(name);
    if (it != slots_.end()) active = it->second->Get()->version();
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
  absl::MutexLock lock(&mu_);
  const std::string& key = name.empty() ? default_name_ : name;
  if (key.empty()) {
    return absl::FailedPreconditionError(
        "no model is active: train one (Train) or activate a stored version (ActivateModel)");
  }
  auto it = slots_.find(key);
  if (it == slots_.end()) return absl::NotFoundError(absl::StrCat("unknown model ", Quote(key)));
  return it->second->Get();
}

absl::StatusOr<std::shared_ptr<const ServingModel>> ModelStore::GetVersion(
    const std::string& name, int64_t version) const {
  absl::MutexLock lock(&mu_);
  auto slot = slots_.find(name);
  if (slot != slots_.end()) {
    std::shared_ptr<const ServingModel> active = slot->second->Get();
    if (active->version() == version) return active;
  }
  auto it = pinned_.find(VersionId(name, version));
  if (it == pinned_.end()) {
    return absl::NotFoundError(
        absl::StrCat("model ", Quote(name), " version ", version, " is not loaded"));
  }
  return it->second;
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
      auto slot = slots_.find(id.first);  // the active version: share its snapshot
      if (slot != slots_.end() && slot->second->Get()->version() == id.second) {
        next.emplace(id, slot->second->Get());
        continue;
      }
    }
    RETURN_IF_ERROR(ValidateName(id.first, "model name"));
    const std::string dir = VersionDir(id.first, id.second);
    if (id.second < 1 || !PathExists(dir)) {
      return absl::NotFoundError(
          absl::StrCat("model ", Quote(id.first), " has no version ", id.second));
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model,
                     ServingModel::Load(dir, "Exact", id.first, id.second));
    next.emplace(id, std::move(model));
  }
  absl::MutexLock lock(&mu_);
  pinned_ = std::move(next);
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
      auto it = slots_.find(n);
      if (it != slots_.end()) active = it->second->Get()->version();
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
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model,
                   ServingModel::Load(dir, "Exact", name, version));
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
  auto& slot = slots_[name];
  if (slot == nullptr) slot = std::make_unique<ModelSlot>();
  slot->Swap(std::move(model));
  if (make_default) default_name_ = name;
  return info;
}

}  // namespace recbandit::services

// FactorModel construction, scoring, and the atomic, checksummed artifact
// directory (manifest + users.txt + items.txt + *.bin float32 files).
#include "ranking/factor_model.h"

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "proto/core/file_util.h"
#include "proto/core/artifact_file.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "proto/core/string_view.h"

namespace recbandit::ranking {
namespace {

constexpr char kManifest[] = "manifest";
constexpr char kUsers[] = "users.txt";
constexpr char kItems[] = "items.txt";
constexpr char kUserFactors[] = "user_factors.bin";
constexpr char kItemFactors[] = "item_factors.bin";
constexpr char kItemBias[] = "item_bias.bin";
constexpr char kSeenIndptr[] = "seen_indptr.bin";
constexpr char kSeenItems[] = "seen_items.bin";
constexpr char kPopularity[] = "item_popularity.bin";

template <typename T>
std::string Bytes(absl::Span<const T> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::string FloatBytes(absl::Span<const float> v) { return Bytes(v); }

absl::StatusOr<std::string> IdBytes(const IdMap& ids, const char* what) {
  std::string out;
  for (int32_t i = 0; i < ids.size(); ++i) {
    const std::string& name = ids.Name(i);
    if (name.find('\n') != std::string::npos || name.find('\r') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " id ", i, " contains a line break; cannot be saved"));
    }
    out.append(name);
    out.push_back('\n');
  }
  return out;
}

absl::Status RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return absl::InternalError(absl::StrCat("remove ", path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("rename ", from, " -> ", to, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::string ParentDir(const std::string& dir) {
  std::filesystem::path p(dir);
  std::string parent = p.parent_path().string();
  return parent.empty() ? "." : parent;
}

absl::Status DataLoss(const std::string& dir, const std::string& file,
                      const std::string& what) {
  return absl::DataLossError(absl::StrCat(dir, "/", file, ": ", what));
}

constexpr uint64_t kMaxManifestBytes = 1 << 20;

// Maps `name` from `dir` and checks its size and CRC-32C (on the mapped
// bytes) against the manifest entry.
absl::StatusOr<std::shared_ptr<const ArtifactFile>> MapChecked(const std::string& dir,
                                                             const ModelManifest& m,
                                                             const std::string& name) {
  const FileChecksum* entry = nullptr;
  for (const FileChecksum& f : m.files()) {
    if (f.name() == name) entry = &f;
  }
  if (entry == nullptr) return DataLoss(dir, kManifest, "does not list " + name);
  // Never more than the manifest says: a resized file is refused unread.
  absl::StatusOr<std::shared_ptr<const ArtifactFile>> file =
      ArtifactFile::Open(dir + "/" + name, static_cast<int64_t>(entry->size_bytes()));
  if (absl::IsOutOfRange(file.status())) {
    std::error_code ec;
    const uint64_t actual = std::filesystem::file_size(dir + "/" + name, ec);
    if (!ec && actual > entry->size_bytes()) {
      return DataLoss(dir, name, absl::StrCat("larger than the manifest's ", entry->size_bytes(),
                                              " bytes"));
    }
    return DataLoss(dir, name, absl::StrCat("truncated or resized: ", actual,
                                            " bytes, manifest says ", entry->size_bytes()));
  }
  if (!file.ok()) return DataLoss(dir, name, absl::StrCat("missing or unreadable: ",
                                                          file.status().message()));
  if (Crc32c((*file)->view()) != entry->crc32c()) return DataLoss(dir, name, "checksum mismatch");
  return file;
}

// Returns a view of a checked file as `expected` values of T (the mapping is
// page-aligned, so any T is aligned); DATA_LOSS when the size differs.
template <typename T>
absl::StatusOr<std::pair<const T*, size_t>> View(const std::string& dir, const std::string& name,
                                                 const ArtifactFile& file, int64_t expected) {
  if (expected >= 0 && file.size() != static_cast<size_t>(expected) * sizeof(T)) {
    return DataLoss(dir, name,
                    absl::StrCat(file.size(), " bytes, expected ", expected * sizeof(T),
                                 " from the manifest's shape"));
  }
  if (file.size() % sizeof(T) != 0) {
    return DataLoss(dir, name,
                    absl::StrCat("size ", file.size(), " is not a multiple of ", sizeof(T)));
  }
  return std::make_pair(reinterpret_cast<const T*>(file.data()), file.size() / sizeof(T));
}

absl::StatusOr<IdMap> ParseIds(const std::string& dir, const std::string& name,
                               std::string_view data, int64_t expected) {
  IdMap ids;
  if (!data.empty() && data.back() != '\n') return DataLoss(dir, name, "no final newline");
  int64_t line_no = 0;
  size_t start = 0;
  while (start < data.size()) {
    const size_t end = data.find('\n', start);
    ++line_no;
    const std::string_view line(data.data() + start, end - start);
    const int32_t before = ids.size();
    ids.GetOrAdd(line);
    if (ids.size() == before) {
      return DataLoss(dir, name, absl::StrCat("duplicate id ", Quote(ToAbsl(line)), " on line ", line_no));
    }
    start = end + 1;
  }
  if (ids.size() != expected) {
    return DataLoss(dir, name,
                    absl::StrCat(ids.size(), " ids, manifest says ", expected));
  }
  return ids;
}

// Keeps the first parse error instead of logging every one to stderr.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first.empty()) first = absl::StrCat("line ", line + 1, ": ", message);
  }
  std::string first;
};

}  // namespace

std::string AlgorithmName(Algorithm algo) {
  switch (algo) {
    case ALS: return "als";
    case BPR: return "bpr";
    case POPULARITY: return "popularity";
    case IMPORTED: return "imported";
    default: return "unspecified";
  }
}

absl::StatusOr<FactorModel> FactorModel::Create(IdMap users, IdMap items, int32_t factors,
                                                std::vector<float> user_factors,
                                                std::vector<float> item_factors,
                                                std::vector<float> item_bias,
                                                ModelManifest manifest,
                                                const CsrMatrix* user_items) {
  if (factors < 1) return absl::InvalidArgumentError("factors must be >= 1");
  if (user_factors.size() != static_cast<size_t>(users.size()) * factors) {
    return absl::InvalidArgumentError(absl::StrCat(
        "user_factors has ", user_factors.size(), " floats, expected ",
        static_cast<int64_t>(users.size()) * factors));
  }
  if (item_factors.size() != static_cast<size_t>(items.size()) * factors) {
    return absl::InvalidArgumentError(absl::StrCat(
        "item_factors has ", item_factors.size(), " floats, expected ",
        static_cast<int64_t>(items.size()) * factors));
  }
  if (!item_bias.empty() && item_bias.size() != static_cast<size_t>(items.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "item_bias has ", item_bias.size(), " floats, expected ", items.size()));
  }
  FactorModel m;
  m.factors_ = factors;
  manifest.set_factors(factors);
  manifest.set_num_users(users.size());
  manifest.set_num_items(items.size());
  manifest.set_has_item_bias(!item_bias.empty());
  manifest.clear_files();
  m.users_ = std::move(users);
  m.items_ = std::move(items);
  m.user_factors_ = Array<float>(std::move(user_factors));
  m.item_factors_ = Array<float>(std::move(item_factors));
  m.item_bias_ = Array<float>(std::move(item_bias));
  m.manifest_ = std::move(manifest);
  if (user_items != nullptr) {
    if (user_items->rows != m.users_.size() || user_items->cols != m.items_.size()) {
      return absl::InvalidArgumentError("user_items shape does not match the id maps");
    }
    m.seen_indptr_ = Array<int64_t>(user_items->indptr);
    m.seen_items_ = Array<int32_t>(user_items->indices);
    std::vector<float> popularity(user_items->cols, 0.0f);
    for (int32_t i : user_items->indices) popularity[i] += 1.0f;
    if (user_items->nnz() > 0) {
      for (float& p : popularity) p /= static_cast<float>(user_items->nnz());
    }
    m.item_popularity_ = Array<float>(std::move(popularity));
  }
  return m;
}

absl::Span<const int32_t> FactorModel::SeenItems(int32_t u) const {
  if (seen_indptr_.empty()) return {};
  return absl::MakeConstSpan(seen_items_.data() + seen_indptr_[u],
                             seen_indptr_[u + 1] - seen_indptr_[u]);
}

int64_t FactorModel::MemoryBytes() const {
  return static_cast<int64_t>(users_.MemoryBytes() + items_.MemoryBytes()) +
         4 * static_cast<int64_t>(user_factors_.size() + item_factors_.size() +
                                  item_bias_.size() + item_popularity_.size() +
                                  seen_items_.size()) +
         8 * static_cast<int64_t>(seen_indptr_.size());
}

float FactorModel::Score(int32_t u, int32_t i) const {
  const float* x = user_factors_.data() + int64_t{u} * factors_;
  const float* y = item_factors_.data() + int64_t{i} * factors_;
  float s = 0;
  for (int32_t f = 0; f < factors_; ++f) s += x[f] * y[f];
  if (!item_bias_.empty()) s += item_bias_[i];
  return s;
}

absl::Status FactorModel::Save(const std::string& dir_in) const {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  static std::atomic<int> counter{0};
  const std::string suffix = absl::StrCat(".", ::getpid(), ".", counter++);
  const std::string tmp = dir + ".tmp" + suffix;
  if (PathExists(dir)) {
    // Never rename away (and then delete) something that is not a model.
    std::error_code ec;
    const bool is_dir = std::filesystem::is_directory(dir, ec);
    const bool empty = is_dir && std::filesystem::is_empty(dir, ec);
    if (!is_dir || (!empty && !PathExists(dir + "/" + kManifest))) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir, " exists and is not a model directory (no manifest); refusing to replace it"));
    }
  }
  RETURN_IF_ERROR(MakeDirs(ParentDir(dir)));
  RETURN_IF_ERROR(RemoveTree(tmp));
  RETURN_IF_ERROR(MakeDirs(tmp));
  ModelManifest manifest = manifest_;
  manifest.clear_files();
  std::vector<std::pair<std::string, std::string>> files;
  ASSIGN_OR_RETURN(std::string users, IdBytes(users_, "user"));
  ASSIGN_OR_RETURN(std::string items, IdBytes(items_, "item"));
  files.emplace_back(kUsers, std::move(users));
  files.emplace_back(kItems, std::move(items));
  files.emplace_back(kUserFactors, FloatBytes(user_factors_.span()));
  files.emplace_back(kItemFactors, FloatBytes(item_factors_.span()));
  if (!item_bias_.empty()) files.emplace_back(kItemBias, FloatBytes(item_bias_.span()));
  if (!seen_indptr_.empty()) {
    files.emplace_back(kSeenIndptr, Bytes(seen_indptr_.span()));
    files.emplace_back(kSeenItems, Bytes(seen_items_.span()));
    files.emplace_back(kPopularity, Bytes(item_popularity_.span()));
  }
  for (const auto& [name, data] : files) {
    RETURN_IF_ERROR(WriteFileSynced(tmp + "/" + name, data));
    FileChecksum* f = manifest.add_files();
    f->set_name(name);
    f->set_size_bytes(data.size());
    f->set_crc32c(Crc32c(data));
  }
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(manifest, &text)) {
    return absl::InternalError("cannot print the manifest");
  }
  RETURN_IF_ERROR(WriteFileSynced(tmp + "/" + kManifest, text));
  RETURN_IF_ERROR(SyncDir(tmp));
  if (PathExists(dir)) {
    const std::string old = dir + ".old" + suffix;
    RETURN_IF_ERROR(Rename(dir, old));
    RETURN_IF_ERROR(Rename(tmp, dir));
    RETURN_IF_ERROR(SyncDir(ParentDir(dir)));
    return RemoveTree(old);
  }
  RETURN_IF_ERROR(Rename(tmp, dir));
  return SyncDir(ParentDir(dir));
}

absl::StatusOr<FactorModel> FactorModel::Load(const std::string& dir) {
  if (!PathExists(dir)) return absl::NotFoundError(absl::StrCat(dir, ": no such model directory"));
  absl::StatusOr<std::string> text = ReadFileToString(dir + "/" + kManifest, kMaxManifestBytes);
  if (!text.ok()) {
    return DataLoss(dir, kManifest, absl::StrCat("missing or unreadable: ", text.status().message()));
  }
  ModelManifest manifest;
  FirstError errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(*text, &manifest)) {
    return DataLoss(dir, kManifest, "not a valid manifest (proto text): " + errors.first);
  }
  if (manifest.factors() < 1 || manifest.factors() > 1024 || manifest.num_users() < 0 ||
      manifest.num_items() < 0 || manifest.num_users() > (int64_t{1} << 31) ||
      manifest.num_items() > (int64_t{1} << 31)) {
    return DataLoss(dir, kManifest, "factors or counts out of range");
  }
  const int64_t d = manifest.factors();
  ASSIGN_OR_RETURN(auto users_file, MapChecked(dir, manifest, kUsers));
  ASSIGN_OR_RETURN(auto items_file, MapChecked(dir, manifest, kItems));
  ASSIGN_OR_RETURN(auto uf_file, MapChecked(dir, manifest, kUserFactors));
  ASSIGN_OR_RETURN(auto if_file, MapChecked(dir, manifest, kItemFactors));
  ASSIGN_OR_RETURN(IdMap users, ParseIds(dir, kUsers, users_file->view(), manifest.num_users()));
  ASSIGN_OR_RETURN(IdMap items, ParseIds(dir, kItems, items_file->view(), manifest.num_items()));
  FactorModel m;
  {
    ASSIGN_OR_RETURN(auto uf, View<float>(dir, kUserFactors, *uf_file, manifest.num_users() * d));
    m.user_factors_ = Array<float>(uf_file, uf.first, uf.second);
  }
  {
    ASSIGN_OR_RETURN(auto itf, View<float>(dir, kItemFactors, *if_file, manifest.num_items() * d));
    m.item_factors_ = Array<float>(if_file, itf.first, itf.second);
  }
  if (manifest.has_item_bias()) {
    ASSIGN_OR_RETURN(auto b_file, MapChecked(dir, manifest, kItemBias));
    ASSIGN_OR_RETURN(auto b, View<float>(dir, kItemBias, *b_file, manifest.num_items()));
    m.item_bias_ = Array<float>(b_file, b.first, b.second);
  }
  bool has_seen = false;
  for (const FileChecksum& f : manifest.files()) has_seen |= f.name() == kSeenIndptr;
  if (has_seen) {
    ASSIGN_OR_RETURN(auto ip_file, MapChecked(dir, manifest, kSeenIndptr));
    ASSIGN_OR_RETURN(auto it_file, MapChecked(dir, manifest, kSeenItems));
    ASSIGN_OR_RETURN(auto pop_file, MapChecked(dir, manifest, kPopularity));
    ASSIGN_OR_RETURN(auto ip, View<int64_t>(dir, kSeenIndptr, *ip_file, -1));
    ASSIGN_OR_RETURN(auto it, View<int32_t>(dir, kSeenItems, *it_file, -1));
    ASSIGN_OR_RETURN(auto pop, View<float>(dir, kPopularity, *pop_file, manifest.num_items()));
    m.seen_indptr_ = Array<int64_t>(ip_file, ip.first, ip.second);
    m.seen_items_ = Array<int32_t>(it_file, it.first, it.second);
    m.item_popularity_ = Array<float>(pop_file, pop.first, pop.second);
    // Validate the CSR so SeenItems never reads out of bounds.
    const auto& ptr = m.seen_indptr_;
    bool ok = ptr.size() == static_cast<size_t>(manifest.num_users()) + 1 && ptr[0] == 0 &&
              ptr[ptr.size() - 1] == static_cast<int64_t>(m.seen_items_.size());
    for (size_t k = 1; ok && k < ptr.size(); ++k) ok = ptr[k] >= ptr[k - 1];
    for (size_t k = 0; ok && k < m.seen_items_.size(); ++k) {
      ok = m.seen_items_[k] >= 0 && m.seen_items_[k] < manifest.num_items();
    }
    if (!ok) return DataLoss(dir, kSeenIndptr, "inconsistent seen-items index");
  }
  m.factors_ = static_cast<int32_t>(d);
  m.users_ = std::move(users);
  m.items_ = std::move(items);
  m.manifest_ = std::move(manifest);
  return m;
}

}  // namespace recbandit::ranking

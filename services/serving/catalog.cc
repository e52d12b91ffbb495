// The catalog: bounds, the RocksDB store, the in-memory records and the
// filters' allowed rows.
#include "services/serving/catalog.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "services/serving/request_checks.h"

namespace recbandit::services {
namespace {

constexpr char kItemPrefix[] = "item/";
constexpr char kUserPrefix[] = "user/";
constexpr int64_t kMaxCreatedMs = 4102444800000;  // 2100-01-01

absl::Status FromRocksStatus(const rocksdb::Status& s, const std::string& context) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(context, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  return absl::UnavailableError(msg);  // I/O errors, a lock another process holds
}

// Appends a parameter map to a cache key in name order (maps iterate in no
// fixed order).
void AppendParameters(const google::protobuf::Map<std::string, FilterValue>& parameters,
                      std::string* key) {
  std::vector<const google::protobuf::MapPair<std::string, FilterValue>*> sorted;
  for (const auto& entry : parameters) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* entry : sorted) {
    absl::StrAppend(key, "\x1f$", entry->first.size(), ":", entry->first);
    for (const std::string& s : entry->second.strings()) absl::StrAppend(key, "\x1e", s.size(), ":", s);
    for (double x : entry->second.numbers()) absl::StrAppend(key, "\x1d", absl::StrFormat("%.17g", x));
  }
}

}  // namespace

// A request's bound filter (or none: hidden items only). Immutable.
class Catalog::RequestFilter : public RowFilter {
 public:
  RequestFilter(const Catalog* catalog, std::shared_ptr<const ranking::BoundFilter> bound,
                std::string key)
      : catalog_(catalog), bound_(std::move(bound)), key_(std::move(key)) {}
  std::shared_ptr<const FilteredRows> Rows(const ServingModel& model) const override {
    return catalog_->Rows(model, bound_.get(), key_);
  }
  bool AllowsRecord(const std::string& id, const CatalogItem& item) const override {
    return !item.hidden() && (bound_ == nullptr || bound_->Allows(id, &item));
  }

 private:
  const Catalog* catalog_;
  std::shared_ptr<const ranking::BoundFilter> bound_;
  std::string key_;  // the bound filter's identity at its catalog version
};

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Open(const std::string& data_dir,
                                                       CatalogLimits limits) {
  const std::string path = data_dir + "/catalog";
  rocksdb::Options options;
  options.create_if_missing = true;
  // Writes are synced before PutItems returns: only a torn last record can
  // be damaged by a crash, and it was never acknowledged.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  options.paranoid_checks = true;
  options.compression = rocksdb::kNoCompression;
  options.keep_log_file_num = 2;
  options.max_log_file_size = 1 << 20;
  rocksdb::DB* raw = nullptr;
  RETURN_IF_ERROR(FromRocksStatus(rocksdb::DB::Open(options, path, &raw),
                                  absl::StrCat("catalog ", PathForMessage(path))));
  std::unique_ptr<Catalog> catalog(new Catalog(limits, std::unique_ptr<rocksdb::DB>(raw)));
  RETURN_IF_ERROR(catalog->Load());
  return catalog;
}

Catalog::Catalog(CatalogLimits limits, std::unique_ptr<rocksdb::DB> db)
    : limits_(limits), db_(std::move(db)) {}

Catalog::~Catalog() = default;

absl::Status Catalog::Load() {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    const rocksdb::Slice value = it->value();
    if (key.starts_with(kItemPrefix)) {
      CatalogItem item;
      if (!item.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return absl::DataLossError(absl::StrCat("catalog record ", Quote(key.ToString()),
                                                " does not parse"));
      }
      if (item.hidden()) ++hidden_;
      for (const auto& [name, v] : item.numbers()) numeric_fields_.insert(name);
      items_[item.item()] = std::move(item);
    } else if (key.starts_with(kUserPrefix)) {
      CatalogUser user;
      if (!user.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return absl::DataLossError(absl::StrCat("catalog record ", Quote(key.ToString()),
                                                " does not parse"));
      }
      for (const auto& [name, v] : user.numbers()) numeric_fields_.insert(name);
      users_[user.user()] = std::move(user);
    }
  }
  return FromRocksStatus(it->status(), "catalog scan");
}

absl::Status Catalog::CheckRecord(
    const std::string& where, const google::protobuf::RepeatedPtrField<std::string>& categories,
    const google::protobuf::RepeatedPtrField<std::string>& tags,
    const google::protobuf::Map<std::string, double>& numbers) const {
  auto check_values = [&](const google::protobuf::RepeatedPtrField<std::string>& values,
                          const char* field, int max) -> absl::Status {
    if (values.size() > max) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".", field, " has ", values.size(),
                                                     " entries; at most ", max));
    }
    for (int j = 0; j < values.size(); ++j) {
      if (values[j].empty() || values[j].size() > limits_.max_value_bytes) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".", field, "[", j, "] must have 1..", limits_.max_value_bytes,
                         " bytes, got ", values[j].size()));
      }
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(check_values(categories, "categories", limits_.max_categories));
  RETURN_IF_ERROR(check_values(tags, "tags", limits_.max_tags));
  if (numbers.size() > static_cast<size_t>(limits_.max_numbers)) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".numbers has ", numbers.size(),
                                                   " entries; at most ", limits_.max_numbers));
  }
  for (const auto& [name, value] : numbers) {
    if (!ranking::IsNumericFieldName(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".numbers name ", Quote(name),
          " must be 1..64 bytes of [A-Za-z_][A-Za-z0-9_]*, not ItemID, category, tag or "
          "created"));
    }
    if (!std::isfinite(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".numbers[", Quote(name), "] must be finite"));
    }
  }
  return absl::OkStatus();
}

absl::Status Catalog::CheckRoom(absl::string_view kind, size_t held, int64_t fresh,
                               const absl::flat_hash_set<std::string>& names) const {
  if (static_cast<int64_t>(held) + fresh > limits_.max_records) {
    return absl::ResourceExhaustedError(absl::StrCat("the catalog holds ", held, " ", kind, "; ",
                                                     fresh, " more would pass the bound of ",
                                                     limits_.max_records));
  }
  int64_t new_names = 0;
  for (const std::string& name : names) new_names += !numeric_fields_.contains(name);
  if (static_cast<int64_t>(numeric_fields_.size()) + new_names > limits_.max_numeric_fields) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the catalog has ", numeric_fields_.size(), " numeric field names; ", new_names,
        " more would pass the bound of ", limits_.max_numeric_fields));
  }
  return absl::OkStatus();
}

absl::StatusOr<PutItemsResponse> Catalog::PutItems(const PutItemsRequest& request) {
  const int n = request.items_size();
  if (n < 1 || n > limits_.max_per_call) {
    return absl::InvalidArgumentError(
        absl::StrCat("items must have 1..", limits_.max_per_call, " entries, got ", n));
  }
  const int64_t now_ms = absl::GetCurrentTimeNanos() / 1000000;
  std::vector<CatalogItem> items(request.items().begin(), request.items().end());
  absl::flat_hash_map<absl::string_view, int> seen;
  absl::flat_hash_set<std::string> names;
  for (int i = 0; i < n; ++i) {
    CatalogItem& item = items[i];
    const std::string where = absl::StrCat("items[", i, "]");
    absl::Status s = CheckId(item.item(), "item");
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ".", s.message()));
    auto [at, fresh] = seen.emplace(request.items(i).item(), i);
    if (!fresh) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".item ", Quote(item.item()),
                                                     " repeats items[", at->second, "]"));
    }
    RETURN_IF_ERROR(CheckRecord(where, item.categories(), item.tags(), item.numbers()));
    if (item.created_unix_ms() < 0 || item.created_unix_ms() > kMaxCreatedMs) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".created_unix_ms must be 0 or in [1, ",
                                                     kMaxCreatedMs, "], got ",
                                                     item.created_unix_ms()));
    }
    if (item.created_unix_ms() == 0) item.set_created_unix_ms(now_ms);
    for (const auto& [name, v] : item.numbers()) names.insert(name);
  }
  absl::MutexLock writer(&write_mu_);
  {
    absl::ReaderMutexLock lock(&mu_);
    int64_t fresh = 0;
    for (const CatalogItem& item : items) fresh += !items_.contains(item.item());
    RETURN_IF_ERROR(CheckRoom("items", items_.size(), fresh, names));
  }
  rocksdb::WriteBatch batch;
  for (const CatalogItem& item : items) {
    batch.Put(absl::StrCat(kItemPrefix, item.item()), item.SerializeAsString());
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  RETURN_IF_ERROR(FromRocksStatus(db_->Write(sync, &batch), "items not stored"));
  PutItemsResponse response;
  absl::MutexLock lock(&mu_);
  for (CatalogItem& item : items) {
    auto it = items_.find(item.item());
    if (it != items_.end() && it->second.hidden()) --hidden_;
    if (item.hidden()) ++hidden_;
    items_[item.item()] = std::move(item);
  }
  for (const std::string& name : names) numeric_fields_.insert(name);
  ++version_;
  response.set_accepted(n);
  response.set_catalog_items(static_cast<int64_t>(items_.size()));
  return response;
}

absl::StatusOr<PutUsersResponse> Catalog::PutUsers(const PutUsersRequest& request) {
  const int n = request.users_size();
  if (n < 1 || n > limits_.max_per_call) {
    return absl::InvalidArgumentError(
        absl::StrCat("users must have 1..", limits_.max_per_call, " entries, got ", n));
  }
  absl::flat_hash_map<absl::string_view, int> seen;
  absl::flat_hash_set<std::string> names;
  for (int i = 0; i < n; ++i) {
    const CatalogUser& user = request.users(i);
    const std::string where = absl::StrCat("users[", i, "]");
    absl::Status s = CheckId(user.user(), "user");
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ".", s.message()));
    auto [at, fresh] = seen.emplace(user.user(), i);
    if (!fresh) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".user ", Quote(user.user()),
                                                     " repeats users[", at->second, "]"));
    }
    RETURN_IF_ERROR(CheckRecord(where, user.categories(), user.tags(), user.numbers()));
    for (const auto& [name, v] : user.numbers()) names.insert(name);
  }
  absl::MutexLock writer(&write_mu_);
  {
    absl::ReaderMutexLock lock(&mu_);
    int64_t fresh = 0;
    for (const CatalogUser& user : request.users()) fresh += !users_.contains(user.user());
    RETURN_IF_ERROR(CheckRoom("users", users_.size(), fresh, names));
  }
  rocksdb::WriteBatch batch;
  for (const CatalogUser& user : request.users()) {
    batch.Put(absl::StrCat(kUserPrefix, user.user()), user.SerializeAsString());
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  RETURN_IF_ERROR(FromRocksStatus(db_->Write(sync, &batch), "users not stored"));
  PutUsersResponse response;
  absl::MutexLock lock(&mu_);
  for (const CatalogUser& user : request.users()) users_[user.user()] = user;
  for (const std::string& name : names) numeric_fields_.insert(name);
  ++version_;
  response.set_accepted(n);
  response.set_catalog_users(static_cast<int64_t>(users_.size()));
  return response;
}

absl::StatusOr<std::shared_ptr<const ranking::FilterExpression>> Catalog::Parse(
    const std::string& expression) const {
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = parsed_.find(expression);
    if (it != parsed_.end()) return it->second;
  }
  absl::StatusOr<std::shared_ptr<const ranking::FilterExpression>> parsed =
      ranking::FilterExpression::Parse(expression);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter.expression: ", parsed.status().message()));
  }
  absl::MutexLock lock(&cache_mu_);
  if (parsed_.size() >= kMaxCached) parsed_.clear();
  parsed_.emplace(expression, *parsed);
  return *parsed;
}

absl::StatusOr<std::shared_ptr<const RowFilter>> Catalog::Compile(const Filter& filter,
                                                                  bool has_user,
                                                                  const std::string& user) const {
  std::shared_ptr<const ranking::FilterExpression> expression;
  if (!filter.expression().empty()) {
    ASSIGN_OR_RETURN(expression, Parse(filter.expression()));
  } else if (!filter.parameters().empty()) {
    return absl::InvalidArgumentError("filter.parameters given without filter.expression");
  }
  absl::ReaderMutexLock lock(&mu_);
  if (expression == nullptr && hidden_ == 0) return nullptr;  // nothing to filter
  std::string key = absl::StrCat(version_, "\x1c", filter.expression());
  std::shared_ptr<const ranking::BoundFilter> bound;
  if (expression != nullptr) {
    const CatalogUser* record = nullptr;
    if (expression->uses_current_user()) {
      auto it = users_.find(user);
      if (it != users_.end()) record = &it->second;
      absl::StrAppend(&key, "\x1b", user.size(), ":", user);
    }
    absl::StatusOr<std::shared_ptr<const ranking::BoundFilter>> b = expression->Bind(
        filter.parameters(), has_user, record,
        [this](absl::string_view name) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return numeric_fields_.contains(name);
        });
    if (!b.ok()) {
      const bool in_text = absl::StartsWith(b.status().message(), "column");
      return absl::InvalidArgumentError(absl::StrCat(in_text ? "filter.expression: " : "filter.",
                                                     b.status().message()));
    }
    bound = *std::move(b);
    AppendParameters(filter.parameters(), &key);
  }
  return std::shared_ptr<const RowFilter>(
      std::make_shared<RequestFilter>(this, std::move(bound), std::move(key)));
}

std::shared_ptr<const FilteredRows> Catalog::Rows(const ServingModel& model,
                                                  const ranking::BoundFilter* bound,
                                                  const std::string& key) const {
  const std::string full = absl::StrCat(model.name(), "@", model.version(), "/",
                                        model.model().num_items(), "\x1a", key);
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = rows_.find(full);
    if (it != rows_.end()) return it->second;
  }
  const ranking::IdMap& names = model.model().items();
  std::vector<int32_t> allowed;
  bool current = false;
  {
    absl::ReaderMutexLock lock(&mu_);
    current = absl::StartsWith(key, absl::StrCat(version_, "\x1c"));
    for (int32_t i = 0; i < model.model().num_items(); ++i) {
      const std::string& id = names.Name(i);
      auto it = items_.find(id);
      const CatalogItem* item = it == items_.end() ? nullptr : &it->second;
      if (item != nullptr && item->hidden()) continue;
      if (bound != nullptr && !bound->Allows(id, item)) continue;
      allowed.push_back(i);
    }
  }
  auto rows = std::make_shared<const FilteredRows>(
      FilteredRows::FromAllowed(std::move(allowed), model.model().num_items(),
                                limits_.scan_rows));
  if (current) {  // a catalog changed since the filter was bound is not cached under its key
    absl::MutexLock lock(&cache_mu_);
    const int64_t bytes = 4 * static_cast<int64_t>(rows->allowed.size() + rows->excluded.size());
    if (rows_.size() >= kMaxCached || rows_bytes_ + bytes > kMaxCachedRowBytes) {
      rows_.clear();
      rows_bytes_ = 0;
    }
    if (rows_.emplace(full, rows).second) rows_bytes_ += bytes;
  }
  return rows;
}

float NewItemPool::Score(size_t i, absl::Span<const float> user) const {
  float s = biases.empty() ? 0.0f : biases[i];
  const float* v = vectors.data() + i * factors;
  for (int32_t j = 0; j < factors; ++j) s += user[j] * v[j];
  return s;
}

std::shared_ptr<const NewItemPool> Catalog::NewItems(const ServingModel& model) const {
  const ranking::FactorModel& m = model.model();
  absl::ReaderMutexLock lock(&mu_);
  const std::string key =
      absl::StrCat(model.name(), "@", model.version(), "/", m.num_items(), "/", version_);
  {
    absl::MutexLock cache(&cache_mu_);
    auto it = new_items_.find(key);
    if (it != new_items_.end()) return it->second;
  }
  auto pool = std::make_shared<NewItemPool>();
  const int32_t d = m.factors();
  const bool has_bias = !m.item_bias().empty();
  pool->factors = d;
  // Each category's sum of the model's item vectors (bias last) and count.
  const size_t width = d + 1;
  absl::flat_hash_map<std::string, std::pair<std::vector<double>, int64_t>> by_category;
  std::vector<double> all(width, 0.0);
  for (int32_t i = 0; i < m.num_items(); ++i) {
    absl::Span<const float> v = m.ItemVector(i);
    const float bias = has_bias ? m.item_bias()[i] : 0.0f;
    for (int32_t j = 0; j < d; ++j) all[j] += v[j];
    all[d] += bias;
    auto it = items_.find(m.items().Name(i));
    if (it == items_.end()) continue;
    for (const std::string& c : it->second.categories()) {
      auto& [sum, count] = by_category[c];
      if (sum.empty()) sum.assign(width, 0.0);
      for (int32_t j = 0; j < d; ++j) sum[j] += v[j];
      sum[d] += bias;
      ++count;
    }
  }
  for (double& x : all) x /= std::max<int32_t>(1, m.num_items());
  // The newest new items.
  for (const auto& [id, record] : items_) {
    if (record.hidden() || m.items().Find(id) >= 0) continue;
    pool->items.push_back({id, record});
  }
  auto newer = [](const NewItemPool::Item& a, const NewItemPool::Item& b) {
    return a.record.created_unix_ms() != b.record.created_unix_ms()
               ? a.record.created_unix_ms() > b.record.created_unix_ms()
               : a.id < b.id;
  };
  if (pool->items.size() > NewItemPool::kMaxItems) {
    std::nth_element(pool->items.begin(), pool->items.begin() + NewItemPool::kMaxItems,
                     pool->items.end(), newer);
    pool->items.resize(NewItemPool::kMaxItems);
  }
  std::sort(pool->items.begin(), pool->items.end(), newer);
  pool->vectors.reserve(pool->items.size() * d);
  std::vector<double> mean(width);
  for (const NewItemPool::Item& item : pool->items) {
    // The mean of its categories' means (each category once).
    std::fill(mean.begin(), mean.end(), 0.0);
    int32_t known = 0;
    absl::flat_hash_set<absl::string_view> counted;
    for (const std::string& c : item.record.categories()) {
      auto it = by_category.find(c);
      if (it == by_category.end() || !counted.insert(c).second) continue;
      for (size_t j = 0; j < width; ++j) mean[j] += it->second.first[j] / it->second.second;
      ++known;
    }
    for (size_t j = 0; j < width; ++j) mean[j] = known > 0 ? mean[j] / known : all[j];
    for (int32_t j = 0; j < d; ++j) pool->vectors.push_back(static_cast<float>(mean[j]));
    if (has_bias) pool->biases.push_back(static_cast<float>(mean[d]));
  }
  absl::MutexLock cache(&cache_mu_);
  if (new_items_.size() >= kMaxCachedPools) new_items_.clear();
  new_items_.emplace(key, pool);
  return pool;
}

std::optional<CatalogItem> Catalog::GetItem(const std::string& item) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = items_.find(item);
  if (it == items_.end()) return std::nullopt;
  return it->second;
}

std::optional<CatalogUser> Catalog::GetUser(const std::string& user) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = users_.find(user);
  if (it == users_.end()) return std::nullopt;
  return it->second;
}

bool Catalog::HasNumericField(const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  return numeric_fields_.contains(name);
}

int64_t Catalog::num_items() const {
  absl::ReaderMutexLock lock(&mu_);
  return static_cast<int64_t>(items_.size());
}

int64_t Catalog::num_users() const {
  absl::ReaderMutexLock lock(&mu_);
  return static_cast<int64_t>(users_.size());
}

}  // namespace recbandit::services

// Catalog: items' and users' metadata (PutItems / PutUsers), durable in a
// RocksDB under <data_dir>/catalog and held in memory, and the filters of
// Recommend and SimilarItems over it: an expression parsed once (cached),
// bound per request, and turned per model snapshot and catalog version into
// the model's allowed rows (cached), hidden items always left out.
#ifndef RECBANDIT_SERVICES_SERVING_CATALOG_H_
#define RECBANDIT_SERVICES_SERVING_CATALOG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "bandits/stored_features.h"
#include "proto/catalog.pb.h"
#include "ranking/filter_expression.h"
#include "services/serving/serving_model.h"

namespace rocksdb {
class DB;
}  // namespace rocksdb

namespace recbandit::services {

// Catalog bounds (proto/catalog.proto documents each).
struct CatalogLimits {
  int max_per_call = 1000;            // items or users per PutItems / PutUsers
  int max_categories = 32;
  int max_tags = 64;
  int max_numbers = 32;               // numeric fields per record
  size_t max_value_bytes = 128;       // a category or tag
  int64_t max_records = 10000000;     // items, and users, in the catalog
  int max_numeric_fields = 256;       // distinct numeric field names
  // A filter allowing at most this many of a model's items scores them by a
  // scan (FilteredRows::FromAllowed).
  size_t scan_rows = FilteredRows::kScanRows;
};

// The items of a catalog a model has no vector for (new items, proto
// NewItemExploration) with the vectors their metadata gives them: the mean
// of their categories' mean vectors over the model's items in those
// categories, or the mean of all the model's items when none of their
// categories has one (biases likewise). Immutable.
struct NewItemPool {
  // At most this many, the most recently created first.
  static constexpr size_t kMaxItems = 10000;
  struct Item {
    std::string id;
    CatalogItem record;  // for filters; never hidden
  };
  int32_t factors = 0;
  std::vector<Item> items;     // newest first
  std::vector<float> vectors;  // items.size() x factors
  std::vector<float> biases;   // per item; empty when the model has none
  // Returns item i's metadata score for `user` (factors long).
  float Score(size_t i, absl::Span<const float> user) const;
};

// Thread-safe. Writes are serialized; readers take a shared lock only while
// they bind a filter or compute a model's allowed rows (results cached).
//
//   ASSIGN_OR_RETURN(auto catalog, Catalog::Open(data_dir));
//   ASSIGN_OR_RETURN(auto filter, catalog->Compile(request.filter(), true, user));
//   query.filter = filter;  // null when nothing is filtered
class Catalog : public bandits::AttributeSource {
 public:
  // Opens (creating) the catalog under `data_dir`/catalog and loads it.
  // UNAVAILABLE when another process holds it; DATA_LOSS for a damaged one.
  static absl::StatusOr<std::unique_ptr<Catalog>> Open(const std::string& data_dir,
                                                       CatalogLimits limits = {});
  ~Catalog();

  // Stores the request's items (PutItems): INVALID_ARGUMENT naming items[i]
  // and the field; RESOURCE_EXHAUSTED past max_records or
  // max_numeric_fields; UNAVAILABLE when not written (nothing changes).
  absl::StatusOr<PutItemsResponse> PutItems(const PutItemsRequest& request);
  // Stores the request's users (PutUsers), as PutItems.
  absl::StatusOr<PutUsersResponse> PutUsers(const PutUsersRequest& request);

  // Returns the filter of a request for `user` (has_user false: SimilarItems),
  // or null when nothing is filtered (no expression, no hidden item).
  // INVALID_ARGUMENT "filter.expression: column C: ..." or
  // "filter.parameters...: ..." for a bad filter.
  absl::StatusOr<std::shared_ptr<const RowFilter>> Compile(const Filter& filter, bool has_user,
                                                           const std::string& user) const;

  // Returns `model`'s new items (never null; cached per model snapshot and
  // catalog version).
  std::shared_ptr<const NewItemPool> NewItems(const ServingModel& model) const;

  // Returns the item's stored record, or nullopt.
  std::optional<CatalogItem> GetItem(const std::string& item) const override;
  // Returns the user's stored record, or nullopt.
  std::optional<CatalogUser> GetUser(const std::string& user) const override;
  // Returns true when some item or user has stored the numeric field `name`.
  bool HasNumericField(const std::string& name) const override;
  int64_t num_items() const;
  int64_t num_users() const;

 private:
  // RESOURCE_EXHAUSTED when `fresh` more records of `kind` (beside the `held`
  // ones) or the numeric field `names` would pass the catalog's bounds.
  absl::Status CheckRoom(absl::string_view kind, size_t held, int64_t fresh,
                         const absl::flat_hash_set<std::string>& names) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  class RequestFilter;
  Catalog(CatalogLimits limits, std::unique_ptr<rocksdb::DB> db);
  absl::Status Load();
  // Returns OK when `numbers`' names and values follow the rules; `where` names the record.
  absl::Status CheckRecord(const std::string& where,
                           const google::protobuf::RepeatedPtrField<std::string>& categories,
                           const google::protobuf::RepeatedPtrField<std::string>& tags,
                           const google::protobuf::Map<std::string, double>& numbers) const;
  // Returns the parsed expression, from the cache when seen before.
  absl::StatusOr<std::shared_ptr<const ranking::FilterExpression>> Parse(
      const std::string& expression) const;
  // Returns the rows of `model` that `bound` allows (cached under `key`).
  std::shared_ptr<const FilteredRows> Rows(const ServingModel& model,
                                           const ranking::BoundFilter* bound,
                                           const std::string& key) const;

  const CatalogLimits limits_;
  std::unique_ptr<rocksdb::DB> db_;
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // one writer at a time
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, CatalogItem> items_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, CatalogUser> users_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> numeric_fields_ ABSL_GUARDED_BY(mu_);
  int64_t hidden_ ABSL_GUARDED_BY(mu_) = 0;   // hidden items
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by every write

  // Bounded caches (cleared when full): parsed expressions by text, and
  // allowed rows by model, catalog version and bound filter.
  static constexpr size_t kMaxCached = 256;
  static constexpr int64_t kMaxCachedRowBytes = 64 << 20;
  mutable absl::Mutex cache_mu_ ABSL_ACQUIRED_AFTER(mu_);
  mutable absl::flat_hash_map<std::string, std::shared_ptr<const ranking::FilterExpression>>
      parsed_ ABSL_GUARDED_BY(cache_mu_);
  mutable absl::flat_hash_map<std::string, std::shared_ptr<const FilteredRows>> rows_
      ABSL_GUARDED_BY(cache_mu_);
  mutable int64_t rows_bytes_ ABSL_GUARDED_BY(cache_mu_) = 0;
  // New items by model snapshot and catalog version (a few models at once).
  static constexpr size_t kMaxCachedPools = 8;
  mutable absl::flat_hash_map<std::string, std::shared_ptr<const NewItemPool>> new_items_
      ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_CATALOG_H_

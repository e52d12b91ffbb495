// ServingModel: a trained model and its item index published together as one
// immutable snapshot, the recommend path over it (retrieve N candidates ->
// exact rescoring -> top k, for known, folded-in and cold users), and
// ModelSlot, which swaps snapshots atomically while readers finish on theirs.
#ifndef RECBANDIT_SERVICES_SERVING_SERVING_MODEL_H_
#define RECBANDIT_SERVICES_SERVING_SERVING_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "ranking/factor_model.h"
#include "ranking/fold_in.h"
#include "proto/catalog.pb.h"
#include "retrieval/item_index.h"
#include "services/serving/recent_events.h"

namespace recbandit::services {

// File name of the item index inside a model directory.
inline constexpr char kItemIndexFile[] = "items.index";

class ServingModel;

// The item rows of one model a request may return (catalog filters and
// hidden items, services/serving/catalog.h). Immutable once built.
struct FilteredRows {
  // Allowed rows at most this many are scored exactly by a scan over them;
  // more go to the index with the rest excluded (bench/RESULTS.md,
  // "Catalog filters").
  static constexpr size_t kScanRows = 20000;
  bool scan = false;              // score `allowed` exactly, no index search
  std::vector<int32_t> allowed;   // sorted rows; filled when scan
  std::vector<int32_t> excluded;  // sorted rows never returned; when !scan
  // Returns rows for a model of `n` items from its sorted allowed rows.
  // `scan_rows` or fewer allowed rows are scanned.
  static FilteredRows FromAllowed(std::vector<int32_t> allowed, int32_t n,
                                  size_t scan_rows = kScanRows);
  // Returns whether `row` may be returned.
  bool Allows(int32_t row) const;
  // Merges `excluded` into the sorted rows `exclude` (index path: the index
  // skips them and still fills k).
  void AddExcludedTo(std::vector<int32_t>* exclude) const;
};

// Gives, for a model snapshot, the rows a request's filter allows.
// Thread-safe.
class RowFilter {
 public:
  virtual ~RowFilter() = default;
  // Returns the rows of `model` the filter allows (never null).
  virtual std::shared_ptr<const FilteredRows> Rows(const ServingModel& model) const = 0;
  // Returns whether the catalog item `id` with record `item` may be returned
  // (for items no model row stands for: new items).
  virtual bool AllowsRecord(const std::string& id, const CatalogItem& item) const = 0;
};

struct RecommendQuery {
  std::string user;                        // external user id
  int32_t k = 10;                          // 1..1000
  bool exclude_seen = true;                // drop the user's training items
  std::vector<std::string> exclude_items;  // never return these (unknown ids ignored)
  // Recent items (external ids) folded into the user's vector: for users the
  // model has not seen, or to reflect events newer than the model. Each
  // counts once with weight 1, whatever the model's event weights.
  std::vector<std::string> recent_items;
  // The user's stored real-time events (RecentEvents::Events), folded in
  // with the model's event weights (ServingModel::UserVector); those that
  // count are excluded as seen.
  std::vector<RecentEvent> recent_events;
  retrieval::SearchParams search;          // efSearch / nprobe for this request
  // Candidates fetched from the index before exact rescoring; 0 = max(4k, 50).
  int32_t candidates = 0;
  // Catalog filter; null = every item allowed.
  std::shared_ptr<const RowFilter> filter;
};

struct ScoredItemId {
  std::string item;
  float score = 0;
};

struct Recommendation {
  std::vector<ScoredItemId> items;  // best first
  bool fallback = false;            // popularity fallback (cold user)
};

// One model version ready to serve. Immutable: thread-safe.
class ServingModel {
 public:
  // Returns a snapshot over `model` and `index` (built from its item factors).
  // `index_bytes` is the index's size (its file's); -1 estimates it.
  // INVALID_ARGUMENT when the manifest's event weights or min_weight are out
  // of bounds (ranking::ValidateWeighting).
  static absl::StatusOr<std::shared_ptr<const ServingModel>> Create(
      ranking::FactorModel model, std::unique_ptr<retrieval::ItemIndex> index,
      std::string name, int64_t version, int64_t index_bytes = -1);

  // Loads the model in `dir` and its item index (`items.index`); when the
  // directory has no index, builds `default_index` ("Exact" unless told).
  // `name` / `version` label the snapshot ("" / 0: the manifest's).
  static absl::StatusOr<std::shared_ptr<const ServingModel>> Load(
      const std::string& dir, const std::string& default_index = "Exact",
      const std::string& name = "", int64_t version = 0);

  // Returns the top-k for a query. INVALID_ARGUMENT for k out of [1, 1000].
  // Unknown users without recent items get the most popular allowed items
  // with fallback = true.
  absl::StatusOr<Recommendation> Recommend(const RecommendQuery& query) const;

  // Returns Recommend for every model user in `users` (dense ids; all users
  // when empty), using batched index search on `threads` threads, only rows
  // `rows` allows (null: all). Results equal one-at-a-time Recommend calls
  // with the same settings.
  absl::StatusOr<std::vector<Recommendation>> RecommendBatch(
      absl::Span<const int32_t> users, int32_t k, bool exclude_seen,
      const retrieval::SearchParams& search, int32_t threads,
      const FilteredRows* rows = nullptr) const;

  // Returns the k items most similar to `item` (inner product of item
  // vectors), never `item` itself, only items `filter` (may be null) allows.
  // NOT_FOUND for an unknown item.
  absl::StatusOr<Recommendation> Similar(const std::string& item, int32_t k,
                                         const RowFilter* filter = nullptr) const;

  // Returns `items` re-ranked for `user` by exact score (unknown items last,
  // score 0 and in the given order), the user's vector as UserVector's.
  absl::StatusOr<Recommendation> RankItems(
      const std::string& user, const std::vector<std::string>& items,
      const std::vector<std::string>& recent_items,
      absl::Span<const RecentEvent> recent_events = {}) const;

  // Returns the user's vector: the model's row when no recent item or event
  // counts, else the fold-in (ranking::FoldIn) of the user's model items,
  // `recent_items` and `recent_events`, each item weighed by:
  //   1 when it is a model item of the user or in `recent_items` (once,
  //   however often listed), plus the sum over its `recent_events` of
  //   count x EventWeight(weight, event_type) under the model's manifest
  //   params (own weight x event_weights[type], x1 when not listed; an event
  //   weighed 0 or below min_weight is dropped, as training drops its row);
  //   1 for every item with a positive sum with binary, or for BPR models.
  // Items unknown to the model are ignored; empty when the user is cold
  // (unknown, and nothing counts).
  absl::StatusOr<std::vector<float>> UserVector(
      const std::string& user, const std::vector<std::string>& recent_items,
      absl::Span<const RecentEvent> recent_events = {}) const;

  const ranking::FactorModel& model() const { return model_; }
  const retrieval::ItemIndex& index() const { return *index_; }
  const std::string& name() const { return name_; }
  int64_t version() const { return version_; }
  // Returns the bytes this snapshot holds (factors, id maps, seen items,
  // index), mapped or not: what a memory budget counts.
  int64_t memory_bytes() const { return memory_bytes_; }

 private:
  ServingModel(ranking::FactorModel model, std::unique_ptr<retrieval::ItemIndex> index,
               std::string name, int64_t version, int64_t index_bytes,
               ranking::EventWeighting weighting);
  float ExactScore(absl::Span<const float> user, int32_t item) const;
  // Rescores `candidates` exactly for `user` and keeps the best k.
  Recommendation Rescore(absl::Span<const float> user, const retrieval::SearchResult& candidates,
                         int32_t k) const;
  static int32_t CandidateCount(int32_t k, int32_t candidates) {
    return candidates > 0 ? std::max(candidates, k) : std::max(4 * k, 50);
  }
  std::vector<int32_t> Exclusions(int32_t user, const RecommendQuery& query) const;
  // Returns (item row, summed EventWeight) of the `events` that count (known
  // items, a positive weight), one per item, sorted by row.
  std::vector<std::pair<int32_t, float>> WeighEvents(absl::Span<const RecentEvent> events) const;
  // Returns the best `k` of `rows.allowed` not in `exclude` (sorted) by exact
  // score for `user`: the filtered path for few allowed rows.
  Recommendation ScanAllowed(absl::Span<const float> user, const FilteredRows& rows,
                             absl::Span<const int32_t> exclude, int32_t k) const;

  ranking::FactorModel model_;
  std::unique_ptr<retrieval::ItemIndex> index_;
  std::unique_ptr<ranking::FoldIn> fold_in_;
  ranking::EventWeighting weighting_;  // the manifest's event weights
  std::vector<int32_t> by_popularity_;  // item ids, most popular first
  std::string name_;
  int64_t version_;
  int64_t memory_bytes_ = 0;
};

// Holds the current snapshot; Swap publishes a new one atomically. Readers
// keep the snapshot they got until they drop it. Thread-safe.
class ModelSlot {
 public:
  std::shared_ptr<const ServingModel> Get() const ABSL_LOCKS_EXCLUDED(mu_);
  // Publishes `model`; returns the previous snapshot (possibly null).
  std::shared_ptr<const ServingModel> Swap(std::shared_ptr<const ServingModel> model)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const ServingModel> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_SERVING_MODEL_H_

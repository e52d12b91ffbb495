// Implicit-feedback interactions: string id maps, the raw interaction log read
// from CSV/TSV/whitespace files, and the CSR user x item matrix built from it.
#ifndef RECBANDIT_RANKING_INTERACTIONS_H_
#define RECBANDIT_RANKING_INTERACTIONS_H_

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "ranking/short_id_table.h"

namespace recbandit::ranking {

// Maps external string ids to dense ints 0..size()-1 and back, in first-seen
// order. Thread-compatible.
class IdMap {
 public:
  IdMap() = default;
  IdMap(IdMap&&) = default;
  IdMap& operator=(IdMap&&) = default;
  // Copies rebuild the index (string_views point into the names).
  IdMap(const IdMap& other);
  IdMap& operator=(const IdMap& other);

  // Returns the dense id of `id`, adding it when new.
  int32_t GetOrAdd(std::string_view id);
  // Returns the dense id of `id`, or -1 when unknown.
  int32_t Find(std::string_view id) const;

  // An id prepared for a later GetOrAdd: its key and hash computed once. It
  // stays valid while ids are added (the hash does not depend on the table's
  // size) and borrows the id's bytes. See Prefetch.
  struct Probe {
    std::string_view id;
    int64_t numeric = -1;  // NumericValue(id)
    bool hashed = false;   // key and hash are set
    internal::ShortIdTable::Key key;
    uint64_t hash = 0;
  };
  // Returns `id` prepared, and starts loading what its lookup will read (its
  // hash bucket), so that a GetOrAdd(probe) some lines later does not wait on
  // memory. The loader calls it a few lines ahead.
  Probe Prefetch(std::string_view id) const;
  // Returns GetOrAdd(probe.id). REQUIRES: `probe` came from this map's
  // Prefetch (or a copy's: equal hashes) and its id's bytes are alive.
  int32_t GetOrAdd(const Probe& probe);
  // Returns the external id of dense id `i`. REQUIRES: 0 <= i < size().
  const std::string& Name(int32_t i) const { return names_[i]; }
  int32_t size() const { return static_cast<int32_t>(names_.size()); }
  // Returns an estimate of the bytes held.
  size_t MemoryBytes() const;

 private:
  // Returns the value of a canonical decimal id ("0", "42"; no sign, no
  // leading zero) below kMaxNumericId, or -1.
  static int64_t NumericValue(std::string_view id);
  static constexpr int64_t kMaxNumericId = int64_t{1} << 26;
  // The direct table never holds more than kNumericSlack entries per id held
  // (plus kNumericSlack * 4096): one large id ("67108863") alone is hashed
  // instead of costing a 256 MB table.
  static constexpr int64_t kNumericSlack = 16;
  // Returns `probe` with its key and hash set, for an id of at most
  // kMaxShortKey bytes.
  Probe& Hashed(Probe& probe) const;
  // Returns the dense id of `probe.id` in the hash indexes, or -1.
  int32_t FindHashed(Probe probe) const;

  static constexpr size_t kMaxShortKey = internal::ShortIdTable::kMaxKeyBytes;

  std::deque<std::string> names_;  // stable addresses for the index keys
  // Numeric ids (MovieLens-style) skip hashing: numeric_[value] = dense id + 1
  // (0: not in the table; the id may still be in index_, see kNumericSlack).
  std::vector<int32_t> numeric_;
  // Ids of at most kMaxShortKey bytes, keyed inline.
  internal::ShortIdTable short_index_;
  // Longer ids. absl::string_view keys: hashed with absl's fast hash
  // (std::string_view would fall back to std::hash in Debian's abseil build).
  absl::flat_hash_map<absl::string_view, int32_t> index_;
};

// The interactions as read, one entry per input line, in file order (user and
// item are dense ids into `users` / `items`). Thread-compatible.
struct InteractionLog {
  // At most this many distinct event types in one log.
  static constexpr int32_t kMaxEventTypes = 256;

  IdMap users;
  IdMap items;
  IdMap event_types;              // names of the event types met (fifth column)
  std::vector<int32_t> user;
  std::vector<int32_t> item;
  std::vector<float> weight;      // 1 when the file has no weight column
  std::vector<int64_t> timestamp; // 0 when the file has no timestamp column
  // Per row, an index into event_types, or -1 for a row without a type; empty
  // while no row has one (files without the column cost nothing).
  std::vector<int16_t> event_type;
  bool has_timestamps = false;

  int64_t size() const { return static_cast<int64_t>(user.size()); }
  // Returns row r's event type name, "" when it has none.
  const std::string& EventTypeName(int64_t r) const;
  // Appends a row; `type` is an index into event_types or -1 (no type).
  void Add(int32_t u, int32_t i, float w, int64_t ts, int16_t type = -1) {
    if (type >= 0 || !event_type.empty()) {
      event_type.resize(user.size(), -1);  // the untyped rows before the first typed one
      event_type.push_back(type);
    }
    user.push_back(u);
    item.push_back(i);
    weight.push_back(w);
    timestamp.push_back(ts);
  }
  size_t MemoryBytes() const;
};

struct LoadOptions {
  // Skip malformed lines (counted in LoadStats) instead of failing.
  bool skip_bad_lines = false;
  // Whether the first line is a header. kAuto: it is when its weight or
  // timestamp column is not a number, or its first field names a user column
  // ("user", "userId", "user_id", ...).
  enum class Header { kAuto, kYes, kNo } header = Header::kAuto;
  // Field separator; 0 detects it from the first line (',' then '\t' then
  // runs of spaces/tabs).
  char delimiter = 0;
};

struct LoadStats {
  int64_t lines = 0;          // data lines read (header and blank lines excluded)
  int64_t skipped_lines = 0;  // malformed lines skipped (skip_bad_lines)
  std::string first_error;    // message for the first skipped line
  bool had_header = false;
};

// Returns "<path>: skipped N bad lines; first: <error>" (the path bounded)
// when `stats` counts skipped lines, "" otherwise: the warning every command
// that loads interactions prints.
std::string SkippedLinesWarning(const std::string& path, const LoadStats& stats);

// Returns OK when `log` (loaded from `path` with `stats`) has interactions;
// INVALID_ARGUMENT "<path>: no interactions" otherwise, saying when its one
// line was read as a header.
absl::Status CheckHasInteractions(const InteractionLog& log, const std::string& path,
                                  const LoadStats& stats);

// Returns the interactions in `path`: columns
// user,item[,weight[,timestamp[,event_type]]], comma, tab or whitespace
// separated, optional header. MovieLens u.data and ratings.csv load as they
// are. An event type ("click", "purchase") follows the name rule
// (proto/core/names.h); at most kMaxEventTypes distinct ones. A malformed
// line is INVALID_ARGUMENT naming the file, line number and problem (unless
// options.skip_bad_lines).
absl::StatusOr<InteractionLog> LoadInteractions(const std::string& path,
                                                const LoadOptions& options = {},
                                                LoadStats* stats = nullptr);

// Same, over in-memory `contents`; `name` is used in error messages.
absl::StatusOr<InteractionLog> ParseInteractions(std::string_view contents,
                                                 std::string_view name,
                                                 const LoadOptions& options = {},
                                                 LoadStats* stats = nullptr);

namespace internal {
// ParseInteractions with the fast path for plain lines on or off: the same
// result either way (the tests hold the general path as the oracle).
absl::StatusOr<InteractionLog> ParseInteractions(std::string_view contents,
                                                 std::string_view name,
                                                 const LoadOptions& options, LoadStats* stats,
                                                 bool fast_path);
}  // namespace internal

// Writes `log` rows [all, or those in `rows`] as CSV with the header
// user,item,weight,timestamp (and event_type when the log has types),
// atomically.
absl::Status WriteInteractions(const std::string& path, const InteractionLog& log,
                               absl::Span<const int64_t> rows);
absl::Status WriteInteractions(const std::string& path, const InteractionLog& log);

// How training reads weights (TrainParams event_weights, min_weight, binary).
struct WeightingOptions {
  // Multiplier of each event type's weight; types not listed keep theirs
  // (x1), rows without a type too. Each name follows the name rule; >= 0.
  std::vector<std::pair<std::string, float>> event_weights;
  // Rows whose weight (after event_weights) is below this are dropped; rows
  // of weight 0 always are. >= 0.
  float min_weight = 0;
  // Every kept (user, item) pair counts once, with weight 1.
  bool binary = false;
};

// What Reweight did.
struct WeightingStats {
  int64_t kept = 0;
  int64_t dropped = 0;     // below min_weight or of weight 0
  int64_t duplicates = 0;  // repeated (user, item) pairs merged by binary
};

// Returns a row's training weight under `options`: `weight` times
// `type_factor` (its event type's event_weights entry; 1 for a row without a
// type or of a type not listed), or 0 when the row is dropped (the product is
// <= 0 or below options.min_weight). Merging a (user, item) pair's rows (a
// sum, or 1 with binary) is the caller's. Training (Reweight) and fold-in
// (ranking::EventWeighting, ranking/fold_in.h) both weigh rows through it.
float RowWeight(float weight, float type_factor, const WeightingOptions& options);

// Returns the event weights of "click=1,purchase=5" (INVALID_ARGUMENT naming
// `field` for a bad name, a missing '=', a weight that is not a finite number
// >= 0, a repeated type, or more than kMaxEventTypes entries).
absl::StatusOr<std::vector<std::pair<std::string, float>>> ParseEventWeights(
    std::string_view list, std::string_view field);

// Applies `options` to `log` in place (rows dropped keep the order of the
// others). INVALID_ARGUMENT when event_weights names a type the log does not
// have (a typo would otherwise weigh nothing), naming `source` and the types
// it has.
absl::StatusOr<WeightingStats> Reweight(const WeightingOptions& options, std::string_view source,
                                        InteractionLog* log);

// Compressed sparse rows: row r's columns are indices[indptr[r]..indptr[r+1])
// sorted ascending with matching values. Thread-compatible.
struct CsrMatrix {
  int32_t rows = 0;
  int32_t cols = 0;
  std::vector<int64_t> indptr;   // rows + 1 entries
  std::vector<int32_t> indices;  // nnz
  std::vector<float> values;     // nnz

  int64_t nnz() const { return static_cast<int64_t>(indices.size()); }
  int32_t RowSize(int32_t r) const {
    return static_cast<int32_t>(indptr[r + 1] - indptr[r]);
  }
  absl::Span<const int32_t> RowIndices(int32_t r) const {
    return absl::MakeConstSpan(indices.data() + indptr[r], RowSize(r));
  }
  absl::Span<const float> RowValues(int32_t r) const {
    return absl::MakeConstSpan(values.data() + indptr[r], RowSize(r));
  }
  // Returns whether (r, c) is stored (binary search).
  bool Contains(int32_t r, int32_t c) const;
  // Returns the transpose (cols x rows).
  CsrMatrix Transpose() const;
  size_t MemoryBytes() const;
};

// The user x item matrix used for training: duplicates (same user and item)
// summed, with its transpose and the id maps. Immutable after construction.
// Thread-safe for concurrent reads.
class Interactions {
 public:
  Interactions() = default;
  // Builds from a log; duplicate (user, item) pairs sum their weights.
  static Interactions FromLog(const InteractionLog& log);
  // Builds from a log whose id maps are fixed externally (e.g. a model's):
  // rows with users/items unknown to `users`/`items` are dropped and counted.
  static Interactions FromLogWithIds(const InteractionLog& log, const IdMap& users,
                                     const IdMap& items, int64_t* dropped);

  const CsrMatrix& user_items() const { return user_items_; }
  const CsrMatrix& item_users() const { return item_users_; }
  const IdMap& users() const { return users_; }
  const IdMap& items() const { return items_; }
  int32_t num_users() const { return user_items_.rows; }
  int32_t num_items() const { return user_items_.cols; }
  int64_t nnz() const { return user_items_.nnz(); }
  size_t MemoryBytes() const;

 private:
  static CsrMatrix BuildCsr(int32_t rows, int32_t cols,
                            absl::Span<const int32_t> r, absl::Span<const int32_t> c,
                            absl::Span<const float> v);
  IdMap users_;
  IdMap items_;
  CsrMatrix user_items_;
  CsrMatrix item_users_;
};

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_INTERACTIONS_H_

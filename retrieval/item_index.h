// ItemIndex: top-k inner-product search over item vectors, with exclusions.
// Built from a FAISS index_factory string ("Flat", "HNSW32", "IVF256,Flat",
// "IVF256,PQ16", ...), "Exact" (our own SIMD scan over contiguous float32) or
// "Graph<M>" (our own graph walked on 8-bit codes, retrieval/graph_index.h).
#ifndef RECBANDIT_RETRIEVAL_ITEM_INDEX_H_
#define RECBANDIT_RETRIEVAL_ITEM_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/core/progress.h"

namespace recbandit::retrieval {

// Per-request search knobs; 0 keeps the index's own default.
struct SearchParams {
  int32_t ef_search = 0;  // HNSW beam width, 1..4096
  int32_t nprobe = 0;     // IVF lists probed, 1..nlist
};

// Results best first: ids are item row numbers (0..size()-1), scores inner
// products (approximate for PQ indexes).
struct SearchResult {
  std::vector<int32_t> ids;
  std::vector<float> scores;
};

struct IndexBuildOptions {
  int32_t hnsw_ef_construction = 200;  // HNSW build beam width
  int32_t hnsw_ef_search = 128;        // HNSW default search beam width
  int32_t ivf_nprobe = 16;             // IVF default lists probed
  int32_t threads = 1;                 // build threads (FAISS OpenMP)
  uint64_t seed = 1;                   // k-means seed for IVF/PQ training
  // Hears (items added, n) after each batch of at most
  // max(kIndexAddBatch, n / 20) items, on the calling thread. May be empty.
  ProgressCallback progress;
};

// Items are added to a FAISS index in batches of at least this many (so a
// progress line moves during a long HNSW build); every caller gets the same
// batches, so the same vectors always give the same index.
inline constexpr int64_t kIndexAddBatch = 16384;

// Row-major item vectors (n x dim, float32) indexed for inner-product search.
// Immutable after Build/Load: Search is thread-safe.
//
//   ASSIGN_OR_RETURN(auto index, BuildItemIndex("HNSW32", factors, 64, {}));
//   SearchResult top;
//   RETURN_IF_ERROR(index->Search(user_vector, 10, seen_items, {}, &top));
class ItemIndex {
 public:
  virtual ~ItemIndex() = default;

  // Fills *out with the k best items by inner product with `query` (dim
  // floats), never one listed in `exclude` (ids sorted ascending, duplicates
  // allowed). Returns exactly k results whenever at least k items are not
  // excluded. INVALID_ARGUMENT for a wrong query size, k < 1 or bad params.
  virtual absl::Status Search(absl::Span<const float> query, int32_t k,
                              absl::Span<const int32_t> exclude,
                              const SearchParams& params, SearchResult* out) const = 0;

  // Searches nq = queries.size() / dim() queries; excludes[q] applies to query
  // q (or is empty). Uses `threads` threads. Results equal one-at-a-time
  // Search calls.
  virtual absl::Status SearchBatch(absl::Span<const float> queries, int32_t k,
                                   const std::vector<std::vector<int32_t>>& excludes,
                                   const SearchParams& params, int32_t threads,
                                   std::vector<SearchResult>* out) const;

  // Writes the index to `path` atomically (faiss::write_index for FAISS kinds).
  virtual absl::Status Save(const std::string& path) const = 0;

  virtual const std::string& factory() const = 0;
  virtual int64_t size() const = 0;
  virtual int32_t dim() const = 0;
  // Returns whether results are exact (Flat, Exact).
  virtual bool exact() const = 0;
};

// Returns OK when `factory` names an index kind BuildItemIndex can build for
// vectors of `dim` (and, when items > 0, for `items` of them), without
// building it: the grammar and bounds of ParseIndexFactory
// (retrieval/index_factory.h). INVALID_ARGUMENT naming the part otherwise.
absl::Status ValidateIndexFactory(const std::string& factory, int32_t dim, int64_t items = 0);

// Returns an index of kind `factory` over `vectors` (n x dim, row-major),
// trained when the kind needs it. INVALID_ARGUMENT for a factory string
// ValidateIndexFactory refuses for these vectors (e.g. more IVF lists than
// items) or options out of bounds (beams in [1, 4096], nprobe in [1, 65536],
// threads in [1, 256]).
absl::StatusOr<std::unique_ptr<ItemIndex>> BuildItemIndex(
    const std::string& factory, absl::Span<const float> vectors, int32_t dim,
    const IndexBuildOptions& options);

// Returns the index saved at `path` by ItemIndex::Save. `vectors` must be the
// item vectors it was built from (the "Exact" kind stores none of its own;
// FAISS kinds check the count and dimension). DATA_LOSS for a corrupt or
// truncated file, NOT_FOUND when missing.
absl::StatusOr<std::unique_ptr<ItemIndex>> LoadItemIndex(
    const std::string& path, absl::Span<const float> vectors, int32_t dim);

// Returns the exact top-k by brute force (the oracle in tests and the
// recall baseline in benchmarks). Same contract as ItemIndex::Search.
SearchResult ExactTopK(absl::Span<const float> vectors, int32_t dim,
                       absl::Span<const float> query, int32_t k,
                       absl::Span<const int32_t> exclude);

}  // namespace recbandit::retrieval

#endif  // RECBANDIT_RETRIEVAL_ITEM_INDEX_H_

// The index factory strings recbandit accepts, checked before FAISS sees
// them: FAISS asserts abort the process rather than throw, so only strings
// of a known grammar with bounded parameters ever reach faiss::index_factory.
#ifndef RECBANDIT_RETRIEVAL_INDEX_FACTORY_H_
#define RECBANDIT_RETRIEVAL_INDEX_FACTORY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace recbandit::retrieval {

// Bounds of the parameters a factory string may carry.
inline constexpr int32_t kMaxIndexDim = 4096;
inline constexpr int32_t kMinHnswM = 4;
inline constexpr int32_t kMaxHnswM = 128;
inline constexpr int32_t kMaxIvfLists = 65536;
inline constexpr int32_t kMaxPqBits = 12;
inline constexpr int32_t kMaxBeam = 4096;  // efConstruction, efSearch

// One parsed factory string. The grammar (every number decimal, no sign):
//   Exact | Flat | HNSW<M>[,Flat] | PQ<m>[x<nbits>] | SQ4 | SQ6 | SQ8 | SQfp16
//   | IVF<nlist>,(Flat | PQ<m>[x<nbits>] | SQ4 | SQ6 | SQ8 | SQfp16)
//   | Graph<M>[,SQ8 | ,SQ4]
// with M in [4, 128] (Graph<M> is our own graph index, retrieval/graph_index.h,
// walked on 8-bit codes (",SQ8", the default; sq_type "8") or 4-bit codes
// (",SQ4"; sq_type "4") and re-ranked exactly), nlist in [1, 65536] (and at most the number of items),
// m dividing the dimension, nbits in [1, 12] (2^nbits at most the number of
// items, which k-means needs to train the codebooks).
struct IndexSpec {
  enum class Kind { kExact, kFlat, kHnsw, kIvf, kPq, kSq, kGraph };
  Kind kind = Kind::kExact;
  int32_t hnsw_m = 0;    // kHnsw, kGraph
  int32_t ivf_lists = 0; // kIvf; the fine kind is `fine`
  Kind fine = Kind::kFlat;  // kIvf: kFlat, kPq or kSq
  int32_t pq_m = 0;      // kPq, or kIvf with fine kPq
  int32_t pq_bits = 8;
  std::string sq_type;   // "4", "6", "8", "fp16"; kGraph: "8" or "4"
};

// Returns the parsed spec when `factory` follows the grammar above for
// vectors of `dim` floats and (when items > 0) `items` vectors; items <= 0
// skips the checks that need the item count. INVALID_ARGUMENT naming the
// part and its bound otherwise (the string is quoted bounded).
absl::StatusOr<IndexSpec> ParseIndexFactory(absl::string_view factory, int32_t dim,
                                            int64_t items = 0);

}  // namespace recbandit::retrieval

#endif  // RECBANDIT_RETRIEVAL_INDEX_FACTORY_H_

// Exact top-k inner-product scan over contiguous float32 rows: the "Exact"
// index kind and the oracle for every approximate kind.
#ifndef RECBANDIT_RETRIEVAL_SCAN_H_
#define RECBANDIT_RETRIEVAL_SCAN_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace recbandit::retrieval {

// Writes to out[i] the inner product of row i of `rows` (n x dim, row-major)
// with `query`, for i in [0, n). Vectorized for AVX-512, AVX2 or baseline
// x86-64, chosen at run time (function multiversioning).
void InnerProducts(const float* rows, int64_t n, int32_t dim, const float* query,
                   float* out);

// Fills ids/scores with the k best rows by inner product with `query`, best
// first (ties: lower id first), skipping ids in `exclude` (sorted ascending).
// Fewer than k only when fewer rows are allowed.
void TopKScan(const float* rows, int64_t n, int32_t dim, const float* query, int32_t k,
              absl::Span<const int32_t> exclude, std::vector<int32_t>* ids,
              std::vector<float>* scores);

}  // namespace recbandit::retrieval

#endif  // RECBANDIT_RETRIEVAL_SCAN_H_

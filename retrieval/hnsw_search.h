// Beam search over a FAISS HNSW graph with a per-request efSearch.
// FAISS 1.7.3 ignores SearchParametersHNSW::efSearch (only the shared
// index's own field counts, and changing it races with other readers), so we
// walk FAISS's graph ourselves: same graph, per-call beam width, exclusions
// skipped in the results but still traversed, no OpenMP region per query.
#ifndef RECBANDIT_RETRIEVAL_HNSW_SEARCH_H_
#define RECBANDIT_RETRIEVAL_HNSW_SEARCH_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace faiss {
struct IndexHNSW;
}

namespace recbandit::retrieval {

// Fills ids/scores with up to k allowed items (not in `exclude`, sorted
// ascending) by inner product, best first, from a beam search of width
// max(ef, k) at level 0. REQUIRES: `index` stores float vectors (HNSW<M> or
// HNSW<M>,Flat) with inner-product metric. Thread-safe for concurrent calls.
void HnswSearch(const faiss::IndexHNSW& index, const float* query, int32_t k, int32_t ef,
                absl::Span<const int32_t> exclude, std::vector<int32_t>* ids,
                std::vector<float>* scores);

// Returns the float vectors of an HNSW index's flat storage, or nullptr when
// the storage is not a flat float index.
const float* HnswStorageVectors(const faiss::IndexHNSW& index);

}  // namespace recbandit::retrieval

#endif  // RECBANDIT_RETRIEVAL_HNSW_SEARCH_H_

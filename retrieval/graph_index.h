// The "Graph<M>[,SQ8|,SQ4]" item index: an HNSW graph built with hnswlib's
// inserter, then laid out in our own flat image (each node's level-0
// neighbour ids with the neighbours' 8-bit or 4-bit scalar-quantised codes
// beside them), searched on the codes and re-ranked exactly on float32 vectors.
// Code kernels: retrieval/graph_kernels.h.
// The image is the file: Save writes it, Load maps it without copying.
// Byte format: retrieval/graph_format.md.
#ifndef RECBANDIT_RETRIEVAL_GRAPH_INDEX_H_
#define RECBANDIT_RETRIEVAL_GRAPH_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "retrieval/item_index.h"

namespace recbandit::retrieval {

// The first 8 bytes of a saved graph index.
inline constexpr char kGraphMagic[8] = {'R', 'B', 'G', 'R', 'A', 'P', 'H', '1'};

// Returns a graph index of degree `m` (level 0 holds up to 2m neighbours),
// walked on `code_bits` (8 or 4) scalar codes, over `vectors` (n x dim, row-major, finite; checked by the caller), built
// on options.threads threads with beam options.hnsw_ef_construction and
// level draws seeded by options.seed. One thread gives the same index for
// the same inputs; more threads insert concurrently and the graph depends
// on their timing (as FAISS's and hnswlib's do).
absl::StatusOr<std::unique_ptr<ItemIndex>> BuildGraphIndex(const std::string& factory,
                                                           int32_t m, int32_t code_bits,
                                                           absl::Span<const float> vectors,
                                                           int32_t dim,
                                                           const IndexBuildOptions& options);

// Returns the graph index whose saved image is `bytes`, viewed in place
// (`owner` keeps the bytes alive, e.g. a mapped ArtifactFile). Checks the
// header, every size against the byte count, the CRC-32C and every stored id:
// DATA_LOSS naming `name` for a corrupt or truncated image, never a crash.
// When expected_dim > 0 (expected_items > 0) the image must hold vectors of
// that dimension (that many vectors): FAILED_PRECONDITION otherwise.
absl::StatusOr<std::unique_ptr<ItemIndex>> LoadGraphIndex(const std::string& name,
                                                          std::shared_ptr<const void> owner,
                                                          absl::string_view bytes,
                                                          int32_t expected_dim,
                                                          int64_t expected_items);

}  // namespace recbandit::retrieval

#endif  // RECBANDIT_RETRIEVAL_GRAPH_INDEX_H_
